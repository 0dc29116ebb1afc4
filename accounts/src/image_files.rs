//! Images made from files on this site: uploads of `skyport admin image
//! import`, and RegisterImage from a disk stored in one of the caller's
//! buckets. The files go to the backend's [`ImageFiles`]; the catalogue
//! record is [`images`](crate::images)'. Either both exist or neither does.

use std::sync::Arc;

use cloud::{ByteStream, Error, ImageFiles, Result};

use crate::images::{Image, NewImage};
use crate::tenants::Tenant;
use crate::Accounts;

impl Accounts {
    /// Keeps image files in `files` (this site's local compute reads them).
    pub fn with_image_files(mut self, files: Arc<dyn ImageFiles>) -> Self {
        self.image_files = Some(files);
        self
    }

    /// Whether this site keeps image files (it has local compute).
    pub fn keeps_image_files(&self) -> bool {
        self.image_files.is_some()
    }

    fn files(&self) -> Result<&Arc<dyn ImageFiles>> {
        self.image_files.as_ref().ok_or_else(|| {
            Error::Unavailable("this site has no local compute: images cannot be imported".into())
        })
    }

    /// Stages file `file` of upload `upload` from `body`; the bytes written.
    pub async fn write_image_upload(
        &self,
        upload: &str,
        file: &str,
        body: ByteStream,
    ) -> Result<u64> {
        self.files()?.write_upload(upload, file, body).await
    }

    /// Turns upload `upload` into `owner`'s image `image` (its boot mode
    /// follows from the files) and records it. On any failure nothing is
    /// left behind: neither the upload nor the files.
    pub async fn register_image_upload(
        &self,
        owner: &Tenant,
        upload: &str,
        cmdline: Option<String>,
        mut image: NewImage,
    ) -> Result<Image> {
        let files = self.files()?;
        let committed = files
            .commit(upload, &image.id, cmdline, &image.architecture)
            .await?;
        image.boot_mode = if committed.has_kernel {
            "direct-kernel"
        } else {
            "disk"
        }
        .into();
        let registered = self.register_image(owner, &image).await;
        if registered.is_err() {
            let _ = files.remove(&image.id).await;
        }
        registered
    }

    /// RegisterImage from a disk (qcow2 or raw) at `bucket`/`key` in one of
    /// `tenant`'s buckets on this site. The bytes are copied, so the object
    /// may change or go later.
    pub async fn register_image_from_object(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        image: NewImage,
    ) -> Result<Image> {
        let location = format!("{bucket}/{key}");
        let refused = |message: &str| {
            Error::invalid(
                "ImageLocation",
                format!("ImageLocation '{location}': {message}"),
            )
        };
        let files = self.files()?;
        let objects = self.objects();
        let info = objects
            .head_object(tenant, bucket, key)
            .await
            .map_err(|_| refused("no such object in your buckets"))?;
        let body = objects.object_body(bucket, &info, 0..info.size).await?;
        let upload = format!("register-{}", image.id.trim_start_matches("ami-"));
        if let Err(error) = files.write_upload(&upload, "disk", body).await {
            files.discard_upload(&upload).await;
            return Err(error);
        }
        self.register_image_upload(tenant, &upload, None, image)
            .await
            .map_err(|error| match error {
                Error::InvalidParameter { message, .. } => refused(&message),
                other => other,
            })
    }
}
