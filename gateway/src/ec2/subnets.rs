//! CreateSubnet, DescribeSubnets, DeleteSubnet, ModifySubnetAttribute.

use cloud::network::Subnet;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::Filterable;
use super::page::describe;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for Subnet {
    const FILTERS: &'static [&'static str] = &[
        "subnet-id",
        "vpc-id",
        "cidr",
        "cidr-block",
        "cidrBlock",
        "availability-zone",
        "availabilityZone",
        "default-for-az",
        "defaultForAz",
        "map-public-ip-on-launch",
        "available-ip-address-count",
        "state",
        "owner-id",
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let value = match name {
            "subnet-id" => self.id.clone(),
            "vpc-id" => self.vpc_id.clone(),
            "cidr" | "cidr-block" | "cidrBlock" => self.cidr.clone(),
            "availability-zone" | "availabilityZone" => self.availability_zone.clone(),
            "default-for-az" | "defaultForAz" => self.is_default.to_string(),
            "map-public-ip-on-launch" => self.map_public_ip_on_launch.to_string(),
            "available-ip-address-count" => self.available_ips.to_string(),
            "state" => "available".into(),
            "owner-id" => self.owner_id.clone(),
            _ => return None,
        };
        Some(vec![value])
    }
}

fn write_subnet(x: &mut XmlWriter, subnet: &Subnet, region: &str) {
    x.leaf("subnetId", &subnet.id)
        .leaf(
            "subnetArn",
            format!(
                "arn:aws:ec2:{region}:{}:subnet/{}",
                subnet.owner_id, subnet.id
            ),
        )
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
        .federation
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
    write_subnet(&mut x, &subnet, call.federation.region());
    Ok(x.finish("CreateSubnet"))
}

pub async fn describe_subnets(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["SubnetId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let all = call.federation.list_subnets(&call.principal.tenant).await?;
    let page = describe(&call.params, all, "SubnetId", ResourceKind::Subnet, |s| {
        &s.id
    })?;
    let mut x = XmlWriter::response("DescribeSubnets", call.request_id);
    x.start("subnetSet");
    for subnet in &page.items {
        x.start("item");
        write_subnet(&mut x, subnet, call.federation.region());
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeSubnets"))
}

pub async fn delete_subnet(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["SubnetId"])?;
    let id = call.params.required("SubnetId")?;
    call.dry_run()?;
    call.federation
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
    call.federation
        .set_map_public_ip(&call.principal.tenant, id, on)
        .await?;
    Ok(returned_true("ModifySubnetAttribute", call.request_id))
}
