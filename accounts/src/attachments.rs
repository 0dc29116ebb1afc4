//! Plugging this site's instances into tenant subnets: which subnet a launch
//! goes to, the addresses (and MACs) its instances get, reserved before the
//! launch so concurrent launches never share one, and released with them.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use cloud::network::{instance_addresses, Subnet};
use cloud::types::SecurityGroup;
use cloud::{Compute, Error, InstanceView, Interface, LaunchSpec, NetworkAttachment, Result};
use ipnet::Ipv4Net;

use crate::instances::LaunchRequest;
use crate::launching::{LaunchGuard, LaunchingPort};
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, is_unique_violation, now, text};

/// A launch's place on a tenant subnet.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub subnet: Subnet,
    pub network: NetworkAttachment,
}

/// A local launch that joined a subnet: where, and with which groups.
pub(crate) struct Attached {
    pub attachment: Attachment,
    pub groups: Vec<String>,
    /// Keeps its ports in the network plan until its instances are recorded.
    pub launching: LaunchGuard,
}

/// The MAC of an address on a subnet: locally administered, unique within
/// the subnet because the address is.
pub(crate) fn mac_of(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

impl Accounts {
    /// Whether this site's instances join tenant subnets.
    pub fn tenant_networks_available(&self) -> bool {
        self.network.data_plane_missing.is_none()
    }

    /// The subnet a local launch of `count` instances goes to — the one
    /// named, else the default subnet of the zone asked for (or the first
    /// zone) — with addresses reserved for each. `None` when this site has
    /// no tenant networks and no subnet was named.
    pub(crate) async fn reserve_attachment(
        &self,
        tenant: &Tenant,
        subnet_id: Option<&str>,
        zone: Option<&str>,
        count: u32,
    ) -> Result<Option<Attachment>> {
        if let Some(reason) = &self.network.data_plane_missing {
            return match subnet_id {
                None => Ok(None),
                Some(_) => Err(Error::Unavailable(format!(
                    "this site cannot plug instances into tenant subnets: {reason}"
                ))),
            };
        }
        let subnet = match subnet_id {
            Some(id) => self.subnet(tenant, id).await?,
            None => {
                let vpc = self.ensure_default_vpc(tenant).await?;
                let wanted = zone
                    .map(str::to_owned)
                    .or_else(|| self.network.zones.first().cloned());
                self.list_subnets(tenant)
                    .await?
                    .into_iter()
                    .find(|s| {
                        s.vpc_id == vpc
                            && s.is_default
                            && Some(&s.availability_zone) == wanted.as_ref()
                    })
                    .ok_or_else(|| {
                        Error::invalid(
                            "Placement.AvailabilityZone",
                            format!(
                                "the default VPC has no subnet in zone {}",
                                wanted.unwrap_or_default()
                            ),
                        )
                    })?
            }
        };
        if let Some(zone) = zone {
            if zone != subnet.availability_zone {
                return Err(Error::invalid(
                    "Placement.AvailabilityZone",
                    format!(
                        "subnet {} is in {}, not in {zone}",
                        subnet.id, subnet.availability_zone
                    ),
                ));
            }
        }
        let block: Ipv4Net = subnet
            .cidr
            .parse()
            .map_err(|_| Error::internal("stored subnet block does not parse"))?;
        // A default VPC's router gets its public address at the first launch.
        self.ensure_router_address(tenant, &subnet.vpc_id).await?;
        let addresses = self.reserve_addresses(&subnet.id, &block, count).await?;
        Ok(Some(Attachment {
            network: NetworkAttachment {
                bridge: format!("skb{}", subnet.segment),
                mtu: self.network.mtu,
                interfaces: addresses
                    .into_iter()
                    .map(|ip| Interface {
                        mac: mac_of(ip),
                        ip: ip.to_string(),
                    })
                    .collect(),
            },
            subnet,
        }))
    }

    /// Runs a local launch on its tenant subnet: reserves the addresses,
    /// checks the groups belong to the subnet's VPC, builds the subnet on the
    /// hosts (the bridge and the DHCP leases must exist before the guests),
    /// then launches; a failure gives the addresses back. Without tenant
    /// networks (and no subnet asked for) the launch uses the site's network.
    pub(crate) async fn run_attached(
        &self,
        tenant: &Tenant,
        compute: &dyn Compute,
        spec: LaunchSpec,
        launch: &LaunchRequest,
        groups: &[SecurityGroup],
    ) -> Result<(Vec<InstanceView>, Option<Attached>)> {
        let attachment = self
            .reserve_attachment(
                tenant,
                launch.subnet_id.as_deref(),
                launch.availability_zone.as_deref(),
                launch.max_count,
            )
            .await?;
        let Some(attachment) = attachment else {
            return Ok((compute.run_instances(&spec).await?, None));
        };
        let prepared = async {
            let groups = self
                .vpc_groups(tenant, &attachment.subnet.vpc_id, groups)
                .await?;
            // The guests' ports (their groups' rules) are on the hosts before they start.
            let launching = self.launching.add(launching_ports(&attachment, &groups)?);
            self.sync_network().await?;
            Ok::<_, Error>((groups, launching))
        }
        .await;
        let (groups, launching) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                self.release_reserved(&attachment).await?;
                return Err(error);
            }
        };
        let spec = LaunchSpec {
            availability_zone: Some(attachment.subnet.availability_zone.clone()),
            network: Some(attachment.network.clone()),
            ..spec
        };
        match compute.run_instances(&spec).await {
            Ok(views) => Ok((
                views,
                Some(Attached {
                    attachment,
                    groups,
                    launching,
                }),
            )),
            Err(error) => {
                drop(launching);
                self.release_reserved(&attachment).await?;
                self.network_changed().await;
                Err(error)
            }
        }
    }

    /// Reserves the `count` lowest free addresses of a subnet.
    async fn reserve_addresses(
        &self,
        subnet_id: &str,
        block: &Ipv4Net,
        count: u32,
    ) -> Result<Vec<Ipv4Addr>> {
        for _ in 0..5 {
            let mut tx = self.db.begin_write().await?;
            let taken: HashSet<Ipv4Addr> =
                sqlx::query("SELECT ip FROM subnet_addresses WHERE subnet_id = $1")
                    .bind(subnet_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .filter_map(|row| text(row, "ip").ok()?.parse().ok())
                    .collect();
            let free: Vec<Ipv4Addr> = instance_addresses(block)
                .filter(|ip| !taken.contains(ip))
                .take(count as usize)
                .collect();
            if free.len() < count as usize {
                return Err(Error::Unavailable(format!(
                    "subnet {subnet_id} has {} free addresses, {count} needed",
                    free.len()
                )));
            }
            let mut clash = false;
            for ip in &free {
                let inserted = sqlx::query(
                    "INSERT INTO subnet_addresses (subnet_id, ip, reserved_at) VALUES ($1, $2, $3)",
                )
                .bind(subnet_id)
                .bind(ip.to_string())
                .bind(now())
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(error) if is_unique_violation(&error) => {
                        clash = true;
                        break;
                    }
                    Err(error) => return Err(db_err(error)),
                }
            }
            if clash {
                continue;
            }
            tx.commit().await.map_err(db_err)?;
            return Ok(free);
        }
        Err(Error::Unavailable(
            "too many concurrent launches into one subnet; try again".into(),
        ))
    }

    /// Gives back addresses a failed launch had reserved.
    pub(crate) async fn release_reserved(&self, attachment: &Attachment) -> Result<()> {
        for interface in &attachment.network.interfaces {
            sqlx::query("DELETE FROM subnet_addresses WHERE subnet_id = $1 AND ip = $2 AND instance_id IS NULL")
                .bind(&attachment.subnet.id)
                .bind(&interface.ip)
                .execute(self.db.pool())
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Frees the subnet address of an instance that is gone.
    pub(crate) async fn release_subnet_address(&self, instance_id: &str) -> Result<()> {
        self.db
            .execute_each(
                &["DELETE FROM subnet_addresses WHERE instance_id = $1"],
                instance_id,
            )
            .await
    }

    /// Drops reservations no instance claimed within `grace_secs` (a crash
    /// between reserving and recording); returns how many.
    pub(crate) async fn sweep_reservations(&self, grace_secs: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM subnet_addresses WHERE instance_id IS NULL AND reserved_at < $1",
        )
        .bind(now() - grace_secs)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

/// The ports a launch's instances will have, one per reserved address.
fn launching_ports(attachment: &Attachment, groups: &[String]) -> Result<Vec<LaunchingPort>> {
    let segment = u32::try_from(attachment.subnet.segment)
        .map_err(|_| Error::internal("a segment id out of range"))?;
    attachment
        .network
        .interfaces
        .iter()
        .map(|interface| {
            Ok(LaunchingPort {
                vpc: attachment.subnet.vpc_id.clone(),
                segment,
                ip: interface
                    .ip
                    .parse()
                    .map_err(|_| Error::internal("a reserved address does not parse"))?,
                groups: groups.to_vec(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_follow_addresses() {
        assert_eq!(mac_of(Ipv4Addr::new(172, 31, 0, 4)), "02:00:ac:1f:00:04");
    }
}
