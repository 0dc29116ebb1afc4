//! Subnets: blocks of a VPC, each its own L2 segment (a VLAN id or VNI drawn
//! from the site's range) in one availability zone.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use cloud::network::{overlaps, parse_block, usable_count, Subnet};
use cloud::{Error, ResourceKind, Result};
use ipnet::Ipv4Net;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::networks::free_segment;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, now, text};

const SUBNET_COLUMNS: &str =
    "id, vpc_id, cidr, availability_zone, is_default, map_public_ip, segment";

/// Inserts a subnet with the lowest free segment id; returns its ID.
pub(crate) async fn insert_subnet(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    vpc_id: &str,
    cidr: &str,
    zone: &str,
    default: bool,
    segments: &RangeInclusive<i64>,
) -> Result<String> {
    let id = ResourceKind::Subnet.new_id();
    let segment = free_segment(conn, segments).await?;
    sqlx::query(
        "INSERT INTO subnets (id, tenant_id, vpc_id, cidr, availability_zone, is_default, map_public_ip, segment, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&tenant.id)
    .bind(vpc_id)
    .bind(cidr)
    .bind(zone)
    .bind(i64::from(default))
    // Default subnets give instances a public address, as on AWS.
    .bind(i64::from(default))
    .bind(segment)
    .bind(now())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(id)
}

fn subnet_of(row: &AnyRow, tenant: &Tenant, in_use: u32) -> Result<Subnet> {
    let cidr = text(row, "cidr")?;
    let net: Ipv4Net = cidr
        .parse()
        .map_err(|_| Error::internal(format!("stored subnet block '{cidr}' does not parse")))?;
    Ok(Subnet {
        id: text(row, "id")?,
        vpc_id: text(row, "vpc_id")?,
        availability_zone: text(row, "availability_zone")?,
        is_default: int(row, "is_default")? != 0,
        map_public_ip_on_launch: int(row, "map_public_ip")? != 0,
        available_ips: usable_count(&net).saturating_sub(in_use),
        segment: int(row, "segment")?,
        owner_id: tenant.account_id.clone(),
        tags: Vec::new(),
        cidr,
    })
}

impl Accounts {
    /// Creates a subnet inside `vpc_id` (a /16 to /28 block inside the VPC's,
    /// overlapping none of its other subnets) in `zone` (default: the first zone).
    pub async fn create_subnet(
        &self,
        tenant: &Tenant,
        vpc_id: &str,
        cidr: &str,
        zone: Option<&str>,
    ) -> Result<Subnet> {
        let vpc = self.vpc(tenant, vpc_id).await?;
        let block = parse_block(ResourceKind::Subnet, "CidrBlock", cidr, 16, 28)?;
        let vpc_block: Ipv4Net = vpc.cidr.parse().map_err(|_| {
            Error::internal(format!("stored VPC block '{}' does not parse", vpc.cidr))
        })?;
        if !vpc_block.contains(&block) {
            return Err(Error::BadBlock {
                kind: ResourceKind::Subnet,
                block: cidr.to_string(),
            });
        }
        let zone = match zone {
            None => self.network.zones.first().cloned().unwrap_or_default(),
            Some(zone) if self.network.zones.iter().any(|z| z == zone) => zone.to_string(),
            Some(zone) => {
                return Err(Error::invalid(
                    "AvailabilityZone",
                    format!(
                        "Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
                        self.network.zones.join(", ")
                    ),
                ))
            }
        };
        let mut tx = self.db.begin_write().await?;
        let siblings = sqlx::query("SELECT cidr FROM subnets WHERE vpc_id = $1")
            .bind(vpc_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        for row in &siblings {
            let other: Ipv4Net = text(row, "cidr")?
                .parse()
                .map_err(|_| Error::internal("stored subnet block does not parse"))?;
            if overlaps(&block, &other) {
                return Err(Error::BlockConflict(cidr.to_string()));
            }
        }
        let id = insert_subnet(
            &mut tx,
            tenant,
            vpc_id,
            cidr,
            &zone,
            false,
            &self.network.segments,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, subnet = %id, vpc = %vpc_id, %cidr, "subnet created");
        self.subnet(tenant, &id).await
    }

    /// The tenant's subnets (after making the default VPC if missing), oldest first.
    pub async fn list_subnets(&self, tenant: &Tenant) -> Result<Vec<Subnet>> {
        self.ensure_default_vpc(tenant).await?;
        let rows = sqlx::query(&format!(
            "SELECT {SUBNET_COLUMNS} FROM subnets WHERE tenant_id = $1 ORDER BY created_at, id"
        ))
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let in_use = self.addresses_in_use(tenant).await?;
        let mut tags = self.tags_by_resource(tenant, ResourceKind::Subnet).await?;
        rows.iter()
            .map(|row| {
                let id = text(row, "id")?;
                let mut subnet = subnet_of(row, tenant, in_use.get(&id).copied().unwrap_or(0))?;
                subnet.tags = tags.remove(&id).unwrap_or_default();
                Ok(subnet)
            })
            .collect()
    }

    /// One of the tenant's subnets.
    pub async fn subnet(&self, tenant: &Tenant, id: &str) -> Result<Subnet> {
        let row = sqlx::query(&format!(
            "SELECT {SUBNET_COLUMNS} FROM subnets WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(id)
        .bind(&tenant.id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::Subnet, id))?;
        let in_use = self.addresses_in_use(tenant).await?;
        let mut subnet = subnet_of(&row, tenant, in_use.get(id).copied().unwrap_or(0))?;
        subnet.tags = self.tags_of(tenant, id).await?;
        Ok(subnet)
    }

    /// Sets whether instances launched in the subnet get a public address.
    pub async fn set_map_public_ip(&self, tenant: &Tenant, id: &str, on: bool) -> Result<()> {
        self.subnet(tenant, id).await?;
        sqlx::query("UPDATE subnets SET map_public_ip = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes a subnet no live instance uses; its segment id is free again.
    pub async fn delete_subnet(&self, tenant: &Tenant, id: &str) -> Result<()> {
        self.subnet(tenant, id).await?;
        let user =
            sqlx::query("SELECT id FROM instances WHERE subnet_id = $1 AND state <> 'terminated'")
                .bind(id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err)?;
        if let Some(row) = user {
            return Err(Error::DependencyViolation(format!(
                "The subnet '{id}' has dependencies and cannot be deleted: instance {} uses it",
                text(&row, "id")?
            )));
        }
        self.db
            .execute_each(
                &[
                    "DELETE FROM route_table_associations WHERE subnet_id = $1",
                    "DELETE FROM tags WHERE resource_id = $1",
                    "DELETE FROM subnets WHERE id = $1",
                ],
                id,
            )
            .await?;
        tracing::info!(tenant = %tenant.name, subnet = %id, "subnet deleted");
        Ok(())
    }

    /// Live instances per subnet: the addresses they hold.
    async fn addresses_in_use(&self, tenant: &Tenant) -> Result<HashMap<String, u32>> {
        let rows = sqlx::query(
            "SELECT subnet_id, COUNT(*) AS n FROM instances WHERE tenant_id = $1 AND subnet_id IS NOT NULL \
             AND state <> 'terminated' GROUP BY subnet_id",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| Ok((text(row, "subnet_id")?, int(row, "n")? as u32)))
            .collect()
    }
}
