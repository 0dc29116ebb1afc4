//! Object store on a local directory: one directory per bucket under `root`.
//!
//! Bucket names reach this layer already validated against S3's naming rules
//! (lowercase letters, digits, dots and dashes), so they are safe path components.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cloud::{Error, ObjectStore, Result};

/// Buckets as directories under one root.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

impl FsObjectStore {
    /// Opens (and creates, if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| Error::internal(format!("creating {}: {e}", root.display())))?;
        Ok(FsObjectStore { root })
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf> {
        let safe = !bucket.is_empty()
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket != "."
            && bucket != "..";
        if !safe {
            return Err(Error::invalid("Bucket", format!("invalid bucket name '{bucket}'")));
        }
        Ok(self.root.join(bucket))
    }

    /// The directory that holds the store.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_dir(bucket)?;
        tokio::fs::create_dir_all(&dir).await.map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_dir(bucket)?;
        match tokio::fs::remove_dir(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => Err(Error::BucketNotEmpty(bucket.to_string())),
            Err(e) => Err(Error::internal(format!("removing {}: {e}", dir.display()))),
        }
    }

    async fn bucket_is_empty(&self, bucket: &str) -> Result<bool> {
        let dir = self.bucket_dir(bucket)?;
        match tokio::fs::read_dir(&dir).await {
            Ok(mut entries) => Ok(entries.next_entry().await.map_err(Error::internal)?.is_none()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(Error::internal(format!("reading {}: {e}", dir.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_lifecycle_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path().join("objects")).unwrap();
        store.create_bucket("photos").await.unwrap();
        assert!(tmp.path().join("objects/photos").is_dir());
        assert!(store.bucket_is_empty("photos").await.unwrap());
        std::fs::write(tmp.path().join("objects/photos/x"), b"1").unwrap();
        assert!(!store.bucket_is_empty("photos").await.unwrap());
        assert!(matches!(store.delete_bucket("photos").await, Err(Error::BucketNotEmpty(_))));
        std::fs::remove_file(tmp.path().join("objects/photos/x")).unwrap();
        store.delete_bucket("photos").await.unwrap();
        assert!(!tmp.path().join("objects/photos").exists());
        assert!(store.create_bucket("../etc").await.is_err());
    }
}
