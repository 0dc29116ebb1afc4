//! DescribeImageAttribute / ModifyImageAttribute on this site's catalogue:
//! launch permissions (other accounts by ID, everyone as the group `all`)
//! and the description. Only an image's owner reads or changes them.

use std::collections::HashMap;

use cloud::types::Tag;
use cloud::{Error, ResourceKind, Result};

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, opt_text, text};

/// Who besides the owner may launch an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchPermissions {
    /// The group `all`: the image is public.
    pub public: bool,
    /// Accounts it is shared with, by account ID, in order.
    pub accounts: Vec<String>,
}

/// A ModifyImageAttribute launchPermission change.
#[derive(Debug, Clone, Default)]
pub struct LaunchPermissionChange {
    pub add_accounts: Vec<String>,
    pub remove_accounts: Vec<String>,
    /// `Some(true)`: add the group `all`; `Some(false)`: remove it.
    pub public: Option<bool>,
}

/// AWS account IDs are 12 digits.
fn check_account(account: &str) -> Result<()> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "UserId",
            format!("Invalid attribute item value: '{account}' is not an account ID (12 digits)"),
        ))
    }
}

impl Accounts {
    /// Confirms the tenant owns `image_id`: NotFound when it cannot see the
    /// image at all, AccessDenied when it only may launch it.
    async fn owned_image(&self, tenant: &Tenant, image_id: &str) -> Result<()> {
        let row = sqlx::query("SELECT tenant_id FROM images WHERE id = $1")
            .bind(image_id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        match row {
            Some(row) if text(&row, "tenant_id")? == tenant.id => Ok(()),
            Some(_) if self.visible_image(tenant, image_id).await.is_ok() => Err(
                Error::AccessDenied(format!("Not authorized for image:{image_id}")),
            ),
            _ => Err(Error::not_found(ResourceKind::Image, image_id)),
        }
    }

    /// Whether the tenant owns the image (tags are its owner's).
    pub(crate) async fn owns_image(&self, tenant: &Tenant, image_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT id FROM images WHERE id = $1 AND tenant_id = $2")
                .bind(image_id)
                .bind(&tenant.id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err)?
                .is_some(),
        )
    }

    /// The tags of the tenant's own images, by image ID (tags are their
    /// owner's: tenants an image is shared with do not see them).
    pub async fn image_tags(&self, tenant: &Tenant) -> Result<HashMap<String, Vec<Tag>>> {
        self.tags_by_resource(tenant, ResourceKind::Image).await
    }

    /// Who may launch an image the tenant owns.
    pub async fn image_launch_permissions(
        &self,
        tenant: &Tenant,
        image_id: &str,
    ) -> Result<LaunchPermissions> {
        self.owned_image(tenant, image_id).await?;
        let public = sqlx::query("SELECT public FROM images WHERE id = $1")
            .bind(image_id)
            .fetch_one(self.db.pool())
            .await
            .map_err(db_err)?;
        let accounts = sqlx::query(
            "SELECT account_id FROM image_launch_permissions WHERE image_id = $1 ORDER BY account_id",
        )
        .bind(image_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(LaunchPermissions {
            public: int(&public, "public")? != 0,
            accounts: accounts
                .iter()
                .map(|row| text(row, "account_id"))
                .collect::<Result<_>>()?,
        })
    }

    /// The description of an image the tenant owns.
    pub async fn image_description(
        &self,
        tenant: &Tenant,
        image_id: &str,
    ) -> Result<Option<String>> {
        self.owned_image(tenant, image_id).await?;
        let row = sqlx::query("SELECT description FROM images WHERE id = $1")
            .bind(image_id)
            .fetch_one(self.db.pool())
            .await
            .map_err(db_err)?;
        opt_text(&row, "description")
    }

    /// Adds and removes launch permissions, all in one transaction.
    pub async fn modify_image_launch_permissions(
        &self,
        tenant: &Tenant,
        image_id: &str,
        change: &LaunchPermissionChange,
    ) -> Result<()> {
        self.owned_image(tenant, image_id).await?;
        for account in change.add_accounts.iter().chain(&change.remove_accounts) {
            check_account(account)?;
        }
        let mut tx = self.db.begin_write().await?;
        for account in &change.add_accounts {
            sqlx::query(
                "DELETE FROM image_launch_permissions WHERE image_id = $1 AND account_id = $2",
            )
            .bind(image_id)
            .bind(account)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "INSERT INTO image_launch_permissions (image_id, account_id) VALUES ($1, $2)",
            )
            .bind(image_id)
            .bind(account)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for account in &change.remove_accounts {
            sqlx::query(
                "DELETE FROM image_launch_permissions WHERE image_id = $1 AND account_id = $2",
            )
            .bind(image_id)
            .bind(account)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        if let Some(public) = change.public {
            sqlx::query("UPDATE images SET public = $1 WHERE id = $2 AND tenant_id = $3")
                .bind(i64::from(public))
                .bind(image_id)
                .bind(&tenant.id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, image = image_id, ?change, "image launch permissions changed");
        Ok(())
    }

    /// Replaces the description of an image the tenant owns.
    pub async fn set_image_description(
        &self,
        tenant: &Tenant,
        image_id: &str,
        description: &str,
    ) -> Result<()> {
        self.owned_image(tenant, image_id).await?;
        if description.len() > 255 {
            return Err(Error::invalid(
                "Description",
                "image descriptions are at most 255 characters",
            ));
        }
        sqlx::query("UPDATE images SET description = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(description)
            .bind(image_id)
            .bind(&tenant.id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
