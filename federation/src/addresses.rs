//! Elastic IP addresses: allocated from the site's public pool, associated
//! 1:1 with an instance's private address on a tenant network.

use cloud::network::Address;
use cloud::{Error, InstanceState, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::db::{db_err, is_unique_violation, now, opt_text, text};
use crate::networks::free_public_address;
use crate::tenants::Tenant;
use crate::Federation;

const ADDRESS_COLUMNS: &str = "allocation_id, public_ip, association_id, instance_id, private_ip";

fn address_of(row: &AnyRow, tenant: &Tenant) -> Result<Address> {
    Ok(Address {
        allocation_id: text(row, "allocation_id")?,
        public_ip: text(row, "public_ip")?,
        association_id: opt_text(row, "association_id")?,
        instance_id: opt_text(row, "instance_id")?,
        private_ip: opt_text(row, "private_ip")?,
        owner_id: tenant.account_id.clone(),
        tags: Vec::new(),
    })
}

impl Federation {
    /// Takes the next free address of the site's pool.
    pub async fn allocate_address(&self, tenant: &Tenant) -> Result<Address> {
        let pool = self
            .network
            .public_pool
            .ok_or(Error::AddressPoolExhausted)?;
        // Two allocations racing for one address: the unique column stops the
        // second, which then takes the next one.
        for _ in 0..5 {
            let mut tx = self.db.begin_write().await?;
            let address = free_public_address(&mut tx, &pool).await?;
            let id = ResourceKind::ElasticIp.new_id();
            let inserted = sqlx::query("INSERT INTO addresses (allocation_id, tenant_id, public_ip, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(&tenant.id)
                .bind(address.to_string())
                .bind(now())
                .execute(&mut *tx)
                .await;
            match inserted {
                Ok(_) => {
                    tx.commit().await.map_err(db_err)?;
                    tracing::info!(tenant = %tenant.name, allocation = %id, %address, "address allocated");
                    return self.address(tenant, &id).await;
                }
                Err(error) if is_unique_violation(&error) => continue,
                Err(error) => return Err(db_err(error)),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent address allocations; try again".into(),
        ))
    }

    /// The tenant's addresses, by public address.
    pub async fn list_addresses(&self, tenant: &Tenant) -> Result<Vec<Address>> {
        let rows = sqlx::query(&format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE tenant_id = $1 AND kind = 'elastic' ORDER BY public_ip"
        ))
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::ElasticIp)
            .await?;
        rows.iter()
            .map(|row| {
                let mut address = address_of(row, tenant)?;
                address.tags = tags.remove(&address.allocation_id).unwrap_or_default();
                Ok(address)
            })
            .collect()
    }

    /// One address, by allocation ID or by the public address itself.
    pub async fn address(&self, tenant: &Tenant, id_or_ip: &str) -> Result<Address> {
        let row = sqlx::query(&format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE tenant_id = $1 AND kind = 'elastic' AND (allocation_id = $2 OR public_ip = $2)"
        ))
        .bind(&tenant.id)
        .bind(id_or_ip)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::ElasticIp, id_or_ip))?;
        let mut address = address_of(&row, tenant)?;
        address.tags = self.tags_of(tenant, &address.allocation_id).await?;
        Ok(address)
    }

    /// Maps the address to a live instance on one of this site's tenant
    /// networks whose VPC has an internet gateway. An address associated
    /// elsewhere moves only with `allow_reassociation`; an instance that had
    /// another address gives it up. Returns the association ID.
    pub async fn associate_address(
        &self,
        tenant: &Tenant,
        allocation_id: &str,
        instance_id: &str,
        allow_reassociation: bool,
    ) -> Result<String> {
        let address = self.address(tenant, allocation_id).await?;
        let instance = self
            .instance_record(tenant, instance_id)
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Instance, instance_id))?;
        if instance.state == InstanceState::Terminated {
            return Err(Error::IncorrectState(format!(
                "The instance '{instance_id}' is not in a valid state for this operation."
            )));
        }
        let (Some(vpc_id), Some(private_ip)) =
            (instance.vpc_id.clone(), instance.private_ip.clone())
        else {
            return Err(Error::invalid(
                "InstanceId",
                format!("the instance {instance_id} is not on one of this site's tenant networks; elastic IPs map only to those"),
            ));
        };
        if self.gateway_of_vpc(&vpc_id).await?.is_none() {
            return Err(Error::NotAttached(format!(
                "Network {vpc_id} is not attached to any internet gateway"
            )));
        }
        if address.instance_id.is_some() && !allow_reassociation {
            return Err(Error::AlreadyAssociated(format!(
                "resource {} is already associated with associate-id {}",
                address.allocation_id,
                address.association_id.unwrap_or_default()
            )));
        }
        let association = ResourceKind::AddressAssociation.new_id();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE addresses SET association_id = NULL, instance_id = NULL, private_ip = NULL WHERE instance_id = $1")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE addresses SET association_id = $1, instance_id = $2, private_ip = $3 WHERE allocation_id = $4")
            .bind(&association)
            .bind(instance_id)
            .bind(&private_ip)
            .bind(&address.allocation_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.instance_view.touch(
            [Some(instance_id), address.instance_id.as_deref()]
                .into_iter()
                .flatten(),
        );
        tracing::info!(tenant = %tenant.name, address = %address.public_ip, instance = %instance_id, "address associated");
        self.network_changed().await;
        Ok(association)
    }

    /// Unmaps an address (by association ID, or by public address).
    pub async fn disassociate_address(&self, tenant: &Tenant, association: &str) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE addresses SET association_id = NULL, instance_id = NULL, private_ip = NULL \
             WHERE tenant_id = $1 AND (association_id = $2 OR (public_ip = $2 AND association_id IS NOT NULL))",
        )
        .bind(&tenant.id)
        .bind(association)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            return Err(Error::not_found(
                ResourceKind::AddressAssociation,
                association,
            ));
        }
        // Which instance lost its address is not known here.
        self.instance_view.forget(&tenant.id);
        self.network_changed().await;
        Ok(())
    }

    /// Returns an unassociated address to the pool.
    pub async fn release_address(&self, tenant: &Tenant, allocation_id: &str) -> Result<()> {
        let address = self.address(tenant, allocation_id).await?;
        if address.association_id.is_some() {
            return Err(Error::AddressInUse(format!(
                "Address {} is in use.",
                address.public_ip
            )));
        }
        self.db
            .execute_each(
                &[
                    "DELETE FROM tags WHERE resource_id = $1",
                    "DELETE FROM addresses WHERE allocation_id = $1 AND association_id IS NULL",
                ],
                &address.allocation_id,
            )
            .await?;
        tracing::info!(tenant = %tenant.name, address = %address.public_ip, "address released");
        Ok(())
    }

    /// Gives the router of a VPC whose gateway was just attached a public
    /// address (outbound traffic leaves as it). Without a pool, or with the
    /// pool used up, the VPC simply has no way out (logged). Default VPCs get
    /// theirs at their first launch (`ensure_router_address`), so tenants
    /// that never launch here take no address from the pool.
    pub(crate) async fn allocate_router_address(
        &self,
        tenant: &Tenant,
        gateway_id: &str,
    ) -> Result<()> {
        let Some(pool) = self.network.public_pool else {
            return Ok(());
        };
        for _ in 0..5 {
            let mut tx = self.db.begin_write().await?;
            let address = match free_public_address(&mut tx, &pool).await {
                Ok(address) => address,
                Err(Error::AddressPoolExhausted) => {
                    tracing::warn!(gateway = %gateway_id, "the public pool is used up: this VPC's router gets no public address");
                    return Ok(());
                }
                Err(error) => return Err(error),
            };
            let inserted = sqlx::query("INSERT INTO addresses (allocation_id, kind, tenant_id, public_ip, created_at) VALUES ($1, 'router', $2, $3, $4)")
                .bind(gateway_id)
                .bind(&tenant.id)
                .bind(address.to_string())
                .bind(now())
                .execute(&mut *tx)
                .await;
            match inserted {
                Ok(_) => return tx.commit().await.map_err(db_err),
                Err(error) if is_unique_violation(&error) => continue,
                Err(error) => return Err(db_err(error)),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent address allocations; try again".into(),
        ))
    }

    /// Gives the router of `vpc_id` its public address if its gateway has none yet.
    pub(crate) async fn ensure_router_address(&self, tenant: &Tenant, vpc_id: &str) -> Result<()> {
        let Some(gateway) = self.gateway_of_vpc(vpc_id).await? else {
            return Ok(());
        };
        let has_address =
            sqlx::query("SELECT allocation_id FROM addresses WHERE allocation_id = $1")
                .bind(&gateway)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err)?
                .is_some();
        if has_address {
            return Ok(());
        }
        self.allocate_router_address(tenant, &gateway).await
    }

    /// Returns a detached gateway's router address to the pool.
    pub(crate) async fn release_router_address(&self, gateway_id: &str) -> Result<()> {
        self.db
            .execute_each(
                &["DELETE FROM addresses WHERE allocation_id = $1 AND kind = 'router'"],
                gateway_id,
            )
            .await
    }

    /// Frees the address of an instance that is gone.
    pub(crate) async fn release_instance_address(&self, instance_id: &str) -> Result<()> {
        self.db
            .execute_each(&["UPDATE addresses SET association_id = NULL, instance_id = NULL, private_ip = NULL WHERE instance_id = $1"], instance_id)
            .await
    }
}
