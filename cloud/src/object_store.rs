//! The object-store backend trait: where object bytes live.
//!
//! A store keeps *blobs*: immutable byte sequences written once, durably, under
//! an ID the store picks. Which key maps to which blobs, ownership, ETags and
//! metadata are the account layer's business (`accounts`), so a put is: write
//! the blob (durable when this returns), then commit the record; a crash in
//! between leaves an unreferenced blob that [`ObjectStore::remove_unreferenced`]
//! clears at the next start.

use std::collections::HashSet;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::Result;

/// A body streamed in or out. A producer that must fail a write (a digest
/// mismatch, a client that went away) yields an `io::Error` whose inner error
/// is a [`crate::Error`]; stores pass that error through unchanged.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The domain error behind a [`ByteStream`]'s failure: the one its producer
/// chose (a digest mismatch), or the client going away (`IncompleteBody`).
pub fn body_error(error: std::io::Error) -> crate::Error {
    match error
        .into_inner()
        .map(|inner| inner.downcast::<crate::Error>())
    {
        Some(Ok(domain)) => *domain,
        Some(Err(other)) => crate::Error::IncompleteBody(other.to_string()),
        None => crate::Error::IncompleteBody("connection closed".into()),
    }
}

/// A blob that is safely on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub id: String,
    pub size: u64,
}

/// Storage for object bytes, grouped by bucket.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Creates the storage for a bucket. Idempotent.
    async fn create_bucket(&self, bucket: &str) -> Result<()>;

    /// Removes a bucket's storage and anything left in it. Callers make sure
    /// no record refers to its blobs any more.
    async fn delete_bucket(&self, bucket: &str) -> Result<()>;

    /// Writes a whole stream as a new blob; when this returns `Ok` the bytes
    /// survive a crash. On error nothing is left behind.
    async fn write_blob(&self, bucket: &str, body: ByteStream) -> Result<StoredBlob>;

    /// Streams `len` bytes of a blob starting at `offset`.
    async fn read_blob(
        &self,
        bucket: &str,
        blob: &str,
        offset: u64,
        len: u64,
    ) -> Result<ByteStream>;

    /// Makes sure each `(blob, size)` can be read in full: present, readable
    /// and at least `size` bytes long. A reader calls this before it answers,
    /// so that a missing blob is an error response, not a 200 cut short.
    async fn check_blobs(&self, bucket: &str, blobs: &[(String, u64)]) -> Result<()>;

    /// Deletes a blob; a missing blob is fine.
    async fn delete_blob(&self, bucket: &str, blob: &str) -> Result<()>;

    /// Removes temporary files of interrupted writes and every blob of `bucket`
    /// that is not in `referenced`. Returns how many were removed.
    async fn remove_unreferenced(
        &self,
        bucket: &str,
        referenced: &HashSet<String>,
    ) -> Result<usize>;
}
