//! DescribeNetworkInterfaces: the primary interface of each of the tenant's
//! instances on this site's tenant subnets.

use cloud::network::NetworkInterface;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::Filterable;
use super::instances::write_groups;
use super::page::describe;
use super::xml::{timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for NetworkInterface {
    const FILTERS: &'static [&'static str] = &[
        "network-interface-id",
        "subnet-id",
        "vpc-id",
        "availability-zone",
        "attachment.instance-id",
        "attachment.status",
        "private-ip-address",
        "addresses.private-ip-address",
        "mac-address",
        "group-id",
        "group-name",
        "status",
        "owner-id",
        "association.public-ip",
        "association.allocation-id",
        "interface-type",
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let one = |v: &str| vec![v.to_string()];
        Some(match name {
            "network-interface-id" => one(&self.id),
            "subnet-id" => one(&self.subnet_id),
            "vpc-id" => one(&self.vpc_id),
            "availability-zone" => one(&self.availability_zone),
            "attachment.instance-id" => one(&self.instance_id),
            "attachment.status" => one("attached"),
            "private-ip-address" | "addresses.private-ip-address" => one(&self.private_ip),
            "mac-address" => one(&self.mac),
            "group-id" => self.groups.iter().map(|g| g.0.clone()).collect(),
            "group-name" => self.groups.iter().map(|g| g.1.clone()).collect(),
            "status" => one("in-use"),
            "owner-id" => one(&self.owner_id),
            "association.public-ip" => self.elastic.iter().map(|e| e.0.clone()).collect(),
            "association.allocation-id" => self.elastic.iter().map(|e| e.1.clone()).collect(),
            "interface-type" => one("interface"),
            _ => return None,
        })
    }
}

fn write_association(x: &mut XmlWriter, interface: &NetworkInterface) {
    if let Some((public_ip, allocation, association)) = &interface.elastic {
        x.start("association")
            .leaf("publicIp", public_ip)
            .leaf("publicDnsName", "")
            .leaf("ipOwnerId", &interface.owner_id)
            .leaf("allocationId", allocation)
            .leaf("associationId", association)
            .end();
    }
}

fn write_interface(x: &mut XmlWriter, interface: &NetworkInterface) {
    let attachment = format!("eni-attach-{}", interface.id.trim_start_matches("eni-"));
    x.leaf("networkInterfaceId", &interface.id)
        .leaf("subnetId", &interface.subnet_id)
        .leaf("vpcId", &interface.vpc_id)
        .leaf("availabilityZone", &interface.availability_zone)
        .leaf("description", "Primary network interface")
        .leaf("ownerId", &interface.owner_id)
        .leaf("requesterManaged", false)
        .leaf("status", "in-use")
        .leaf("macAddress", &interface.mac)
        .leaf("privateIpAddress", &interface.private_ip)
        .leaf("privateDnsName", &interface.private_dns)
        .leaf("sourceDestCheck", true)
        .leaf("interfaceType", "interface");
    write_groups(x, &interface.groups);
    x.start("attachment")
        .leaf("attachmentId", attachment)
        .leaf("instanceId", &interface.instance_id)
        .leaf("instanceOwnerId", &interface.owner_id)
        .leaf("deviceIndex", 0)
        .leaf("status", "attached")
        .leaf("attachTime", timestamp(interface.launched_at))
        .leaf("deleteOnTermination", true)
        .end();
    write_association(x, interface);
    x.tag_set(&interface.tags)
        .start("privateIpAddressesSet")
        .start("item")
        .leaf("privateIpAddress", &interface.private_ip)
        .leaf("privateDnsName", &interface.private_dns)
        .leaf("primary", true);
    write_association(x, interface);
    x.end().end().start("ipv6AddressesSet").end();
}

pub async fn describe_network_interfaces(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["NetworkInterfaceId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let all = call
        .federation
        .list_network_interfaces(&call.principal.tenant)
        .await?;
    let page = describe(
        &call.params,
        all,
        "NetworkInterfaceId",
        ResourceKind::NetworkInterface,
        |n| &n.id,
    )?;
    let mut x = XmlWriter::response("DescribeNetworkInterfaces", call.request_id);
    x.start("networkInterfaceSet");
    for interface in &page.items {
        x.start("item");
        write_interface(&mut x, interface);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeNetworkInterfaces"))
}
