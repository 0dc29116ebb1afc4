//! Block volumes across clouds: placed by the policies at CreateVolume (or on
//! the target of the snapshot they restore), known to tenants by Skyport's
//! `vol-` IDs, mapped here to (target, the target's ID).
//!
//! Describes ask each target holding the tenant's volumes (concurrently) and
//! keep the last known state for a target that cannot answer, as instances do.
//! A volume attaches only to an instance on its own target and zone.
//!
//! This site's hosts keep no volumes yet: a placement on the local target is
//! refused as unavailable, so policies that allow a remote target fail over
//! to it.

use cloud::types::Tag;
use cloud::{Error, ResourceKind, Result, VolumeSpec, VolumeView};
use sqlx::any::AnyRow;

use crate::mapped::{observe, remote_tags, select, Mapped, Observed, Placed, GRACE_SECS};
use crate::placement::{Chosen, PLACEMENT_TAG};
use crate::tags::insert_tags;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, now, opt_int, opt_text, text};

/// Why a volume cannot be placed on this site.
pub(crate) const NO_LOCAL_VOLUMES: &str =
    "this site's hosts do not keep block volumes yet; volumes go to remote targets";

/// The volume types EC2 offers.
const VOLUME_TYPES: &[&str] = &["standard", "gp2", "gp3", "io1", "io2", "sc1", "st1"];

/// What a CreateVolume asks for.
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    pub availability_zone: String,
    pub size_gib: Option<i64>,
    /// One of the tenant's snapshots (Skyport ID).
    pub snapshot_id: Option<String>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub encrypted: bool,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
}

/// A volume as its tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    pub target: String,
    pub size_gib: i64,
    pub availability_zone: String,
    /// `creating`, `available`, `in-use`, `deleting`, `error`.
    pub state: String,
    pub volume_type: String,
    pub iops: Option<i64>,
    pub encrypted: bool,
    pub snapshot_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub attachment: Option<Attachment>,
    pub tags: Vec<Tag>,
}

/// A volume's attachment, in Skyport's IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
    /// `attaching`, `attached`, `detaching`, `detached`.
    pub state: String,
    /// Unix seconds.
    pub attached_at: i64,
}

const COLUMNS: &str = "id, target, remote_id, size_gib, availability_zone, volume_type, iops, \
     encrypted, snapshot_id, state, created_at, instance_id, device, attachment_state, attached_at";

