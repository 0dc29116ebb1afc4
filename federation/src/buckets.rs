//! The bucket registry: which tenant owns which bucket name, and where it lives.
//! The bytes are the object store's business.

use cloud::types::Bucket;
use cloud::{Error, ResourceKind, Result};

use crate::db::{db_err, int, is_unique_violation, now, text};
use crate::tenants::Tenant;
use crate::Federation;

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
    /// Registers and creates a bucket for the tenant.
    pub async fn create_bucket(&self, tenant: &Tenant, name: &str) -> Result<Bucket> {
        validate_bucket_name(name)?;
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
        // Storage first, record second: a crash in between leaves an empty
        // directory that the next create of this name simply reuses. Leftovers
        // of an earlier bucket of this name are cleared first.
        self.objects.delete_bucket(name).await?;
        self.objects.create_bucket(name).await?;
        let bucket = Bucket {
            name: name.to_string(),
            region: self.region.clone(),
            created_at: now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO buckets (name, tenant_id, region, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&bucket.name)
        .bind(&tenant.id)
        .bind(&bucket.region)
        .bind(bucket.created_at)
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => {
                self.bucket_cache.invalidate(&name.to_string());
                tracing::info!(tenant = %tenant.name, bucket = name, "bucket created");
                Ok(bucket)
            }
            // Lost a race with another creator of the same name.
            Err(e) if is_unique_violation(&e) => match self.bucket_owner(name).await? {
                Some(owner) if owner == tenant.id => {
                    Err(Error::duplicate(ResourceKind::Bucket, name))
                }
                _ => Err(Error::BucketTakenByOther(name.to_string())),
            },
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

    /// The tenant's buckets, by name.
    pub async fn list_buckets(&self, tenant: &Tenant) -> Result<Vec<Bucket>> {
        let rows = sqlx::query(
            "SELECT name, region, created_at FROM buckets WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(Bucket {
                    name: text(row, "name")?,
                    region: text(row, "region")?,
                    created_at: int(row, "created_at")?,
                })
            })
            .collect()
    }

    /// The tenant's bucket `name`: NotFound if nobody has it, AccessDenied if another tenant does.
    pub async fn bucket(&self, tenant: &Tenant, name: &str) -> Result<Bucket> {
        let key = name.to_string();
        if let Some((owner, bucket)) = self.bucket_cache.get(&key) {
            if owner != tenant.id {
                return Err(Error::AccessDenied("Access Denied".into()));
            }
            return Ok(bucket);
        }
        let generation = self.bucket_cache.generation();
        let row = sqlx::query("SELECT tenant_id, region, created_at FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(ResourceKind::Bucket, name))?;
        let owner = text(&row, "tenant_id")?;
        let bucket = Bucket {
            name: name.to_string(),
            region: text(&row, "region")?,
            created_at: int(&row, "created_at")?,
        };
        self.bucket_cache
            .put(key, (owner.clone(), bucket.clone()), generation);
        if owner != tenant.id {
            return Err(Error::AccessDenied("Access Denied".into()));
        }
        Ok(bucket)
    }

    /// Deletes a bucket that holds no object; unfinished multipart uploads go with it.
    pub async fn delete_bucket(&self, tenant: &Tenant, name: &str) -> Result<()> {
        self.bucket(tenant, name).await?;
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
        for statement in [
            "DELETE FROM multipart_uploads WHERE bucket = $1",
            "DELETE FROM buckets WHERE name = $1",
        ] {
            sqlx::query(statement)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.bucket_cache.invalidate(&name.to_string());
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
