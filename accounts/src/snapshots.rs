//! Volume snapshots: taken on the target where the volume lives (its data
//! cannot be elsewhere), known to tenants by Skyport's `snap-` IDs.

use cloud::types::Tag;
use cloud::{Error, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::mapped::{observe, remote_tags, select, Mapped, Observed, Placed, GRACE_SECS};
use crate::placement::PLACEMENT_TAG;
use crate::tags::insert_tags;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, now, opt_text, text};

/// A snapshot as its tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub target: String,
    /// The Skyport volume it was taken from (which may since be deleted).
    pub volume_id: String,
    pub size_gib: i64,
    pub description: Option<String>,
    pub encrypted: bool,
    /// `pending`, `completed`, `error`.
    pub state: String,
    pub progress: String,
    /// Unix seconds.
    pub started_at: i64,
    pub tags: Vec<Tag>,
}

impl Placed for Snapshot {
    fn id(&self) -> &str {
        &self.id
    }
    fn target(&self) -> &str {
        &self.target
    }
}

const COLUMNS: &str =
    "id, target, remote_id, volume_id, size_gib, description, encrypted, state, progress, started_at";

fn snapshot_of(row: &AnyRow) -> Result<Mapped<Snapshot>> {
    Ok(Mapped {
        remote_id: text(row, "remote_id")?,
        record: Snapshot {
            id: text(row, "id")?,
            target: text(row, "target")?,
            volume_id: text(row, "volume_id")?,
            size_gib: int(row, "size_gib")?,
            description: opt_text(row, "description")?,
            encrypted: int(row, "encrypted")? != 0,
            state: text(row, "state")?,
            progress: text(row, "progress")?,
            started_at: int(row, "started_at")?,
            tags: Vec::new(),
        },
    })
}

impl Accounts {
    /// Takes a snapshot of one of the tenant's volumes, on the volume's target.
    pub async fn create_snapshot(
        &self,
        tenant: &Tenant,
        volume_id: &str,
        description: Option<&str>,
        tags: &[Tag],
    ) -> Result<Snapshot> {
        for tag in tags {
            cloud::tags::validate_tag(tag)?;
        }
        let volume = self.volume_row(tenant, volume_id).await?;
        let target = volume.record.target.clone();
        let remote = self.placement.remote(&target)?;
        let id = ResourceKind::Snapshot.new_id();
        let view = remote
            .create_snapshot(
                &volume.remote_id,
                description,
                &remote_tags(tenant, &id, tags),
            )
            .await?;
        let mut tags = tags.to_vec();
        tags.push(Tag {
            key: PLACEMENT_TAG.into(),
            value: target.clone(),
        });
        let snapshot = Snapshot {
            id,
            target: target.clone(),
            volume_id: volume_id.to_string(),
            size_gib: view.volume_size_gib,
            description: view.description.clone().or(description.map(str::to_owned)),
            encrypted: view.encrypted,
            state: view.state.clone(),
            progress: view.progress.clone(),
            started_at: now(),
            tags,
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO snapshots (id, tenant_id, target, remote_id, volume_id, size_gib, description, encrypted, \
             state, progress, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&snapshot.id)
        .bind(&tenant.id)
        .bind(&target)
        .bind(&view.remote_id)
        .bind(&snapshot.volume_id)
        .bind(snapshot.size_gib)
        .bind(&snapshot.description)
        .bind(i64::from(snapshot.encrypted))
        .bind(&snapshot.state)
        .bind(&snapshot.progress)
        .bind(snapshot.started_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_tags(
            &mut tx,
            tenant,
            &snapshot.id,
            ResourceKind::Snapshot,
            &snapshot.tags,
        )
        .await?;
        let explanation =
            format!("taken from volume {volume_id}, which lives on target {target}\n");
        Self::record_placement(
            &mut tx,
            tenant,
            &snapshot.id,
            "snapshot",
            &target,
            &explanation,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, %target, snapshot = %snapshot.id, volume = volume_id, "snapshot started");
        Ok(snapshot)
    }

    /// The tenant's snapshots (`ids` empty = all) with live state from their
    /// targets. An ID the tenant does not own is NotFound.
    pub async fn describe_snapshots(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Snapshot>> {
        let rows = select(
            self.snapshot_rows(tenant, "1 = 1", None).await?,
            ids,
            ResourceKind::Snapshot,
        )?;
        let observed = observe(self, &rows, |remote, ids| async move {
            let views = remote.describe_snapshots(&ids).await?;
            Ok(views
                .into_iter()
                .map(|v| (v.remote_id.clone(), v))
                .collect())
        })
        .await;
        let mut snapshots = Vec::with_capacity(rows.len());
        for (row, seen) in rows.into_iter().zip(observed) {
            match seen {
                Observed::Seen(view) => {
                    let current = Snapshot {
                        state: view.state,
                        progress: view.progress,
                        ..row.record.clone()
                    };
                    if current != row.record {
                        sqlx::query("UPDATE snapshots SET state = $1, progress = $2 WHERE id = $3")
                            .bind(&current.state)
                            .bind(&current.progress)
                            .bind(&current.id)
                            .execute(self.db.pool())
                            .await
                            .map_err(db_err)?;
                    }
                    snapshots.push(current);
                }
                Observed::Absent if now() - row.record.started_at >= GRACE_SECS => {
                    tracing::info!(snapshot = %row.record.id, target = %row.record.target, "snapshot gone from its target; forgetting it");
                    self.forget(ResourceKind::Snapshot, &row.record.id).await?;
                }
                Observed::Absent | Observed::Unanswered => snapshots.push(row.record),
            }
        }
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::Snapshot)
            .await?;
        for snapshot in &mut snapshots {
            snapshot.tags = tags.remove(&snapshot.id).unwrap_or_default();
        }
        Ok(snapshots)
    }

    /// Deletes a snapshot on its target, then forgets it.
    pub async fn delete_snapshot(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let row = self.snapshot_row(tenant, id).await?;
        let remote = self.placement.remote(&row.record.target)?;
        remote.delete_snapshot(&row.remote_id).await?;
        self.forget(ResourceKind::Snapshot, id).await
    }

    pub(crate) async fn snapshot_row(&self, tenant: &Tenant, id: &str) -> Result<Mapped<Snapshot>> {
        self.snapshot_rows(tenant, "id = $2", Some(id))
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(ResourceKind::Snapshot, id))
    }

    async fn snapshot_rows(
        &self,
        tenant: &Tenant,
        condition: &str,
        argument: Option<&str>,
    ) -> Result<Vec<Mapped<Snapshot>>> {
        let sql = format!("SELECT {COLUMNS} FROM snapshots WHERE tenant_id = $1 AND {condition} ORDER BY started_at, id");
        self.db
            .tenant_rows(&sql, &tenant.id, argument, snapshot_of)
            .await
    }
}
