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
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cloud::{ByteStream, Error, ObjectStore, Result, StoredBlob};
use futures::StreamExt;
use rand::RngCore;

use crate::blob_cache::{self, BlobCache};

/// Size of the chunks reads are streamed in.
/// Below the allocator's mapping threshold (`tune_allocator` in the gateway's
/// main.rs): chunks come from the heap and its freed memory, not from fresh
/// mappings that fault in every page.
const READ_CHUNK: usize = 128 * 1024;
/// Chunks a reader may run ahead of a slow client: bounds memory per GET.
const READ_AHEAD: usize = 8;
/// Blobs as files under one root directory.
#[derive(Clone)]
pub struct FsObjectStore {
    root: PathBuf,
    /// Small blobs' bytes (reads up to [`blob_cache::MAX_CACHED`] happen on
    /// the calling task: for a few KiB the hand-off to a blocking thread
    /// costs more than the read).
    cache: Arc<BlobCache>,
}

impl std::fmt::Debug for FsObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsObjectStore")
            .field("root", &self.root)
            .finish()
    }
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {error}", path.display()))
}

/// Reads the first `len` bytes of a file in one go.
fn read_prefix(path: &Path, len: u64) -> Result<Bytes> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| io_error("opening", path, e))?;
    let mut buffer = vec![0u8; len as usize];
    file.read_exact(&mut buffer)
        .map_err(|e| io_error("reading", path, e))?;
    Ok(Bytes::from(buffer))
}

/// A receiver as a stream.
fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

fn valid_blob_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl FsObjectStore {
    /// Opens (and creates, if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io_error("creating", &root, e))?;
        Ok(FsObjectStore {
            root,
            cache: Arc::new(BlobCache::new()),
        })
    }

    /// The directory that holds the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf> {
        let safe = !bucket.is_empty()
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket != "."
            && bucket != "..";
        if !safe {
            return Err(Error::invalid(
                "Bucket",
                format!("invalid bucket name '{bucket}'"),
            ));
        }
        Ok(self.root.join(bucket))
    }

    fn blob_path(&self, bucket: &str, blob: &str) -> Result<PathBuf> {
        if !valid_blob_id(blob) {
            return Err(Error::internal(format!("malformed blob id '{blob}'")));
        }
        Ok(self.bucket_dir(bucket)?.join(&blob[..2]).join(blob))
    }
}

/// What the async side tells the blocking writer.
enum WriteMessage {
    Data(Bytes),
    Finish,
    Abort,
}

