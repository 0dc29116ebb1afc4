//! Reads whose right to read is decided here rather than by ownership of
//! the bucket alone: anonymous readers of public buckets and objects (canned
//! ACLs), and the owner's short read path in the gateway.

use cloud::tenancy::Tenant;
use cloud::types::{CannedAcl, ObjectInfo};
use cloud::{Error, ResourceKind, Result};
use datastore::{db_err, tenant_from_row, text};

use crate::ObjectIndex;

impl ObjectIndex {
    /// The owner of a bucket whose listing anyone may read; AccessDenied otherwise.
    pub async fn public_bucket_owner(&self, bucket: &str) -> Result<Tenant> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.account_id, t.created_at, t.quota_instances, t.quota_vcpus, t.quota_volume_gib, \
             t.quota_buckets, t.quota_stored_bytes, b.acl FROM buckets b JOIN tenants t ON t.id = b.tenant_id WHERE b.name = $1",
        )
        .bind(bucket)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::Bucket, bucket))?;
        if text(&row, "acl")? == CannedAcl::PublicRead.as_str() {
            tenant_from_row(&row)
        } else {
            Err(Error::AccessDenied("Access Denied".into()))
        }
    }

    /// An object anyone may read: its own ACL must be public-read. As on S3, a
    /// bucket's READ grant allows listing its keys, not reading its objects;
    /// it only turns a missing key into NoSuchKey (the caller could list it).
    pub async fn public_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        match self.find_object(bucket, key).await? {
            Some(info) if info.meta.acl == CannedAcl::PublicRead => Ok(info),
            None if self.bucket_is_public(bucket).await? => {
                Err(Error::not_found(ResourceKind::Object, key))
            }
            _ => Err(Error::AccessDenied("Access Denied".into())),
        }
    }

    async fn bucket_is_public(&self, bucket: &str) -> Result<bool> {
        let acl = self.bucket_setting(bucket, "acl").await?;
        Ok(CannedAcl::parse(&acl.unwrap_or_default()) == Some(CannedAcl::PublicRead))
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
}
