//! The bucket registry: which tenant owns which bucket name, and where it lives.
//! The bytes are the object store's business.

use cloud::types::{Bucket, ObjectInfo, RemoteBucket, Tag};
use cloud::{Error, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::db::{db_err, int, is_unique_violation, now, opt_text, text};
use crate::placement::Chosen;
use crate::tenants::Tenant;
use crate::Federation;

/// What a CreateBucket tells the placement policies.
#[derive(Debug, Clone, Default)]
pub struct BucketPlacing {
    /// The `LocationConstraint` the client asked for.
    pub location_constraint: Option<String>,
    /// Tags sent with the request (`CreateBucketConfiguration.Tags`).
    pub tags: Vec<Tag>,
}

fn bucket_of_row(name: String, row: &AnyRow) -> Result<Bucket> {
    let remote = match (opt_text(row, "target")?, opt_text(row, "remote_name")?) {
        (Some(target), Some(remote_name)) => Some(RemoteBucket {
            target,
            name: remote_name,
        }),
        _ => None,
    };
    Ok(Bucket {
        name,
        region: text(row, "region")?,
        created_at: int(row, "created_at")?,
        remote,
    })
}

/// Checks S3's bucket naming rules.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(
            "Bucket",
            format!("The specified bucket is not valid: {why}"),
        ))
    };
    if name.len() < 3 || name.len() > 63 {
        return bad("names are 3-63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("names use only lowercase letters, digits, dots and hyphens");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("names begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("dots may not be adjacent to dots or hyphens");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("names must not be formatted as an IP address");
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return bad("this prefix or suffix is reserved");
    }
    Ok(())
}

