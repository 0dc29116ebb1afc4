//! CreateVpc, DescribeVpcs, DeleteVpc, DescribeVpcAttribute, ModifyVpcAttribute.

use accounts::VpcAttribute;
use cloud::network::Vpc;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{absent, field, one, FilterField, Filterable};
use super::page::describe;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for Vpc {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["vpc-id"], |v| one(&v.id)),
        // `cidr-block`: an older name AWS still takes (Ansible's ec2_vpc_net sends it).
        field(&["cidr", "cidr-block"], |v| one(&v.cidr)),
        field(&["cidr-block-association.cidr-block"], |v| one(&v.cidr)),
        field(&["cidr-block-association.association-id"], |v| {
            one(cidr_association_id(v))
        }),
        field(&["cidr-block-association.state"], |_| one("associated")),
        field(&["state"], |_| one("available")),
        field(&["is-default"], |v| one(v.is_default.to_string())),
        field(&["owner-id"], |v| one(&v.owner_id)),
        field(&["dhcp-options-id"], |_| one("default")),
        absent(&[
            "ipv6-cidr-block-association.ipv6-cidr-block",
            "ipv6-cidr-block-association.ipv6-pool",
            "ipv6-cidr-block-association.association-id",
            "ipv6-cidr-block-association.state",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// The association ID of the VPC's (only) block, derived from the VPC's so it is stable.
fn cidr_association_id(vpc: &Vpc) -> String {
    format!("vpc-cidr-assoc-{}", vpc.id.trim_start_matches("vpc-"))
}

fn write_vpc(x: &mut XmlWriter, vpc: &Vpc) {
    let association = cidr_association_id(vpc);
    x.leaf("vpcId", &vpc.id)
        .leaf("ownerId", &vpc.owner_id)
        .leaf("state", "available")
        .leaf("cidrBlock", &vpc.cidr)
        .start("cidrBlockAssociationSet")
        .start("item")
        .leaf("cidrBlock", &vpc.cidr)
        .leaf("associationId", association)
        .start("cidrBlockState")
        .leaf("state", "associated")
        .end()
        .end()
        .end()
        .start("ipv6CidrBlockAssociationSet")
        .end()
        .leaf("dhcpOptionsId", "default")
        .leaf("instanceTenancy", "default")
        .leaf("isDefault", vpc.is_default)
        .tag_set(&vpc.tags);
}

pub async fn create_vpc(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["CidrBlock", "InstanceTenancy", "TagSpecification"])?;
    let cidr = call.params.required("CidrBlock")?;
    match call.params.get("InstanceTenancy") {
        None | Some("default") => {}
        Some(other) => {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({other}) for parameter instanceTenancy is invalid: this site offers default tenancy only"
            )))
        }
    }
    let tags = tag_specifications(&call.params, "vpc")?;
    call.dry_run()?;
    let mut vpc = call
        .accounts
        .create_vpc(&call.principal.tenant, cidr)
        .await?;
    apply_tag_specifications(&call, &vpc.id, &tags).await?;
    vpc.tags = tags;
    let mut x = XmlWriter::response("CreateVpc", call.request_id);
    x.start("vpc");
    write_vpc(&mut x, &vpc);
    Ok(x.finish("CreateVpc"))
}

pub async fn describe_vpcs(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["VpcId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let all = call.accounts.list_vpcs(&call.principal.tenant).await?;
    let page = describe(&call.params, all, "VpcId", ResourceKind::Vpc, |v| &v.id)?;
    let mut x = XmlWriter::response("DescribeVpcs", call.request_id);
    x.start("vpcSet");
    for vpc in &page.items {
        x.start("item");
        write_vpc(&mut x, vpc);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeVpcs"))
}

pub async fn delete_vpc(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["VpcId"])?;
    let id = call.params.required("VpcId")?;
    call.dry_run()?;
    call.accounts.delete_vpc(&call.principal.tenant, id).await?;
    Ok(returned_true("DeleteVpc", call.request_id))
}

/// The attributes DescribeVpcAttribute names, with their ModifyVpcAttribute parameters.
const ATTRIBUTES: &[(&str, &str, VpcAttribute)] = &[
    (
        "enableDnsSupport",
        "EnableDnsSupport",
        VpcAttribute::DnsSupport,
    ),
    (
        "enableDnsHostnames",
        "EnableDnsHostnames",
        VpcAttribute::DnsHostnames,
    ),
    (
        "enableNetworkAddressUsageMetrics",
        "EnableNetworkAddressUsageMetrics",
        VpcAttribute::NetworkAddressUsageMetrics,
    ),
];

pub async fn describe_vpc_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["VpcId", "Attribute"])?;
    let id = call.params.required("VpcId")?;
    let name = call.params.required("Attribute")?;
    let (element, _, attribute) = ATTRIBUTES
        .iter()
        .find(|(element, _, _)| *element == name)
        .ok_or_else(|| {
            Ec2Error::invalid_value(format!(
                "Value ({name}) for parameter attribute is invalid. Unknown attribute."
            ))
        })?;
    call.dry_run()?;
    let attributes = call
        .accounts
        .vpc_attributes(&call.principal.tenant, id)
        .await?;
    let value = match attribute {
        VpcAttribute::DnsSupport => attributes.dns_support,
        VpcAttribute::DnsHostnames => attributes.dns_hostnames,
        VpcAttribute::NetworkAddressUsageMetrics => attributes.network_address_usage_metrics,
    };
    let mut x = XmlWriter::response("DescribeVpcAttribute", call.request_id);
    x.leaf("vpcId", id)
        .start(element)
        .leaf("value", value)
        .end();
    Ok(x.finish("DescribeVpcAttribute"))
}

pub async fn modify_vpc_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    let mut allowed = vec!["VpcId"];
    allowed.extend(ATTRIBUTES.iter().map(|(_, parameter, _)| *parameter));
    call.params.expect_only(&allowed)?;
    let id = call.params.required("VpcId")?;
    let mut asked = Vec::new();
    for (_, parameter, attribute) in ATTRIBUTES {
        let value = format!("{parameter}.Value");
        if call.params.get(&value).is_some() {
            asked.push((*attribute, call.params.bool(&value)?));
        }
    }
    let (attribute, value) = match asked.as_slice() {
        [one] => *one,
        [] => return Err(Ec2Error::missing("EnableDnsSupport")),
        _ => {
            return Err(Ec2Error::bad_request(
                "InvalidParameterCombination",
                "Only one attribute can be modified at a time",
            ))
        }
    };
    call.dry_run()?;
    call.accounts
        .modify_vpc_attribute(&call.principal.tenant, id, attribute, value)
        .await?;
    Ok(returned_true("ModifyVpcAttribute", call.request_id))
}
