//! `PolicyStore`: the policy set in force, replaced only by a valid one.

use std::path::Path;
use std::sync::Arc;

use crate::error::PolicyError;
use crate::policy_set::{policy_files, read_sources, PolicySet};

/// Keeps the last valid [`PolicySet`]. A reload with any invalid file leaves the set in
/// force untouched and returns the error, so a typo never un-configures placement. The
/// store does not watch anything; the caller decides when to reload.
#[derive(Debug, Clone)]
pub struct PolicyStore {
    current: Arc<PolicySet>,
    generation: u64,
}

impl PolicyStore {
    /// A store holding `initial`, at generation 0.
    pub fn new(initial: PolicySet) -> Self {
        PolicyStore {
            current: Arc::new(initial),
            generation: 0,
        }
    }

    /// The set in force. Cheap to clone and hand to request handlers; a later reload does
    /// not change a set already handed out.
    pub fn current(&self) -> Arc<PolicySet> {
        Arc::clone(&self.current)
    }

    /// How many successful reloads have happened.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Replaces the set with one parsed from `sources` (name, text) in the given order, or
    /// keeps the current one and returns why not.
    pub fn reload<N: AsRef<str>, T: AsRef<str>>(
        &mut self,
        sources: &[(N, T)],
    ) -> Result<Arc<PolicySet>, PolicyError> {
        let candidate = PolicySet::from_sources(sources)?;
        self.current = Arc::new(candidate);
        self.generation += 1;
        Ok(self.current())
    }

    /// [`PolicyStore::reload`] from the `*.toml` files of `directory`, sorted by name.
    pub fn reload_dir(
        &mut self,
        directory: impl AsRef<Path>,
    ) -> Result<Arc<PolicySet>, PolicyError> {
        let sources = read_sources(&policy_files(directory.as_ref())?)?;
        self.reload(&sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[target]]
name = "local"
kind = "local"
jurisdiction = { country = "JP" }
"#;

    #[test]
    fn an_invalid_reload_keeps_the_previous_set() {
        let mut store = PolicyStore::new(PolicySet::empty());
        let loaded = store
            .reload(&[("a.toml", GOOD)])
            .expect("good policy loads");
        assert_eq!(loaded.targets().len(), 1);
        assert_eq!(store.generation(), 1);

        let error = store
            .reload(&[("a.toml", "[[target]]\nname = 3\n")])
            .expect_err("bad policy is rejected");
        assert_eq!(error.diagnostics()[0].file, "a.toml");
        assert_eq!(error.diagnostics()[0].line, 2);
        assert_eq!(store.generation(), 1);
        assert_eq!(store.current().targets()[0].name, "local");
    }
}
