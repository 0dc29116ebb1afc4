//! Glob patterns (`*` only) used by rule match keys.

use std::fmt;

/// A string pattern where `*` stands for any run of characters (including none); every other
/// character matches itself, case-sensitively. `*` alone matches anything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pattern(String);

impl Pattern {
    /// Wraps a pattern text. Emptiness is rejected by validation, not here.
    pub fn new(text: impl Into<String>) -> Self {
        Pattern(text.into())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `value` matches the whole pattern.
    pub fn matches(&self, value: &str) -> bool {
        let mut pieces = self.0.split('*');
        // split always yields at least one piece.
        let first = pieces.next().unwrap_or("");
        let Some(mut rest) = value.strip_prefix(first) else {
            return false;
        };
        let pieces: Vec<&str> = pieces.collect();
        let Some((last, middle)) = pieces.split_last() else {
            // No '*': the pattern is a literal.
            return rest.is_empty();
        };
        // Greedy leftmost matching of the middle pieces is correct for '*'-only globs.
        for piece in middle {
            match rest.find(piece) {
                Some(position) => rest = &rest[position + piece.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("personal", "personal", true),
            ("personal", "personal-x", false),
            ("*", "", true),
            ("*", "anything", true),
            ("m5.*", "m5.large", true),
            ("m5.*", "m6.large", false),
            ("*.large", "m5.large", true),
            ("ap-*-1", "ap-northeast-1", true),
            ("ap-*-1", "ap-northeast-2", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                Pattern::new(pattern).matches(value),
                expected,
                "{pattern} vs {value}"
            );
        }
    }
}
