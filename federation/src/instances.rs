//! Instances across clouds: placed by the policies at RunInstances, known to
//! tenants by Skyport's own IDs, mapped here to (target, the target's ID).
//!
//! The database keeps each instance's last known state; describe calls ask every
//! target holding the tenant's instances (concurrently) and fall back to the last
//! known state for a target that cannot answer.

use std::collections::HashMap;
use std::sync::Arc;

use cloud::types::Tag;
use cloud::{Compute, Error, InstanceState, LaunchSpec, ResourceKind, Result, StateChange};
use sqlx::any::AnyRow;

use crate::db::{db_err, int, now, opt_int, opt_text, text};
use crate::instance_view::{Plan, Snapshot};
use crate::placement::{Chosen, PLACEMENT_TAG};
use crate::security_groups::GroupRef;
use crate::tenants::Tenant;
use crate::Federation;

/// How long a terminated instance stays visible, as on AWS (about an hour).
pub(crate) const TERMINATED_VISIBLE_SECS: i64 = 3600;

/// What a RunInstances asks for.
#[derive(Debug, Clone, Default)]
pub struct LaunchRequest {
    pub image_id: String,
    pub instance_type: String,
    pub min_count: u32,
    pub max_count: u32,
    pub key_name: Option<String>,
    pub security_group_ids: Vec<String>,
    pub user_data: Option<String>,
    pub availability_zone: Option<String>,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
    /// A subnet of one of the tenant's VPCs (this site's tenant networks).
    pub subnet_id: Option<String>,
    /// Termination protection from the start.
    pub disable_api_termination: bool,
}

/// An instance as its tenant sees it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub reservation_id: String,
    pub target: String,
    pub state: InstanceState,
    pub instance_type: String,
    pub image_id: String,
    pub key_name: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub private_dns: Option<String>,
    pub architecture: Option<String>,
    pub launch_index: i64,
    /// Unix seconds.
    pub launched_at: i64,
    /// When it was first seen terminated (Unix seconds).
    pub terminated_at: Option<i64>,
    pub client_token: Option<String>,
    /// Why the instance last stopped or ended, as an EC2 state reason code
    /// (`Client.UserInitiatedShutdown`, `Server.InternalError`).
    pub state_reason: Option<String>,
    /// The tenant network the instance is on (this site's instances only).
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    /// Its security groups there, as (ID, name).
    pub groups: Vec<(String, String)>,
    pub tags: Vec<Tag>,
    /// The instance as the front door last wrote it on the wire.
    pub rendered: Rendered,
}

/// A slot for a record's wire form, filled by the front door the first time it
/// writes the record. Whole listings of thousands of instances then copy bytes
/// instead of formatting every field again. Records shared by the instance view
/// are never changed (a change makes a new record), so the form cannot go
/// stale; a clone, which may be changed, starts empty.
#[derive(Default)]
pub struct Rendered(std::sync::OnceLock<Box<str>>);

impl Rendered {
    /// The stored form, or `render`'s result, stored.
    pub fn get_or_render(&self, render: impl FnOnce() -> String) -> &str {
        self.0.get_or_init(|| render().into_boxed_str())
    }
}

impl Clone for Rendered {
    fn clone(&self) -> Self {
        Rendered::default()
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Rendered(..)"
        } else {
            "Rendered(empty)"
        })
    }
}

/// The state reason of instances stopped or terminated by their owner.
const USER_SHUTDOWN: &str = "Client.UserInitiatedShutdown";
/// The state reason of instances that shut themselves down.
pub(crate) const GUEST_SHUTDOWN: &str = "Client.InstanceInitiatedShutdown";
/// The state reason of instances their target lost.
pub(crate) const LOST: &str = "Server.InternalError";

impl Instance {
    /// Whether two snapshots agree on everything a target reports.
    pub(crate) fn same_observation(&self, other: &Instance) -> bool {
        (
            self.state,
            &self.private_ip,
            &self.public_ip,
            &self.private_dns,
            &self.availability_zone,
            &self.instance_type,
        ) == (
            other.state,
            &other.private_ip,
            &other.public_ip,
            &other.private_dns,
            &other.availability_zone,
            &other.instance_type,
        )
    }
}

