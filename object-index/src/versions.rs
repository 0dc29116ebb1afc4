//! Bucket versioning: the current version of each key lives in `objects`,
//! earlier versions and delete markers in `object_versions`.
//!
//! A write to a versioned bucket moves the current version into the history
//! instead of freeing its blobs; with versioning suspended the "null" version
//! is replaced as in an unversioned bucket. Deleting a specific version may
//! promote the next newest version back to current.

use std::sync::atomic::{AtomicU64, Ordering};

use cloud::types::{DeleteOutcome, ObjectInfo, VersionEntry, Versioning};
use cloud::{Error, ResourceKind, Result, StoredBlob};
use rand::RngCore;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::objects::{
    bind_content, decode_blobs, object_from_row, store_current, CONTENT_COLUMNS, OBJECT_COLUMNS,
};
use crate::ObjectIndex;
use cloud::tenancy::Tenant;
use datastore::{db_err, int, now_ms, text};

/// The "null" version's key in `object_versions`.
pub(crate) const NULL_VERSION: &str = "null";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// An ordering number for a new version: time-based, strictly increasing within a process.
pub fn next_seq() -> i64 {
    let candidate = (now_ms() as u64) * 1000;
    let mut current = SEQ.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(current + 1);
        match SEQ.compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next as i64,
            Err(seen) => current = seen,
        }
    }
}

/// A fresh version ID (32 URL-safe characters).
pub fn new_version_id() -> String {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn parse_state(value: Option<String>) -> Versioning {
    match value.as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => Versioning::Unversioned,
    }
}

/// The bucket's versioning state, read inside a write transaction. On
/// PostgreSQL the bucket row is locked, so writes to one bucket commit one at a
/// time and each sees the object it replaces (SQLite's `BEGIN IMMEDIATE`
/// already serialises writers).
pub(crate) async fn versioning_in(
    conn: &mut AnyConnection,
    bucket: &str,
    lock_row: bool,
) -> Result<Versioning> {
    let sql = if lock_row {
        "SELECT versioning FROM buckets WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT versioning FROM buckets WHERE name = $1"
    };
    let row = sqlx::query(sql)
        .bind(bucket)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::Bucket, bucket))?;
    Ok(parse_state(
        row.try_get::<Option<String>, _>("versioning")
            .map_err(db_err)?,
    ))
}

