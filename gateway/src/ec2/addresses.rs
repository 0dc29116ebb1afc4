//! AllocateAddress, DescribeAddresses, AssociateAddress, DisassociateAddress,
//! ReleaseAddress (VPC elastic IPs from the site's public pool).

use cloud::network::Address;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{self, Filterable};
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for Address {
    const FILTERS: &'static [&'static str] = &[
        "allocation-id",
        "association-id",
        "domain",
        "instance-id",
        "public-ip",
        "private-ip-address",
        "network-interface-owner-id",
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let values = match name {
            "allocation-id" => vec![self.allocation_id.clone()],
            "association-id" => self.association_id.iter().cloned().collect(),
            "domain" => vec!["vpc".into()],
            "instance-id" => self.instance_id.iter().cloned().collect(),
            "public-ip" => vec![self.public_ip.clone()],
            "private-ip-address" => self.private_ip.iter().cloned().collect(),
            "network-interface-owner-id" => self
                .instance_id
                .iter()
                .map(|_| self.owner_id.clone())
                .collect(),
            _ => return None,
        };
        Some(values)
    }
}

pub async fn allocate_address(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["Domain", "TagSpecification"])?;
    match call.params.get("Domain") {
        None | Some("vpc") => {}
        Some(other) => {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({other}) for parameter domain is invalid: only vpc addresses exist here"
            )))
        }
    }
    let tags = tag_specifications(&call.params, "elastic-ip")?;
    call.dry_run()?;
    let address = call
        .federation
        .allocate_address(&call.principal.tenant, &tags)
        .await?;
    apply_tag_specifications(&call, &address.allocation_id, &tags).await?;
    let mut x = XmlWriter::response("AllocateAddress", call.request_id);
    x.leaf("publicIp", &address.public_ip)
        .leaf("domain", "vpc")
        .leaf("allocationId", &address.allocation_id)
        .leaf("publicIpv4Pool", "skyport")
        .leaf("networkBorderGroup", call.federation.region());
    Ok(x.finish("AllocateAddress"))
}

pub async fn describe_addresses(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["PublicIp", "AllocationId", "Filter"])?;
    call.dry_run()?;
    let filters = filter::parse_filters::<Address>(&call.params)?;
    let all = call
        .federation
        .list_addresses(&call.principal.tenant)
        .await?;
    let by_ip = filter::select_ids(
        all,
        &call.params.list("PublicIp"),
        ResourceKind::ElasticIp,
        |a| &a.public_ip,
    )?;
    let selected = filter::select_ids(
        by_ip,
        &call.params.list("AllocationId"),
        ResourceKind::ElasticIp,
        |a| &a.allocation_id,
    )?;
    let mut x = XmlWriter::response("DescribeAddresses", call.request_id);
    x.start("addressesSet");
    for address in filter::apply(selected, &filters)? {
        x.start("item")
            .leaf("publicIp", &address.public_ip)
            .leaf("allocationId", &address.allocation_id)
            .leaf("domain", "vpc")
            .leaf_opt("instanceId", address.instance_id.as_ref())
            .leaf_opt("associationId", address.association_id.as_ref())
            .leaf_opt("privateIpAddress", address.private_ip.as_ref())
            .leaf_opt(
                "networkInterfaceOwnerId",
                address.instance_id.as_ref().map(|_| &address.owner_id),
            )
            .leaf("publicIpv4Pool", "skyport")
            .leaf("networkBorderGroup", call.federation.region())
            .tag_set(&address.tags)
            .end();
    }
    Ok(x.finish("DescribeAddresses"))
}

pub async fn associate_address(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "AllocationId",
        "PublicIp",
        "InstanceId",
        "AllowReassociation",
    ])?;
    let address = call
        .params
        .get("AllocationId")
        .or(call.params.get("PublicIp"))
        .ok_or_else(|| Ec2Error::missing("AllocationId"))?;
    let instance = call.params.required("InstanceId")?;
    let reassociate = call.params.bool("AllowReassociation")?;
    call.dry_run()?;
    let association = call
        .federation
        .associate_address(&call.principal.tenant, address, instance, reassociate)
        .await?;
    let mut x = XmlWriter::response("AssociateAddress", call.request_id);
    x.leaf("return", "true").leaf("associationId", association);
    Ok(x.finish("AssociateAddress"))
}

pub async fn disassociate_address(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["AssociationId", "PublicIp"])?;
    let association = call
        .params
        .get("AssociationId")
        .or(call.params.get("PublicIp"))
        .ok_or_else(|| Ec2Error::missing("AssociationId"))?;
    call.dry_run()?;
    call.federation
        .disassociate_address(&call.principal.tenant, association)
        .await?;
    Ok(returned_true("DisassociateAddress", call.request_id))
}

pub async fn release_address(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["AllocationId", "PublicIp"])?;
    let address = call
        .params
        .get("AllocationId")
        .or(call.params.get("PublicIp"))
        .ok_or_else(|| Ec2Error::missing("AllocationId"))?;
    call.dry_run()?;
    call.federation
        .release_address(&call.principal.tenant, address)
        .await?;
    Ok(returned_true("ReleaseAddress", call.request_id))
}