/// A Skyport instance ID with its state before and after an action.
#[derive(Debug, Clone)]
pub struct InstanceStateChange {
    pub id: String,
    pub previous: InstanceState,
    pub current: InstanceState,
}

pub(crate) struct Row {
    pub instance: Instance,
    pub remote_id: String,
}

/// The columns `row_of` reads (not the user data, which describes never show).
pub(crate) const COLUMNS: &str =
    "id, reservation_id, target, remote_id, state, instance_type, image_id, \
     key_name, availability_zone, private_ip, public_ip, private_dns, architecture, launch_index, \
     launched_at, terminated_at, client_token, state_reason, vpc_id, subnet_id";

pub(crate) fn row_of(row: &AnyRow) -> Result<Row> {
    let state = text(row, "state")?;
    Ok(Row {
        instance: Instance {
            id: text(row, "id")?,
            reservation_id: text(row, "reservation_id")?,
            target: text(row, "target")?,
            state: InstanceState::from_name(&state)
                .ok_or_else(|| Error::internal(format!("unknown instance state {state}")))?,
            instance_type: text(row, "instance_type")?,
            image_id: text(row, "image_id")?,
            key_name: opt_text(row, "key_name")?,
            availability_zone: opt_text(row, "availability_zone")?,
            private_ip: opt_text(row, "private_ip")?,
            public_ip: opt_text(row, "public_ip")?,
            private_dns: opt_text(row, "private_dns")?,
            architecture: opt_text(row, "architecture")?,
            launch_index: int(row, "launch_index")?,
            launched_at: int(row, "launched_at")?,
            terminated_at: opt_int(row, "terminated_at")?,
            client_token: opt_text(row, "client_token")?,
            state_reason: opt_text(row, "state_reason")?,
            vpc_id: opt_text(row, "vpc_id")?,
            subnet_id: opt_text(row, "subnet_id")?,
            groups: Vec::new(),
            tags: Vec::new(),
            rendered: Rendered::default(),
        },
        remote_id: text(row, "remote_id")?,
    })
}

/// On a target, the account ID of the tenant an instance was launched for.
pub(crate) const TENANT_TAG: &str = "skyport:tenant";
/// On a target, the Skyport reservation an instance was launched in.
pub(crate) const RESERVATION_TAG: &str = "skyport:reservation";

/// The name a tenant's key pair gets on a remote target: tenants share the
/// target account, so names are qualified by the key pair's Skyport ID.
fn remote_key_name(key_pair_id: &str) -> String {
    format!("skyport-{key_pair_id}")
}

