//! Image files on the compute host: `<dir>/<ami-id>/` holds a kernel and initrd
//! (direct boot) and/or a root disk, with `manifest.json` saying which.
//! Uploads land in `<dir>/.staging/<upload-id>/` and become an image in one
//! rename, so a half-uploaded image is never bootable. Instances clone the
//! disk copy-on-write (qcow2 backing file); image bytes are stored once.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloud::{ByteStream, Error, ResourceKind, Result};
use serde::{Deserialize, Serialize};

/// The files an upload may hold.
pub const UPLOAD_FILES: [&str; 3] = ["kernel", "initrd", "disk"];

/// What an image boots.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageManifest {
    /// Kernel command line for direct boot (the console is added when missing).
    #[serde(default)]
    pub cmdline: Option<String>,
    pub has_kernel: bool,
    pub has_initrd: bool,
    /// `qcow2` or `raw` when the image has a root disk.
    #[serde(default)]
    pub disk_format: Option<String>,
    pub architecture: String,
}

/// Where an image's files are.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub dir: PathBuf,
    pub manifest: ImageManifest,
}

impl StoredImage {
    pub fn kernel(&self) -> Option<PathBuf> {
        self.manifest.has_kernel.then(|| self.dir.join("kernel"))
    }
    pub fn initrd(&self) -> Option<PathBuf> {
        self.manifest.has_initrd.then(|| self.dir.join("initrd"))
    }
    pub fn disk(&self) -> Option<PathBuf> {
        self.manifest
            .disk_format
            .as_ref()
            .map(|_| self.dir.join("disk"))
    }
}

/// The image directory.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {error}", path.display()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ImageStore {
    pub fn open(dir: impl Into<PathBuf>) -> Result<ImageStore> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join(".staging")).map_err(|e| io("creating", &dir, e))?;
        Ok(ImageStore { dir })
    }

    /// The file an upload's `name` (kernel, initrd, disk) is written to.
    pub fn upload_path(&self, upload_id: &str, name: &str) -> Result<PathBuf> {
        if !valid_name(upload_id) || !UPLOAD_FILES.contains(&name) {
            return Err(Error::invalid(
                "upload",
                format!("unknown upload file '{name}' (one of kernel, initrd, disk)"),
            ));
        }
        let dir = self.dir.join(".staging").join(upload_id);
        std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
        Ok(dir.join(name))
    }

    /// Turns upload `upload_id` into image `image_id`: checks that it can boot
    /// (a kernel, or a disk qemu-img recognises), writes the manifest, and
    /// renames the directory into place.
    pub fn commit(
        &self,
        upload_id: &str,
        image_id: &str,
        cmdline: Option<String>,
        architecture: &str,
    ) -> Result<ImageManifest> {
        if !valid_name(upload_id) || !valid_name(image_id) {
            return Err(Error::invalid("upload", "malformed upload or image id"));
        }
        let staging = self.dir.join(".staging").join(upload_id);
        let has = |name: &str| staging.join(name).is_file();
        let disk_format = if has("disk") {
            Some(disk_format(&staging.join("disk"))?)
        } else {
            None
        };
        if !has("kernel") && disk_format.is_none() {
            return Err(Error::invalid(
                "upload",
                "an image needs a kernel (direct boot) or a disk",
            ));
        }
        if has("initrd") && !has("kernel") {
            return Err(Error::invalid("upload", "an initrd needs a kernel"));
        }
        let manifest = ImageManifest {
            cmdline,
            has_kernel: has("kernel"),
            has_initrd: has("initrd"),
            disk_format,
            architecture: architecture.to_string(),
        };
        let path = staging.join("manifest.json");
        let text = serde_json::to_vec_pretty(&manifest).map_err(Error::internal)?;
        std::fs::write(&path, text).map_err(|e| io("writing", &path, e))?;
        for name in UPLOAD_FILES.iter().chain(&["manifest.json"]) {
            let file = staging.join(name);
            if file.exists() {
                std::fs::File::open(&file)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io("syncing", &file, e))?;
            }
        }
        let target = self.dir.join(image_id);
        std::fs::rename(&staging, &target).map_err(|e| io("renaming", &staging, e))?;
        Ok(manifest)
    }

    /// Forgets an upload that will not be committed.
    pub fn discard_upload(&self, upload_id: &str) {
        if valid_name(upload_id) {
            let _ = std::fs::remove_dir_all(self.dir.join(".staging").join(upload_id));
        }
    }

    pub fn get(&self, image_id: &str) -> Result<StoredImage> {
        if !valid_name(image_id) {
            return Err(Error::not_found(ResourceKind::Image, image_id));
        }
        let dir = self.dir.join(image_id);
        let text = std::fs::read(dir.join("manifest.json"))
            .map_err(|_| Error::not_found(ResourceKind::Image, image_id))?;
        let manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::internal(format!("{}: {e}", dir.display())))?;
        Ok(StoredImage { dir, manifest })
    }

    /// Every committed image, by ID.
    pub fn list(&self) -> Vec<(String, StoredImage)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut images: Vec<_> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .filter_map(|name| self.get(&name).ok().map(|image| (name, image)))
            .collect();
        images.sort_by(|a, b| a.0.cmp(&b.0));
        images
    }

    /// Removes an image's files. Instances cloned from its disk keep working
    /// only while the backing file exists, so callers deregister first and
    /// remove files when no instance uses them.
    pub fn remove(&self, image_id: &str) -> Result<()> {
        if !valid_name(image_id) {
            return Ok(());
        }
        match std::fs::remove_dir_all(self.dir.join(image_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io("removing", &self.dir.join(image_id), e))
            }
            _ => Ok(()),
        }
    }
}