async fn archive(
    conn: &mut AnyConnection,
    bucket: &str,
    info: &ObjectInfo,
    is_marker: bool,
    seq: i64,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO object_versions (bucket, object_key, version_key, version_id, seq, is_delete_marker, \
         {CONTENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    );
    let query = sqlx::query(&sql)
        .bind(bucket)
        .bind(&info.key)
        .bind(
            info.version_id
                .clone()
                .unwrap_or_else(|| NULL_VERSION.into()),
        )
        .bind(info.version_id.clone())
        .bind(seq)
        .bind(i64::from(is_marker));
    bind_content(query, info)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Moves the current version out of the way of a new write or delete, per the
/// bucket's versioning. Returns the blobs no version refers to any more.
pub(crate) async fn retire_current(
    conn: &mut AnyConnection,
    bucket: &str,
    key: &str,
    current: Option<ObjectInfo>,
    versioning: Versioning,
) -> Result<Vec<StoredBlob>> {
    let mut freed = Vec::new();
    match versioning {
        Versioning::Unversioned => freed.extend(current.into_iter().flat_map(|c| c.blobs)),
        Versioning::Enabled => {
            if let Some(current) = current {
                let seq = current_seq(conn, bucket, key).await?;
                archive(conn, bucket, &current, false, seq).await?;
            }
        }
        Versioning::Suspended => {
            match current {
                Some(current) if current.version_id.is_none() => freed.extend(current.blobs),
                Some(current) => {
                    let seq = current_seq(conn, bucket, key).await?;
                    archive(conn, bucket, &current, false, seq).await?;
                }
                None => {}
            }
            // The one "null" version is replaced.
            let old_null = sqlx::query("SELECT blobs FROM object_versions WHERE bucket = $1 AND object_key = $2 AND version_key = $3")
                .bind(bucket)
                .bind(key)
                .bind(NULL_VERSION)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            if let Some(row) = old_null {
                freed.extend(decode_blobs(&text(&row, "blobs")?));
                drop_history_row(conn, bucket, key, NULL_VERSION).await?;
            }
        }
    }
    Ok(freed)
}

/// Deletes one row of a key's history.
async fn drop_history_row(
    conn: &mut AnyConnection,
    bucket: &str,
    key: &str,
    version_key: &str,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM object_versions WHERE bucket = $1 AND object_key = $2 AND version_key = $3",
    )
    .bind(bucket)
    .bind(key)
    .bind(version_key)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn current_seq(conn: &mut AnyConnection, bucket: &str, key: &str) -> Result<i64> {
    let row = sqlx::query("SELECT seq FROM objects WHERE bucket = $1 AND object_key = $2")
        .bind(bucket)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(match row {
        Some(row) => int(&row, "seq")?,
        None => next_seq(),
    })
}

/// Adds a delete marker as the newest version of `key`.
pub(crate) async fn insert_delete_marker(
    conn: &mut AnyConnection,
    bucket: &str,
    key: &str,
    version_id: Option<String>,
) -> Result<()> {
    let marker = ObjectInfo {
        key: key.to_string(),
        size: 0,
        etag: String::new(),
        meta: Default::default(),
        checksum: None,
        parts_count: None,
        last_modified: now_ms(),
        blobs: Vec::new(),
        version_id,
    };
    archive(conn, bucket, &marker, true, next_seq()).await
}

/// Where a version listing resumes.
enum Resume {
    AfterVersion(String, i64),
    AfterKey(String),
    AtKey(String),
}

/// One page of ListObjectVersions.
#[derive(Debug, Default)]
pub struct VersionListing {
    pub entries: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key (and version, unless it was a common prefix) returned.
    pub next: Option<(String, Option<String>)>,
}

const VERSION_COLUMNS: &str =
    "object_key, blobs, size, etag, content_type, headers, user_metadata, checksum, parts_count, \
     last_modified, acl, version_id, seq, is_delete_marker, tags";

fn history_entry(row: &AnyRow) -> Result<(ObjectInfo, bool, i64)> {
    Ok((
        object_from_row(row)?,
        int(row, "is_delete_marker")? != 0,
        int(row, "seq")?,
    ))
}

impl ObjectIndex {
    /// Sets a bucket's versioning state (`Enabled` or `Suspended`).
    pub async fn set_bucket_versioning(
        &self,
        tenant: &Tenant,
        bucket: &str,
        enabled: bool,
    ) -> Result<()> {
        let state = if enabled { "Enabled" } else { "Suspended" };
        self.set_bucket_setting(tenant, bucket, "versioning", Some(state.to_string()))
            .await
    }

    /// A bucket's versioning state.
    pub async fn bucket_versioning(&self, tenant: &Tenant, bucket: &str) -> Result<Versioning> {
        self.bucket(tenant, bucket).await?;
        Ok(parse_state(
            self.bucket_setting(bucket, "versioning").await?,
        ))
    }

    /// One version of an object; a delete marker answers `MethodNotAllowed`-style `AccessDenied`-free error.
    pub async fn object_version(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<(ObjectInfo, bool)> {
        self.bucket(tenant, bucket).await?;
        self.version_of(bucket, key, version_id).await
    }

    /// A version anyone may read: its own ACL must be public-read (a marker never is).
    pub async fn public_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectInfo> {
        match self.version_of(bucket, key, version_id).await {
            Ok((info, false)) if info.meta.acl == cloud::types::CannedAcl::PublicRead => Ok(info),
            Err(error @ Error::Internal { .. }) => Err(error),
            _ => Err(Error::AccessDenied("Access Denied".into())),
        }
    }

    async fn version_of(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<(ObjectInfo, bool)> {
        let wanted = (version_id != NULL_VERSION).then(|| version_id.to_string());
        if let Some(current) = self.find_object(bucket, key).await? {
            if current.version_id == wanted {
                return Ok((current, false));
            }
        }
        let row = sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND object_key = $2 AND version_key = $3"))
            .bind(bucket)
            .bind(key)
            .bind(version_id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::NotFound { kind: ResourceKind::ObjectVersion, id: version_id.to_string() })?;
        let (info, is_marker, _) = history_entry(&row)?;
        Ok((info, is_marker))
    }

    /// Whether the newest version of `key` is a delete marker (GET then says so).
    pub async fn latest_is_delete_marker(&self, bucket: &str, key: &str) -> Result<bool> {
        if self.find_object(bucket, key).await?.is_some() {
            return Ok(false);
        }
        let row = sqlx::query("SELECT is_delete_marker FROM object_versions WHERE bucket = $1 AND object_key = $2 ORDER BY seq DESC LIMIT 1")
            .bind(bucket)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        Ok(row
            .map(|r| int(&r, "is_delete_marker"))
            .transpose()?
            .is_some_and(|m| m != 0))
    }

    /// Deletes one version for good. If it was the current version, the next
    /// newest version (unless that is a delete marker) becomes current.
    pub async fn delete_object_version(
        &self,
        tenant: &Tenant,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<DeleteOutcome> {
        self.bucket(tenant, bucket).await?;
        let wanted = (version_id != NULL_VERSION).then(|| version_id.to_string());
        let mut tx = self.db.begin_write().await?;
        versioning_in(&mut tx, bucket, !self.db.is_sqlite()).await?;
        let current = sqlx::query(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND object_key = $2"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(|row| object_from_row(&row))
        .transpose()?;
        let mut freed = Vec::new();
        let mut outcome = DeleteOutcome {
            delete_marker: false,
            version_id: wanted.clone(),
        };
        match current {
            Some(current) if current.version_id == wanted => {
                sqlx::query("DELETE FROM objects WHERE bucket = $1 AND object_key = $2")
                    .bind(bucket)
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                freed.extend(current.blobs);
            }
            current => {
                let row = sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND object_key = $2 AND version_key = $3"
                ))
                .bind(bucket)
                .bind(key)
                .bind(version_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let Some(row) = row else { return Ok(outcome) };
                let (info, is_marker, _) = history_entry(&row)?;
                outcome.delete_marker = is_marker;
                drop_history_row(&mut tx, bucket, key, version_id).await?;
                freed.extend(info.blobs);
                if current.is_some() {
                    return self.finish_removal(tx, bucket, key, freed, outcome).await;
                }
            }
        }
        // No current version now: promote the newest remaining one unless it is a marker.
        let newest = sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND object_key = $2 ORDER BY seq DESC LIMIT 1"))
            .bind(bucket)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(row) = newest {
            let (info, is_marker, seq) = history_entry(&row)?;
            if !is_marker {
                let version_key = info
                    .version_id
                    .clone()
                    .unwrap_or_else(|| NULL_VERSION.into());
                drop_history_row(&mut tx, bucket, key, &version_key).await?;
                store_current(&mut tx, bucket, &info, seq).await?;
            }
        }
        self.finish_removal(tx, bucket, key, freed, outcome).await
    }

    /// Versions and delete markers of keys under `prefix`, by key then newest
    /// first, resuming after (`key_marker`, `version_id_marker`).
    #[allow(clippy::too_many_arguments)]
    pub async fn list_object_versions(
        &self,
        tenant: &Tenant,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_id_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionListing> {
        self.bucket(tenant, bucket).await?;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let common_prefix_of = |key: &str| -> Option<String> {
            let delimiter = delimiter?;
            let rest = key.strip_prefix(prefix)?;
            rest.find(delimiter)
                .map(|at| key[..prefix.len() + at + delimiter.len()].to_string())
        };
        // Where to resume: after a version of a key, after a key, or at a key.
        let mut resume = match (key_marker, version_id_marker) {
            (Some(key), Some(version)) => Resume::AfterVersion(
                key.to_string(),
                self.version_seq(bucket, key, version).await?,
            ),
            (Some(key), None) if key >= prefix => {
                match common_prefix_of(key).and_then(|cp| crate::listing::after_prefix(&cp)) {
                    Some(next) => Resume::AtKey(next),
                    None => Resume::AfterKey(key.to_string()),
                }
            }
            _ => Resume::AtKey(prefix.to_string()),
        };
        let mut listing = VersionListing::default();
        let mut previous_key: Option<String> = None;
        loop {
            let wanted = max.saturating_sub(listing.entries.len() + listing.common_prefixes.len());
            let entries = self
                .version_rows(bucket, &resume, wanted as i64 + 1)
                .await?;
            if entries.is_empty() {
                return Ok(listing);
            }
            let fetched = entries.len();
            let mut next_resume = None;
            for (info, is_delete_marker, seq) in entries {
                if !info.key.starts_with(prefix) {
                    return Ok(listing);
                }
                if listing.entries.len() + listing.common_prefixes.len() == max {
                    listing.truncated = true;
                    return Ok(listing);
                }
                if let Some(cp) = common_prefix_of(&info.key) {
                    listing.common_prefixes.push(cp.clone());
                    listing.next = Some((cp.clone(), None));
                    next_resume = Some(crate::listing::after_prefix(&cp).map(Resume::AtKey));
                    break;
                }
                // The newest entry of a key is the latest, whichever table holds it,
                // unless this page continues a key an earlier page began.
                let continues_marker =
                    matches!(&resume, Resume::AfterVersion(k, _) if *k == info.key);
                let is_latest =
                    previous_key.as_deref() != Some(info.key.as_str()) && !continues_marker;
                previous_key = Some(info.key.clone());
                let version = info
                    .version_id
                    .clone()
                    .unwrap_or_else(|| NULL_VERSION.into());
                listing.next = Some((info.key.clone(), Some(version)));
                resume = Resume::AfterVersion(info.key.clone(), seq);
                listing.entries.push(VersionEntry {
                    info,
                    is_delete_marker,
                    is_latest,
                });
            }
            match next_resume {
                Some(Some(next)) => resume = next,
                Some(None) => return Ok(listing),
                None if fetched <= wanted => return Ok(listing),
                None => {}
            }
        }
    }

    /// Up to `limit` versions (both tables, merged) from `resume`, by key then newest first.
    async fn version_rows(
        &self,
        bucket: &str,
        resume: &Resume,
        limit: i64,
    ) -> Result<Vec<(ObjectInfo, bool, i64)>> {
        let (filter, key, seq) = match resume {
            Resume::AfterVersion(key, seq) => (
                "((object_key = $2 AND seq < $3) OR object_key > $2)",
                key,
                *seq,
            ),
            Resume::AfterKey(key) => ("(object_key > $2 AND $3 = $3)", key, 0),
            Resume::AtKey(key) => ("(object_key >= $2 AND $3 = $3)", key, 0),
        };
        let mut entries = Vec::new();
        for sql in [
            format!("SELECT {OBJECT_COLUMNS}, seq, 0 AS is_delete_marker FROM objects WHERE bucket = $1 AND {filter} ORDER BY object_key, seq DESC LIMIT $4"),
            format!("SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = $1 AND {filter} ORDER BY object_key, seq DESC LIMIT $4"),
        ] {
            let rows = sqlx::query(&sql).bind(bucket).bind(key).bind(seq).bind(limit).fetch_all(self.db.pool()).await.map_err(db_err)?;
            for row in &rows {
                entries.push(history_entry(row)?);
            }
        }
        entries.sort_by(|a, b| a.0.key.cmp(&b.0.key).then(b.2.cmp(&a.2)));
        entries.truncate(limit as usize);
        Ok(entries)
    }

    async fn version_seq(&self, bucket: &str, key: &str, version_id: &str) -> Result<i64> {
        let wanted = (version_id != NULL_VERSION).then(|| version_id.to_string());
        let current = sqlx::query(
            "SELECT seq, version_id FROM objects WHERE bucket = $1 AND object_key = $2",
        )
        .bind(bucket)
        .bind(key)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        if let Some(row) = current {
            if row
                .try_get::<Option<String>, _>("version_id")
                .map_err(db_err)?
                == wanted
            {
                return int(&row, "seq");
            }
        }
        let row = sqlx::query("SELECT seq FROM object_versions WHERE bucket = $1 AND object_key = $2 AND version_key = $3")
            .bind(bucket)
            .bind(key)
            .bind(version_id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::invalid("VersionIdMarker", "Invalid version id specified"))?;
        int(&row, "seq")
    }
}
