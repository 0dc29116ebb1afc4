//! The SQL that records a launched instance: its row, the subnet address it
//! now holds, its security groups and its tags.

use cloud::{ResourceKind, Result};

use super::Instance;
use crate::tenants::Tenant;
use datastore::db_err;

/// One launched instance, with what its record keeps beside the instance.
pub(super) struct Launched<'a> {
    pub instance: &'a Instance,
    /// The target's ID for it.
    pub remote_id: &'a str,
    pub user_data: Option<&'a str>,
    pub disable_api_termination: bool,
    /// The security groups it is a member of.
    pub groups: &'a [&'a str],
}

/// Inserts the instance's records inside the launch's transaction.
pub(super) async fn insert(
    connection: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    launched: &Launched<'_>,
) -> Result<()> {
    let instance = launched.instance;
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
    .bind(launched.remote_id)
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
    .bind(instance.launched_at)
    .bind(launched.user_data)
    .bind(&instance.vpc_id)
    .bind(&instance.subnet_id)
    .bind(i64::from(launched.disable_api_termination))
    .execute(&mut *connection)
    .await
    .map_err(db_err)?;
    if let Some(subnet) = &instance.subnet_id {
        sqlx::query(
            "UPDATE subnet_addresses SET instance_id = $1 WHERE subnet_id = $2 AND ip = $3",
        )
        .bind(&instance.id)
        .bind(subnet)
        .bind(&instance.private_ip)
        .execute(&mut *connection)
        .await
        .map_err(db_err)?;
    }
    for group in launched.groups {
        sqlx::query("INSERT INTO instance_groups (instance_id, group_id) VALUES ($1, $2)")
            .bind(&instance.id)
            .bind(*group)
            .execute(&mut *connection)
            .await
            .map_err(db_err)?;
    }
    crate::tags::insert_tags(
        connection,
        tenant,
        &instance.id,
        ResourceKind::Instance,
        &instance.tags,
    )
    .await
}