/// The account layer's view of the store: blocking file work runs on
/// tokio's blocking pool, bodies stream to disk in chunks.
#[async_trait::async_trait]
impl cloud::ImageFiles for ImageStore {
    async fn write_upload(&self, upload: &str, file: &str, mut body: ByteStream) -> Result<u64> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let path = self.upload_path(upload, file)?;
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io("creating", &path, e))?;
        let mut written = 0u64;
        let copied: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(cloud::object_store::body_error)?;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| io("writing", &path, e))?;
                written += chunk.len() as u64;
            }
            out.sync_all().await.map_err(|e| io("syncing", &path, e))
        }
        .await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        copied.map(|()| written)
    }

    async fn commit(
        &self,
        upload: &str,
        image_id: &str,
        cmdline: Option<String>,
        architecture: &str,
    ) -> Result<cloud::CommittedImage> {
        let (store, upload, id, architecture) = (
            self.clone(),
            upload.to_string(),
            image_id.to_string(),
            architecture.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            let committed = store.commit(&upload, &id, cmdline, &architecture);
            if committed.is_err() {
                store.discard_upload(&upload);
            }
            committed.map(|manifest| cloud::CommittedImage {
                has_kernel: manifest.has_kernel,
            })
        })
        .await
        .map_err(Error::internal)?
    }

    async fn discard_upload(&self, upload: &str) {
        let (store, upload) = (self.clone(), upload.to_string());
        let _ = tokio::task::spawn_blocking(move || store.discard_upload(&upload)).await;
    }

    async fn remove(&self, image_id: &str) -> Result<()> {
        let (store, id) = (self.clone(), image_id.to_string());
        tokio::task::spawn_blocking(move || store.remove(&id))
            .await
            .map_err(Error::internal)?
    }
}

/// The format qemu-img sees in a disk file (`qcow2`, `raw`…).
/// What `qemu-img info` says of a disk file.
fn disk_info(path: &Path) -> Result<serde_json::Value> {
    let output = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(path)
        .output()
        .map_err(|e| Error::internal(format!("running qemu-img (install qemu-utils): {e}")))?;
    if !output.status.success() {
        return Err(Error::invalid(
            "disk",
            format!(
                "qemu-img cannot read the disk: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(Error::internal)
}

/// The size a disk image presents to its guest.
pub fn disk_virtual_size(path: &Path) -> Result<u64> {
    disk_info(path)?["virtual-size"].as_u64().ok_or_else(|| {
        Error::internal(format!(
            "qemu-img gave no virtual size for {}",
            path.display()
        ))
    })
}

fn disk_format(path: &Path) -> Result<String> {
    let info = disk_info(path)?;
    match info["format"].as_str() {
        // Every file reads as raw: a raw disk is at least whole 512-byte sectors.
        Some("raw") => {
            // (qemu-img rounds the virtual size up; the file's length tells.)
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if size == 0 || !size.is_multiple_of(512) {
                return Err(Error::invalid(
                    "disk",
                    format!(
                        "not a disk image: {size} bytes is not a whole number of 512-byte sectors"
                    ),
                ));
            }
            Ok("raw".into())
        }
        Some("qcow2") => Ok("qcow2".into()),
        other => Err(Error::invalid(
            "disk",
            format!("disk format {other:?} is not supported (qcow2 or raw)"),
        )),
    }
}

/// Creates `overlay` as a qcow2 copy-on-write clone of `image`'s disk.
pub fn clone_disk(image: &StoredImage, overlay: &Path) -> Result<()> {
    let (Some(disk), Some(format)) = (image.disk(), image.manifest.disk_format.as_deref()) else {
        return Err(Error::internal("image has no disk"));
    };
    let output = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
        .arg(&disk)
        .arg(overlay)
        .output()
        .map_err(|e| Error::internal(format!("running qemu-img (install qemu-utils): {e}")))?;
    if !output.status.success() {
        return Err(Error::internal(format!(
            "qemu-img create: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_becomes_an_image_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        std::fs::write(store.upload_path("u1", "kernel").unwrap(), b"kernel").unwrap();
        assert!(store.get("ami-1").is_err());
        assert!(store.list().is_empty());
        let manifest = store
            .commit("u1", "ami-1", Some("console=ttyS0".into()), "x86_64")
            .unwrap();
        assert!(manifest.has_kernel && !manifest.has_initrd);
        let image = store.get("ami-1").unwrap();
        assert_eq!(std::fs::read(image.kernel().unwrap()).unwrap(), b"kernel");
        assert_eq!(store.list().len(), 1);
        store.remove("ami-1").unwrap();
        assert!(store.get("ami-1").is_err());
    }

    #[test]
    fn an_upload_without_kernel_or_disk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        std::fs::write(store.upload_path("u2", "initrd").unwrap(), b"x").unwrap();
        assert!(store.commit("u2", "ami-2", None, "x86_64").is_err());
        assert!(store.upload_path("u2", "../etc").is_err());
        assert!(store.upload_path("../u", "kernel").is_err());
    }
}
