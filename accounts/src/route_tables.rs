//! Route tables: the VPC-local route every table has, plus routes through
//! the VPC's internet gateway. A subnet follows the table it is associated
//! with, or the VPC's main table.

use std::collections::HashMap;

use cloud::network::{parse_block, Route, RouteTable, RouteTableAssociation};
use cloud::{Error, ResourceKind, Result};
use sqlx::AnyConnection;

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, is_unique_violation, now, text};

/// Inserts a table with the VPC's `local` route; returns its ID.
pub(crate) async fn insert_route_table(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    vpc_id: &str,
    vpc_cidr: &str,
    main: bool,
) -> Result<String> {
    let id = ResourceKind::RouteTable.new_id();
    sqlx::query("INSERT INTO route_tables (id, tenant_id, vpc_id, main, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(&tenant.id)
        .bind(vpc_id)
        .bind(i64::from(main))
        .bind(now())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO routes (route_table_id, destination, gateway_id) VALUES ($1, $2, 'local')",
    )
    .bind(&id)
    .bind(vpc_cidr)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(id)
}

impl Accounts {
    /// The tenant's route tables with routes and associations, oldest first.
    pub async fn list_route_tables(&self, tenant: &Tenant) -> Result<Vec<RouteTable>> {
        self.ensure_default_vpc(tenant).await?;
        let tables = sqlx::query("SELECT id, vpc_id, main FROM route_tables WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(&tenant.id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        let routes = sqlx::query(
            "SELECT r.route_table_id, r.destination, r.gateway_id FROM routes r \
             JOIN route_tables t ON t.id = r.route_table_id WHERE t.tenant_id = $1 ORDER BY r.destination",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let associations = sqlx::query(
            "SELECT a.id, a.route_table_id, a.subnet_id FROM route_table_associations a \
             JOIN route_tables t ON t.id = a.route_table_id WHERE t.tenant_id = $1 ORDER BY a.id",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut routes_of: HashMap<String, Vec<Route>> = HashMap::new();
        for row in &routes {
            routes_of
                .entry(text(row, "route_table_id")?)
                .or_default()
                .push(Route {
                    destination: text(row, "destination")?,
                    gateway_id: text(row, "gateway_id")?,
                });
        }
        let mut associations_of: HashMap<String, Vec<RouteTableAssociation>> = HashMap::new();
        for row in &associations {
            associations_of
                .entry(text(row, "route_table_id")?)
                .or_default()
                .push(RouteTableAssociation {
                    id: text(row, "id")?,
                    subnet_id: text(row, "subnet_id")?,
                });
        }
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::RouteTable)
            .await?;
        tables
            .iter()
            .map(|row| {
                let id = text(row, "id")?;
                Ok(RouteTable {
                    vpc_id: text(row, "vpc_id")?,
                    main: int(row, "main")? != 0,
                    routes: routes_of.remove(&id).unwrap_or_default(),
                    associations: associations_of.remove(&id).unwrap_or_default(),
                    owner_id: tenant.account_id.clone(),
                    tags: tags.remove(&id).unwrap_or_default(),
                    id,
                })
            })
            .collect()
    }

    /// One of the tenant's route tables.
    pub async fn route_table(&self, tenant: &Tenant, id: &str) -> Result<RouteTable> {
        self.list_route_tables(tenant)
            .await?
            .into_iter()
            .find(|table| table.id == id)
            .ok_or_else(|| Error::not_found(ResourceKind::RouteTable, id))
    }

    /// A new (non-main) table in `vpc_id`, holding only the local route.
    pub async fn create_route_table(&self, tenant: &Tenant, vpc_id: &str) -> Result<RouteTable> {
        let vpc = self.vpc(tenant, vpc_id).await?;
        let mut tx = self.db.begin_write().await?;
        let id = insert_route_table(&mut tx, tenant, vpc_id, &vpc.cidr, false).await?;
        tx.commit().await.map_err(db_err)?;
        self.route_table(tenant, &id).await
    }

    /// Adds a route to `gateway_id`, an internet gateway attached to the table's VPC.
    pub async fn create_route(
        &self,
        tenant: &Tenant,
        table_id: &str,
        destination: &str,
        gateway_id: &str,
    ) -> Result<()> {
        let table = self.route_table(tenant, table_id).await?;
        parse_block(
            ResourceKind::Route,
            "DestinationCidrBlock",
            destination,
            0,
            32,
        )?;
        self.attached_gateway_of(tenant, &table, gateway_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO routes (route_table_id, destination, gateway_id) VALUES ($1, $2, $3)",
        )
        .bind(table_id)
        .bind(destination)
        .bind(gateway_id)
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => {
                self.network_changed().await;
                Ok(())
            }
            Err(error) if is_unique_violation(&error) => {
                Err(Error::RouteExists(destination.to_string()))
            }
            Err(error) => Err(db_err(error)),
        }
    }