impl Federation {
    /// Places, creates and registers a bucket for the tenant: on this site's
    /// object store or on the remote target the policies choose.
    pub async fn create_bucket(
        &self,
        tenant: &Tenant,
        name: &str,
        placing: &BucketPlacing,
    ) -> Result<Bucket> {
        validate_bucket_name(name)?;
        for tag in &placing.tags {
            crate::tags::validate_tag(tag)?;
        }
        if let Some(owner) = self.bucket_owner(name).await? {
            return Err(if owner == tenant.id {
                Error::duplicate(ResourceKind::Bucket, name)
            } else {
                Error::BucketTakenByOther(name.to_string())
            });
        }
        if let Some(limit) = tenant.quotas.buckets {
            if self.list_buckets(tenant).await?.len() as i64 >= limit {
                return Err(Error::QuotaExceeded {
                    resource: "buckets",
                    limit,
                });
            }
        }
        let mut request =
            policies::Request::new(&tenant.name, "CreateBucket", policies::ResourceKind::Bucket)
                .with_region(&self.region);
        if let Some(constraint) = &placing.location_constraint {
            request = request.with_location_constraint(constraint);
        }
        for tag in &placing.tags {
            request = request.with_tag(&tag.key, &tag.value);
        }
        // Storage first, record second: a crash in between leaves an empty
        // directory that the next create of this name reuses, or a remote bucket
        // that stays the target's (never adopted: that create is refused).
        let (remote, target, explanation) = self
            .place(&request, |chosen| async move {
                match chosen {
                    Chosen::Local => {
                        // Leftovers of an earlier bucket of this name are cleared first.
                        self.objects.delete_bucket(name).await?;
                        self.objects.create_bucket(name).await?;
                        Ok(None)
                    }
                    Chosen::Remote(target) => {
                        let remote_name = target.remote_bucket_name(name);
                        // The client's LocationConstraint chose the target through the
                        // policies; on the target the bucket goes in the target's region.
                        // A bucket already there is never adopted (the target says
                        // BucketTakenByOther); the client hears its own name only.
                        target.create_bucket(&remote_name, None).await.map_err(
                            |error| match error {
                                Error::BucketTakenByOther(_) => {
                                    Error::BucketTakenByOther(name.to_string())
                                }
                                other => other,
                            },
                        )?;
                        Ok(Some(RemoteBucket {
                            target: target.name().to_string(),
                            name: remote_name,
                        }))
                    }
                }
            })
            .await?;
        let bucket = Bucket {
            name: name.to_string(),
            region: self.region.clone(),
            created_at: now(),
            remote,
        };
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query("INSERT INTO buckets (name, tenant_id, region, created_at, target, remote_name) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&bucket.name)
            .bind(&tenant.id)
            .bind(&bucket.region)
            .bind(bucket.created_at)
            .bind(bucket.remote.as_ref().map(|r| r.target.clone()))
            .bind(bucket.remote.as_ref().map(|r| r.name.clone()))
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {
                Self::record_placement(&mut tx, tenant, name, "bucket", &target, &explanation)
                    .await?;
                // The user's tags only: where the bucket lives is in `placements`.
                crate::bucket_settings::write_bucket_tags(&mut tx, tenant, name, &placing.tags)
                    .await?;
                tx.commit().await.map_err(db_err)?;
                self.bucket_cache.invalidate(&name.to_string());
                tracing::info!(tenant = %tenant.name, bucket = name, %target, "bucket created");
                Ok(bucket)
            }
            // Lost a race with another creator of the same name.
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                match self.bucket_owner(name).await? {
                    Some(owner) if owner == tenant.id => {
                        Err(Error::duplicate(ResourceKind::Bucket, name))
                    }
                    _ => Err(Error::BucketTakenByOther(name.to_string())),
                }
            }
            Err(e) => Err(db_err(e)),
        }
    }

    async fn bucket_owner(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT tenant_id FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        row.map(|row| text(&row, "tenant_id")).transpose()
    }

    /// Removes a bucket's records (registry, uploads, placement, tags) in `connection`'s
    /// transaction and drops it from the cache.
    async fn forget_bucket(&self, connection: &mut sqlx::AnyConnection, name: &str) -> Result<()> {
        for statement in [
            "DELETE FROM multipart_uploads WHERE bucket = $1",
            "DELETE FROM buckets WHERE name = $1",
            "DELETE FROM placements WHERE resource_id = $1",
            "DELETE FROM tags WHERE resource_type = 'bucket' AND resource_id = $1",
        ] {
            sqlx::query(statement)
                .bind(name)
                .execute(&mut *connection)
                .await
                .map_err(db_err)?;
        }
        self.bucket_cache.invalidate(&name.to_string());
        Ok(())
    }

    /// The tenant's buckets, by name.
    pub async fn list_buckets(&self, tenant: &Tenant) -> Result<Vec<Bucket>> {
        let rows = sqlx::query("SELECT name, region, created_at, target, remote_name FROM buckets WHERE tenant_id = $1 ORDER BY name")
            .bind(&tenant.id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| bucket_of_row(text(row, "name")?, row))
            .collect()
    }

    /// The tenant's bucket `name`: NotFound if nobody has it, AccessDenied if another tenant does.
    pub async fn bucket(&self, tenant: &Tenant, name: &str) -> Result<Bucket> {
        let (owner, bucket) = self
            .bucket_record(name)
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Bucket, name))?;
        if owner != tenant.id {
            return Err(Error::AccessDenied("Access Denied".into()));
        }
        Ok(bucket)
    }

    /// Who owns bucket `name` and where it lives (`None` remote = this site), for
    /// routing a request before its caller is checked.
    pub async fn bucket_home(&self, name: &str) -> Result<Option<(String, Option<RemoteBucket>)>> {
        Ok(self
            .bucket_record(name)
            .await?
            .map(|(owner, bucket)| (owner, bucket.remote)))
    }

    /// The current record of `key` when its bucket is on this site and owned by
    /// `tenant`; `None` for anything else (remote or foreign bucket, no such
    /// bucket or object). For the gateway's short read path, which leaves every
    /// other case, errors included, to the full one.
    pub async fn owned_local_object(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectInfo>> {
        match self.bucket_record(bucket).await? {
            Some((owner, record)) if owner == tenant.id && record.remote.is_none() => {
                self.find_object(bucket, key).await
            }
            _ => Ok(None),
        }
    }

    /// The owner's tenant ID and the bucket, through the cache.
    async fn bucket_record(&self, name: &str) -> Result<Option<(String, Bucket)>> {
        let key = name.to_string();
        if let Some(record) = self.bucket_cache.get(&key) {
            return Ok(Some(record));
        }
        let generation = self.bucket_cache.generation();
        let row = sqlx::query("SELECT tenant_id, region, created_at, target, remote_name FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let record = (text(&row, "tenant_id")?, bucket_of_row(key.clone(), &row)?);
        self.bucket_cache.put(key, record.clone(), generation);
        Ok(Some(record))
    }

    /// Deletes a bucket that holds no object; unfinished multipart uploads go with it.
    pub async fn delete_bucket(&self, tenant: &Tenant, name: &str) -> Result<()> {
        let bucket = self.bucket(tenant, name).await?;
        if let Some(remote) = &bucket.remote {
            // The target decides emptiness; the record goes once the bucket is gone there.
            self.placement
                .remote(&remote.target)?
                .delete_bucket(&remote.name)
                .await?;
            let mut tx = self.db.begin_write().await?;
            self.forget_bucket(&mut tx, name).await?;
            tx.commit().await.map_err(db_err)?;
            tracing::info!(tenant = %tenant.name, bucket = name, target = %remote.target, "bucket deleted");
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        let mut has_objects = false;
        for table in ["objects", "object_versions"] {
            has_objects |= sqlx::query(&format!(
                "SELECT object_key FROM {table} WHERE bucket = $1 LIMIT 1"
            ))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .is_some();
        }
        if has_objects {
            return Err(Error::BucketNotEmpty(name.to_string()));
        }
        self.forget_bucket(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        // Record first, storage second: a crash in between leaves files no
        // bucket owns, which the next CreateBucket of this name starts over from.
        self.objects.delete_bucket(name).await?;
        tracing::info!(tenant = %tenant.name, bucket = name, "bucket deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::validate_bucket_name;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "my-bucket.logs", "a1b2c3", &"x".repeat(63)] {
            assert!(validate_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "under_score",
            &"x".repeat(64),
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
