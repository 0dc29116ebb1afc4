//! This site's image files: what `skyport admin image import` and
//! RegisterImage stage and commit, and local compute boots from. The image
//! catalogue (names, owners, launch permissions) is the account layer's; the
//! files are the backend's business behind [`ImageFiles`].

use async_trait::async_trait;

use crate::{ByteStream, Result};

/// What the catalogue learns from committing an image's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedImage {
    /// The image boots a kernel directly (else its disk).
    pub has_kernel: bool,
}

/// Staged uploads and the committed images built from them.
#[async_trait]
pub trait ImageFiles: Send + Sync {
    /// Writes file `file` (`kernel`, `initrd` or `disk`) of upload `upload`
    /// from `body`, synced to disk; the bytes written. A body that fails
    /// midway fails with its producer's error (`object_store::body_error`),
    /// and no partial file stays.
    async fn write_upload(&self, upload: &str, file: &str, body: ByteStream) -> Result<u64>;
    /// Turns upload `upload` into image `image_id`: its files checked (a
    /// kernel, or a disk image that can boot) and moved into place at once.
    /// On failure the upload is discarded.
    async fn commit(
        &self,
        upload: &str,
        image_id: &str,
        cmdline: Option<String>,
        architecture: &str,
    ) -> Result<CommittedImage>;
    /// Forgets an upload that will not be committed.
    async fn discard_upload(&self, upload: &str);
    /// Removes image `image_id`'s files.
    async fn remove(&self, image_id: &str) -> Result<()>;
}
