//! Elastic IP addresses: allocated from the site's public pool, associated
//! 1:1 with an instance's private address on a tenant network.

use cloud::network::Address;
use cloud::types::Tag;
use cloud::{Error, InstanceState, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::networks::free_public_address;
use crate::placement::{Chosen, PLACEMENT_TAG};
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, is_unique_violation, now, opt_text, text};

/// An address allocated on a remote target, in the target's IDs.
struct RemoteHome {
    target: String,
    allocation_id: String,
    association_id: Option<String>,
}

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

impl Accounts {
    /// Allocates an elastic IP where the policies say: this site's pool or a
    /// remote cloud (`tags` are the request's, for the policies). A site
    /// without remote targets takes it from its pool.
    pub async fn allocate_address(&self, tenant: &Tenant, tags: &[Tag]) -> Result<Address> {
        if self.placement.remotes().next().is_none() {
            return self.allocate_local_address(tenant).await;
        }
        let mut request = policies::Request::new(
            &tenant.name,
            "AllocateAddress",
            policies::ResourceKind::Network,
        )
        .with_region(&self.region);
        for tag in tags {
            request = request.with_tag(&tag.key, &tag.value);
        }
        let (address, target, explanation) = self
            .place(&request, |chosen| async move {
                match chosen {
                    // An empty or missing pool is this site being full: fail over.
                    Chosen::Local => match self.allocate_local_address(tenant).await {
                        Err(Error::AddressPoolExhausted) => Err(Error::Unavailable(
                            "this site's public address pool is used up or not configured".into(),
                        )),
                        other => other,
                    },
                    Chosen::Remote(remote) => {
                        let (public_ip, remote_id) = remote.allocate_address().await?;
                        self.record_remote_address(tenant, remote.name(), &public_ip, &remote_id)
                            .await
                            .inspect_err(|_| {
                                let remote = remote.clone();
                                let remote_id = remote_id.clone();
                                // Not recorded: give the address back rather than leak it.
                                tokio::spawn(async move {
                                    let _ = remote.release_address(&remote_id).await;
                                });
                            })
                    }
                }
            })
            .await?;
        let mut tx = self.db.begin_write().await?;
        let placed = [Tag {
            key: PLACEMENT_TAG.into(),
            value: target.clone(),
        }];
        crate::tags::insert_tags(
            &mut tx,
            tenant,
            &address.allocation_id,
            ResourceKind::ElasticIp,
            &placed,
        )
        .await?;
        Self::record_placement(
            &mut tx,
            tenant,
            &address.allocation_id,
            "address",
            &target,
            &explanation,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        self.address(tenant, &address.allocation_id).await
    }

    /// Records an address a remote target allocated.
    async fn record_remote_address(
        &self,
        tenant: &Tenant,
        target: &str,
        public_ip: &str,
        remote_id: &str,
    ) -> Result<Address> {
        let id = ResourceKind::ElasticIp.new_id();
        sqlx::query(
            "INSERT INTO addresses (allocation_id, tenant_id, public_ip, created_at, target, remote_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&tenant.id)
        .bind(public_ip)
        .bind(now())
        .bind(target)
        .bind(remote_id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, allocation = %id, %target, address = public_ip, "address allocated");
        self.address(tenant, &id).await
    }

    /// Where an address lives, when a remote target allocated it.
    async fn remote_home(&self, allocation_id: &str) -> Result<Option<RemoteHome>> {
        let row = sqlx::query(
            "SELECT target, remote_id, remote_association_id FROM addresses WHERE allocation_id = $1",
        )
        .bind(allocation_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let (Some(target), Some(remote_id)) =
            (opt_text(&row, "target")?, opt_text(&row, "remote_id")?)
        else {
            return Ok(None);
        };
        Ok(Some(RemoteHome {
            target,
            allocation_id: remote_id,
            association_id: opt_text(&row, "remote_association_id")?,
        }))
    }

    /// Takes the next free address of the site's pool.
    async fn allocate_local_address(&self, tenant: &Tenant) -> Result<Address> {
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
        if address.instance_id.is_some() && !allow_reassociation {
            return Err(Error::AlreadyAssociated(format!(
                "resource {} is already associated with associate-id {}",
                address.allocation_id,
                address.association_id.clone().unwrap_or_default()
            )));
        }
        let remote_association = match self.remote_home(&address.allocation_id).await? {
            Some(home) => {
                if home.target != instance.target {
                    return Err(Error::invalid(
                        "InstanceId",
                        format!(
                            "the address {} lives on target {} and the instance {instance_id} on target {}; \
                             an elastic IP associates only with instances on its own cloud",
                            address.allocation_id, home.target, instance.target
                        ),
                    ));
                }
                let remote = self.placement.remote(&home.target)?;
                let instance_remote = self.remote_id_of(tenant, instance_id).await?;
                Some(
                    remote
                        .associate_address(
                            &home.allocation_id,
                            &instance_remote,
                            allow_reassociation,
                        )
                        .await?,
                )
            }
            None => None,
        };
        let private_ip = match remote_association {
            Some(_) => instance.private_ip.clone(),
            None => self.local_association_check(&instance, instance_id).await?,
        };
        let association = ResourceKind::AddressAssociation.new_id();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE addresses SET association_id = NULL, instance_id = NULL, private_ip = NULL, remote_association_id = NULL WHERE instance_id = $1")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE addresses SET association_id = $1, instance_id = $2, private_ip = $3, remote_association_id = $4 WHERE allocation_id = $5")
            .bind(&association)
            .bind(instance_id)
            .bind(&private_ip)
            .bind(&remote_association)
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
        if remote_association.is_none() {
            self.network_changed().await;
        }
        Ok(association)
    }

    /// What a local association needs: an instance on one of this site's
    /// tenant networks whose VPC has an internet gateway. Returns its private
    /// address.
    async fn local_association_check(
        &self,
        instance: &crate::instances::Instance,
        instance_id: &str,
    ) -> Result<Option<String>> {
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
        Ok(Some(private_ip))
    }

    /// Unmaps an address (by association ID, or by public address).
    pub async fn disassociate_address(&self, tenant: &Tenant, association: &str) -> Result<()> {
        let row = sqlx::query(
            "SELECT allocation_id FROM addresses \
             WHERE tenant_id = $1 AND (association_id = $2 OR (public_ip = $2 AND association_id IS NOT NULL))",
        )
        .bind(&tenant.id)
        .bind(association)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::AddressAssociation, association))?;
        let allocation_id = text(&row, "allocation_id")?;
        let remote = self.remote_home(&allocation_id).await?;
        if let Some(RemoteHome {
            target,
            association_id: Some(remote_association),
            ..
        }) = &remote
        {
            self.placement
                .remote(target)?
                .disassociate_address(remote_association)
                .await?;
        }
        let updated = sqlx::query(
            "UPDATE addresses SET association_id = NULL, instance_id = NULL, private_ip = NULL, remote_association_id = NULL \
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
        if remote.is_none() {
            self.network_changed().await;
        }
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
        if let Some(home) = self.remote_home(&address.allocation_id).await? {
            self.placement
                .remote(&home.target)?
                .release_address(&home.allocation_id)
                .await?;
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
            .execute_each(&["UPDATE addresses SET association_id = NULL, instance_id = NULL, private_ip = NULL, remote_association_id = NULL WHERE instance_id = $1"], instance_id)
            .await
    }
}
