//! Access keys: the (ID, secret) pairs requests are signed with.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use cloud::{Error, ResourceKind, Result};
use rand::Rng;
use serde::Serialize;

use crate::tenants::{Principal, Role};
use crate::Accounts;
use datastore::tenant_from_row;
use datastore::{db_err, int, now, text};

/// A freshly created key: the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub tenant: String,
    pub user: String,
}

/// A key as listings show it (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub user: String,
    pub status: String,
    pub created_at: i64,
}

/// How long a verified key is trusted without asking the database again. Changes
/// made through this gateway apply at once (they clear the cache); changes made
/// through another gateway on the same database apply within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Recently used keys, so a request costs no database round trip to authenticate.
#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (Instant, String, Principal)>>,
}

impl KeyCache {
    fn get(&self, access_key_id: &str) -> Option<(String, Principal)> {
        let entries = self.entries.read().ok()?;
        let (at, secret, principal) = entries.get(access_key_id)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| (secret.clone(), principal.clone()))
    }

    fn put(&self, access_key_id: &str, secret: &str, principal: &Principal) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() > 100_000 {
                entries.clear();
            }
            entries.insert(
                access_key_id.to_string(),
                (Instant::now(), secret.to_string(), principal.clone()),
            );
        }
    }

    /// Forgets everything (after any change to keys, users, tenants or quotas).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

fn random_chars(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

impl Accounts {
    /// Creates a key for `user` of `tenant`, creating the user (with `role`) if needed.
    pub async fn create_access_key(
        &self,
        tenant: &str,
        user: &str,
        role: Role,
    ) -> Result<NewAccessKey> {
        let tenant = self.tenant_by_name(tenant).await?;
        let user_id = match self.user_id(&tenant, user).await? {
            Some((id, _)) => id,
            None => self.create_user(&tenant.name, user, role).await?.id,
        };
        let access_key_id = format!(
            "AKIA{}",
            random_chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        );
        let secret = random_chars(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            40,
        );
        let sealed = self.secrets.seal(&access_key_id, &secret)?;
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, user_id, secret_sealed, status, created_at) VALUES ($1, $2, $3, 'active', $4)",
        )
        .bind(&access_key_id)
        .bind(&user_id)
        .bind(&sealed)
        .bind(now())
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, user, access_key = %access_key_id, "access key created");
        Ok(NewAccessKey {
            access_key_id,
            secret_access_key: secret,
            tenant: tenant.name,
            user: user.to_string(),
        })
    }

    /// The keys of a tenant.
    pub async fn list_access_keys(&self, tenant: &str) -> Result<Vec<AccessKeyInfo>> {
        let tenant = self.tenant_by_name(tenant).await?;
        let rows = sqlx::query(
            "SELECT k.access_key_id, u.name AS user_name, k.status, k.created_at FROM access_keys k \
             JOIN users u ON u.id = k.user_id WHERE u.tenant_id = $1 ORDER BY k.created_at, k.access_key_id",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(AccessKeyInfo {
                    access_key_id: text(row, "access_key_id")?,
                    user: text(row, "user_name")?,
                    status: text(row, "status")?,
                    created_at: int(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Revokes a key: it stops authenticating at once.
    pub async fn revoke_access_key(&self, access_key_id: &str) -> Result<()> {
        let done =
            sqlx::query("UPDATE access_keys SET status = 'revoked' WHERE access_key_id = $1")
                .bind(access_key_id)
                .execute(self.db.pool())
                .await
                .map_err(db_err)?;
        self.keys.clear();
        if done.rows_affected() == 0 {
            return Err(Error::not_found(ResourceKind::AccessKey, access_key_id));
        }
        tracing::info!(access_key = %access_key_id, "access key revoked");
        Ok(())
    }

    /// The secret and the caller behind an active key, or `None` if the key is
    /// unknown or revoked.
    pub async fn authenticate(&self, access_key_id: &str) -> Result<Option<(String, Principal)>> {
        if let Some(hit) = self.keys.get(access_key_id) {
            return Ok(Some(hit));
        }
        let row = sqlx::query(
            "SELECT k.secret_sealed, u.id AS user_id, u.name AS user_name, u.role, t.id, t.name, t.account_id, t.created_at, \
             t.quota_instances, t.quota_vcpus, t.quota_volume_gib, t.quota_buckets, t.quota_stored_bytes \
             FROM access_keys k JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = u.tenant_id \
             WHERE k.access_key_id = $1 AND k.status = 'active'",
        )
        .bind(access_key_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let secret = self
            .secrets
            .open(access_key_id, &text(&row, "secret_sealed")?)?;
        let role = if text(&row, "role")? == "admin" {
            Role::Admin
        } else {
            Role::Member
        };
        let principal = Principal {
            tenant: tenant_from_row(&row)?,
            user_id: text(&row, "user_id")?,
            user_name: text(&row, "user_name")?,
            role,
            access_key_id: access_key_id.to_string(),
        };
        self.keys.put(access_key_id, &secret, &principal);
        Ok(Some((secret, principal)))
    }
}
