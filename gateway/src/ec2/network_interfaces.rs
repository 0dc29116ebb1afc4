//! DescribeNetworkInterfaces: the primary interface of each of the tenant's
//! instances on this site's tenant subnets.

use cloud::network::NetworkInterface;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{absent, field, one, FilterField, Filterable};
use super::instances::write_groups;
use super::page::describe;
use super::xml::{timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for NetworkInterface {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["network-interface-id"], |n| one(&n.id)),
        field(&["subnet-id"], |n| one(&n.subnet_id)),
        field(&["vpc-id"], |n| one(&n.vpc_id)),
        field(&["availability-zone"], |n| one(&n.availability_zone)),
        field(&["attachment.instance-id"], |n| one(&n.instance_id)),
        field(&["attachment.instance-owner-id"], |n| one(&n.owner_id)),
        field(&["attachment.attachment-id"], |n| one(attachment_id(n))),
        field(&["attachment.attach-time"], |n| {
            one(timestamp(n.launched_at))
        }),
        field(&["attachment.delete-on-termination"], |_| one("true")),
        field(&["attachment.device-index"], |_| one("0")),
        field(&["attachment.status"], |_| one("attached")),
        field(
            &["private-ip-address", "addresses.private-ip-address"],
            |n| one(&n.private_ip),
        ),
        field(&["addresses.primary"], |_| one("true")),
        field(&["private-dns-name"], |n| one(&n.private_dns)),
        field(&["mac-address"], |n| one(&n.mac)),
        field(&["group-id"], |n| {
            n.groups.iter().map(|g| g.0.clone()).collect()
        }),
        field(&["group-name"], |n| {
            n.groups.iter().map(|g| g.1.clone()).collect()
        }),
        field(&["status"], |_| one("in-use")),
        field(&["owner-id"], |n| one(&n.owner_id)),
        field(&["description"], |_| one("Primary network interface")),
        field(&["requester-managed"], |_| one("false")),
        field(&["source-dest-check"], |_| one("true")),
        field(&["interface-type"], |_| one("interface")),
        field(
            &["association.public-ip", "addresses.association.public-ip"],
            |n| n.elastic.iter().map(|e| e.0.clone()).collect(),
        ),
        field(&["association.allocation-id"], |n| {
            n.elastic.iter().map(|e| e.1.clone()).collect()
        }),
        field(&["association.association-id"], |n| {
            n.elastic.iter().map(|e| e.2.clone()).collect()
        }),
        field(
            &["association.ip-owner-id", "addresses.association.owner-id"],
            |n| n.elastic.iter().map(|_| n.owner_id.clone()).collect(),
        ),
        absent(&[
            "association.public-dns-name",
            "availability-zone-id",
            "ipv6-addresses.ipv6-address",
            "operator.managed",
            "operator.principal",
            "requester-id",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// The attachment of an interface to its instance, with an ID derived from the interface's.
fn attachment_id(interface: &NetworkInterface) -> String {
    format!("eni-attach-{}", interface.id.trim_start_matches("eni-"))
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
    let attachment = attachment_id(interface);
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
        .accounts
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
