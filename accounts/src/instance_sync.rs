//! Keeping instance records in step with their targets: refreshes of
//! instances in transitional states at describe time, the periodic sync of
//! every live instance, lifecycle events of this site's domains, and the
//! reconciler that ends orphans (launched, never recorded) and ghosts
//! (recorded, gone from their target).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cloud::{Compute, InstanceState, InstanceView, Result};

use crate::instances::{
    row_of, Instance, Row, COLUMNS, GUEST_SHUTDOWN, LOST, RESERVATION_TAG, TENANT_TAG,
    TERMINATED_VISIBLE_SECS,
};
use crate::Accounts;
use datastore::{db_err, now, text};

impl Accounts {
    /// Refreshes `rows` from their targets, one concurrent call per target.
    pub(crate) async fn refresh_all(&self, rows: Vec<Row>) -> Vec<Instance> {
        let mut by_target: HashMap<String, Vec<Row>> = HashMap::new();
        for row in rows {
            by_target
                .entry(row.instance.target.clone())
                .or_default()
                .push(row);
        }
        let refreshed = futures::future::join_all(
            by_target
                .into_iter()
                .map(|(target, rows)| self.refresh(target, rows)),
        )
        .await;
        refreshed.into_iter().flatten().collect()
    }

    /// Brings every live instance record up to date with its target (all
    /// tenants): what changed outside Skyport's own calls — a guest that
    /// powered itself off, an instance the target lost — shows within one
    /// sync interval. Returns how many instances were asked about.
    pub async fn sync_instances(&self) -> Result<usize> {
        let sql = format!("SELECT {COLUMNS} FROM instances WHERE state <> 'terminated'");
        let rows = self.fetch_rows(sqlx::query(&sql)).await?;
        let count = rows.len();
        self.refresh_all(rows).await;
        Ok(count)
    }

    /// Refreshes the record of this site's instance `remote_id` (a libvirt
    /// domain) after its host reported a lifecycle change.
    pub async fn local_instance_changed(&self, remote_id: &str) -> Result<()> {
        let target = self.placement.local_target().to_string();
        let sql = format!(
            "SELECT {COLUMNS} FROM instances WHERE target = $1 AND remote_id = $2 AND state <> 'terminated'"
        );
        let rows = self
            .fetch_rows(sqlx::query(&sql).bind(&target).bind(remote_id))
            .await?;
        if !rows.is_empty() {
            self.refresh(target, rows).await;
        }
        Ok(())
    }

    /// The instance rows a query selects (`SELECT {COLUMNS} …`).
    async fn fetch_rows<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<Row>> {
        query
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?
            .iter()
            .map(row_of)
            .collect()
    }

