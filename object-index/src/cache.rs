//! In-process caches of bucket and object records, for the embedded SQLite
//! deployment only: there one gateway owns the database file, so every write
//! passes through here and can invalidate what it changes. With PostgreSQL
//! several gateways may write, and nothing is cached.
//!
//! A reader notes the generation before it reads the database and stores its
//! result only if no invalidation happened meanwhile, so a slow reader cannot
//! put back a record a writer has just replaced.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Entries beyond this clear the cache (cheap bound on memory).
const MAX_ENTRIES: usize = 100_000;

/// A map that is emptied of a key on every change to it.
pub struct RecordCache<K, V> {
    enabled: bool,
    generation: AtomicU64,
    entries: RwLock<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> RecordCache<K, V> {
    /// A cache that caches only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        RecordCache {
            enabled,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The cached value, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.enabled {
            return None;
        }
        self.entries.read().ok()?.get(key).cloned()
    }

    /// The generation to pass to [`RecordCache::put`] after reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a value read at `generation`, unless something changed since.
    pub fn put(&self, key: K, value: V, generation: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, value);
        }
    }

    /// Forgets `key` (call after any change to its record).
    pub fn invalidate(&self, key: &K) {
        if !self.enabled {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = RecordCache::new(true);
        let before = cache.generation();
        cache.invalidate(&"k");
        cache.put("k", 1, before);
        assert_eq!(cache.get(&"k"), None);
        let now = cache.generation();
        cache.put("k", 2, now);
        assert_eq!(cache.get(&"k"), Some(2));
        cache.invalidate(&"k");
        assert_eq!(cache.get(&"k"), None);
        let off: RecordCache<&str, i32> = RecordCache::new(false);
        off.put("k", 1, off.generation());
        assert_eq!(off.get(&"k"), None);
    }
}
