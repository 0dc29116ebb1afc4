//! Multipart uploads: parts are blobs of their own; completing an upload makes
//! them, in order, the blobs of one object without copying a byte.

use cloud::types::{Checksum, ObjectInfo, ObjectMeta};
use cloud::{ByteStream, Error, ResourceKind, Result, StoredBlob};
use md5::{Digest, Md5};
use rand::RngCore;

use crate::objects::{
    decode_checksum, decode_headers, decode_tags, encode_checksum, encode_headers, encode_tags,
    validate_key, WriteCondition, Written,
};
use crate::ObjectIndex;
use cloud::tenancy::Tenant;
use datastore::{db_err, int, now_ms, opt_text, text};

/// Every part but the last must be at least this large.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Part numbers run from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// An upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    pub upload_id: String,
    pub key: String,
    pub meta: ObjectMeta,
    pub checksum_algorithm: Option<String>,
    /// Unix milliseconds.
    pub initiated: i64,
}

/// A stored part.
#[derive(Debug, Clone)]
pub struct Part {
    pub part_number: u32,
    pub blob: StoredBlob,
    pub etag: String,
    pub checksum: Option<Checksum>,
    pub last_modified: i64,
}

impl ObjectIndex {
    /// Starts an upload and returns it.
    pub async fn create_multipart_upload(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        checksum_algorithm: Option<String>,
    ) -> Result<Upload> {
        self.bucket(tenant, bucket).await?;
        validate_key(key)?;
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let upload = Upload {
            upload_id: hex::encode(raw),
            key: key.to_string(),
            meta,
            checksum_algorithm,
            initiated: now_ms(),
        };
        sqlx::query(
            "INSERT INTO multipart_uploads (upload_id, bucket, object_key, content_type, headers, user_metadata, checksum_algorithm, initiated, tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&upload.upload_id)
        .bind(bucket)
        .bind(key)
        .bind(upload.meta.headers.content_type.clone())
        .bind(encode_headers(&upload.meta.headers))
        .bind(serde_json::to_string(&upload.meta.user_metadata).unwrap_or_else(|_| "{}".into()))
        .bind(upload.checksum_algorithm.clone())
        .bind(upload.initiated)
        .bind(encode_tags(&upload.meta.tags))
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(upload)
    }

    /// The upload `upload_id` of `key` in the tenant's bucket.
    pub async fn upload(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Upload> {
        self.bucket(tenant, bucket).await?;
        let row = sqlx::query(
            "SELECT upload_id, object_key, content_type, headers, user_metadata, checksum_algorithm, initiated, tags \
             FROM multipart_uploads WHERE upload_id = $1 AND bucket = $2 AND object_key = $3",
        )
        .bind(upload_id)
        .bind(bucket)
        .bind(key)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::MultipartUpload, upload_id))?;
        upload_from_row(&row)
    }