impl Federation {
    /// Places and launches instances. With a ClientToken already used by this
    /// tenant, returns that launch's instances instead (idempotency).
    pub async fn run_instances(
        &self,
        tenant: &Tenant,
        launch: &LaunchRequest,
    ) -> Result<Vec<Instance>> {
        if self.placement.remotes().next().is_none() {
            if let Err(error) = self.placement.local_compute() {
                return Err(Error::PlacementRefused(format!(
                    "no target can run instances: {error}; start libvirt (scripts/setup.sh) \
                     or configure [targets.NAME] and policy_dir (docs/policies.md)"
                )));
            }
        }
        for tag in &launch.tags {
            crate::tags::validate_tag(tag)?;
        }
        if launch.min_count < 1 || launch.max_count < launch.min_count {
            return Err(Error::invalid(
                "MaxCount",
                "MinCount must be at least 1 and at most MaxCount",
            ));
        }
        if let Some(token) = &launch.client_token {
            let earlier = self
                .instance_rows(tenant, "client_token = $2", Some(token))
                .await?;
            if !earlier.is_empty() {
                return self
                    .with_tags(tenant, earlier.into_iter().map(|r| r.instance).collect())
                    .await;
            }
        }
        if let Some(limit) = tenant.quotas.instances {
            let running = self
                .instance_rows(tenant, "state <> 'terminated'", None)
                .await?
                .len() as i64;
            if running + i64::from(launch.min_count) > limit {
                return Err(Error::QuotaExceeded {
                    resource: "instances",
                    limit,
                });
            }
        }
        let key = match &launch.key_name {
            Some(name) => Some(
                self.find_key_pair(tenant, name)
                    .await?
                    .ok_or_else(|| Error::not_found(ResourceKind::KeyPair, name.clone()))?,
            ),
            None => None,
        };
        let mut groups = Vec::with_capacity(launch.security_group_ids.len());
        for group in &launch.security_group_ids {
            let reference = if group.starts_with("sg-") {
                GroupRef::Id(group.clone())
            } else {
                GroupRef::Name(group.clone())
            };
            groups.push(self.security_group(tenant, &reference).await?);
        }
        let mut request = policies::Request::new(
            &tenant.name,
            "RunInstances",
            policies::ResourceKind::Instance,
        )
        .with_instance_type(&launch.instance_type)
        .with_region(&self.region);
        if let Some(zone) = &launch.availability_zone {
            request = request.with_availability_zone(zone);
        }
        for tag in &launch.tags {
            request = request.with_tag(&tag.key, &tag.value);
        }
        if let Some(targets) = self.image_targets(tenant, &launch.image_id).await? {
            let why = format!("image {} is not there", launch.image_id);
            request = request.with_eligible_targets(targets, why);
        }
        let reservation_id = ResourceKind::Reservation.new_id();
        // Where a local launch was plugged in (set by the attempt that succeeds).
        let attached: std::sync::Mutex<Option<crate::attachments::Attached>> =
            std::sync::Mutex::new(None);
        let (views, target, explanation) = self
            .place(&request, |chosen| {
                let key = key.clone();
                let groups = &groups;
                let reservation_id = reservation_id.clone();
                let attached = &attached;
                async move {
                    let is_local = matches!(chosen, Chosen::Local);
                    let (compute, key_name, security_group_ids) = match chosen {
                        // Local guests get their key from the metadata service, and
                        // security groups are enforced by tenant networks.
                        Chosen::Local => {
                            let compute = self.placement.local_compute()?;
                            self.launchable_image(tenant, &launch.image_id).await?;
                            (compute, None, Vec::new())
                        }
                        Chosen::Remote(remote) if launch.subnet_id.is_some() => {
                            return Err(Error::invalid(
                                "SubnetId",
                                format!(
                                    "subnets are this site's, but the placement policy chose target {} for this launch",
                                    remote.name()
                                ),
                            ));
                        }
                        Chosen::Remote(remote) => {
                            let mut security_group_ids = Vec::with_capacity(groups.len());
                            for group in groups {
                                security_group_ids
                                    .push(self.copy_security_group(tenant, &remote, group).await?);
                            }
                            let key_name = match &key {
                                Some(pair) => {
                                    let name = remote_key_name(&pair.id);
                                    remote.ensure_key_pair(&name, &pair.public_key).await?;
                                    Some(name)
                                }
                                None => None,
                            };
                            (remote as Arc<dyn Compute>, key_name, security_group_ids)
                        }
                    };
                    // The target's copy carries our IDs, so a reconciler can match orphans.
                    let mut tags = launch.tags.clone();
                    tags.push(Tag {
                        key: TENANT_TAG.into(),
                        value: tenant.account_id.clone(),
                    });
                    tags.push(Tag {
                        key: RESERVATION_TAG.into(),
                        value: reservation_id,
                    });
                    let spec = LaunchSpec {
                        image_id: launch.image_id.clone(),
                        instance_type: launch.instance_type.clone(),
                        count: launch.max_count,
                        key_name,
                        security_group_ids,
                        user_data: launch.user_data.clone(),
                        availability_zone: launch.availability_zone.clone(),
                        client_token: launch
                            .client_token
                            .as_ref()
                            .map(|t| format!("{}-{t}", tenant.account_id)),
                        tags,
                        network: None,
                    };
                    if !is_local {
                        return compute.run_instances(&spec).await;
                    }
                    let (views, attachment) = self
                        .run_attached(tenant, compute.as_ref(), spec, launch, groups)
                        .await?;
                    *attached.lock().expect("attachment lock") = attachment;
                    Ok(views)
                }
            })
            .await?;
        // `_launching` keeps the guests' ports planned until their records commit.
        let (attached, vpc_groups, _launching) =
            match attached.into_inner().expect("attachment lock") {
                Some(launched) => (
                    Some(launched.attachment),
                    launched.groups,
                    Some(launched.launching),
                ),
                None => (None, Vec::new(), None),
            };
        let launched_at = now();
        let mut instances = Vec::with_capacity(views.len());
        let mut tx = self.db.begin_write().await?;
        for (index, view) in views.iter().enumerate() {
            let instance = Instance {
                id: ResourceKind::Instance.new_id(),
                reservation_id: reservation_id.clone(),
                target: target.clone(),
                state: view.state,
                instance_type: view.instance_type.clone(),
                image_id: view.image_id.clone(),
                key_name: launch.key_name.clone(),
                availability_zone: view.availability_zone.clone(),
                private_ip: view.private_ip.clone(),
                public_ip: view.public_ip.clone(),
                private_dns: view.private_dns.clone(),
                architecture: view.architecture.clone(),
                launch_index: index as i64,
                launched_at,
                terminated_at: None,
                client_token: launch.client_token.clone(),
                state_reason: None,
                vpc_id: attached.as_ref().map(|a| a.subnet.vpc_id.clone()),
                subnet_id: attached.as_ref().map(|a| a.subnet.id.clone()),
                groups: Vec::new(),
                rendered: Rendered::default(),
                tags: launch
                    .tags
                    .iter()
                    .cloned()
                    .chain([Tag {
                        key: PLACEMENT_TAG.into(),
                        value: target.clone(),
                    }])
                    .collect(),
            };
            sqlx::query(
                "INSERT INTO instances (id, tenant_id, reservation_id, target, remote_id, launch_index, image_id, instance_type, \
                 key_name, availability_zone, client_token, state, private_ip, public_ip, private_dns, architecture, launched_at, user_data, \
                 vpc_id, subnet_id, disable_api_termination) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
            )
            .bind(&instance.id)
            .bind(&tenant.id)
            .bind(&instance.reservation_id)
            .bind(&instance.target)
            .bind(&view.remote_id)
            .bind(instance.launch_index)
            .bind(&instance.image_id)
            .bind(&instance.instance_type)
            .bind(&instance.key_name)
            .bind(&instance.availability_zone)
            .bind(&instance.client_token)
            .bind(instance.state.name())
            .bind(&instance.private_ip)
            .bind(&instance.public_ip)
            .bind(&instance.private_dns)
            .bind(&instance.architecture)
            .bind(launched_at)
            .bind(&launch.user_data)
            .bind(&instance.vpc_id)
            .bind(&instance.subnet_id)
            .bind(i64::from(launch.disable_api_termination))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some(subnet) = &instance.subnet_id {
                sqlx::query(
                    "UPDATE subnet_addresses SET instance_id = $1 WHERE subnet_id = $2 AND ip = $3",
                )
                .bind(&instance.id)
                .bind(subnet)
                .bind(&instance.private_ip)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            // A local launch on a subnet has its VPC's groups; a remote one the
            // groups copied to its target.
            let memberships: Vec<&str> = if instance.subnet_id.is_some() {
                vpc_groups.iter().map(String::as_str).collect()
            } else {
                groups.iter().map(|group| group.id.as_str()).collect()
            };
            for group in memberships {
                sqlx::query("INSERT INTO instance_groups (instance_id, group_id) VALUES ($1, $2)")
                    .bind(&instance.id)
                    .bind(group)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            crate::tags::insert_tags(
                &mut tx,
                tenant,
                &instance.id,
                ResourceKind::Instance,
                &instance.tags,
            )
            .await?;
            Self::record_placement(
                &mut tx,
                tenant,
                &instance.id,
                "instance",
                &target,
                &explanation,
            )
            .await?;
            instances.push(instance);
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_view
            .added(&tenant.id, instances.iter().map(|i| i.id.as_str()));
        tracing::info!(tenant = %tenant.name, %target, count = instances.len(), reservation = %reservation_id, "instances launched");
        self.with_tags(tenant, instances).await
    }

    /// The tenant's instances with live state from their targets (`ids` empty =
    /// all). An ID the tenant does not own is NotFound.
    pub async fn describe_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Arc<Instance>>> {
        if ids.is_empty() && self.instance_view.enabled() {
            return self.describe_from_view(tenant).await;
        }
        let rows = self.owned_instances(tenant, ids).await?;
        self.describe_rows(tenant, rows).await
    }

    /// The tenant's instances among `ids`, skipping IDs it does not own (an
    /// `instance-id` filter, unlike `InstanceIds`, is no error for unknown IDs).
    pub async fn describe_instances_among(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Arc<Instance>>> {
        let rows = self.selected_instances(tenant, ids).await?;
        self.describe_rows(tenant, rows).await
    }

    async fn describe_rows(&self, tenant: &Tenant, rows: Vec<Row>) -> Result<Vec<Arc<Instance>>> {
        let rows = self.rows_with_tags(tenant, rows).await?;
        let (moving, settled): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|row| row.instance.state.is_transitional());
        let snapshot = Snapshot {
            settled: settled.into_iter().map(|r| Arc::new(r.instance)).collect(),
            moving,
        };
        Ok(self.settle(snapshot).await)
    }

    /// All of the tenant's visible instances, from the in-memory view once it
    /// holds them: only records changed since they were read are read again.
    async fn describe_from_view(&self, tenant: &Tenant) -> Result<Vec<Arc<Instance>>> {
        let cutoff = now() - TERMINATED_VISIBLE_SECS;
        let snapshot = match self.instance_view.plan(&tenant.id) {
            Plan::Load { generation } => {
                let rows = self.owned_instances(tenant, &[]).await?;
                let rows = self.rows_with_tags(tenant, rows).await?;
                self.instance_view
                    .load(&tenant.id, generation, rows, cutoff)
            }
            Plan::Refresh { stale } => {
                let rows = if stale.is_empty() {
                    Vec::new()
                } else {
                    let rows = self.selected_instances(tenant, &stale).await?;
                    self.rows_with_tags(tenant, rows).await?
                };
                match self.instance_view.refresh(&tenant.id, &stale, rows, cutoff) {
                    Some(snapshot) => snapshot,
                    // Dropped meanwhile (memory bound): read it all.
                    None => return Box::pin(self.describe_from_view(tenant)).await,
                }
            }
        };
        Ok(self.settle(snapshot).await)
    }

    /// Instances on their way somewhere are asked about now (waiters poll for
    /// the end of the move); settled ones are served from the records, which
    /// `sync_instances` keeps fresh in the background.
    async fn settle(&self, snapshot: Snapshot) -> Vec<Arc<Instance>> {
        let Snapshot {
            mut settled,
            moving,
        } = snapshot;
        settled.extend(self.refresh_all(moving).await.into_iter().map(Arc::new));
        settled.sort_by(|a, b| a.id.cmp(&b.id));
        settled
    }

    /// Starts instances; returns their state changes.
    pub async fn start_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>> {
        self.refuse_gone(tenant, ids, "started").await?;
        self.change_state(tenant, ids, None, |remote, remote_ids| async move {
            remote.start_instances(&remote_ids).await
        })
        .await
    }

    /// IncorrectState when any of `ids` is terminated (or on its way): it can
    /// no longer be started, stopped or rebooted, whatever its target would say.
    async fn refuse_gone(&self, tenant: &Tenant, ids: &[String], verb: &str) -> Result<()> {
        let rows = self.owned_instances(tenant, ids).await?;
        match rows.iter().find(|row| {
            matches!(
                row.instance.state,
                InstanceState::Terminated | InstanceState::ShuttingDown
            )
        }) {
            Some(row) => Err(Error::IncorrectState(format!(
                "The instance '{}' is not in a state from which it can be {verb}.",
                row.instance.id
            ))),
            None => Ok(()),
        }
    }

    /// Stops instances (`force`: without a clean shutdown).
    pub async fn stop_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
        force: bool,
    ) -> Result<Vec<InstanceStateChange>> {
        self.refuse_gone(tenant, ids, "stopped").await?;
        self.change_state(
            tenant,
            ids,
            Some(USER_SHUTDOWN),
            |remote, remote_ids| async move { remote.stop_instances(&remote_ids, force).await },
        )
        .await
    }

    /// Terminates instances; none if any of them has termination protection.
    pub async fn terminate_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>> {
        self.refuse_protected(tenant, ids).await?;
        self.change_state(
            tenant,
            ids,
            Some(USER_SHUTDOWN),
            |remote, remote_ids| async move { remote.terminate_instances(&remote_ids).await },
        )
        .await
    }

    /// Reboots instances.
    pub async fn reboot_instances(&self, tenant: &Tenant, ids: &[String]) -> Result<()> {
        self.refuse_gone(tenant, ids, "rebooted").await?;
        let rows = self.owned_instances(tenant, ids).await?;
        for (target, rows) in group_by_target(rows) {
            let remote_ids: Vec<String> = rows.iter().map(|r| r.remote_id.clone()).collect();
            self.placement
                .compute(&target)?
                .reboot_instances(&remote_ids)
                .await?;
        }
        Ok(())
    }

    /// The serial console of an instance and when it was captured.
    pub async fn console_output(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let row = self
            .owned_instances(tenant, &[id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(ResourceKind::Instance, id))?;
        self.placement
            .compute(&row.instance.target)?
            .console_output(&row.remote_id)
            .await
    }

    async fn change_state<F, Fut>(
        &self,
        tenant: &Tenant,
        ids: &[String],
        reason: Option<&str>,
        call: F,
    ) -> Result<Vec<InstanceStateChange>>
    where
        F: Fn(Arc<dyn Compute>, Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<StateChange>>>,
    {
        let rows = self.owned_instances(tenant, ids).await?;
        if let Some(reason) = reason {
            // Recorded before the call: a lifecycle event arriving meanwhile
            // must not take the stop for one the guest made itself.
            let mut tx = self.db.begin_write().await?;
            for row in &rows {
                sqlx::query("UPDATE instances SET state_reason = $1 WHERE id = $2")
                    .bind(reason)
                    .bind(&row.instance.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            self.instance_view
                .touch(rows.iter().map(|r| r.instance.id.as_str()));
        }
        let mut changes = Vec::with_capacity(rows.len());
        for (target, rows) in group_by_target(rows) {
            let remote_ids: Vec<String> = rows.iter().map(|r| r.remote_id.clone()).collect();
            let reported = call(self.placement.compute(&target)?, remote_ids).await?;
            for mut row in rows {
                let Some(change) = reported.iter().find(|c| c.remote_id == row.remote_id) else {
                    continue;
                };
                row.instance.state = change.current;
                row.instance.state_reason = reason.map(str::to_string);
                self.store_state(&row.instance).await?;
                changes.push(InstanceStateChange {
                    id: row.instance.id,
                    previous: change.previous,
                    current: change.current,
                });
            }
        }
        changes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(changes)
    }

    /// The tenant's instance rows (`ids` empty = all still visible); any ID not
    /// owned is NotFound. Terminated instances past their visibility are purged.
    async fn owned_instances(&self, tenant: &Tenant, ids: &[String]) -> Result<Vec<Row>> {
        if ids.is_empty() {
            let cutoff = (now() - TERMINATED_VISIBLE_SECS).to_string();
            return self
                .instance_rows(
                    tenant,
                    "(terminated_at IS NULL OR terminated_at >= CAST($2 AS BIGINT))",
                    Some(&cutoff),
                )
                .await;
        }
        let rows = self.selected_instances(tenant, ids).await?;
        if let Some(missing) = ids
            .iter()
            .find(|id| !rows.iter().any(|r| &r.instance.id == *id))
        {
            return Err(Error::not_found(ResourceKind::Instance, missing.clone()));
        }
        Ok(rows)
    }

    /// The visible instances of the tenant among `ids`, read by ID (a lookup
    /// of a few instances costs the same among ten or ten thousand).
    async fn selected_instances(&self, tenant: &Tenant, ids: &[String]) -> Result<Vec<Row>> {
        let cutoff = now() - TERMINATED_VISIBLE_SECS;
        let mut unique: Vec<&String> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let mut rows = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM instances WHERE tenant_id = $1 AND (terminated_at IS NULL OR terminated_at >= $2) \
                 AND id IN ({}) ORDER BY launched_at, reservation_id, launch_index",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(&tenant.id).bind(cutoff);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.db.pool()).await.map_err(db_err)? {
                rows.push(row_of(&row)?);
            }
        }
        Ok(rows)
    }

    async fn instance_rows(
        &self,
        tenant: &Tenant,
        condition: &str,
        argument: Option<&str>,
    ) -> Result<Vec<Row>> {
        let sql = format!("SELECT {COLUMNS} FROM instances WHERE tenant_id = $1 AND {condition} ORDER BY launched_at, reservation_id, launch_index");
        self.db
            .tenant_rows(&sql, &tenant.id, argument, row_of)
            .await
    }

    /// Adds tags, and to this site's instances on tenant networks their
    /// elastic IP (as the public address) and security groups.
    async fn with_tags(
        &self,
        tenant: &Tenant,
        mut instances: Vec<Instance>,
    ) -> Result<Vec<Instance>> {
        self.decorate(tenant, instances.iter_mut().collect())
            .await?;
        Ok(instances)
    }

    /// [`Federation::with_tags`] for rows.
    async fn rows_with_tags(&self, tenant: &Tenant, mut rows: Vec<Row>) -> Result<Vec<Row>> {
        self.decorate(tenant, rows.iter_mut().map(|r| &mut r.instance).collect())
            .await?;
        Ok(rows)
    }

    async fn decorate(&self, tenant: &Tenant, mut instances: Vec<&mut Instance>) -> Result<()> {
        // A few instances: their own tags; many: all of the tenant's in one read.
        let mut tags = if instances.len() <= 100 {
            let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
            self.tags_of_resources(tenant, &ids).await?
        } else {
            self.tags_by_resource(tenant, ResourceKind::Instance)
                .await?
        };
        let mut elastic: HashMap<String, String> = HashMap::new();
        let mut groups: HashMap<String, Vec<(String, String)>> = HashMap::new();
        if !instances.is_empty() {
            for address in self.list_addresses(tenant).await? {
                if let Some(instance) = address.instance_id {
                    elastic.insert(instance, address.public_ip);
                }
            }
            groups = self.instance_groups(tenant).await?;
        }
        for instance in &mut instances {
            instance.tags = tags.remove(&instance.id).unwrap_or_default();
            if let Some(public_ip) = elastic.remove(&instance.id) {
                instance.public_ip = Some(public_ip);
            }
            instance.groups = groups.remove(&instance.id).unwrap_or_default();
        }
        Ok(())
    }

    /// The security groups (ID, name) of the tenant's instances.
    async fn instance_groups(
        &self,
        tenant: &Tenant,
    ) -> Result<HashMap<String, Vec<(String, String)>>> {
        let rows = sqlx::query(
            "SELECT m.instance_id, g.id, g.name FROM instance_groups m JOIN security_groups g ON g.id = m.group_id \
             WHERE g.tenant_id = $1 ORDER BY g.name",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut groups: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for row in &rows {
            groups
                .entry(text(row, "instance_id")?)
                .or_default()
                .push((text(row, "id")?, text(row, "name")?));
        }
        Ok(groups)
    }

    /// The target's ID of one of the tenant's instances.
    pub(crate) async fn remote_id_of(&self, tenant: &Tenant, id: &str) -> Result<String> {
        self.owned_instances(tenant, &[id.to_string()])
            .await?
            .pop()
            .map(|row| row.remote_id)
            .ok_or_else(|| Error::not_found(ResourceKind::Instance, id))
    }

    /// An instance's record as last stored (no target call), with its tags.
    pub async fn instance_record(&self, tenant: &Tenant, id: &str) -> Result<Option<Instance>> {
        let rows = self.instance_rows(tenant, "id = $2", Some(id)).await?;
        let instances = rows.into_iter().map(|r| r.instance).collect();
        Ok(self.with_tags(tenant, instances).await?.pop())
    }

    /// Whether the tenant owns instance `id` (for tagging).
    pub(crate) async fn owns_instance(&self, tenant: &Tenant, id: &str) -> Result<bool> {
        Ok(self
            .owned_instances(tenant, &[id.to_string()])
            .await
            .is_ok())
    }
}

fn group_by_target(rows: Vec<Row>) -> Vec<(String, Vec<Row>)> {
    let mut groups: Vec<(String, Vec<Row>)> = Vec::new();
    for row in rows {
        match groups
            .iter_mut()
            .find(|(target, _)| *target == row.instance.target)
        {
            Some((_, group)) => group.push(row),
            None => groups.push((row.instance.target.clone(), vec![row])),
        }
    }
    groups
}