    /// Asks one target about `rows` and stores what it says; on failure keeps the
    /// last known state. Instances the target no longer knows are terminated.
    async fn refresh(&self, target: String, rows: Vec<Row>) -> Vec<Instance> {
        let live: Vec<String> = rows
            .iter()
            .filter(|r| r.instance.state != InstanceState::Terminated)
            .map(|r| r.remote_id.clone())
            .collect();
        if live.is_empty() {
            return rows.into_iter().map(|r| r.instance).collect();
        }
        let views = match self.placement.compute(&target) {
            Ok(compute) => compute.describe_instances(&live).await,
            Err(error) => Err(error),
        };
        let views: HashMap<String, InstanceView> = match views {
            Ok(views) => views
                .into_iter()
                .map(|v| (v.remote_id.clone(), v))
                .collect(),
            Err(error) => {
                tracing::warn!(%target, %error, "describing instances failed; showing their last known state");
                return rows.into_iter().map(|r| r.instance).collect();
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        let mut changed = Vec::new();
        for mut row in rows {
            if row.instance.state != InstanceState::Terminated {
                let before = row.instance.clone();
                match views.get(&row.remote_id) {
                    Some(view) => {
                        // Stopping or stopped without a reason of ours (StopInstances
                        // records one first): the guest shut itself down.
                        if matches!(view.state, InstanceState::Stopping | InstanceState::Stopped)
                            && row.instance.state_reason.is_none()
                        {
                            row.instance.state_reason = Some(GUEST_SHUTDOWN.into());
                        }
                        row.instance.state = view.state;
                        if matches!(view.state, InstanceState::Running | InstanceState::Pending) {
                            row.instance.state_reason = None;
                        }
                        row.instance.private_ip = view.private_ip.clone();
                        row.instance.public_ip = view.public_ip.clone();
                        row.instance.private_dns = view.private_dns.clone();
                        row.instance.availability_zone = view
                            .availability_zone
                            .clone()
                            .or(row.instance.availability_zone);
                        row.instance.instance_type = view.instance_type.clone();
                    }
                    None => {
                        row.instance.state = InstanceState::Terminated;
                        row.instance.state_reason = Some(LOST.into());
                    }
                }
                // Write only what changed: describes are frequent, changes are not.
                if !row.instance.same_observation(&before) {
                    changed.push(out.len());
                }
            }
            out.push(row.instance);
        }
        let changed: Vec<&Instance> = changed.iter().map(|&i| &out[i]).collect();
        if let Err(error) = self.store_states(&changed).await {
            tracing::warn!(%error, count = changed.len(), "storing instance states failed");
        }
        out
    }

    pub(crate) async fn store_state(&self, instance: &Instance) -> Result<()> {
        self.store_states(&[instance]).await
    }

    /// Writes what targets said of `instances`, in one transaction (a sync
    /// after a large launch changes thousands at once), then frees what
    /// terminated instances held.
    async fn store_states(&self, instances: &[&Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for instance in instances {
            let terminated_at = (instance.state == InstanceState::Terminated).then(now);
            sqlx::query(
                "UPDATE instances SET state = $1, private_ip = $2, public_ip = $3, private_dns = $4, availability_zone = $5, \
                 instance_type = $6, terminated_at = COALESCE(terminated_at, $7), \
                 state_reason = CASE WHEN $8 = $10 THEN COALESCE(state_reason, $8) ELSE $8 END WHERE id = $9",
            )
            .bind(instance.state.name())
            .bind(&instance.private_ip)
            .bind(&instance.public_ip)
            .bind(&instance.private_dns)
            .bind(&instance.availability_zone)
            .bind(&instance.instance_type)
            .bind(terminated_at)
            .bind(&instance.state_reason)
            .bind(&instance.id)
            // A guest's own shutdown is a guess from a refresh that may have
            // read the record before StopInstances gave its reason: it never
            // replaces a recorded reason.
            .bind(GUEST_SHUTDOWN)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_view
            .touch(instances.iter().map(|i| i.id.as_str()));
        let mut networks_changed = false;
        for instance in instances
            .iter()
            .filter(|i| i.state == InstanceState::Terminated)
        {
            self.release_instance_address(&instance.id).await?;
            if instance.subnet_id.is_some() {
                self.release_subnet_address(&instance.id).await?;
                networks_changed = true;
            }
        }
        if networks_changed {
            self.network_changed().await;
        }
        Ok(())
    }

    /// Forgets instances terminated longer ago than AWS keeps them visible, with
    /// their tags and placements; returns how many.
    pub async fn purge_terminated_instances(&self) -> Result<u64> {
        let cutoff = now() - TERMINATED_VISIBLE_SECS;
        let mut tx = self.db.begin_write().await?;
        for statement in [
            "DELETE FROM tags WHERE resource_id IN (SELECT id FROM instances WHERE terminated_at < $1)",
            "DELETE FROM placements WHERE resource_id IN (SELECT id FROM instances WHERE terminated_at < $1)",
        ] {
            sqlx::query(statement).bind(cutoff).execute(&mut *tx).await.map_err(db_err)?;
        }
        let purged = sqlx::query("DELETE FROM instances WHERE terminated_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(purged)
    }

    /// Repairs drift between the records and the clouds, on every target this
    /// site launches on (its own libvirt and the remote clouds):
    /// - orphans: instances this site launched but never recorded (a crash
    ///   between a target's RunInstances and the record, so the client never got
    ///   them) are terminated. They carry one of our tenants' `skyport:tenant`
    ///   and a `skyport:reservation` tag; ones younger than `grace_secs` may
    ///   still be on their way to the database and are left alone;
    /// - ghosts: records of live instances the target no longer has become
    ///   terminated.
    ///
    /// A target that cannot be listed is skipped. Returns how many instances
    /// were terminated or marked terminated.
    pub async fn reconcile_instances(&self, grace_secs: i64) -> Result<usize> {
        let swept = self.sweep_reservations(grace_secs).await?;
        if swept > 0 {
            tracing::info!(
                count = swept,
                "released subnet addresses of launches that never finished"
            );
            self.network_changed().await;
        }
        let accounts: HashSet<String> = self
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| t.account_id)
            .collect();
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::seconds(grace_secs);
        let mut targets: Vec<(String, Arc<dyn Compute>)> = self
            .placement
            .remotes()
            .map(|remote| {
                (
                    remote.name().to_string(),
                    Arc::clone(remote) as Arc<dyn Compute>,
                )
            })
            .collect();
        if let Ok(local) = self.placement.local_compute() {
            targets.push((self.placement.local_target().to_string(), local));
        }
        let mut repaired = 0;
        for (target, compute) in targets {
            let views = match compute.instances_tagged(RESERVATION_TAG).await {
                Ok(views) => views,
                Err(error) => {
                    tracing::debug!(%target, %error, "reconcile: listing instances failed");
                    continue;
                }
            };
            let records: HashMap<String, (String, String)> =
                sqlx::query("SELECT id, remote_id, state FROM instances WHERE target = $1")
                    .bind(&target)
                    .fetch_all(self.db.pool())
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|row| {
                        Ok((
                            text(row, "remote_id")?,
                            (text(row, "id")?, text(row, "state")?),
                        ))
                    })
                    .collect::<Result<_>>()?;
            let orphans: Vec<String> = views
                .iter()
                .filter(|view| {
                    !matches!(
                        view.state,
                        InstanceState::Terminated | InstanceState::ShuttingDown
                    )
                })
                .filter(|view| !records.contains_key(&view.remote_id))
                .filter(|view| {
                    made_for_us_before(&view.tags, view.launch_time.as_deref(), &accounts, cutoff)
                })
                .map(|view| view.remote_id.clone())
                .collect();
            if !orphans.is_empty() {
                tracing::warn!(%target, instances = ?orphans, "terminating instances launched but never recorded");
                compute.terminate_instances(&orphans).await?;
                repaired += orphans.len();
            }
            // Ghosts: recorded as live, gone from the target. Only trust the
            // listing for instances old enough to have appeared in it.
            let listed: HashSet<&str> = views.iter().map(|v| v.remote_id.as_str()).collect();
            for (remote_id, (id, state)) in &records {
                if state == InstanceState::Terminated.name() || listed.contains(remote_id.as_str())
                {
                    continue;
                }
                let still_there = compute
                    .describe_instances(std::slice::from_ref(remote_id))
                    .await
                    .map(|views| !views.is_empty());
                if let Ok(false) = still_there {
                    tracing::warn!(%target, instance = %id, "reconcile: instance gone from its target; marking it terminated");
                    sqlx::query(
                        "UPDATE instances SET state = 'terminated', terminated_at = COALESCE(terminated_at, $1), \
                         state_reason = $2 WHERE id = $3",
                    )
                    .bind(now())
                    .bind(LOST)
                    .bind(id)
                    .execute(self.db.pool())
                    .await
                    .map_err(db_err)?;
                    self.instance_view.touch([id.as_str()]);
                    repaired += 1;
                }
            }
        }
        Ok(repaired)
    }
}

/// Whether a resource a target reports was made for one of this site's
/// tenants (`skyport:tenant` is one of `accounts`) no later than `cutoff`:
/// when no record holds it, a crash left it behind.
pub(crate) fn made_for_us_before(
    tags: &[cloud::types::Tag],
    made_at: Option<&str>,
    accounts: &HashSet<String>,
    cutoff: time::OffsetDateTime,
) -> bool {
    let ours = tags
        .iter()
        .any(|tag| tag.key == TENANT_TAG && accounts.contains(&tag.value));
    let made = made_at.and_then(datastore::parse_rfc3339);
    ours && made.is_some_and(|made| made <= cutoff)
}