fn volume_of(row: &AnyRow) -> Result<Mapped<Volume>> {
    let id = text(row, "id")?;
    let attachment = match opt_text(row, "instance_id")? {
        Some(instance_id) => Some(Attachment {
            volume_id: id.clone(),
            instance_id,
            device: opt_text(row, "device")?.unwrap_or_default(),
            state: opt_text(row, "attachment_state")?.unwrap_or_else(|| "attached".into()),
            attached_at: opt_int(row, "attached_at")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Mapped {
        remote_id: text(row, "remote_id")?,
        record: Volume {
            id,
            target: text(row, "target")?,
            size_gib: int(row, "size_gib")?,
            availability_zone: text(row, "availability_zone")?,
            state: text(row, "state")?,
            volume_type: text(row, "volume_type")?,
            iops: opt_int(row, "iops")?,
            encrypted: int(row, "encrypted")? != 0,
            snapshot_id: opt_text(row, "snapshot_id")?,
            created_at: int(row, "created_at")?,
            attachment,
            tags: Vec::new(),
        },
    })
}

impl Placed for Volume {
    fn id(&self) -> &str {
        &self.id
    }
    fn target(&self) -> &str {
        &self.target
    }
}

impl Accounts {
    /// Places and creates a volume. With a ClientToken this tenant already
    /// used, returns that volume instead.
    pub async fn create_volume(&self, tenant: &Tenant, request: &VolumeRequest) -> Result<Volume> {
        for tag in &request.tags {
            cloud::tags::validate_tag(tag)?;
        }
        if let Some(kind) = &request.volume_type {
            if !VOLUME_TYPES.contains(&kind.as_str()) {
                return Err(Error::invalid(
                    "VolumeType",
                    format!(
                        "Value ({kind}) for parameter volumeType is invalid. Valid values: {}",
                        VOLUME_TYPES.join(", ")
                    ),
                ));
            }
        }
        match request.size_gib {
            Some(size) if !(1..=16384).contains(&size) => {
                return Err(Error::invalid(
                    "Size",
                    format!("Volume of {size}GiB is outside the allowed range 1-16384 GiB"),
                ))
            }
            None if request.snapshot_id.is_none() => {
                return Err(Error::invalid(
                    "Size",
                    "The request must contain the parameter size or snapshotId",
                ))
            }
            _ => {}
        }
        if let Some(token) = &request.client_token {
            if let Some(earlier) = self
                .volume_rows(tenant, "client_token = $2", Some(token))
                .await?
                .pop()
            {
                return self
                    .with_volume_tags(tenant, vec![earlier.record])
                    .await
                    .map(|mut v| v.remove(0));
            }
        }
        if let (Some(limit), Some(size)) = (tenant.quotas.volume_gib, request.size_gib) {
            let used: i64 = self
                .volume_rows(tenant, "1 = 1", None)
                .await?
                .iter()
                .map(|row| row.record.size_gib)
                .sum();
            if used + size > limit {
                return Err(Error::QuotaExceeded {
                    resource: "volume GiB",
                    limit,
                });
            }
        }
        let id = ResourceKind::Volume.new_id();
        let mut spec = VolumeSpec {
            availability_zone: request.availability_zone.clone(),
            size_gib: request.size_gib,
            snapshot_id: None,
            volume_type: request.volume_type.clone(),
            iops: request.iops,
            encrypted: request.encrypted,
            tags: remote_tags(tenant, &id, &request.tags),
        };
        let (view, target, explanation) = match &request.snapshot_id {
            // A snapshot's data lives on its target: the volume is made there.
            Some(snapshot_id) => {
                let snapshot = self.snapshot_row(tenant, snapshot_id).await?;
                let remote = self.placement.remote(&snapshot.record.target)?;
                spec.snapshot_id = Some(snapshot.remote_id);
                let view = remote.create_volume(&spec).await?;
                let target = snapshot.record.target;
                let explanation = format!(
                    "restored from snapshot {snapshot_id}, which lives on target {target}\n"
                );
                (view, target, explanation)
            }
            None => {
                if self.placement.remotes().next().is_none() {
                    return Err(Error::PlacementRefused(format!(
                        "no target can keep volumes: {NO_LOCAL_VOLUMES}; configure [targets.NAME] and policy_dir (docs/policies.md)"
                    )));
                }
                let mut placed = policies::Request::new(
                    &tenant.name,
                    "CreateVolume",
                    policies::ResourceKind::Volume,
                )
                .with_region(&self.region)
                .with_availability_zone(&request.availability_zone);
                for tag in &request.tags {
                    placed = placed.with_tag(&tag.key, &tag.value);
                }
                let spec = &spec;
                self.place(&placed, |chosen| async move {
                    match chosen {
                        Chosen::Local => Err(Error::Unavailable(NO_LOCAL_VOLUMES.into())),
                        Chosen::Remote(remote) => remote.create_volume(spec).await,
                    }
                })
                .await?
            }
        };
        let mut tags = request.tags.clone();
        tags.push(Tag {
            key: PLACEMENT_TAG.into(),
            value: target.clone(),
        });
        let volume = Volume {
            id: id.clone(),
            target: target.clone(),
            size_gib: view.size_gib,
            availability_zone: view.availability_zone.clone(),
            state: view.state.clone(),
            volume_type: view.volume_type.clone(),
            iops: view.iops,
            encrypted: view.encrypted,
            snapshot_id: request.snapshot_id.clone(),
            created_at: now(),
            attachment: None,
            tags,
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO volumes (id, tenant_id, target, remote_id, size_gib, availability_zone, volume_type, iops, \
             encrypted, snapshot_id, state, client_token, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&volume.id)
        .bind(&tenant.id)
        .bind(&target)
        .bind(&view.remote_id)
        .bind(volume.size_gib)
        .bind(&volume.availability_zone)
        .bind(&volume.volume_type)
        .bind(volume.iops)
        .bind(i64::from(volume.encrypted))
        .bind(&volume.snapshot_id)
        .bind(&volume.state)
        .bind(&request.client_token)
        .bind(volume.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_tags(
            &mut tx,
            tenant,
            &volume.id,
            ResourceKind::Volume,
            &volume.tags,
        )
        .await?;
        Self::record_placement(&mut tx, tenant, &volume.id, "volume", &target, &explanation)
            .await?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, %target, volume = %volume.id, "volume created");
        Ok(volume)
    }

    /// The tenant's volumes (`ids` empty = all) with live state from their
    /// targets. An ID the tenant does not own is NotFound.
    pub async fn describe_volumes(&self, tenant: &Tenant, ids: &[String]) -> Result<Vec<Volume>> {
        let rows = select(
            self.volume_rows(tenant, "1 = 1", None).await?,
            ids,
            ResourceKind::Volume,
        )?;
        let observed = observe(self, &rows, |remote, ids| async move {
            let views = remote.describe_volumes(&ids).await?;
            Ok(views
                .into_iter()
                .map(|v| (v.remote_id.clone(), v))
                .collect())
        })
        .await;
        let mut volumes = Vec::with_capacity(rows.len());
        for (row, seen) in rows.into_iter().zip(observed) {
            match seen {
                Observed::Seen(view) => {
                    let current = self.observed_volume(tenant, &row.record, &view).await?;
                    if current != row.record {
                        self.store_volume_state(&current).await?;
                    }
                    volumes.push(current);
                }
                Observed::Absent if now() - row.record.created_at >= GRACE_SECS => {
                    tracing::info!(volume = %row.record.id, target = %row.record.target, "volume gone from its target; forgetting it");
                    self.forget(ResourceKind::Volume, &row.record.id).await?;
                }
                Observed::Absent | Observed::Unanswered => volumes.push(row.record),
            }
        }
        self.with_volume_tags(tenant, volumes).await
    }

    /// Deletes a volume on its target, then forgets it.
    pub async fn delete_volume(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let mut row = self.volume_row(tenant, id).await?;
        if row.record.attachment.is_some() {
            // The record may predate a detach that has finished since.
            let current = self.describe_volumes(tenant, &[id.to_string()]).await?;
            row.record.attachment = current.into_iter().next().and_then(|v| v.attachment);
        }
        if let Some(attachment) = &row.record.attachment {
            return Err(Error::VolumeInUse(format!(
                "Volume {id} is currently attached to {}",
                attachment.instance_id
            )));
        }
        let remote = self.placement.remote(&row.record.target)?;
        remote
            .delete_volume(&row.remote_id)
            .await
            .map_err(|error| match error {
                Error::Remote { code, .. } if code == "VolumeInUse" => {
                    Error::VolumeInUse(format!("Volume {id} is currently attached to an instance"))
                }
                other => other,
            })?;
        self.forget(ResourceKind::Volume, id).await
    }

    /// Attaches a volume to an instance on the same target and zone.
    pub async fn attach_volume(
        &self,
        tenant: &Tenant,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> Result<Attachment> {
        let volume = self.volume_row(tenant, volume_id).await?;
        let instance = self
            .instance_record(tenant, instance_id)
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Instance, instance_id))?;
        if instance.target != volume.record.target {
            return Err(Error::ZoneMismatch(format!(
                "The volume '{volume_id}' lives on target {} and the instance '{instance_id}' on target {}; \
                 a volume attaches only to instances on its own target",
                volume.record.target, instance.target
            )));
        }
        if let Some(zone) = instance.availability_zone.as_deref() {
            if zone != volume.record.availability_zone {
                return Err(Error::ZoneMismatch(format!(
                    "The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'"
                )));
            }
        }
        if let Some(attachment) = &volume.record.attachment {
            return Err(Error::VolumeInUse(format!(
                "{volume_id} is already attached to an instance ({})",
                attachment.instance_id
            )));
        }
        let instance_remote = self.remote_id_of(tenant, instance_id).await?;
        let remote = self.placement.remote(&volume.record.target)?;
        let view = remote
            .attach_volume(&volume.remote_id, &instance_remote, device)
            .await?;
        let attachment = Attachment {
            volume_id: volume_id.to_string(),
            instance_id: instance_id.to_string(),
            device: view.device,
            state: view.state,
            attached_at: now(),
        };
        let mut current = volume.record;
        current.state = "in-use".into();
        current.attachment = Some(attachment.clone());
        self.store_volume_state(&current).await?;
        Ok(attachment)
    }

    /// Detaches a volume from its instance (`instance_id`/`device`, when
    /// given, must name the attachment).
    pub async fn detach_volume(
        &self,
        tenant: &Tenant,
        volume_id: &str,
        instance_id: Option<&str>,
        device: Option<&str>,
        force: bool,
    ) -> Result<Attachment> {
        let volume = self.volume_row(tenant, volume_id).await?;
        let Some(attachment) = volume.record.attachment.clone() else {
            return Err(Error::IncorrectVolumeState(format!(
                "Volume '{volume_id}' is in the '{}' state.",
                volume.record.state
            )));
        };
        let names_other = instance_id.is_some_and(|i| i != attachment.instance_id)
            || device.is_some_and(|d| d != attachment.device);
        if names_other {
            return Err(Error::AttachmentNotFound(format!(
                "The volume {volume_id} is not attached to instance {} as device {}",
                instance_id.unwrap_or(&attachment.instance_id),
                device.unwrap_or(&attachment.device)
            )));
        }
        let instance_remote = self.remote_id_of(tenant, &attachment.instance_id).await?;
        let remote = self.placement.remote(&volume.record.target)?;
        let view = remote
            .detach_volume(
                &volume.remote_id,
                &instance_remote,
                Some(&attachment.device),
                force,
            )
            .await?;
        let detached = Attachment {
            state: view.state,
            ..attachment
        };
        let mut current = volume.record;
        if detached.state == "detached" {
            current.state = "available".into();
            current.attachment = None;
        } else {
            current.attachment = Some(detached.clone());
        }
        self.store_volume_state(&current).await?;
        Ok(detached)
    }

    /// A volume as its target reports it now, in Skyport's IDs.
    async fn observed_volume(
        &self,
        tenant: &Tenant,
        stored: &Volume,
        view: &VolumeView,
    ) -> Result<Volume> {
        let attachment = match &view.attachment {
            Some(seen) if seen.state != "detached" => {
                let instance_id = match &stored.attachment {
                    Some(known) => known.instance_id.clone(),
                    None => self
                        .instance_by_remote(tenant, &stored.target, &seen.instance_remote_id)
                        .await?
                        .unwrap_or_else(|| seen.instance_remote_id.clone()),
                };
                Some(Attachment {
                    volume_id: stored.id.clone(),
                    instance_id,
                    device: seen.device.clone(),
                    state: seen.state.clone(),
                    attached_at: stored
                        .attachment
                        .as_ref()
                        .map_or_else(now, |a| a.attached_at),
                })
            }
            _ => None,
        };
        Ok(Volume {
            size_gib: view.size_gib,
            state: view.state.clone(),
            volume_type: view.volume_type.clone(),
            iops: view.iops,
            attachment,
            ..stored.clone()
        })
    }

    async fn store_volume_state(&self, volume: &Volume) -> Result<()> {
        let attachment = volume.attachment.as_ref();
        sqlx::query(
            "UPDATE volumes SET state = $1, size_gib = $2, volume_type = $3, iops = $4, instance_id = $5, \
             device = $6, attachment_state = $7, attached_at = $8 WHERE id = $9",
        )
        .bind(&volume.state)
        .bind(volume.size_gib)
        .bind(&volume.volume_type)
        .bind(volume.iops)
        .bind(attachment.map(|a| a.instance_id.clone()))
        .bind(attachment.map(|a| a.device.clone()))
        .bind(attachment.map(|a| a.state.clone()))
        .bind(attachment.map(|a| a.attached_at))
        .bind(&volume.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The Skyport ID of the tenant's instance known on `target` as `remote_id`.
    async fn instance_by_remote(
        &self,
        tenant: &Tenant,
        target: &str,
        remote_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT id FROM instances WHERE tenant_id = $1 AND target = $2 AND remote_id = $3",
        )
        .bind(&tenant.id)
        .bind(target)
        .bind(remote_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        row.map(|row| text(&row, "id")).transpose()
    }

    /// Removes a volume's or snapshot's record and its tags.
    pub(crate) async fn forget(&self, kind: ResourceKind, id: &str) -> Result<()> {
        let table = match kind {
            ResourceKind::Volume => "volumes",
            ResourceKind::Snapshot => "snapshots",
            other => return Err(Error::internal(format!("cannot forget a {other}"))),
        };
        let delete = format!("DELETE FROM {table} WHERE id = $1");
        self.db
            .execute_each(
                &[delete.as_str(), "DELETE FROM tags WHERE resource_id = $1"],
                id,
            )
            .await
    }

    pub(crate) async fn volume_row(&self, tenant: &Tenant, id: &str) -> Result<Mapped<Volume>> {
        self.volume_rows(tenant, "id = $2", Some(id))
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(ResourceKind::Volume, id))
    }

    async fn volume_rows(
        &self,
        tenant: &Tenant,
        condition: &str,
        argument: Option<&str>,
    ) -> Result<Vec<Mapped<Volume>>> {
        let sql = format!("SELECT {COLUMNS} FROM volumes WHERE tenant_id = $1 AND {condition} ORDER BY created_at, id");
        self.db
            .tenant_rows(&sql, &tenant.id, argument, volume_of)
            .await
    }

    async fn with_volume_tags(
        &self,
        tenant: &Tenant,
        mut volumes: Vec<Volume>,
    ) -> Result<Vec<Volume>> {
        let mut tags = self.tags_by_resource(tenant, ResourceKind::Volume).await?;
        for volume in &mut volumes {
            volume.tags = tags.remove(&volume.id).unwrap_or_default();
        }
        Ok(volumes)
    }
}
