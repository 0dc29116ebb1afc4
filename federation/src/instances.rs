//! Instances across clouds: placed by the policies at RunInstances, known to
//! tenants by Skyport's own IDs, mapped here to (target, the target's ID).
//!
//! The database keeps each instance's last known state; describe calls ask every
//! target holding the tenant's instances (concurrently) and fall back to the last
//! known state for a target that cannot answer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cloud::types::Tag;
use cloud::{
    Compute, Error, InstanceState, InstanceView, LaunchSpec, ResourceKind, Result, StateChange,
};
use sqlx::any::AnyRow;

use crate::db::{db_err, int, now, opt_text, text};
use crate::placement::{Chosen, PLACEMENT_TAG};
use crate::security_groups::GroupRef;
use crate::tenants::Tenant;
use crate::Federation;

/// How long a terminated instance stays visible, as on AWS (about an hour).
const TERMINATED_VISIBLE_SECS: i64 = 3600;

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
}

/// The state reason of instances stopped or terminated by their owner.
const USER_SHUTDOWN: &str = "Client.UserInitiatedShutdown";
/// The state reason of instances that shut themselves down.
const GUEST_SHUTDOWN: &str = "Client.InstanceInitiatedShutdown";
/// The state reason of instances their target lost.
const LOST: &str = "Server.InternalError";

impl Instance {
    /// Whether two snapshots agree on everything a target reports.
    fn same_observation(&self, other: &Instance) -> bool {
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

struct Row {
    instance: Instance,
    remote_id: String,
}

fn row_of(row: &AnyRow) -> Result<Row> {
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
            client_token: opt_text(row, "client_token")?,
            state_reason: opt_text(row, "state_reason")?,
            vpc_id: opt_text(row, "vpc_id")?,
            subnet_id: opt_text(row, "subnet_id")?,
            groups: Vec::new(),
            tags: Vec::new(),
        },
        remote_id: text(row, "remote_id")?,
    })
}

