//! The image catalogue of this site's compute: which images exist, who owns
//! them, who may launch them. The bytes live with the compute backend's image
//! store; a row here is what makes an image visible.

use cloud::{Error, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, is_unique_violation, now, opt_text, text};

/// An image as DescribeImages shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Image {
    pub id: String,
    /// The owner's account ID.
    pub owner_id: String,
    pub name: String,
    pub description: Option<String>,
    pub architecture: String,
    /// `direct-kernel` (kernel + initrd) or `disk`.
    pub boot_mode: String,
    pub public: bool,
    pub state: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The remote targets holding the image; empty for this site's catalogue.
    pub targets: Vec<String>,
}

/// What registering an image records.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub architecture: String,
    pub boot_mode: String,
    pub public: bool,
}

fn image_of(row: &AnyRow) -> Result<Image> {
    Ok(Image {
        id: text(row, "id")?,
        owner_id: text(row, "account_id")?,
        name: text(row, "name")?,
        description: opt_text(row, "description")?,
        architecture: text(row, "architecture")?,
        boot_mode: text(row, "boot_mode")?,
        public: int(row, "public")? != 0,
        state: text(row, "state")?,
        created_at: int(row, "created_at")?,
        targets: Vec::new(),
    })
}

const SELECT: &str =
    "SELECT images.*, tenants.account_id FROM images JOIN tenants ON tenants.id = images.tenant_id";

/// The images a tenant (`$1`, with account ID `$2`) may see and launch: its
/// own, public ones, and those shared with its account.
const VISIBLE: &str = "images.tenant_id = $1 OR images.public = 1 OR images.id IN \
     (SELECT image_id FROM image_launch_permissions WHERE account_id = $2)";

impl Accounts {
    /// Records an image whose files the compute backend already holds.
    pub async fn register_image(&self, owner: &Tenant, image: &NewImage) -> Result<Image> {
        sqlx::query(
            "INSERT INTO images (id, tenant_id, name, description, architecture, boot_mode, public, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'available', $8)",
        )
        .bind(&image.id)
        .bind(&owner.id)
        .bind(&image.name)
        .bind(&image.description)
        .bind(&image.architecture)
        .bind(&image.boot_mode)
        .bind(i64::from(image.public))
        .bind(now())
        .execute(self.db.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::duplicate(ResourceKind::Image, image.name.clone())
            } else {
                db_err(e)
            }
        })?;
        self.visible_image(owner, &image.id).await
    }

    /// Images the tenant may see: its own and public ones. `ids` not visible
    /// are NotFound; `owners` keeps images owned by those account IDs
    /// (`self` = the tenant's own).
    pub async fn describe_images(
        &self,
        tenant: &Tenant,
        ids: &[String],
        owners: &[String],
    ) -> Result<Vec<Image>> {
        let sql = format!("{SELECT} WHERE {VISIBLE} ORDER BY images.id");
        let rows = sqlx::query(&sql)
            .bind(&tenant.id)
            .bind(&tenant.account_id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        let mut images: Vec<Image> = rows
            .iter()
            .map(image_of)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|i| ids.is_empty() || ids.contains(&i.id))
            .filter(|i| {
                owners.is_empty()
                    || owners.iter().any(|o| {
                        (o == "self" && i.owner_id == tenant.account_id) || *o == i.owner_id
                    })
            })
            .collect();
        // Remote targets' catalogues answer for IDs this site does not know,
        // and for owners other than the tenant (`amazon`…).
        let elsewhere: Vec<String> = ids
            .iter()
            .filter(|id| !images.iter().any(|i| &i.id == *id))
            .cloned()
            .collect();
        let other_owners: Vec<String> = owners
            .iter()
            .filter(|o| *o != "self" && **o != tenant.account_id)
            .cloned()
            .collect();
        if !elsewhere.is_empty() || (ids.is_empty() && !other_owners.is_empty()) {
            let owners = if ids.is_empty() {
                other_owners
            } else {
                Vec::new()
            };
            images.extend(self.remote_images(tenant, &elsewhere, &owners).await?);
        }
        if let Some(missing) = ids.iter().find(|id| !images.iter().any(|i| &i.id == *id)) {
            return Err(Error::not_found(ResourceKind::Image, missing.clone()));
        }
        images.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(images)
    }

    /// An image the tenant may launch.
    pub async fn launchable_image(&self, tenant: &Tenant, id: &str) -> Result<Image> {
        let image = self.visible_image(tenant, id).await?;
        if image.state != "available" {
            return Err(Error::invalid(
                "ImageId",
                format!("the image '{id}' is {}", image.state),
            ));
        }
        Ok(image)
    }

    /// An image of this site's catalogue the tenant may see.
    pub(crate) async fn visible_image(&self, tenant: &Tenant, id: &str) -> Result<Image> {
        let sql = format!("{SELECT} WHERE ({VISIBLE}) AND images.id = $3");
        let row = sqlx::query(&sql)
            .bind(&tenant.id)
            .bind(&tenant.account_id)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(ResourceKind::Image, id))?;
        image_of(&row)
    }

    /// Deregisters an image the tenant owns; its files go too unless an
    /// instance still boots from them.
    pub async fn deregister_image(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM images WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(&tenant.id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(ResourceKind::Image, id));
        }
        sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND resource_id = $2")
            .bind(&tenant.id)
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM image_launch_permissions WHERE image_id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        let users =
            sqlx::query("SELECT id FROM instances WHERE image_id = $1 AND state <> 'terminated'")
                .bind(id)
                .fetch_all(self.db.pool())
                .await
                .map_err(db_err)?;
        // Guests cloned from the image's disk need it while they exist.
        if let (true, Some(files)) = (users.is_empty(), &self.image_files) {
            if let Err(error) = files.remove(id).await {
                tracing::warn!(%error, image = %id, "removing the image's files failed");
            }
        }
        Ok(())
    }
}