    /// Points the existing route for `destination` at `gateway_id`, an
    /// internet gateway attached to the table's VPC (the local route stays).
    pub async fn replace_route(
        &self,
        tenant: &Tenant,
        table_id: &str,
        destination: &str,
        gateway_id: &str,
    ) -> Result<()> {
        let table = self.route_table(tenant, table_id).await?;
        let route = table
            .routes
            .iter()
            .find(|route| route.destination == destination)
            .ok_or_else(|| {
                Error::invalid(
                    "DestinationCidrBlock",
                    format!("There is no route defined for '{destination}' in the route table. Use CreateRoute instead."),
                )
            })?;
        if route.gateway_id == "local" {
            return Err(Error::invalid(
                "DestinationCidrBlock",
                format!("cannot replace local route {destination} in route table {table_id}"),
            ));
        }
        self.attached_gateway_of(tenant, &table, gateway_id).await?;
        sqlx::query(
            "UPDATE routes SET gateway_id = $1 WHERE route_table_id = $2 AND destination = $3",
        )
        .bind(gateway_id)
        .bind(table_id)
        .bind(destination)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        self.network_changed().await;
        Ok(())
    }

    /// Confirms `gateway_id` is an internet gateway attached to the table's VPC.
    async fn attached_gateway_of(
        &self,
        tenant: &Tenant,
        table: &RouteTable,
        gateway_id: &str,
    ) -> Result<()> {
        let gateway = self.internet_gateway(tenant, gateway_id).await?;
        if gateway.vpc_id.as_deref() != Some(table.vpc_id.as_str()) {
            return Err(Error::invalid(
                "GatewayId",
                format!(
                    "route table {} and network gateway {gateway_id} belong to different networks",
                    table.id
                ),
            ));
        }
        Ok(())
    }

    /// Removes the route for `destination` (the VPC's local route stays).
    pub async fn delete_route(
        &self,
        tenant: &Tenant,
        table_id: &str,
        destination: &str,
    ) -> Result<()> {
        let table = self.route_table(tenant, table_id).await?;
        let route = table
            .routes
            .iter()
            .find(|route| route.destination == destination)
            .ok_or_else(|| {
                Error::not_found(
                    ResourceKind::Route,
                    format!("no route with destination-cidr-block {destination} in route table {table_id}"),
                )
            })?;
        if route.gateway_id == "local" {
            return Err(Error::invalid(
                "DestinationCidrBlock",
                format!("cannot remove local route {destination} in route table {table_id}"),
            ));
        }
        sqlx::query("DELETE FROM routes WHERE route_table_id = $1 AND destination = $2")
            .bind(table_id)
            .bind(destination)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        self.network_changed().await;
        Ok(())
    }

