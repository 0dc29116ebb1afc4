//! S3 object tagging on this site's buckets: tags belong to one version of an
//! object and are replaced whole (PutObjectTagging) without a new version.

use cloud::types::{ObjectInfo, Tag};
use cloud::{Error, ResourceKind, Result};

use crate::objects::encode_tags;
use crate::versions::NULL_VERSION;
use crate::ObjectIndex;
use cloud::tenancy::Tenant;
use datastore::db_err;

/// S3's limits on object tags.
const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Refuses a tag set S3 would refuse: more than ten tags, a key used twice,
/// an empty or over-long key, an over-long value.
pub fn validate_object_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidTag(format!(
            "Object tags cannot be greater than {MAX_TAGS}"
        )));
    }
    for (at, tag) in tags.iter().enumerate() {
        if tag.key.is_empty() || tag.key.chars().count() > MAX_KEY_CHARS {
            return Err(Error::InvalidTag(format!(
                "The TagKey you have provided is invalid (1 to {MAX_KEY_CHARS} characters): '{}'",
                tag.key
            )));
        }
        if tag.value.chars().count() > MAX_VALUE_CHARS {
            return Err(Error::InvalidTag(format!(
                "The TagValue you have provided is too long, max {MAX_VALUE_CHARS}"
            )));
        }
        if tags[..at].iter().any(|earlier| earlier.key == tag.key) {
            return Err(Error::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(())
}

impl ObjectIndex {
    /// The tags of `key`'s current version (or of `version_id`), with the
    /// version they belong to.
    pub async fn object_tags(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectInfo> {
        match version_id {
            Some(version) => {
                let (info, is_marker) = self.object_version(tenant, bucket, key, version).await?;
                if is_marker {
                    return Err(Error::DeleteMarker(version.to_string()));
                }
                Ok(info)
            }
            None => self.head_object(tenant, bucket, key).await,
        }
    }

    /// Replaces the tags of `key`'s current version (or of `version_id`);
    /// returns that version's ID.
    pub async fn set_object_tags(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: &[Tag],
    ) -> Result<Option<String>> {
        validate_object_tags(tags)?;
        let info = self.object_tags(tenant, bucket, key, version_id).await?;
        let version_key = info.version_id.as_deref().unwrap_or(NULL_VERSION);
        let encoded = encode_tags(tags);
        // The version may have moved from current to history since it was
        // read (a PUT in between): update whichever table holds it now.
        let mut tx = self.db.begin_write().await?;
        let mut updated = sqlx::query(
            "UPDATE objects SET tags = $1 WHERE bucket = $2 AND object_key = $3 AND COALESCE(version_id, $5) = $4",
        )
        .bind(&encoded)
        .bind(bucket)
        .bind(key)
        .bind(version_key)
        .bind(NULL_VERSION)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if updated == 0 {
            updated = sqlx::query(
                "UPDATE object_versions SET tags = $1 WHERE bucket = $2 AND object_key = $3 AND version_key = $4 \
                 AND is_delete_marker = 0",
            )
            .bind(&encoded)
            .bind(bucket)
            .bind(key)
            .bind(version_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        self.forget_object(bucket, key);
        if updated == 0 {
            return Err(match version_id {
                Some(version) => Error::not_found(ResourceKind::ObjectVersion, version),
                None => Error::not_found(ResourceKind::Object, key),
            });
        }
        Ok(info.version_id)
    }
}
