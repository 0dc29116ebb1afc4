//! The bucket registry: which tenant owns which bucket name, and where it lives.
//! The bytes are the blob store's business; placing a bucket is the account layer's.

use cloud::tenancy::Tenant;
use cloud::types::{Bucket, RemoteBucket, Tag};
use cloud::{Error, ResourceKind, Result};
use datastore::{db_err, int, is_unique_violation, opt_text, text};
use sqlx::any::AnyRow;

use crate::bucket_settings::write_bucket_tags;
use crate::ObjectIndex;

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

/// A bucket that lives on a remote cloud, as the registry knows it.
#[derive(Debug, Clone)]
pub struct RemoteHome {
    owner: String,
    bucket: RemoteBucket,
}

impl RemoteHome {
    /// The remote target holding the bucket.
    pub fn target(&self) -> &str {
        &self.bucket.target
    }

    /// The bucket on its target, for a request of `tenant`: only the owner
    /// may address a remote bucket (AccessDenied for anyone else).
    pub fn owned_by(self, tenant: &Tenant) -> Result<RemoteBucket> {
        if self.owner == tenant.id {
            Ok(self.bucket)
        } else {
            Err(Error::AccessDenied("Access Denied".into()))
        }
    }
}

impl ObjectIndex {
    /// Registers `bucket` as `tenant`'s in `connection`'s transaction; the
    /// caller commits, then calls [`ObjectIndex::bucket_changed`]. `false`:
    /// someone registered the name meanwhile (the caller drops the
    /// transaction and answers as CreateBucket does, after
    /// [`ObjectIndex::bucket_owner`]).
    pub async fn insert_bucket(
        &self,
        connection: &mut sqlx::AnyConnection,
        tenant: &Tenant,
        bucket: &Bucket,
        tags: &[Tag],
    ) -> Result<bool> {
        let inserted = sqlx::query("INSERT INTO buckets (name, tenant_id, region, created_at, target, remote_name) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&bucket.name)
            .bind(&tenant.id)
            .bind(&bucket.region)
            .bind(bucket.created_at)
            .bind(bucket.remote.as_ref().map(|r| r.target.clone()))
            .bind(bucket.remote.as_ref().map(|r| r.name.clone()))
            .execute(&mut *connection)
            .await;
        match inserted {
            // The user's tags only: where the bucket lives is the placement's record.
            Ok(_) => {
                write_bucket_tags(connection, tenant, &bucket.name, tags).await?;
                Ok(true)
            }
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Drops bucket `name` from the cache after its records changed.
    pub fn bucket_changed(&self, name: &str) {
        self.bucket_cache.invalidate(&name.to_string());
    }

    /// Makes an empty directory for a new bucket of this site, clearing what an
    /// earlier bucket of the name left.
    pub async fn prepare_local_bucket(&self, name: &str) -> Result<()> {
        self.blobs.delete_bucket(name).await?;
        self.blobs.create_bucket(name).await
    }

    /// Removes the files of a bucket of this site whose records are gone.
    pub async fn remove_local_bucket(&self, name: &str) -> Result<()> {
        self.blobs.delete_bucket(name).await
    }

    /// The tenant ID owning bucket `name`, if any.
    pub async fn bucket_owner(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT tenant_id FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        row.map(|row| text(&row, "tenant_id")).transpose()
    }

    /// Removes a bucket's records (registry, uploads, tags) in `connection`'s
    /// transaction and drops it from the cache. A bucket of this site must
    /// hold no object (`BucketNotEmpty`); a remote bucket's target has
    /// decided that already.
    pub async fn forget_bucket(
        &self,
        connection: &mut sqlx::AnyConnection,
        name: &str,
        remote: bool,
    ) -> Result<()> {
        if !remote {
            for table in ["objects", "object_versions"] {
                let held = sqlx::query(&format!(
                    "SELECT object_key FROM {table} WHERE bucket = $1 LIMIT 1"
                ))
                .bind(name)
                .fetch_optional(&mut *connection)
                .await
                .map_err(db_err)?;
                if held.is_some() {
                    return Err(Error::BucketNotEmpty(name.to_string()));
                }
            }
        }
        for statement in [
            "DELETE FROM multipart_uploads WHERE bucket = $1",
            "DELETE FROM buckets WHERE name = $1",
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

    /// Where bucket `name` lives when that is a remote cloud (`None`: a
    /// bucket of this site, or no such bucket), for routing a request before
    /// its caller is checked.
    pub async fn remote_home(&self, name: &str) -> Result<Option<RemoteHome>> {
        Ok(self.bucket_record(name).await?.and_then(|(owner, bucket)| {
            Some(RemoteHome {
                owner,
                bucket: bucket.remote?,
            })
        }))
    }

    /// The owner's tenant ID and the bucket, through the cache.
    pub(crate) async fn bucket_record(&self, name: &str) -> Result<Option<(String, Bucket)>> {
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
