//! Per-bucket settings: canned ACLs (and the anonymous reads they allow), CORS
//! rules, and lifecycle rules with the sweep that applies them.

use cloud::types::{CannedAcl, CorsRule, LifecycleRule, Tag};
use cloud::{Error, ResourceKind, Result};

use crate::ObjectIndex;
use cloud::tenancy::Tenant;
use datastore::{db_err, now_ms, opt_text, text};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn setting_column(setting: &str) -> Result<&'static str> {
    match setting {
        "acl" => Ok("acl"),
        "cors" => Ok("cors"),
        "lifecycle" => Ok("lifecycle"),
        "versioning" => Ok("versioning"),
        _ => Err(Error::internal(format!("unknown bucket setting {setting}"))),
    }
}

/// Writes a bucket's tags (replacing the tenant's own; system tags stay).
pub(crate) async fn write_bucket_tags(
    connection: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    bucket: &str,
    tags: &[Tag],
) -> Result<()> {
    sqlx::query("DELETE FROM tags WHERE resource_type = 'bucket' AND resource_id = $1 AND tag_key NOT LIKE 'skyport:%' AND tag_key NOT LIKE 'aws:%'")
        .bind(bucket)
        .execute(&mut *connection)
        .await
        .map_err(db_err)?;
    for tag in tags {
        sqlx::query("INSERT INTO tags (tenant_id, resource_id, resource_type, tag_key, tag_value) VALUES ($1, $2, 'bucket', $3, $4)")
            .bind(&tenant.id)
            .bind(bucket)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *connection)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

impl ObjectIndex {
    /// A bucket's tags (S3 GetBucketTagging): the user's alone.
    pub async fn bucket_tags(&self, tenant: &Tenant, bucket: &str) -> Result<Vec<Tag>> {
        self.bucket(tenant, bucket).await?;
        let rows = sqlx::query(
            "SELECT tag_key, tag_value FROM tags \
             WHERE tenant_id = $1 AND resource_type = 'bucket' AND resource_id = $2 ORDER BY tag_key",
        )
        .bind(&tenant.id)
        .bind(bucket)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut tags = Vec::with_capacity(rows.len());
        for row in &rows {
            let (key, value) = (text(row, "tag_key")?, text(row, "tag_value")?);
            if !cloud::tags::is_system_key(&key) {
                tags.push(Tag { key, value });
            }
        }
        Ok(tags)
    }

    /// Replaces a bucket's tags (S3 PutBucketTagging / DeleteBucketTagging).
    pub async fn set_bucket_tags(&self, tenant: &Tenant, bucket: &str, tags: &[Tag]) -> Result<()> {
        self.bucket(tenant, bucket).await?;
        if tags.len() > cloud::tags::MAX_TAGS_PER_RESOURCE {
            return Err(Error::invalid(
                "Tagging",
                "a bucket may have at most 50 tags",
            ));
        }
        for tag in tags {
            cloud::tags::validate_tag(tag)?;
        }
        let mut tx = self.db.begin_write().await?;
        write_bucket_tags(&mut tx, tenant, bucket, tags).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn set_bucket_setting(
        &self,
        tenant: &Tenant,
        bucket: &str,
        setting: &str,
        value: Option<String>,
    ) -> Result<()> {
        self.bucket(tenant, bucket).await?;
        let column = setting_column(setting)?;
        sqlx::query(&format!(
            "UPDATE buckets SET {column} = $1 WHERE name = $2 AND tenant_id = $3"
        ))
        .bind(value)
        .bind(bucket)
        .bind(&tenant.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn bucket_setting(
        &self,
        bucket: &str,
        setting: &str,
    ) -> Result<Option<String>> {
        let column = setting_column(setting)?;
        let row = sqlx::query(&format!(
            "SELECT {column} AS value FROM buckets WHERE name = $1"
        ))
        .bind(bucket)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::Bucket, bucket))?;
        opt_text(&row, "value")
    }

    /// Sets a bucket's canned ACL.
    pub async fn set_bucket_acl(
        &self,
        tenant: &Tenant,
        bucket: &str,
        acl: CannedAcl,
    ) -> Result<()> {
        // The column is NOT NULL; set_bucket_setting binds an Option for the JSON settings.
        self.set_bucket_setting(tenant, bucket, "acl", Some(acl.as_str().to_string()))
            .await
    }

    /// A bucket's canned ACL.
    pub async fn bucket_acl(&self, tenant: &Tenant, bucket: &str) -> Result<CannedAcl> {
        self.bucket(tenant, bucket).await?;
        Ok(self
            .bucket_setting(bucket, "acl")
            .await?
            .and_then(|a| CannedAcl::parse(&a))
            .unwrap_or_default())
    }

    /// Sets an object's canned ACL.
    pub async fn set_object_acl(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        acl: CannedAcl,
    ) -> Result<()> {
        self.head_object(tenant, bucket, key).await?;
        sqlx::query("UPDATE objects SET acl = $1 WHERE bucket = $2 AND object_key = $3")
            .bind(acl.as_str())
            .bind(bucket)
            .bind(key)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        self.forget_object(bucket, key);
        Ok(())
    }

    /// Replaces (or with `None` removes) a bucket's CORS rules.
    pub async fn set_bucket_cors(
        &self,
        tenant: &Tenant,
        bucket: &str,
        rules: Option<&[CorsRule]>,
    ) -> Result<()> {
        let json = rules
            .map(|r| serde_json::to_string(r).map_err(Error::internal))
            .transpose()?;
        self.set_bucket_setting(tenant, bucket, "cors", json).await
    }

    /// A bucket's CORS rules, if any. No tenant: browsers ask before they sign.
    pub async fn bucket_cors(&self, bucket: &str) -> Result<Option<Vec<CorsRule>>> {
        let json = self.bucket_setting(bucket, "cors").await?;
        json.map(|j| serde_json::from_str(&j).map_err(Error::internal))
            .transpose()
    }

    /// Replaces (or with `None` removes) a bucket's lifecycle rules.
    pub async fn set_bucket_lifecycle(
        &self,
        tenant: &Tenant,
        bucket: &str,
        rules: Option<&[LifecycleRule]>,
    ) -> Result<()> {
        let json = rules
            .map(|r| serde_json::to_string(r).map_err(Error::internal))
            .transpose()?;
        self.set_bucket_setting(tenant, bucket, "lifecycle", json)
            .await
    }

    /// A bucket's lifecycle rules, if any.
    pub async fn bucket_lifecycle(
        &self,
        tenant: &Tenant,
        bucket: &str,
    ) -> Result<Option<Vec<LifecycleRule>>> {
        self.bucket(tenant, bucket).await?;
        let json = self.bucket_setting(bucket, "lifecycle").await?;
        json.map(|j| serde_json::from_str(&j).map_err(Error::internal))
            .transpose()
    }

    /// Applies every bucket's enabled lifecycle rules as of `now` (Unix ms):
    /// expired objects are deleted, old unfinished uploads aborted. Returns how
    /// many objects were deleted. Each rule handles at most `batch` objects per
    /// call, so one sweep never holds the database for long.
    pub async fn apply_lifecycle(&self, now: i64, batch: i64) -> Result<usize> {
        let rows = sqlx::query("SELECT name, lifecycle FROM buckets WHERE lifecycle IS NOT NULL")
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        let mut deleted = 0;
        for row in &rows {
            let bucket = text(row, "name")?;
            let rules: Vec<LifecycleRule> =
                serde_json::from_str(&text(row, "lifecycle")?).unwrap_or_default();
            for rule in rules.iter().filter(|r| r.enabled) {
                if let Some(days) = rule.expiration_days {
                    let cutoff = now - i64::from(days) * DAY_MS;
                    let expired = sqlx::query(
                        "SELECT object_key FROM objects WHERE bucket = $1 AND last_modified < $2 AND object_key >= $3 ORDER BY last_modified LIMIT $4",
                    )
                    .bind(&bucket)
                    .bind(cutoff)
                    .bind(&rule.prefix)
                    .bind(batch)
                    .fetch_all(self.db.pool())
                    .await
                    .map_err(db_err)?;
                    for key in expired
                        .iter()
                        .map(|r| text(r, "object_key"))
                        .collect::<Result<Vec<_>>>()?
                    {
                        if key.starts_with(&rule.prefix) {
                            self.remove_object(&bucket, &key).await?;
                            deleted += 1;
                        }
                    }
                }
                if let Some(days) = rule.abort_incomplete_days {
                    let cutoff = now - i64::from(days) * DAY_MS;
                    let stale = sqlx::query("SELECT upload_id, object_key FROM multipart_uploads WHERE bucket = $1 AND initiated < $2")
                        .bind(&bucket)
                        .bind(cutoff)
                        .fetch_all(self.db.pool())
                        .await
                        .map_err(db_err)?;
                    for upload in &stale {
                        if text(upload, "object_key")?.starts_with(&rule.prefix) {
                            self.discard_upload(&bucket, &text(upload, "upload_id")?)
                                .await?;
                        }
                    }
                }
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "lifecycle expired objects");
        }
        Ok(deleted)
    }
}

/// Now, for callers that sweep on a timer.
pub fn lifecycle_now() -> i64 {
    now_ms()
}