    /// Stores one part (replacing an earlier upload of the same number).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        finish: impl FnOnce(&StoredBlob) -> Result<Written> + Send,
    ) -> Result<Part> {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(Error::invalid(
                "PartNumber",
                format!(
                    "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
                ),
            ));
        }
        self.upload(tenant, bucket, key, upload_id).await?;
        let blob = self.blobs.write_blob(bucket, body).await?;
        let stored = match finish(&blob) {
            Ok(written) => {
                self.record_part(bucket, upload_id, part_number, &blob, written)
                    .await
            }
            Err(error) => Err(error),
        };
        if stored.is_err() {
            let _ = self.blobs.delete_blob(bucket, &blob.id).await;
        }
        stored
    }

    async fn record_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part_number: u32,
        blob: &StoredBlob,
        written: Written,
    ) -> Result<Part> {
        let part = Part {
            part_number,
            blob: blob.clone(),
            etag: written.etag,
            checksum: written.checksum,
            last_modified: now_ms(),
        };
        let mut tx = self.db.begin_write().await?;
        let old = sqlx::query(
            "SELECT blob_id FROM multipart_parts WHERE upload_id = $1 AND part_number = $2",
        )
        .bind(upload_id)
        .bind(i64::from(part_number))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(|row| text(&row, "blob_id"))
        .transpose()?;
        sqlx::query(
            "INSERT INTO multipart_parts (upload_id, part_number, blob_id, size, etag, checksum, last_modified) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (upload_id, part_number) DO UPDATE SET blob_id = excluded.blob_id, size = excluded.size, etag = excluded.etag, \
             checksum = excluded.checksum, last_modified = excluded.last_modified",
        )
        .bind(upload_id)
        .bind(i64::from(part_number))
        .bind(&blob.id)
        .bind(blob.size as i64)
        .bind(&part.etag)
        .bind(encode_checksum(&part.checksum))
        .bind(part.last_modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            // The upload was aborted or completed while this part streamed.
            if matches!(&e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation) {
                Error::not_found(ResourceKind::MultipartUpload, upload_id)
            } else {
                db_err(e)
            }
        })?;
        tx.commit().await.map_err(db_err)?;
        if let Some(old) = old {
            let _ = self.blobs.delete_blob(bucket, &old).await;
        }
        Ok(part)
    }

    /// The parts uploaded so far, by number.
    pub async fn list_parts(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(Upload, Vec<Part>)> {
        let upload = self.upload(tenant, bucket, key, upload_id).await?;
        let rows = sqlx::query(
            "SELECT part_number, blob_id, size, etag, checksum, last_modified FROM multipart_parts WHERE upload_id = $1 ORDER BY part_number",
        )
        .bind(upload_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let parts = rows
            .iter()
            .map(|row| {
                Ok(Part {
                    part_number: int(row, "part_number")? as u32,
                    blob: StoredBlob {
                        id: text(row, "blob_id")?,
                        size: int(row, "size")? as u64,
                    },
                    etag: text(row, "etag")?,
                    checksum: decode_checksum(opt_text(row, "checksum")?),
                    last_modified: int(row, "last_modified")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((upload, parts))
    }

    /// Unfinished uploads of the bucket, by key then upload ID.
    pub async fn list_multipart_uploads(
        &self,
        tenant: &Tenant,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Upload>> {
        self.bucket(tenant, bucket).await?;
        let rows = sqlx::query(
            "SELECT upload_id, object_key, content_type, headers, user_metadata, checksum_algorithm, initiated, tags \
             FROM multipart_uploads WHERE bucket = $1 AND object_key >= $2 ORDER BY object_key, upload_id",
        )
        .bind(bucket)
        .bind(prefix)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let uploads: Vec<Upload> = rows.iter().map(upload_from_row).collect::<Result<_>>()?;
        Ok(uploads
            .into_iter()
            .filter(|u| u.key.starts_with(prefix))
            .collect())
    }

    /// Completes an upload from the listed (part number, ETag) pairs.
    pub async fn complete_multipart_upload(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: &[(u32, String)],
        condition: Option<WriteCondition>,
    ) -> Result<ObjectInfo> {
        let (upload, parts) = self.list_parts(tenant, bucket, key, upload_id).await?;
        if requested.is_empty() {
            return Err(Error::invalid(
                "MultipartUpload",
                "You must specify at least one part",
            ));
        }
        if requested.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(Error::InvalidPartOrder);
        }
        let mut chosen = Vec::with_capacity(requested.len());
        for (number, etag) in requested {
            let wanted = etag.trim_matches('"');
            let part = parts.iter().find(|p| p.part_number == *number && p.etag == wanted).ok_or_else(|| {
                Error::InvalidPart(format!(
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {number})"
                ))
            })?;
            chosen.push(part.clone());
        }
        if chosen[..chosen.len() - 1]
            .iter()
            .any(|p| p.blob.size < MIN_PART_SIZE)
        {
            return Err(Error::EntityTooSmall);
        }
        let mut md5s = Md5::new();
        for part in &chosen {
            md5s.update(
                hex::decode(&part.etag).map_err(|_| Error::internal("a part ETag is not hex"))?,
            );
        }
        let info = ObjectInfo {
            key: key.to_string(),
            size: chosen.iter().map(|p| p.blob.size).sum(),
            etag: format!("{}-{}", hex::encode(md5s.finalize()), chosen.len()),
            meta: upload.meta.clone(),
            checksum: None,
            parts_count: Some(chosen.len() as u32),
            last_modified: now_ms(),
            blobs: chosen.iter().map(|p| p.blob.clone()).collect(),
            version_id: None,
        };
        // The upload row goes first: from here its parts belong to the object.
        let gone = sqlx::query("DELETE FROM multipart_uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        if gone.rows_affected() == 0 {
            return Err(Error::not_found(ResourceKind::MultipartUpload, upload_id));
        }
        let committed = self.commit_object(tenant, bucket, info, condition).await;
        let keep: Vec<&str> = match &committed {
            Ok(info) => info.blobs.iter().map(|b| b.id.as_str()).collect(),
            Err(_) => Vec::new(),
        };
        let unused: Vec<StoredBlob> = parts
            .iter()
            .filter(|p| !keep.contains(&p.blob.id.as_str()))
            .map(|p| p.blob.clone())
            .collect();
        self.delete_blobs(bucket, &unused).await;
        committed
    }

    /// Abandons an upload and deletes its parts.
    pub async fn abort_multipart_upload(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        let (_, parts) = self.list_parts(tenant, bucket, key, upload_id).await?;
        sqlx::query("DELETE FROM multipart_uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        let blobs: Vec<StoredBlob> = parts.into_iter().map(|p| p.blob).collect();
        self.delete_blobs(bucket, &blobs).await;
        Ok(())
    }

    /// Aborts uploads initiated before `older_than_ms` (Unix ms). Returns how many.
    pub async fn expire_multipart_uploads(&self, older_than_ms: i64) -> Result<usize> {
        let rows =
            sqlx::query("SELECT upload_id, bucket FROM multipart_uploads WHERE initiated < $1")
                .bind(older_than_ms)
                .fetch_all(self.db.pool())
                .await
                .map_err(db_err)?;
        for row in &rows {
            self.discard_upload(&text(row, "bucket")?, &text(row, "upload_id")?)
                .await?;
        }
        Ok(rows.len())
    }

    /// Deletes an upload's record and its part blobs.
    pub(crate) async fn discard_upload(&self, bucket: &str, upload_id: &str) -> Result<()> {
        let parts = sqlx::query("SELECT blob_id, size FROM multipart_parts WHERE upload_id = $1")
            .bind(upload_id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM multipart_uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        let blobs = parts
            .iter()
            .map(|p| {
                Ok(StoredBlob {
                    id: text(p, "blob_id")?,
                    size: int(p, "size")? as u64,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.delete_blobs(bucket, &blobs).await;
        Ok(())
    }
}

fn upload_from_row(row: &sqlx::any::AnyRow) -> Result<Upload> {
    Ok(Upload {
        upload_id: text(row, "upload_id")?,
        key: text(row, "object_key")?,
        meta: ObjectMeta {
            headers: decode_headers(opt_text(row, "content_type")?, &text(row, "headers")?),
            user_metadata: serde_json::from_str(&text(row, "user_metadata")?).unwrap_or_default(),
            acl: Default::default(),
            tags: decode_tags(&text(row, "tags")?),
        },
        checksum_algorithm: opt_text(row, "checksum_algorithm")?,
        initiated: int(row, "initiated")?,
    })
}
