//! A validated set of targets and rules, and the ways to load one.

use std::path::{Path, PathBuf};

use crate::error::PolicyError;
use crate::parse::parse_sources;
use crate::rule::Rule;
use crate::target::Target;

/// Everything the engine evaluates against: targets sorted by name, rules in evaluation
/// order (file order, then order within the file). Only obtainable through validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicySet {
    files: Vec<String>,
    targets: Vec<Target>,
    rules: Vec<Rule>,
}

impl PolicySet {
    /// A set with no targets and no rules; every decision on it has no target.
    pub fn empty() -> Self {
        PolicySet::default()
    }

    /// Parses one file's `text`; `name` labels diagnostics. Rules may only refer to targets
    /// declared in the same text.
    pub fn parse(name: &str, text: &str) -> Result<Self, PolicyError> {
        PolicySet::from_sources(&[(name, text)])
    }

    /// Parses several files as one set, in the order given: rules from earlier files are
    /// evaluated first, and rules may refer to targets in any of the files.
    pub fn from_sources<N: AsRef<str>, T: AsRef<str>>(
        sources: &[(N, T)],
    ) -> Result<Self, PolicyError> {
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(name, text)| (name.as_ref(), text.as_ref()))
            .collect();
        let parsed =
            parse_sources(&borrowed).map_err(|diagnostics| PolicyError::Invalid { diagnostics })?;
        Ok(PolicySet {
            files: borrowed.iter().map(|(name, _)| name.to_string()).collect(),
            targets: parsed.targets,
            rules: parsed.rules,
        })
    }

    /// Loads every `*.toml` file directly in `directory`, sorted by file name (so `10-…`,
    /// `20-…` prefixes order the rules). Hidden files (editor swap files) are skipped.
    pub fn load_dir(directory: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let paths = policy_files(directory.as_ref())?;
        PolicySet::load_files(&paths)
    }

    /// Loads the given files as one set, in the order given.
    pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, PolicyError> {
        let sources = read_sources(paths)?;
        PolicySet::from_sources(&sources)
    }

    /// Names of the files the set came from, in evaluation order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// All targets, sorted by name.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// All rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The target called `name`.
    pub fn target(&self, name: &str) -> Option<&Target> {
        // Targets are sorted by name, so a binary search is exact.
        self.targets
            .binary_search_by(|target| target.name.as_str().cmp(name))
            .ok()
            .and_then(|index| self.targets.get(index))
    }

    /// The rule called `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }
}

/// Validates `paths` together, as `skyport policy check FILE…` does: the same checks as
/// loading, with every problem in every file reported in one error.
pub fn check_files<P: AsRef<Path>>(paths: &[P]) -> Result<PolicySet, PolicyError> {
    PolicySet::load_files(paths)
}

/// The `*.toml` files directly in `directory`, sorted by file name.
pub fn policy_files(directory: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let read_dir_error = |source| PolicyError::ReadDir {
        path: directory.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        let visible = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| !name.starts_with('.'));
        let is_toml = path
            .extension()
            .is_some_and(|extension| extension == "toml");
        if visible && is_toml && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort_by(|left, right| left.file_name().cmp(&right.file_name()));
    Ok(paths)
}

/// Reads each file into (display name, text).
pub fn read_sources<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<(String, String)>, PolicyError> {
    paths
        .iter()
        .map(|path| {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|source| PolicyError::ReadFile {
                path: path.to_path_buf(),
                source,
            })?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}