/// On a target, the account ID of the tenant an instance was launched for.
const TENANT_TAG: &str = "skyport:tenant";
/// On a target, the Skyport reservation an instance was launched in.
const RESERVATION_TAG: &str = "skyport:reservation";

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
        let reservation_id = ResourceKind::Reservation.new_id();
        // Where a local launch was plugged in (set by the attempt that succeeds).
        let attached: std::sync::Mutex<Option<(crate::attachments::Attachment, Vec<String>)>> =
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
                                    .push(self.copy_security_group(&remote, group).await?);
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
                    let attachment = self
                        .reserve_attachment(
                            tenant,
                            launch.subnet_id.as_deref(),
                            launch.availability_zone.as_deref(),
                            launch.max_count,
                        )
                        .await?;
                    let Some(attachment) = attachment else {
                        return compute.run_instances(&spec).await;
                    };
                    let vpc_groups = match self
                        .vpc_groups(tenant, &attachment.subnet.vpc_id, groups)
                        .await
                    {
                        Ok(ids) => ids,
                        Err(error) => {
                            self.release_reserved(&attachment).await?;
                            return Err(error);
                        }
                    };
                    // The subnet's bridge and DHCP lease must exist before the guest does.
                    if let Err(error) = self.sync_network().await {
                        self.release_reserved(&attachment).await?;
                        return Err(error);
                    }
                    let spec = LaunchSpec {
                        availability_zone: Some(attachment.subnet.availability_zone.clone()),
                        network: Some(attachment.network.clone()),
                        ..spec
                    };
                    match compute.run_instances(&spec).await {
                        Ok(views) => {
                            *attached.lock().expect("attachment lock") =
                                Some((attachment, vpc_groups));
                            Ok(views)
                        }
                        Err(error) => {
                            self.release_reserved(&attachment).await?;
                            self.network_changed().await;
                            Err(error)
                        }
                    }
                }
            })
            .await?;
        let (attached, vpc_groups) = match attached.into_inner().expect("attachment lock") {
            Some((attachment, groups)) => (Some(attachment), groups),
            None => (None, Vec::new()),
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
                client_token: launch.client_token.clone(),
                state_reason: None,
                vpc_id: attached.as_ref().map(|a| a.subnet.vpc_id.clone()),
                subnet_id: attached.as_ref().map(|a| a.subnet.id.clone()),
                groups: Vec::new(),
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
                 vpc_id, subnet_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
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
                for group in &vpc_groups {
                    sqlx::query(
                        "INSERT INTO instance_groups (instance_id, group_id) VALUES ($1, $2)",
                    )
                    .bind(&instance.id)
                    .bind(group)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
            }
            for tag in &instance.tags {
                sqlx::query("INSERT INTO tags (tenant_id, resource_id, resource_type, tag_key, tag_value) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&tenant.id)
                    .bind(&instance.id)
                    .bind(ResourceKind::Instance.ec2_type())
                    .bind(&tag.key)
                    .bind(&tag.value)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
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
        tracing::info!(tenant = %tenant.name, %target, count = instances.len(), reservation = %reservation_id, "instances launched");
        self.with_tags(tenant, instances).await
    }

    /// The tenant's instances with live state from their targets (`ids` empty =
    /// all). An ID the tenant does not own is NotFound.
    pub async fn describe_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Instance>> {
        let rows = self.owned_instances(tenant, ids).await?;
        // Instances on their way somewhere are asked about now (waiters poll
        // for the end of the move); settled ones are served from the records,
        // which `sync_instances` keeps fresh in the background.
        let (moving, settled): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|row| row.instance.state.is_transitional());
        let mut instances: Vec<Instance> = settled.into_iter().map(|r| r.instance).collect();
        instances.extend(self.refresh_all(moving).await);
        instances.sort_by(|a, b| {
            (a.launched_at, &a.reservation_id, a.launch_index).cmp(&(
                b.launched_at,
                &b.reservation_id,
                b.launch_index,
            ))
        });
        self.with_tags(tenant, instances).await
    }

    /// Refreshes `rows` from their targets, one concurrent call per target.
    async fn refresh_all(&self, rows: Vec<Row>) -> Vec<Instance> {
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
        let rows = sqlx::query("SELECT * FROM instances WHERE state <> 'terminated'")
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?
            .iter()
            .map(row_of)
            .collect::<Result<Vec<_>>>()?;
        let count = rows.len();
        self.refresh_all(rows).await;
        Ok(count)
    }

    /// Refreshes the record of this site's instance `remote_id` (a libvirt
    /// domain) after its host reported a lifecycle change.
    pub async fn local_instance_changed(&self, remote_id: &str) -> Result<()> {
        let target = self.placement.local_target().to_string();
        let rows = sqlx::query(
            "SELECT * FROM instances WHERE target = $1 AND remote_id = $2 AND state <> 'terminated'",
        )
        .bind(&target)
        .bind(remote_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?
        .iter()
        .map(row_of)
        .collect::<Result<Vec<_>>>()?;
        if !rows.is_empty() {
            self.refresh(target, rows).await;
        }
        Ok(())
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
                    if let Err(error) = self.store_state(&row.instance).await {
                        tracing::warn!(%error, instance = %row.instance.id, "storing instance state failed");
                    }
                }
            }
            out.push(row.instance);
        }
        out
    }

    async fn store_state(&self, instance: &Instance) -> Result<()> {
        let terminated_at = (instance.state == InstanceState::Terminated).then(now);
        sqlx::query(
            "UPDATE instances SET state = $1, private_ip = $2, public_ip = $3, private_dns = $4, availability_zone = $5, \
             instance_type = $6, terminated_at = COALESCE(terminated_at, $7), state_reason = $8 WHERE id = $9",
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
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        if instance.state == InstanceState::Terminated {
            self.release_instance_address(&instance.id).await?;
            if instance.subnet_id.is_some() {
                self.release_subnet_address(&instance.id).await?;
                self.network_changed().await;
            }
        }
        Ok(())
    }

    /// Starts instances; returns their state changes.
    pub async fn start_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>> {
        self.change_state(tenant, ids, None, |remote, remote_ids| async move {
            remote.start_instances(&remote_ids).await
        })
        .await
    }

    /// Stops instances (`force`: without a clean shutdown).
    pub async fn stop_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
        force: bool,
    ) -> Result<Vec<InstanceStateChange>> {
        self.change_state(
            tenant,
            ids,
            Some(USER_SHUTDOWN),
            |remote, remote_ids| async move { remote.stop_instances(&remote_ids, force).await },
        )
        .await
    }

    /// Terminates instances.
    pub async fn terminate_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>> {
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
        let cutoff = (now() - TERMINATED_VISIBLE_SECS).to_string();
        let rows = self
            .instance_rows(
                tenant,
                "(terminated_at IS NULL OR terminated_at >= CAST($2 AS BIGINT))",
                Some(&cutoff),
            )
            .await?;
        if ids.is_empty() {
            return Ok(rows);
        }
        let mut selected = Vec::with_capacity(ids.len());
        for id in ids {
            let row = rows
                .iter()
                .find(|r| &r.instance.id == id)
                .ok_or_else(|| Error::not_found(ResourceKind::Instance, id.clone()))?;
            if !selected
                .iter()
                .any(|r: &Row| r.instance.id == row.instance.id)
            {
                selected.push(Row {
                    instance: row.instance.clone(),
                    remote_id: row.remote_id.clone(),
                });
            }
        }
        Ok(selected)
    }

    async fn instance_rows(
        &self,
        tenant: &Tenant,
        condition: &str,
        argument: Option<&str>,
    ) -> Result<Vec<Row>> {
        let sql = format!("SELECT * FROM instances WHERE tenant_id = $1 AND {condition} ORDER BY launched_at, reservation_id, launch_index");
        let mut query = sqlx::query(&sql).bind(&tenant.id);
        if let Some(argument) = argument {
            query = query.bind(argument);
        }
        let rows = query.fetch_all(self.db.pool()).await.map_err(db_err)?;
        rows.iter().map(row_of).collect()
    }

    /// Adds tags, and to this site's instances on tenant networks their
    /// elastic IP (as the public address) and security groups.
    async fn with_tags(
        &self,
        tenant: &Tenant,
        mut instances: Vec<Instance>,
    ) -> Result<Vec<Instance>> {
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::Instance)
            .await?;
        let mut elastic: HashMap<String, String> = HashMap::new();
        let mut groups: HashMap<String, Vec<(String, String)>> = HashMap::new();
        if instances.iter().any(|i| i.vpc_id.is_some()) {
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
        Ok(instances)
    }

    /// The security groups (ID, name) of the tenant's instances on tenant networks.
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
                    view.tags
                        .iter()
                        .any(|t| t.key == TENANT_TAG && accounts.contains(&t.value))
                })
                .filter(|view| {
                    let launched = view.launch_time.as_deref().and_then(|t| {
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    });
                    launched.is_some_and(|launched| launched <= cutoff)
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
                    repaired += 1;
                }
            }
        }
        Ok(repaired)
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
