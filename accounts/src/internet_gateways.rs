//! Internet gateways: a VPC reaches the outside (SNAT, elastic IPs) only
//! through the one attached to it.

use cloud::network::InternetGateway;
use cloud::{Error, ResourceKind, Result};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, is_unique_violation, now, opt_text, text};

pub(crate) async fn insert_internet_gateway(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    vpc_id: Option<&str>,
) -> Result<String> {
    let id = ResourceKind::InternetGateway.new_id();
    sqlx::query(
        "INSERT INTO internet_gateways (id, tenant_id, vpc_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(&tenant.id)
    .bind(vpc_id)
    .bind(now())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(id)
}

fn gateway_of(row: &AnyRow, tenant: &Tenant) -> Result<InternetGateway> {
    Ok(InternetGateway {
        id: text(row, "id")?,
        vpc_id: opt_text(row, "vpc_id")?,
        owner_id: tenant.account_id.clone(),
        tags: Vec::new(),
    })
}

impl Accounts {
    pub async fn create_internet_gateway(&self, tenant: &Tenant) -> Result<InternetGateway> {
        let mut conn = self.db.pool().acquire().await.map_err(db_err)?;
        let id = insert_internet_gateway(&mut conn, tenant, None).await?;
        drop(conn);
        self.internet_gateway(tenant, &id).await
    }

    /// The tenant's gateways, oldest first.
    pub async fn list_internet_gateways(&self, tenant: &Tenant) -> Result<Vec<InternetGateway>> {
        self.ensure_default_vpc(tenant).await?;
        let rows = sqlx::query(
            "SELECT id, vpc_id FROM internet_gateways WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::InternetGateway)
            .await?;
        rows.iter()
            .map(|row| {
                let mut gateway = gateway_of(row, tenant)?;
                gateway.tags = tags.remove(&gateway.id).unwrap_or_default();
                Ok(gateway)
            })
            .collect()
    }

    pub async fn internet_gateway(&self, tenant: &Tenant, id: &str) -> Result<InternetGateway> {
        let row = sqlx::query(
            "SELECT id, vpc_id FROM internet_gateways WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(&tenant.id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::InternetGateway, id))?;
        let mut gateway = gateway_of(&row, tenant)?;
        gateway.tags = self.tags_of(tenant, id).await?;
        Ok(gateway)
    }

    /// Attaches a detached gateway to a VPC that has none.
    pub async fn attach_internet_gateway(
        &self,
        tenant: &Tenant,
        id: &str,
        vpc_id: &str,
    ) -> Result<()> {
        let gateway = self.internet_gateway(tenant, id).await?;
        self.vpc(tenant, vpc_id).await?;
        if let Some(attached) = gateway.vpc_id {
            return Err(Error::AlreadyAssociated(format!(
                "resource {id} is already attached to network {attached}"
            )));
        }
        let updated = sqlx::query(
            "UPDATE internet_gateways SET vpc_id = $1 WHERE id = $2 AND vpc_id IS NULL",
        )
        .bind(vpc_id)
        .bind(id)
        .execute(self.db.pool())
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 1 => {
                tracing::info!(tenant = %tenant.name, gateway = %id, vpc = %vpc_id, "internet gateway attached");
                self.allocate_router_address(tenant, id).await?;
                self.network_changed().await;
                Ok(())
            }
            Ok(_) => Err(Error::AlreadyAssociated(format!(
                "resource {id} is already attached to a network"
            ))),
            Err(error) if is_unique_violation(&error) => Err(Error::AlreadyAssociated(format!(
                "network {vpc_id} already has an internet gateway attached"
            ))),
            Err(error) => Err(db_err(error)),
        }
    }

    /// Detaches a gateway from `vpc_id`; refused while elastic IPs of the VPC
    /// are associated (they would lose their way out).
    pub async fn detach_internet_gateway(
        &self,
        tenant: &Tenant,
        id: &str,
        vpc_id: &str,
    ) -> Result<()> {
        let gateway = self.internet_gateway(tenant, id).await?;
        self.vpc(tenant, vpc_id).await?;
        if gateway.vpc_id.as_deref() != Some(vpc_id) {
            return Err(Error::NotAttached(format!(
                "resource {id} is not attached to network {vpc_id}"
            )));
        }
        let mapped = sqlx::query(
            "SELECT a.public_ip FROM addresses a JOIN instances i ON i.id = a.instance_id WHERE i.vpc_id = $1",
        )
        .bind(vpc_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        if let Some(row) = mapped {
            return Err(Error::DependencyViolation(format!(
                "Network {vpc_id} has some mapped public address(es) ({}). Please unmap those public address(es) before detaching the gateway.",
                text(&row, "public_ip")?
            )));
        }
        sqlx::query("UPDATE internet_gateways SET vpc_id = NULL WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, gateway = %id, vpc = %vpc_id, "internet gateway detached");
        self.release_router_address(id).await?;
        self.network_changed().await;
        Ok(())
    }

    /// Deletes a detached gateway.
    pub async fn delete_internet_gateway(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let gateway = self.internet_gateway(tenant, id).await?;
        if gateway.vpc_id.is_some() {
            return Err(Error::DependencyViolation(format!(
                "The internetGateway '{id}' has dependencies and cannot be deleted."
            )));
        }
        self.db
            .execute_each(
                &[
                    "DELETE FROM tags WHERE resource_id = $1",
                    "DELETE FROM internet_gateways WHERE id = $1",
                ],
                id,
            )
            .await?;
        Ok(())
    }

    /// The gateway attached to a VPC, if any.
    pub(crate) async fn gateway_of_vpc(&self, vpc_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT id FROM internet_gateways WHERE vpc_id = $1")
            .bind(vpc_id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        row.map(|row| text(&row, "id")).transpose()
    }
}
