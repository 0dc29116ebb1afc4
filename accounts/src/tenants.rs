//! Tenants, their users and quotas.

use cloud::{Error, ResourceKind, Result};
use rand::Rng;

use crate::Accounts;
use datastore::{db_err, int, is_unique_violation, now, text};

pub use cloud::tenancy::{Principal, Quotas, Role, Tenant, User};
use datastore::{tenant_from_row, TENANT_COLUMNS};

/// Checks a tenant or user name: 1–64 of `a-z 0-9 - _ .`.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!("{what} name '{name}' must be 1-64 characters of a-z, 0-9, '-', '_' or '.'"),
        ))
    }
}

impl Accounts {
    /// Creates a tenant with its `default` security group.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        validate_name("tenant", name)?;
        let account_id: String = {
            let mut rng = rand::thread_rng();
            (0..12)
                .map(|i| char::from(b'0' + rng.gen_range(if i == 0 { 1 } else { 0 }..10)))
                .collect()
        };
        let tenant = Tenant {
            id: ResourceKind::Tenant.new_id(),
            name: name.to_string(),
            account_id,
            created_at: now(),
            quotas: Quotas::default(),
        };
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, name, account_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(&tenant.account_id)
        .bind(tenant.created_at)
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::duplicate(ResourceKind::Tenant, name))
            }
            Err(e) => return Err(db_err(e)),
        }
        self.ensure_default_vpc(&tenant).await?;
        tracing::info!(tenant = %tenant.name, account = %tenant.account_id, "tenant created");
        Ok(tenant)
    }

    /// All tenants, by name.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"
        ))
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// The tenant called `name`.
    pub async fn tenant_by_name(&self, name: &str) -> Result<Tenant> {
        let row = sqlx::query(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        row.as_ref()
            .map(tenant_from_row)
            .transpose()?
            .ok_or_else(|| Error::not_found(ResourceKind::Tenant, name))
    }

    /// The tenant with internal ID `id`, if it still exists.
    pub async fn tenant_by_id(&self, id: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// Deletes a tenant and everything it owns in the database. Refused while it
    /// still owns buckets: their bytes must be deleted deliberately first.
    pub async fn delete_tenant(&self, name: &str) -> Result<()> {
        let tenant = self.tenant_by_name(name).await?;
        let buckets = self.index.list_buckets(&tenant).await?;
        if !buckets.is_empty() {
            return Err(Error::DependencyViolation(format!(
                "tenant '{name}' still owns {} bucket(s); delete them first",
                buckets.len()
            )));
        }
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(&tenant.id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        self.keys.clear();
        tracing::info!(tenant = %name, "tenant deleted");
        Ok(())
    }

    /// Replaces a tenant's quotas.
    pub async fn set_quotas(&self, name: &str, quotas: &Quotas) -> Result<Tenant> {
        let tenant = self.tenant_by_name(name).await?;
        sqlx::query(
            "UPDATE tenants SET quota_instances = $1, quota_vcpus = $2, quota_volume_gib = $3, \
             quota_buckets = $4, quota_stored_bytes = $5 WHERE id = $6",
        )
        .bind(quotas.instances)
        .bind(quotas.vcpus)
        .bind(quotas.volume_gib)
        .bind(quotas.buckets)
        .bind(quotas.stored_bytes)
        .bind(&tenant.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        self.keys.clear();
        self.tenant_by_name(name).await
    }

    /// Creates a user in a tenant.
    pub async fn create_user(&self, tenant: &str, name: &str, role: Role) -> Result<User> {
        validate_name("user", name)?;
        let tenant = self.tenant_by_name(tenant).await?;
        let user = User {
            id: ResourceKind::User.new_id(),
            tenant: tenant.name.clone(),
            name: name.to_string(),
            role,
            created_at: now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, tenant_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&tenant.id)
        .bind(&user.name)
        .bind(role.as_str())
        .bind(user.created_at)
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(Error::duplicate(ResourceKind::User, name)),
            Err(e) => Err(db_err(e)),
        }
    }

    /// The users of a tenant.
    pub async fn list_users(&self, tenant: &str) -> Result<Vec<User>> {
        let tenant = self.tenant_by_name(tenant).await?;
        let rows = sqlx::query(
            "SELECT id, name, role, created_at FROM users WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(User {
                    id: text(row, "id")?,
                    tenant: tenant.name.clone(),
                    name: text(row, "name")?,
                    role: Role::parse(&text(row, "role")?),
                    created_at: int(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Deletes a user and its access keys.
    pub async fn delete_user(&self, tenant: &str, name: &str) -> Result<()> {
        let tenant = self.tenant_by_name(tenant).await?;
        let done = sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND name = $2")
            .bind(&tenant.id)
            .bind(name)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        self.keys.clear();
        if done.rows_affected() == 0 {
            return Err(Error::not_found(ResourceKind::User, name));
        }
        Ok(())
    }

    pub(crate) async fn user_id(
        &self,
        tenant: &Tenant,
        name: &str,
    ) -> Result<Option<(String, Role)>> {
        let row = sqlx::query("SELECT id, role FROM users WHERE tenant_id = $1 AND name = $2")
            .bind(&tenant.id)
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        row.map(|row| Ok((text(&row, "id")?, Role::parse(&text(&row, "role")?))))
            .transpose()
    }
}
