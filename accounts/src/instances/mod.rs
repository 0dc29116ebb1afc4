//! Instances across clouds: placed by the policies at RunInstances, known to
//! tenants by Skyport's own IDs, mapped here to (target, the target's ID).
//!
//! The database keeps each instance's last known state; describe calls ask every
//! target holding the tenant's instances (concurrently) and fall back to the last
//! known state for a target that cannot answer.

use std::collections::HashMap;

use cloud::types::Tag;
use cloud::{Error, InstanceState, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, now, opt_int, opt_text, text};

mod describe;
mod launch;
mod lifecycle;
mod record;

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

impl Accounts {
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

    /// [`Accounts::with_tags`] for rows.
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