/// Writes a blob on a blocking thread: temporary file, fsync, rename into
/// place, fsync of the directory. One thread for the whole write, so a body
/// costs one hand-off per chunk instead of one per file operation.
fn write_durably(
    tmp: PathBuf,
    final_path: PathBuf,
    mut receiver: tokio::sync::mpsc::Receiver<WriteMessage>,
) -> Result<u64> {
    use std::io::Write;
    let mut file = std::fs::File::create(&tmp).map_err(|e| io_error("creating", &tmp, e))?;
    let mut size = 0u64;
    let outcome = loop {
        match receiver.blocking_recv() {
            Some(WriteMessage::Data(chunk)) => {
                if let Err(e) = file.write_all(&chunk) {
                    break Err(io_error("writing", &tmp, e));
                }
                size += chunk.len() as u64;
            }
            Some(WriteMessage::Finish) => {
                break file.sync_all().map_err(|e| io_error("syncing", &tmp, e))
            }
            Some(WriteMessage::Abort) | None => {
                break Err(Error::IncompleteBody("the write was abandoned".into()))
            }
        }
    };
    drop(file);
    if let Err(error) = outcome {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    let shard = final_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    std::fs::create_dir_all(&shard).map_err(|e| io_error("creating", &shard, e))?;
    std::fs::rename(&tmp, &final_path).map_err(|e| io_error("renaming into", &final_path, e))?;
    std::fs::File::open(&shard)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing", &shard, e))?;
    Ok(size)
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_dir(bucket)?;
        tokio::fs::create_dir_all(dir.join("tmp"))
            .await
            .map_err(|e| io_error("creating", &dir, e))
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_dir(bucket)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing", &dir, e)),
        }
    }

    async fn write_blob(&self, bucket: &str, mut body: ByteStream) -> Result<StoredBlob> {
        let dir = self.bucket_dir(bucket)?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let tmp_dir = dir.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| io_error("creating", &tmp_dir, e))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let final_path = self.blob_path(bucket, &id)?;
        let writer = tokio::task::spawn_blocking({
            let tmp = tmp_dir.join(&id);
            move || write_durably(tmp, final_path, receiver)
        });
        let mut body_failure = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                // A failed send means the writer stopped; its result says why.
                Ok(chunk) => {
                    if sender.send(WriteMessage::Data(chunk)).await.is_err() {
                        break;
                    }
                }
                Err(error) => {
                    body_failure = Some(cloud::object_store::body_error(error));
                    break;
                }
            }
        }
        let last = if body_failure.is_some() {
            WriteMessage::Abort
        } else {
            WriteMessage::Finish
        };
        let _ = sender.send(last).await;
        drop(sender);
        let written = writer.await.map_err(Error::internal)?;
        if let Some(error) = body_failure {
            return Err(error);
        }
        Ok(StoredBlob { id, size: written? })
    }

    async fn read_blob(
        &self,
        bucket: &str,
        blob: &str,
        offset: u64,
        len: u64,
    ) -> Result<ByteStream> {
        let path = self.blob_path(bucket, blob)?;
        let end = offset.saturating_add(len);
        if end <= blob_cache::MAX_CACHED {
            let chunk = match self.cache.get(blob, offset, len) {
                Some(chunk) => chunk,
                None => {
                    let prefix = read_prefix(&path, end)?;
                    self.cache.put(blob, prefix.clone());
                    prefix.slice(offset as usize..)
                }
            };
            return Ok(Box::pin(futures::stream::once(async move { Ok(chunk) })));
        }
        // One blocking thread per read, reading ahead a few chunks: far fewer
        // thread hand-offs than tokio::fs, whose every call is a hop.
        let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
        let opened = tokio::task::spawn_blocking(move || -> Result<()> {
            use std::io::{Read, Seek};
            let mut file = std::fs::File::open(&path).map_err(|e| io_error("opening", &path, e))?;
            if offset > 0 {
                file.seek(std::io::SeekFrom::Start(offset))
                    .map_err(|e| io_error("seeking", &path, e))?;
            }
            let mut remaining = len;
            if remaining <= READ_CHUNK as u64 {
                // Up to one chunk: read it all before the response starts.
                let mut buffer = vec![0u8; remaining as usize];
                file.read_exact(&mut buffer)
                    .map_err(|e| io_error("reading", &path, e))?;
                let _ = sender.blocking_send(Ok(Bytes::from(buffer)));
                return Ok(());
            }
            std::thread::spawn(move || {
                while remaining > 0 {
                    let mut buffer = vec![0u8; remaining.min(READ_CHUNK as u64) as usize];
                    let chunk = file.read_exact(&mut buffer).map(|()| Bytes::from(buffer));
                    let failed = chunk.is_err();
                    remaining -= if failed {
                        remaining
                    } else {
                        remaining.min(READ_CHUNK as u64)
                    };
                    // A closed channel means the client went away: stop reading.
                    if sender.blocking_send(chunk).is_err() || failed {
                        break;
                    }
                }
            });
            Ok(())
        })
        .await
        .map_err(Error::internal)?;
        opened?;
        Ok(Box::pin(tokio_stream_from(receiver)))
    }

    async fn check_blobs(&self, bucket: &str, blobs: &[(String, u64)]) -> Result<()> {
        let paths = blobs
            .iter()
            .map(|(blob, size)| Ok((self.blob_path(bucket, blob)?, *size)))
            .collect::<Result<Vec<_>>>()?;
        tokio::task::spawn_blocking(move || {
            for (path, size) in paths {
                // Opening (not only stat) proves the file is readable.
                let file = std::fs::File::open(&path).map_err(|e| io_error("opening", &path, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| io_error("reading", &path, e))?
                    .len();
                if len < size {
                    return Err(Error::internal(format!(
                        "{} holds {len} bytes, the record says {size}",
                        path.display()
                    )));
                }
            }
            Ok(())
        })
        .await
        .map_err(Error::internal)?
    }

    async fn delete_blob(&self, bucket: &str, blob: &str) -> Result<()> {
        let path = self.blob_path(bucket, blob)?;
        self.cache.forget(blob);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing", &path, e)),
        }
    }

    async fn remove_unreferenced(
        &self,
        bucket: &str,
        referenced: &HashSet<String>,
    ) -> Result<usize> {
        let dir = self.bucket_dir(bucket)?;
        let mut removed = 0;
        let mut shards = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_error("reading", &dir, e)),
        };
        while let Some(shard) = shards
            .next_entry()
            .await
            .map_err(|e| io_error("reading", &dir, e))?
        {
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            let is_tmp = shard_name == "tmp";
            if !is_tmp
                && (shard_name.len() != 2 || !shard_name.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                continue;
            }
            let mut files = tokio::fs::read_dir(shard.path())
                .await
                .map_err(|e| io_error("reading", &shard.path(), e))?;
            while let Some(file) = files
                .next_entry()
                .await
                .map_err(|e| io_error("reading", &shard.path(), e))?
            {
                let name = file.file_name().to_string_lossy().into_owned();
                if is_tmp || !referenced.contains(&name) {
                    self.cache.forget(&name);
                    tokio::fs::remove_file(file.path())
                        .await
                        .map_err(|e| io_error("removing", &file.path(), e))?;
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

    fn body(chunks: Vec<std::io::Result<Bytes>>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks))
    }

    async fn read_all(
        store: &FsObjectStore,
        bucket: &str,
        blob: &str,
        offset: u64,
        len: u64,
    ) -> Vec<u8> {
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
            .write_blob(
                "photos",
                body(vec![
                    Ok(Bytes::from_static(b"hello ")),
                    Ok(Bytes::from_static(b"world")),
                ]),
            )
            .await
            .unwrap();
        assert_eq!(blob.size, 11);
        assert_eq!(
            read_all(&store, "photos", &blob.id, 0, 11).await,
            b"hello world"
        );
        assert_eq!(read_all(&store, "photos", &blob.id, 6, 3).await, b"wor");
        store.delete_blob("photos", &blob.id).await.unwrap();
        store.delete_blob("photos", &blob.id).await.unwrap();
        assert!(store.read_blob("photos", &blob.id, 0, 1).await.is_err());
        assert!(store.create_bucket("../etc").await.is_err());
    }

    #[tokio::test]
    async fn small_reads_from_the_cache_and_large_reads_in_chunks_return_the_blob() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path()).unwrap();
        store.create_bucket("b").await.unwrap();
        let small: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let blob = store
            .write_blob("b", body(vec![Ok(Bytes::from(small.clone()))]))
            .await
            .unwrap();
        // A short range caches a short prefix; longer reads must still see the rest.
        assert_eq!(read_all(&store, "b", &blob.id, 10, 5).await, small[10..15]);
        assert_eq!(read_all(&store, "b", &blob.id, 0, 5000).await, small);
        assert_eq!(
            read_all(&store, "b", &blob.id, 4000, 1000).await,
            small[4000..]
        );
        // Larger than the cache's limit and than several read chunks, not a multiple of either.
        let large: Vec<u8> = (0..(3 * READ_CHUNK + 12345))
            .map(|i| (i % 253) as u8)
            .collect();
        let big = store
            .write_blob("b", body(vec![Ok(Bytes::from(large.clone()))]))
            .await
            .unwrap();
        let len = large.len() as u64;
        assert_eq!(read_all(&store, "b", &big.id, 0, len).await, large);
        assert_eq!(
            read_all(&store, "b", &big.id, 100, len - 200).await,
            large[100..large.len() - 100]
        );
    }

    #[tokio::test]
    async fn failed_writes_leave_nothing_and_keep_the_producers_error() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path()).unwrap();
        store.create_bucket("b").await.unwrap();
        let bad = body(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other(Error::BadDigest("md5".into()))),
        ]);
        assert!(matches!(
            store.write_blob("b", bad).await,
            Err(Error::BadDigest(_))
        ));
        let cut = body(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::new(ErrorKind::UnexpectedEof, "reset")),
        ]);
        assert!(matches!(
            store.write_blob("b", cut).await,
            Err(Error::IncompleteBody(_))
        ));
        assert_eq!(
            std::fs::read_dir(tmp.path().join("b/tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn recovery_removes_debris_and_unreferenced_blobs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FsObjectStore::open(tmp.path()).unwrap();
        store.create_bucket("b").await.unwrap();
        let keep = store
            .write_blob("b", body(vec![Ok(Bytes::from_static(b"keep"))]))
            .await
            .unwrap();
        let orphan = store
            .write_blob("b", body(vec![Ok(Bytes::from_static(b"orphan"))]))
            .await
            .unwrap();
        std::fs::write(tmp.path().join("b/tmp/half-written"), b"x").unwrap();
        let removed = store
            .remove_unreferenced("b", &HashSet::from([keep.id.clone()]))
            .await
            .unwrap();
        assert_eq!(removed, 2);
        assert_eq!(read_all(&store, "b", &keep.id, 0, 4).await, b"keep");
        assert!(store.read_blob("b", &orphan.id, 0, 1).await.is_err());
        store.delete_bucket("b").await.unwrap();
        assert!(!tmp.path().join("b").exists());
    }
}
