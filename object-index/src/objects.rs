//! The object index of local buckets: which blobs make up which key, with the
//! ETag, headers, metadata and checksum S3 reports. Writes follow one rule: the
//! blob is durable before its record is committed, and replaced blobs are
//! deleted only after the commit.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use cloud::types::{
    CannedAcl, Checksum, DeleteOutcome, ObjectHeaders, ObjectInfo, ObjectMeta, Tag, Versioning,
};
use cloud::{ByteStream, Error, ResourceKind, Result, StoredBlob};
use futures::StreamExt;
use sqlx::any::AnyRow;

use crate::{versions, ObjectIndex};
use cloud::tenancy::Tenant;
use datastore::{db_err, int, now_ms, opt_int, opt_text, text};

/// What the caller learned while the body streamed (digests), to be recorded with it.
#[derive(Debug, Clone)]
pub struct Written {
    pub etag: String,
    pub checksum: Option<Checksum>,
}

/// A condition on the object a write replaces (conditional PUT, CopyObject's own checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// `If-None-Match: *`: only if no object has this key.
    Absent,
    /// `If-Match: etag`: only if the current object has this ETag.
    ETagIs(String),
}

pub(crate) fn encode_blobs(blobs: &[StoredBlob]) -> String {
    blobs
        .iter()
        .map(|b| format!("{}:{}", b.id, b.size))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn decode_blobs(text: &str) -> Vec<StoredBlob> {
    text.split_whitespace()
        .filter_map(|word| {
            let (id, size) = word.split_once(':')?;
            Some(StoredBlob {
                id: id.to_string(),
                size: size.parse().ok()?,
            })
        })
        .collect()
}

pub(crate) fn encode_headers(headers: &ObjectHeaders) -> String {
    let map: BTreeMap<&str, &str> = [
        ("cache-control", &headers.cache_control),
        ("content-disposition", &headers.content_disposition),
        ("content-encoding", &headers.content_encoding),
        ("content-language", &headers.content_language),
        ("expires", &headers.expires),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    .collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn decode_headers(content_type: Option<String>, text: &str) -> ObjectHeaders {
    let map: BTreeMap<String, String> = serde_json::from_str(text).unwrap_or_default();
    ObjectHeaders {
        content_type,
        cache_control: map.get("cache-control").cloned(),
        content_disposition: map.get("content-disposition").cloned(),
        content_encoding: map.get("content-encoding").cloned(),
        content_language: map.get("content-language").cloned(),
        expires: map.get("expires").cloned(),
    }
}

pub(crate) fn encode_checksum(checksum: &Option<Checksum>) -> Option<String> {
    checksum
        .as_ref()
        .map(|c| format!("{}:{}", c.algorithm, c.value))
}

pub(crate) fn decode_checksum(text: Option<String>) -> Option<Checksum> {
    let text = text?;
    let (algorithm, value) = text.split_once(':')?;
    Some(Checksum {
        algorithm: algorithm.into(),
        value: value.into(),
    })
}

pub(crate) const OBJECT_COLUMNS: &str =
    "object_key, blobs, size, etag, content_type, headers, user_metadata, checksum, parts_count, last_modified, acl, version_id, tags";

/// Object tags as stored: a JSON array of `[key, value]` pairs.
pub(crate) fn encode_tags(tags: &[Tag]) -> String {
    let pairs: Vec<(&str, &str)> = tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn decode_tags(text: &str) -> Vec<Tag> {
    serde_json::from_str::<Vec<(String, String)>>(text)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}

pub(crate) fn object_from_row(row: &AnyRow) -> Result<ObjectInfo> {
    Ok(ObjectInfo {
        key: text(row, "object_key")?,
        size: int(row, "size")? as u64,
        etag: text(row, "etag")?,
        meta: ObjectMeta {
            headers: decode_headers(opt_text(row, "content_type")?, &text(row, "headers")?),
            user_metadata: serde_json::from_str(&text(row, "user_metadata")?).unwrap_or_default(),
            acl: CannedAcl::parse(&text(row, "acl")?).unwrap_or_default(),
            tags: decode_tags(&text(row, "tags")?),
        },
        checksum: decode_checksum(opt_text(row, "checksum")?),
        parts_count: opt_int(row, "parts_count")?.map(|n| n as u32),
        last_modified: int(row, "last_modified")?,
        blobs: decode_blobs(&text(row, "blobs")?),
        version_id: opt_text(row, "version_id")?,
    })
}

/// The columns of an object's content, as `objects` and `object_versions`
/// both keep them; [`bind_content`] binds them in this order.
pub(crate) const CONTENT_COLUMNS: &str =
    "blobs, size, etag, content_type, headers, user_metadata, \
     checksum, parts_count, last_modified, acl, tags";

/// A query taking [`CONTENT_COLUMNS`] as its next parameters.
pub(crate) type ContentQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds `info`'s content, in the order of [`CONTENT_COLUMNS`].
pub(crate) fn bind_content<'q>(query: ContentQuery<'q>, info: &ObjectInfo) -> ContentQuery<'q> {
    query
        .bind(encode_blobs(&info.blobs))
        .bind(info.size as i64)
        .bind(info.etag.clone())
        .bind(info.meta.headers.content_type.clone())
        .bind(encode_headers(&info.meta.headers))
        .bind(serde_json::to_string(&info.meta.user_metadata).unwrap_or_else(|_| "{}".into()))
        .bind(encode_checksum(&info.checksum))
        .bind(info.parts_count.map(i64::from))
        .bind(info.last_modified)
        .bind(info.meta.acl.as_str())
        .bind(encode_tags(&info.meta.tags))
}

/// Writes `info` as the current version of its key (insert or replace).
pub(crate) async fn store_current(
    conn: &mut sqlx::AnyConnection,
    bucket: &str,
    info: &ObjectInfo,
    seq: i64,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO objects (bucket, object_key, version_id, seq, {CONTENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (bucket, object_key) DO UPDATE SET blobs = excluded.blobs, size = excluded.size, etag = excluded.etag, \
         content_type = excluded.content_type, headers = excluded.headers, user_metadata = excluded.user_metadata, \
         checksum = excluded.checksum, parts_count = excluded.parts_count, last_modified = excluded.last_modified, acl = excluded.acl, \
         version_id = excluded.version_id, seq = excluded.seq, tags = excluded.tags"
    );
    let query = sqlx::query(&sql)
        .bind(bucket)
        .bind(&info.key)
        .bind(info.version_id.clone())
        .bind(seq);
    bind_content(query, info)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl ObjectIndex {
    /// Streams `body` into a new blob of the tenant's bucket, then asks `finish`
    /// (which has seen the bytes go by) for the ETag and checksum, then commits
    /// the record under `condition`. Nothing is visible unless all three succeed.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_object(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        body: ByteStream,
        finish: impl FnOnce(&StoredBlob) -> Result<Written> + Send,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectInfo> {
        self.bucket(tenant, bucket).await?;
        validate_key(key)?;
        let blob = self.blobs.write_blob(bucket, body).await?;
        let outcome = match finish(&blob) {
            Ok(written) => {
                let info = ObjectInfo {
                    key: key.to_string(),
                    size: blob.size,
                    etag: written.etag,
                    meta,
                    checksum: written.checksum,
                    parts_count: None,
                    last_modified: now_ms(),
                    blobs: vec![blob.clone()],
                    version_id: None,
                };
                self.commit_object(tenant, bucket, info, condition).await
            }
            Err(error) => Err(error),
        };
        if outcome.is_err() {
            let _ = self.blobs.delete_blob(bucket, &blob.id).await;
        }
        outcome
    }

    /// Records `info` under its key. The object it replaces is kept as an older
    /// version when the bucket is versioned, else its blobs are deleted after
    /// the commit. Checks the tenant's stored-bytes quota and `condition`.
    pub(crate) async fn commit_object(
        &self,
        tenant: &Tenant,
        bucket: &str,
        mut info: ObjectInfo,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectInfo> {
        let mut tx = self.db.begin_write().await?;
        let versioning = versions::versioning_in(&mut tx, bucket, !self.db.is_sqlite()).await?;
        let existing = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND object_key = $2"
        ))
        .bind(bucket)
        .bind(&info.key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(|row| object_from_row(&row))
        .transpose()?;
        match (&condition, &existing) {
            (Some(WriteCondition::Absent), Some(_)) => return Err(Error::PreconditionFailed),
            (Some(WriteCondition::ETagIs(etag)), Some(old)) if &old.etag != etag => {
                return Err(Error::PreconditionFailed)
            }
            (Some(WriteCondition::ETagIs(_)), None) => {
                return Err(Error::not_found(ResourceKind::Object, info.key.clone()))
            }
            _ => {}
        }
        info.version_id = match versioning {
            Versioning::Enabled => Some(versions::new_version_id()),
            Versioning::Unversioned | Versioning::Suspended => None,
        };
        let freed =
            versions::retire_current(&mut tx, bucket, &info.key, existing, versioning).await?;
        let delta = info.size as i64 - freed.iter().map(|b| b.size as i64).sum::<i64>();
        if let Some(limit) = tenant.quotas.stored_bytes {
            let row = sqlx::query(
                "SELECT COALESCE(SUM(bytes_used), 0) AS used FROM buckets WHERE tenant_id = $1",
            )
            .bind(&tenant.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            if delta > 0 && int(&row, "used")? + delta > limit {
                return Err(Error::QuotaExceeded {
                    resource: "stored bytes",
                    limit,
                });
            }
        }
        store_current(&mut tx, bucket, &info, versions::next_seq()).await?;
        sqlx::query("UPDATE buckets SET bytes_used = bytes_used + $1 WHERE name = $2")
            .bind(delta)
            .bind(bucket)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.forget_object(bucket, &info.key);
        self.delete_blobs(bucket, &freed).await;
        Ok(info)
    }

    pub(crate) async fn delete_blobs(&self, bucket: &str, blobs: &[StoredBlob]) {
        for blob in blobs {
            if let Err(e) = self.blobs.delete_blob(bucket, &blob.id).await {
                // Harmless: the next start's sweep removes unreferenced blobs.
                tracing::warn!(bucket, blob = %blob.id, error = %e, "could not delete a replaced blob");
            }
        }
    }

    /// The record of `key` in the tenant's bucket.
    pub async fn head_object(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectInfo> {
        self.bucket(tenant, bucket).await?;
        self.find_object(bucket, key)
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Object, key))
    }

    pub(crate) async fn find_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>> {
        let cache_key = (bucket.to_string(), key.to_string());
        if let Some(info) = self.object_cache.get(&cache_key) {
            return Ok(Some(info));
        }
        let generation = self.object_cache.generation();
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND object_key = $2"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        let info = row.as_ref().map(object_from_row).transpose()?;
        if let Some(info) = &info {
            self.object_cache.put(cache_key, info.clone(), generation);
        }
        Ok(info)
    }

    /// Forgets the cached record of a key (after any change to it).
    pub(crate) fn forget_object(&self, bucket: &str, key: &str) {
        self.object_cache
            .invalidate(&(bucket.to_string(), key.to_string()));
    }

    /// Streams `range` of an object's bytes across its blobs. The first blob
    /// is opened and the others checked before this returns, so a blob that
    /// is missing or unreadable (another gateway's store, a damaged disk) is
    /// an error the caller answers with, never a 200 whose body breaks off.
    pub async fn object_body(
        &self,
        bucket: &str,
        info: &ObjectInfo,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        let store = self.blobs.clone();
        let bucket = bucket.to_string();
        let mut segments = Vec::new();
        let mut offset = 0u64;
        for blob in &info.blobs {
            let (start, end) = (offset, offset + blob.size);
            offset = end;
            let (from, to) = (range.start.max(start), range.end.min(end));
            if from < to {
                segments.push((blob.id.clone(), from - start, to - from));
            }
        }
        let mut segments = segments.into_iter();
        let Some((blob, offset, len)) = segments.next() else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let first = store.read_blob(&bucket, &blob, offset, len).await?;
        let rest: Vec<_> = segments.collect();
        let wanted: Vec<(String, u64)> = rest
            .iter()
            .map(|(blob, offset, len)| (blob.clone(), offset + len))
            .collect();
        if !wanted.is_empty() {
            store.check_blobs(&bucket, &wanted).await?;
        }
        let rest = futures::stream::iter(rest)
            .then(move |(blob, offset, len)| {
                let store = store.clone();
                let bucket = bucket.clone();
                async move {
                    store
                        .read_blob(&bucket, &blob, offset, len)
                        .await
                        .map_err(std::io::Error::other)
                }
            })
            .map(|opened| match opened {
                Ok(stream) => stream,
                Err(e) => Box::pin(futures::stream::once(async move { Err(e) })) as ByteStream,
            })
            .flatten();
        Ok(Box::pin(first.chain(rest)))
    }

    /// Deletes an object; a missing key is not an error (S3 semantics). In a
    /// versioned bucket this adds a delete marker and keeps the data.
    pub async fn delete_object(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
    ) -> Result<DeleteOutcome> {
        self.bucket(tenant, bucket).await?;
        self.remove_object(bucket, key).await
    }

    /// Deletes the current object of a bucket already authorised.
    pub(crate) async fn remove_object(&self, bucket: &str, key: &str) -> Result<DeleteOutcome> {
        let mut tx = self.db.begin_write().await?;
        let versioning = versions::versioning_in(&mut tx, bucket, !self.db.is_sqlite()).await?;
        let existing = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND object_key = $2"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(|row| object_from_row(&row))
        .transpose()?;
        if versioning == Versioning::Unversioned && existing.is_none() {
            return Ok(DeleteOutcome::default());
        }
        sqlx::query("DELETE FROM objects WHERE bucket = $1 AND object_key = $2")
            .bind(bucket)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let freed = versions::retire_current(&mut tx, bucket, key, existing, versioning).await?;
        let outcome = match versioning {
            Versioning::Unversioned => DeleteOutcome::default(),
            Versioning::Enabled | Versioning::Suspended => {
                let version_id = (versioning == Versioning::Enabled).then(versions::new_version_id);
                versions::insert_delete_marker(&mut tx, bucket, key, version_id.clone()).await?;
                DeleteOutcome {
                    delete_marker: true,
                    version_id,
                }
            }
        };
        self.finish_removal(tx, bucket, key, freed, outcome).await
    }

    /// Commits a removal: accounts for the freed bytes, forgets the cached
    /// record, and deletes the freed blobs once the commit is durable.
    pub(crate) async fn finish_removal(
        &self,
        mut tx: datastore::WriteTx,
        bucket: &str,
        key: &str,
        freed: Vec<StoredBlob>,
        outcome: DeleteOutcome,
    ) -> Result<DeleteOutcome> {
        let freed_bytes: i64 = freed.iter().map(|b| b.size as i64).sum();
        sqlx::query("UPDATE buckets SET bytes_used = bytes_used - $1 WHERE name = $2")
            .bind(freed_bytes)
            .bind(bucket)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.forget_object(bucket, key);
        self.delete_blobs(bucket, &freed).await;
        Ok(outcome)
    }

    /// Blob IDs referenced by the bucket's objects and unfinished uploads.
    pub(crate) async fn referenced_blobs(&self, bucket: &str) -> Result<HashSet<String>> {
        let mut referenced = HashSet::new();
        let rows = sqlx::query("SELECT blobs FROM objects WHERE bucket = $1")
            .bind(bucket)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        for row in &rows {
            referenced.extend(decode_blobs(&text(row, "blobs")?).into_iter().map(|b| b.id));
        }
        let rows = sqlx::query("SELECT blobs FROM object_versions WHERE bucket = $1")
            .bind(bucket)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        for row in &rows {
            referenced.extend(decode_blobs(&text(row, "blobs")?).into_iter().map(|b| b.id));
        }
        let rows = sqlx::query("SELECT p.blob_id FROM multipart_parts p JOIN multipart_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = $1")
            .bind(bucket)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        for row in &rows {
            referenced.insert(text(row, "blob_id")?);
        }
        Ok(referenced)
    }

    /// At start: removes interrupted writes and blobs no record refers to, in every bucket.
    pub async fn recover_object_store(&self) -> Result<usize> {
        let rows = sqlx::query("SELECT name FROM buckets")
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        let mut removed = 0;
        for row in &rows {
            let bucket = text(row, "name")?;
            let referenced = self.referenced_blobs(&bucket).await?;
            removed += self.blobs.remove_unreferenced(&bucket, &referenced).await?;
        }
        if removed > 0 {
            tracing::info!(removed, "removed debris of interrupted writes");
        }
        Ok(removed)
    }
}

/// S3 keys are 1–1024 bytes of UTF-8.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 1024 {
        return Err(Error::invalid("Key", "object keys are 1-1024 bytes long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_lists_round_trip() {
        let blobs = vec![
            StoredBlob {
                id: "a".repeat(32),
                size: 5,
            },
            StoredBlob {
                id: "b".repeat(32),
                size: 0,
            },
        ];
        assert_eq!(decode_blobs(&encode_blobs(&blobs)), blobs);
        let headers = ObjectHeaders {
            content_type: Some("text/plain".into()),
            cache_control: Some("no-cache".into()),
            ..Default::default()
        };
        assert_eq!(
            decode_headers(Some("text/plain".into()), &encode_headers(&headers)),
            headers
        );
    }
}
