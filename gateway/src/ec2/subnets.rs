//! CreateSubnet, DescribeSubnets, DeleteSubnet, ModifySubnetAttribute.

use cloud::network::Subnet;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{absent, field, one, FilterField, Filterable};
use super::page::describe;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// A subnet as DescribeSubnets shows it, with this site's region (in its ARN).
struct Shown {
    subnet: Subnet,
    region: String,
}

fn subnet_arn(subnet: &Subnet, region: &str) -> String {
    format!(
        "arn:aws:ec2:{region}:{}:subnet/{}",
        subnet.owner_id, subnet.id
    )
}

impl Filterable for Shown {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["subnet-id"], |s| one(&s.subnet.id)),
        field(&["subnet-arn"], |s| one(subnet_arn(&s.subnet, &s.region))),
        field(&["vpc-id"], |s| one(&s.subnet.vpc_id)),
        field(&["cidr-block", "cidr", "cidrBlock"], |s| {
            one(&s.subnet.cidr)
        }),
        field(&["availability-zone", "availabilityZone"], |s| {
            one(&s.subnet.availability_zone)
        }),
        field(&["default-for-az", "defaultForAz"], |s| {
            one(s.subnet.is_default.to_string())
        }),
        field(&["map-public-ip-on-launch"], |s| {
            one(s.subnet.map_public_ip_on_launch.to_string())
        }),
        field(&["available-ip-address-count"], |s| {
            one(s.subnet.available_ips.to_string())
        }),
        field(&["state"], |_| one("available")),
        field(&["owner-id"], |s| one(&s.subnet.owner_id)),
        field(
            &[
                "ipv6-native",
                "enable-dns64",
                "map-customer-owned-ip-on-launch",
            ],
            |_| one("false"),
        ),
        absent(&[
            "availability-zone-id",
            "availabilityZoneId",
            "customer-owned-ipv4-pool",
            "enable-lni-at-device-index",
            "ipv6-cidr-block-association.ipv6-cidr-block",
            "ipv6-cidr-block-association.association-id",
            "ipv6-cidr-block-association.state",
            "outpost-arn",
            "private-dns-name-options-on-launch.hostname-type",
            "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
            "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.subnet.tags
    }
}

fn write_subnet(x: &mut XmlWriter, subnet: &Subnet, region: &str) {
    x.leaf("subnetId", &subnet.id)
        .leaf("subnetArn", subnet_arn(subnet, region))
        .leaf("state", "available")
        .leaf("vpcId", &subnet.vpc_id)
        .leaf("ownerId", &subnet.owner_id)
        .leaf("cidrBlock", &subnet.cidr)
        .start("ipv6CidrBlockAssociationSet")
        .end()
        .leaf("availableIpAddressCount", subnet.available_ips)
        .leaf("availabilityZone", &subnet.availability_zone)
        .leaf("defaultForAz", subnet.is_default)
        .leaf("mapPublicIpOnLaunch", subnet.map_public_ip_on_launch)
        .leaf("assignIpv6AddressOnCreation", false)
        .tag_set(&subnet.tags);
}

pub async fn create_subnet(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["VpcId", "CidrBlock", "AvailabilityZone", "TagSpecification"])?;
    let vpc_id = call.params.required("VpcId")?;
    let cidr = call.params.required("CidrBlock")?;
    let tags = tag_specifications(&call.params, "subnet")?;
    call.dry_run()?;
    let mut subnet = call
        .accounts
        .create_subnet(
            &call.principal.tenant,
            vpc_id,
            cidr,
            call.params.get("AvailabilityZone"),
        )
        .await?;
    apply_tag_specifications(&call, &subnet.id, &tags).await?;
    subnet.tags = tags;
    let mut x = XmlWriter::response("CreateSubnet", call.request_id);
    x.start("subnet");
    write_subnet(&mut x, &subnet, call.accounts.region());
    Ok(x.finish("CreateSubnet"))
}

pub async fn describe_subnets(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["SubnetId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let region = call.accounts.region();
    let all = call
        .accounts
        .list_subnets(&call.principal.tenant)
        .await?
        .into_iter()
        .map(|subnet| Shown {
            subnet,
            region: region.to_string(),
        })
        .collect();
    let page = describe(&call.params, all, "SubnetId", ResourceKind::Subnet, |s| {
        &s.subnet.id
    })?;
    let mut x = XmlWriter::response("DescribeSubnets", call.request_id);
    x.start("subnetSet");
    for shown in &page.items {
        x.start("item");
        write_subnet(&mut x, &shown.subnet, region);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeSubnets"))
}

pub async fn delete_subnet(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["SubnetId"])?;
    let id = call.params.required("SubnetId")?;
    call.dry_run()?;
    call.accounts
        .delete_subnet(&call.principal.tenant, id)
        .await?;
    Ok(returned_true("DeleteSubnet", call.request_id))
}

pub async fn modify_subnet_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["SubnetId", "MapPublicIpOnLaunch"])?;
    let id = call.params.required("SubnetId")?;
    let on = match call.params.get("MapPublicIpOnLaunch.Value") {
        Some(_) => call.params.bool("MapPublicIpOnLaunch.Value")?,
        None => {
            return Err(Ec2Error::missing("MapPublicIpOnLaunch"));
        }
    };
    call.dry_run()?;
    call.accounts
        .set_map_public_ip(&call.principal.tenant, id, on)
        .await?;
    Ok(returned_true("ModifySubnetAttribute", call.request_id))
}
