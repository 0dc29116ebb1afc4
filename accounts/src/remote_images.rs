//! Images of remote targets: which targets hold an image (a launch is placed
//! only on those), and the images DescribeImages shows from their catalogues.
//!
//! A tenant sees (and launches) a target's image only when the target
//! publishes it publicly or an admin has shared it with the tenant
//! (`remote_image_shares`): the target account's private images are the
//! operator's, not every tenant's. Remote images keep their target's IDs
//! (Skyport does not copy images between clouds). Whether a target holds an image is remembered for a
//! minute, so a burst of launches asks each target once.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloud::{Error, ImageView, RemoteTarget, ResourceKind, Result};

use crate::images::Image;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, now, text};

/// The (target, image) pairs shared with a tenant.
type Shares = BTreeSet<(String, String)>;

/// Whether the tenant holding `shares` may see `view` on `target`.
fn visible(view: &ImageView, target: &str, shares: &Shares) -> bool {
    view.public || shares.contains(&(target.to_string(), view.image_id.clone()))
}

/// A share as `skyport admin image shares` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteImageShare {
    pub target: String,
    pub image_id: String,
    pub tenant: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// How long an answer to "does target T hold image I" is trusted.
const PRESENCE_TTL: Duration = Duration::from_secs(60);

/// Remembered answers: (target, image) → (held, when asked).
#[derive(Default)]
pub(crate) struct ImagePresence(Mutex<HashMap<(String, String), (bool, Instant)>>);

impl ImagePresence {
    fn get(&self, target: &str, image: &str) -> Option<bool> {
        let seen = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.get(&(target.to_string(), image.to_string()))
            .filter(|(_, at)| at.elapsed() < PRESENCE_TTL)
            .map(|(held, _)| *held)
    }

    fn put(&self, target: &str, image: &str, held: bool) {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.retain(|_, (_, at)| at.elapsed() < PRESENCE_TTL);
        seen.insert(
            (target.to_string(), image.to_string()),
            (held, Instant::now()),
        );
    }
}

/// A remote image as DescribeImages shows it, with the target holding it.
fn image_of(view: ImageView, target: &str) -> Image {
    let created_at = view
        .creation_date
        .as_deref()
        .and_then(datastore::parse_rfc3339)
        .map_or(0, |date| date.unix_timestamp());
    Image {
        id: view.image_id,
        owner_id: view.owner_id.unwrap_or_default(),
        name: view.name.unwrap_or_default(),
        description: view.description,
        architecture: view.architecture.unwrap_or_else(|| "x86_64".into()),
        boot_mode: match view.root_device_type.as_deref() {
            Some("ebs") => "disk".into(),
            _ => "direct-kernel".into(),
        },
        public: view.public,
        state: view.state,
        created_at,
        targets: vec![target.to_string()],
    }
}

