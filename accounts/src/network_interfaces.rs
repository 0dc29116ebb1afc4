//! Network interfaces: each of this site's instances on a tenant subnet has
//! one, its primary, which exists as long as the instance does. Its ID is
//! derived from the instance's, so it needs no record of its own.

use std::collections::HashMap;

use cloud::network::NetworkInterface;
use cloud::{InstanceState, Result};

use crate::attachments::mac_of;
use crate::tenants::Tenant;
use crate::Accounts;

/// The interface ID of an instance (`i-0abc…` → `eni-0abc…`).
pub fn interface_id(instance_id: &str) -> String {
    format!("eni-{}", instance_id.trim_start_matches("i-"))
}

impl Accounts {
    /// The tenant's interfaces: those of its live instances on tenant subnets.
    pub async fn list_network_interfaces(&self, tenant: &Tenant) -> Result<Vec<NetworkInterface>> {
        let instances = self.describe_instances(tenant, &[]).await?;
        let mut elastic: HashMap<String, (String, String, String)> = HashMap::new();
        for address in self.list_addresses(tenant).await? {
            if let (Some(instance), Some(association)) =
                (address.instance_id, address.association_id)
            {
                elastic.insert(
                    instance,
                    (address.public_ip, address.allocation_id, association),
                );
            }
        }
        let mut interfaces = Vec::new();
        for instance in instances {
            if instance.state == InstanceState::Terminated {
                continue;
            }
            let (Some(subnet_id), Some(vpc_id), Some(ip)) = (
                instance.subnet_id.clone(),
                instance.vpc_id.clone(),
                instance.private_ip.clone(),
            ) else {
                continue;
            };
            let Ok(parsed) = ip.parse() else {
                continue;
            };
            interfaces.push(NetworkInterface {
                id: interface_id(&instance.id),
                subnet_id,
                vpc_id,
                availability_zone: instance.availability_zone.clone().unwrap_or_default(),
                mac: mac_of(parsed),
                private_dns: instance.private_dns.clone().unwrap_or_default(),
                private_ip: ip,
                groups: instance.groups.clone(),
                elastic: elastic.remove(&instance.id),
                launched_at: instance.launched_at,
                owner_id: tenant.account_id.clone(),
                tags: Vec::new(),
                instance_id: instance.id.clone(),
            });
        }
        Ok(interfaces)
    }
}
