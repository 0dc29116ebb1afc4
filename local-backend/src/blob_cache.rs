//! The first bytes of small blobs, kept in memory so that a hot small object
//! is served without opening its file (open, read and close cost more than
//! the rest of a 4 KiB GET together).
//!
//! Blob ids are random and a blob's file never changes after it is renamed
//! into place, so a cached prefix can never be stale: nothing invalidates
//! entries except the deletion of the blob (which frees the memory early) and
//! eviction under the byte budget.

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

/// Reads ending at or below this offset are cached; larger ones stream from disk.
pub const MAX_CACHED: u64 = 64 * 1024;
/// Memory the cache may hold (object bytes).
const BUDGET: u64 = 64 * 1024 * 1024;
/// Entries the cache is sized for up front (4 KiB objects filling the budget).
const EXPECTED_ENTRIES: usize = (BUDGET / 4096) as usize;

#[derive(Clone)]
struct ByLength;

impl Weighter<String, Bytes> for ByLength {
    fn weight(&self, _key: &String, value: &Bytes) -> u64 {
        // An empty blob still costs an entry.
        value.len().max(1) as u64
    }
}

/// Prefixes of blobs by blob id.
pub struct BlobCache {
    prefixes: Cache<String, Bytes, ByLength>,
}

impl BlobCache {
    pub fn new() -> Self {
        BlobCache {
            prefixes: Cache::with_weighter(EXPECTED_ENTRIES, BUDGET, ByLength),
        }
    }

    /// Bytes `offset..offset + len` of a blob, if its cached prefix covers them.
    pub fn get(&self, blob: &str, offset: u64, len: u64) -> Option<Bytes> {
        let prefix = self.prefixes.get(blob)?;
        let end = offset.checked_add(len)?;
        (end <= prefix.len() as u64).then(|| prefix.slice(offset as usize..end as usize))
    }

    /// Remembers the first bytes of a blob.
    pub fn put(&self, blob: &str, prefix: Bytes) {
        if prefix.len() as u64 <= MAX_CACHED {
            self.prefixes.insert(blob.to_string(), prefix);
        }
    }

    pub fn forget(&self, blob: &str) {
        self.prefixes.remove(blob);
    }
}

impl Default for BlobCache {
    fn default() -> Self {
        BlobCache::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_ranges_inside_the_cached_prefix() {
        let cache = BlobCache::new();
        cache.put("a", Bytes::from_static(b"hello world"));
        assert_eq!(cache.get("a", 0, 11).as_deref(), Some(&b"hello world"[..]));
        assert_eq!(cache.get("a", 6, 5).as_deref(), Some(&b"world"[..]));
        assert_eq!(cache.get("a", 6, 6), None, "beyond the prefix");
        assert_eq!(cache.get("a", u64::MAX, 2), None, "overflowing range");
        assert_eq!(cache.get("b", 0, 1), None);
        cache.forget("a");
        assert_eq!(cache.get("a", 0, 1), None);
    }

    #[test]
    fn large_prefixes_are_not_kept() {
        let cache = BlobCache::new();
        cache.put("big", Bytes::from(vec![0u8; MAX_CACHED as usize + 1]));
        assert_eq!(cache.get("big", 0, 1), None);
    }
}