impl Accounts {
    /// The targets a launch of `image_id` may go to: this site when its
    /// catalogue lets the tenant launch the image, and each remote target that
    /// holds it or cannot say now (its health then decides). `None` when the
    /// site has no remote target (nothing to choose between). NotFound when no
    /// target holds the image.
    pub(crate) async fn image_targets(
        &self,
        tenant: &Tenant,
        image_id: &str,
    ) -> Result<Option<BTreeSet<String>>> {
        let remotes: Vec<Arc<dyn RemoteTarget>> = self.placement.remotes().cloned().collect();
        if remotes.is_empty() {
            return Ok(None);
        }
        let mut targets = BTreeSet::new();
        match self.launchable_image(tenant, image_id).await {
            Ok(_) => {
                targets.insert(self.placement.local_target().to_string());
            }
            Err(Error::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
        let shares = self.image_shares_of(tenant).await?;
        let answers = futures::future::join_all(
            remotes
                .iter()
                .map(|remote| self.remote_holds(remote, image_id, &shares)),
        )
        .await;
        for (remote, held) in remotes.iter().zip(answers) {
            if held != Some(false) {
                targets.insert(remote.name().to_string());
            }
        }
        if targets.is_empty() {
            return Err(Error::not_found(ResourceKind::Image, image_id));
        }
        Ok(Some(targets))
    }

    /// Whether `remote` holds `image_id` where the tenant holding `shares` may
    /// see it; `None` when it cannot say now (its health then decides).
    async fn remote_holds(
        &self,
        remote: &Arc<dyn RemoteTarget>,
        image_id: &str,
        shares: &Shares,
    ) -> Option<bool> {
        let view = self.remote_image(remote, image_id).await?;
        Some(view.is_some_and(|view| visible(&view, remote.name(), shares)))
    }

    /// `remote`'s image `image_id` (`Some(None)`: not there; `None`: the
    /// target cannot say now).
    async fn remote_image(
        &self,
        remote: &Arc<dyn RemoteTarget>,
        image_id: &str,
    ) -> Option<Option<ImageView>> {
        if self.image_presence.get(remote.name(), image_id) == Some(false) {
            return Some(None);
        }
        match remote.describe_images(&[image_id.to_string()]).await {
            Ok(views) => {
                let view = views.into_iter().find(|view| view.image_id == image_id);
                self.image_presence
                    .put(remote.name(), image_id, view.is_some());
                Some(view)
            }
            Err(Error::Remote { code, .. }) if code.starts_with("InvalidAMIID") => {
                self.image_presence.put(remote.name(), image_id, false);
                Some(None)
            }
            Err(error) => {
                tracing::warn!(target = remote.name(), %error, image = image_id, "cannot tell whether the target holds the image");
                None
            }
        }
    }

    /// Remote images for DescribeImages: those named in `ids` (wherever they
    /// are) and those of `owners` on every target. An image several targets
    /// hold is listed once, naming them all. Targets that cannot answer are
    /// left out.
    pub(crate) async fn remote_images(
        &self,
        tenant: &Tenant,
        ids: &[String],
        owners: &[String],
    ) -> Result<Vec<Image>> {
        let shares = self.image_shares_of(tenant).await?;
        let remotes: Vec<Arc<dyn RemoteTarget>> = self.placement.remotes().cloned().collect();
        let by_id = remotes.iter().flat_map(|remote| {
            ids.iter().map(move |id| async move {
                let view = self.remote_image(remote, id).await.flatten();
                (
                    remote.name().to_string(),
                    view.into_iter().collect::<Vec<_>>(),
                )
            })
        });
        let mut found = futures::future::join_all(by_id).await;
        if !owners.is_empty() {
            let by_owner = remotes.iter().map(|remote| async move {
                match remote.images_owned_by(owners).await {
                    Ok(views) => (remote.name().to_string(), views),
                    Err(error) => {
                        tracing::warn!(target = remote.name(), %error, "cannot list the target's images");
                        (remote.name().to_string(), Vec::new())
                    }
                }
            });
            found.extend(futures::future::join_all(by_owner).await);
        }
        let mut images: Vec<Image> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (target, views) in found {
            for view in views.into_iter().filter(|v| visible(v, &target, &shares)) {
                match index.get(&view.image_id) {
                    Some(&at) if !images[at].targets.contains(&target) => {
                        images[at].targets.push(target.clone());
                        images[at].targets.sort();
                    }
                    Some(_) => {}
                    None => {
                        index.insert(view.image_id.clone(), images.len());
                        images.push(image_of(view, &target));
                    }
                }
            }
        }
        Ok(images)
    }

    /// The (target, image) pairs shared with `tenant`.
    async fn image_shares_of(&self, tenant: &Tenant) -> Result<Shares> {
        let rows =
            sqlx::query("SELECT target, image_id FROM remote_image_shares WHERE tenant_id = $1")
                .bind(&tenant.id)
                .fetch_all(self.db.pool())
                .await
                .map_err(db_err)?;
        rows.iter()
            .map(|row| Ok((text(row, "target")?, text(row, "image_id")?)))
            .collect()
    }

    /// Lets `tenant` see and launch `image_id` of `target` (admin). The target
    /// must be configured and hold the image now.
    pub async fn share_remote_image(
        &self,
        target: &str,
        image_id: &str,
        tenant: &Tenant,
    ) -> Result<()> {
        let remote = self
            .placement
            .remotes()
            .find(|remote| remote.name() == target)
            .cloned()
            .ok_or_else(|| Error::invalid("target", format!("no remote target named {target}")))?;
        match self.remote_image(&remote, image_id).await {
            Some(Some(_)) => {}
            Some(None) => return Err(Error::not_found(ResourceKind::Image, image_id)),
            None => {
                return Err(Error::Unavailable(format!(
                    "target {target} cannot say now whether it holds {image_id}"
                )))
            }
        }
        sqlx::query(
            "INSERT INTO remote_image_shares (target, image_id, tenant_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (target, image_id, tenant_id) DO NOTHING",
        )
        .bind(target)
        .bind(image_id)
        .bind(&tenant.id)
        .bind(now())
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Takes a share back (admin); NotFound when there was none.
    pub async fn unshare_remote_image(
        &self,
        target: &str,
        image_id: &str,
        tenant: &Tenant,
    ) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM remote_image_shares WHERE target = $1 AND image_id = $2 AND tenant_id = $3",
        )
        .bind(target)
        .bind(image_id)
        .bind(&tenant.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?
        .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(ResourceKind::Image, image_id));
        }
        Ok(())
    }

    /// Every share, by target, image and tenant (admin).
    pub async fn remote_image_shares(&self) -> Result<Vec<RemoteImageShare>> {
        let rows = sqlx::query(
            "SELECT s.target, s.image_id, t.name, s.created_at FROM remote_image_shares s \
             JOIN tenants t ON t.id = s.tenant_id ORDER BY s.target, s.image_id, t.name",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(RemoteImageShare {
                    target: text(row, "target")?,
                    image_id: text(row, "image_id")?,
                    tenant: text(row, "name")?,
                    created_at: datastore::int(row, "created_at")?,
                })
            })
            .collect()
    }
}
