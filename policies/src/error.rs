//! The crate's one error type, and the file:line:column diagnostics it carries.

use std::fmt;
use std::path::PathBuf;

/// One problem in one policy file, positioned for a human to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given to the loader (a path for `load_dir`, any label for `parse`).
    pub file: String,
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column, counted in characters, of the offending text.
    pub column: usize,
    /// Plain-language description of the problem, without the position.
    pub message: String,
}

impl Diagnostic {
    /// Positions `message` at byte `offset` of `text` (the whole file named `file`).
    pub(crate) fn at_offset(
        file: &str,
        text: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_and_column(text, offset);
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Converts a byte offset into a 1-based (line, column) pair; the column counts characters
/// so that editors and terminals agree with it on non-ASCII text.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    // Clamp, and step back to a character boundary, so a stray span can never panic.
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Everything that can go wrong loading policies. Evaluation itself cannot fail: a request
/// nothing satisfies is a [`crate::Decision`] without a target, not an error.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// One or more files are malformed or inconsistent; every problem found is listed.
    #[error("{}", display_diagnostics(.diagnostics))]
    Invalid {
        /// The problems, in file order then position order.
        diagnostics: Vec<Diagnostic>,
    },
    /// A policy file could not be read.
    #[error("cannot read policy file {}", .path.display())]
    ReadFile {
        /// The file that failed.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy directory could not be listed.
    #[error("cannot list policy directory {}", .path.display())]
    ReadDir {
        /// The directory that failed.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl PolicyError {
    /// The positioned problems, empty for I/O errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            PolicyError::Invalid { diagnostics } => diagnostics,
            PolicyError::ReadFile { .. } | PolicyError::ReadDir { .. } => &[],
        }
    }
}

fn display_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(Diagnostic::to_string).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_and_column(text, 9), (2, 3));
        assert_eq!(line_and_column(text, 999), (3, 1));
    }
}
