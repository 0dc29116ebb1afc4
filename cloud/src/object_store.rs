//! The object-store backend trait: where bucket and object bytes live.
//!
//! Ownership and naming are the account layer's business (`federation`); a store
//! only keeps bytes. Default methods answer "not implemented" so a store can grow
//! operation by operation.


use async_trait::async_trait;

use crate::error::Result;

/// Storage for buckets and objects.
///
/// ```
/// use cloud::{ObjectStore, Result};
///
/// struct Nowhere;
///
/// #[async_trait::async_trait]
/// impl ObjectStore for Nowhere {
///     async fn create_bucket(&self, _bucket: &str) -> Result<()> { Ok(()) }
///     async fn delete_bucket(&self, _bucket: &str) -> Result<()> { Ok(()) }
///     async fn bucket_is_empty(&self, _bucket: &str) -> Result<bool> { Ok(true) }
/// }
/// ```
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Creates the storage for a bucket. Idempotent: an existing empty bucket is fine.
    async fn create_bucket(&self, bucket: &str) -> Result<()>;

    /// Removes the storage of an empty bucket; a missing bucket is fine.
    async fn delete_bucket(&self, bucket: &str) -> Result<()>;

    /// Whether the bucket holds no objects.
    async fn bucket_is_empty(&self, bucket: &str) -> Result<bool>;

    /// Removes debris (temporary files of interrupted writes). Called at start.
    async fn recover(&self) -> Result<()> {
        Ok(())
    }
}