    /// Makes `subnet_id` follow `table_id` instead of the main table; returns the association ID.
    pub async fn associate_route_table(
        &self,
        tenant: &Tenant,
        table_id: &str,
        subnet_id: &str,
    ) -> Result<String> {
        let table = self.route_table(tenant, table_id).await?;
        let subnet = self.subnet(tenant, subnet_id).await?;
        if subnet.vpc_id != table.vpc_id {
            return Err(Error::invalid(
                "SubnetId",
                format!("the route table {table_id} and subnet {subnet_id} belong to different networks"),
            ));
        }
        let id = ResourceKind::RouteTableAssociation.new_id();
        let inserted = sqlx::query("INSERT INTO route_table_associations (id, route_table_id, subnet_id) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(table_id)
            .bind(subnet_id)
            .execute(self.db.pool())
            .await;
        match inserted {
            Ok(_) => {
                self.network_changed().await;
                Ok(id)
            }
            Err(error) if is_unique_violation(&error) => Err(Error::AlreadyAssociated(format!(
                "the specified association for route table {table_id} conflicts with an existing association"
            ))),
            Err(error) => Err(db_err(error)),
        }
    }

    /// Moves an association to `table_id` (a table of the same VPC) and
    /// returns its new ID: a subnet's, or the VPC's main association, which
    /// makes `table_id` the main table.
    pub async fn replace_route_table_association(
        &self,
        tenant: &Tenant,
        association_id: &str,
        table_id: &str,
    ) -> Result<String> {
        let tables = self.list_route_tables(tenant).await?;
        let target = tables
            .iter()
            .find(|t| t.id == table_id)
            .ok_or_else(|| Error::not_found(ResourceKind::RouteTable, table_id))?;
        let current = tables
            .iter()
            .find(|t| {
                t.main_association_id().as_deref() == Some(association_id)
                    || t.associations.iter().any(|a| a.id == association_id)
            })
            .ok_or_else(|| Error::not_found(ResourceKind::RouteTableAssociation, association_id))?;
        if current.vpc_id != target.vpc_id {
            return Err(Error::invalid(
                "RouteTableId",
                format!(
                    "the route table {table_id} and association {association_id} belong to different networks"
                ),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let new_id = if current.main_association_id().as_deref() == Some(association_id) {
            for (id, main) in [(&current.id, false), (&target.id, true)] {
                sqlx::query("UPDATE route_tables SET main = $1 WHERE id = $2 AND tenant_id = $3")
                    .bind(i64::from(main))
                    .bind(id)
                    .bind(&tenant.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            let mut made_main = target.clone();
            made_main.main = true;
            made_main
                .main_association_id()
                .ok_or_else(|| Error::internal("a main table without its association"))?
        } else {
            let new_id = ResourceKind::RouteTableAssociation.new_id();
            sqlx::query(
                "UPDATE route_table_associations SET id = $1, route_table_id = $2 WHERE id = $3",
            )
            .bind(&new_id)
            .bind(table_id)
            .bind(association_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            new_id
        };
        tx.commit().await.map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, association = association_id, table = table_id, "route table association replaced");
        self.network_changed().await;
        Ok(new_id)
    }

    /// Returns a subnet to the main table.
    pub async fn disassociate_route_table(
        &self,
        tenant: &Tenant,
        association_id: &str,
    ) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM route_table_associations WHERE id = $1 AND route_table_id IN \
             (SELECT id FROM route_tables WHERE tenant_id = $2)",
        )
        .bind(association_id)
        .bind(&tenant.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(
                ResourceKind::RouteTableAssociation,
                association_id,
            ));
        }
        self.network_changed().await;
        Ok(())
    }

    /// Deletes a table that is neither main nor associated.
    pub async fn delete_route_table(&self, tenant: &Tenant, table_id: &str) -> Result<()> {
        let table = self.route_table(tenant, table_id).await?;
        if table.main || !table.associations.is_empty() {
            return Err(Error::DependencyViolation(format!(
                "The routeTable '{table_id}' has dependencies and cannot be deleted."
            )));
        }
        self.db
            .execute_each(
                &[
                    "DELETE FROM tags WHERE resource_id = $1",
                    "DELETE FROM route_tables WHERE id = $1",
                ],
                table_id,
            )
            .await?;
        Ok(())
    }

    /// The routes a subnet follows: its associated table's, else the main table's.
    pub async fn routes_of_subnet(&self, tenant: &Tenant, subnet_id: &str) -> Result<Vec<Route>> {
        let subnet = self.subnet(tenant, subnet_id).await?;
        let tables = self.list_route_tables(tenant).await?;
        let table = tables
            .iter()
            .find(|t| t.associations.iter().any(|a| a.subnet_id == subnet_id))
            .or_else(|| tables.iter().find(|t| t.vpc_id == subnet.vpc_id && t.main))
            .ok_or_else(|| {
                Error::internal(format!("VPC {} has no main route table", subnet.vpc_id))
            })?;
        Ok(table.routes.clone())
    }
}
