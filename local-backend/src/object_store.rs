//! Object bytes on the local filesystem, written crash-safely.
//!
//! Layout under `root`: `<bucket>/tmp/<id>` while a blob is being written,
//! `<bucket>/<id[..2]>/<id>` once it is durable. A write is: stream into the
//! temporary file, fsync it, rename it into place, fsync the directory. Only
//! then does the caller commit the record that points at it, so a crash leaves
//! either nothing visible or a complete blob; temporary files and blobs no
//! record points at are removed at the next start.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cloud::{ByteStream, Error, ObjectStore, Result, StoredBlob};
use futures::StreamExt;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Size of the chunks reads are streamed in.
const READ_CHUNK: usize = 256 * 1024;

/// Blobs as files under one root directory.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {error}", path.display()))
}

/// An error from the body stream: either one the producer chose (a digest
/// mismatch) or the client going away.
fn body_error(error: std::io::Error) -> Error {
    match error.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(domain)) => *domain,
        Some(Err(other)) => Error::IncompleteBody(other.to_string()),
        None => Error::IncompleteBody("connection closed".into()),
    }
}

fn valid_blob_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await.map_err(std::io::Error::other)?
}

impl FsObjectStore {
    /// Opens (and creates, if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io_error("creating", &root, e))?;
        Ok(FsObjectStore { root })
    }

    /// The directory that holds the store.
    pub fn root(&self) -> &Path {
        &self.root
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

    fn blob_path(&self, bucket: &str, blob: &str) -> Result<PathBuf> {
        if !valid_blob_id(blob) {
            return Err(Error::internal(format!("malformed blob id '{blob}'")));
        }
        Ok(self.bucket_dir(bucket)?.join(&blob[..2]).join(blob))
    }

    async fn write_to(&self, file: &mut tokio::fs::File, path: &Path, mut body: ByteStream) -> Result<u64> {
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_error)?;
            file.write_all(&chunk).await.map_err(|e| io_error("writing", path, e))?;
            size += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| io_error("writing", path, e))?;
        file.sync_all().await.map_err(|e| io_error("syncing", path, e))?;
        Ok(size)
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_dir(bucket)?;
        tokio::fs::create_dir_all(dir.join("tmp")).await.map_err(|e| io_error("creating", &dir, e))
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_dir(bucket)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing", &dir, e)),
        }
    }

    async fn write_blob(&self, bucket: &str, body: ByteStream) -> Result<StoredBlob> {
        let dir = self.bucket_dir(bucket)?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let tmp_dir = dir.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(|e| io_error("creating", &tmp_dir, e))?;
        let tmp = tmp_dir.join(&id);
        let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| io_error("creating", &tmp, e))?;
        let written = self.write_to(&mut file, &tmp, body).await;
        drop(file);
        let size = match written {
            Ok(size) => size,
            Err(error) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(error);
            }
        };
        let final_path = self.blob_path(bucket, &id)?;
        let shard = final_path.parent().unwrap_or(&dir).to_path_buf();
        tokio::fs::create_dir_all(&shard).await.map_err(|e| io_error("creating", &shard, e))?;
        tokio::fs::rename(&tmp, &final_path).await.map_err(|e| io_error("renaming into", &final_path, e))?;
        sync_dir(&shard).await.map_err(|e| io_error("syncing", &shard, e))?;
        Ok(StoredBlob { id, size })
    }

    async fn read_blob(&self, bucket: &str, blob: &str, offset: u64, len: u64) -> Result<ByteStream> {
        let path = self.blob_path(bucket, blob)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(|e| io_error("opening", &path, e))?;
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(|e| io_error("seeking", &path, e))?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        Ok(Box::pin(stream))
    }

    async fn delete_blob(&self, bucket: &str, blob: &str) -> Result<()> {
        let path = self.blob_path(bucket, blob)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing", &path, e)),
        }
    }

    async fn remove_unreferenced(&self, bucket: &str, referenced: &HashSet<String>) -> Result<usize> {
        let dir = self.bucket_dir(bucket)?;
        let mut removed = 0;
        let mut shards = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_error("reading", &dir, e)),
        };
        while let Some(shard) = shards.next_entry().await.map_err(|e| io_error("reading", &dir, e))? {
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            let is_tmp = shard_name == "tmp";
            if !is_tmp && (shard_name.len() != 2 || !shard_name.bytes().all(|b| b.is_ascii_hexdigit())) {
                continue;
            }
            let mut files = tokio::fs::read_dir(shard.path()).await.map_err(|e| io_error("reading", &shard.path(), e))?;
            while let Some(file) = files.next_entry().await.map_err(|e| io_error("reading", &shard.path(), e))? {
                let name = file.file_name().to_string_lossy().into_owned();
                if is_tmp || !referenced.contains(&name) {
                    tokio::fs::remove_file(file.path()).await.map_err(|e| io_error("removing", &file.path(), e))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn body(chunks: Vec<std::io::Result<Bytes>>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks))
    }

    async fn read_all(store: &FsObjectStore, bucket: &str, blob: &str, offset: u64, len: u64) -> Vec<u8> {
        let mut stream = store.read_blob(bucket, blob, offset, len).await.unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn blobs_are_written_read_in_ranges_and_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path()).unwrap();
        store.create_bucket("photos").await.unwrap();
        let blob = store
            .write_blob("photos", body(vec![Ok(Bytes::from_static(b"hello ")), Ok(Bytes::from_static(b"world"))]))
            .await
            .unwrap();
        assert_eq!(blob.size, 11);
        assert_eq!(read_all(&store, "photos", &blob.id, 0, 11).await, b"hello world");
        assert_eq!(read_all(&store, "photos", &blob.id, 6, 3).await, b"wor");
        store.delete_blob("photos", &blob.id).await.unwrap();
        store.delete_blob("photos", &blob.id).await.unwrap();
        assert!(store.read_blob("photos", &blob.id, 0, 1).await.is_err());
        assert!(store.create_bucket("../etc").await.is_err());
    }

    #[tokio::test]
    async fn failed_writes_leave_nothing_and_keep_the_producers_error() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path()).unwrap();
        store.create_bucket("b").await.unwrap();
        let bad = body(vec![Ok(Bytes::from_static(b"partial")), Err(std::io::Error::other(Error::BadDigest("md5".into())))]);
        assert!(matches!(store.write_blob("b", bad).await, Err(Error::BadDigest(_))));
        let cut = body(vec![Ok(Bytes::from_static(b"partial")), Err(std::io::Error::new(ErrorKind::UnexpectedEof, "reset"))]);
        assert!(matches!(store.write_blob("b", cut).await, Err(Error::IncompleteBody(_))));
        assert_eq!(std::fs::read_dir(tmp.path().join("b/tmp")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn recovery_removes_debris_and_unreferenced_blobs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path()).unwrap();
        store.create_bucket("b").await.unwrap();
        let keep = store.write_blob("b", body(vec![Ok(Bytes::from_static(b"keep"))])).await.unwrap();
        let orphan = store.write_blob("b", body(vec![Ok(Bytes::from_static(b"orphan"))])).await.unwrap();
        std::fs::write(tmp.path().join("b/tmp/half-written"), b"x").unwrap();
        let removed = store.remove_unreferenced("b", &HashSet::from([keep.id.clone()])).await.unwrap();
        assert_eq!(removed, 2);
        assert_eq!(read_all(&store, "b", &keep.id, 0, 4).await, b"keep");
        assert!(store.read_blob("b", &orphan.id, 0, 1).await.is_err());
        store.delete_bucket("b").await.unwrap();
        assert!(!tmp.path().join("b").exists());
    }
}
