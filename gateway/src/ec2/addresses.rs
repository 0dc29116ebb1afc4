//! AllocateAddress, DescribeAddresses, AssociateAddress, DisassociateAddress,
//! ReleaseAddress (VPC elastic IPs from the site's public pool).

use cloud::network::Address;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{self, absent, field, one, opt, FilterField, Filterable};
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// An address as DescribeAddresses shows it, in this site's region (its
/// network border group).
struct Shown {
    address: Address,
    region: String,
}

impl Filterable for Shown {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["allocation-id"], |s| one(&s.address.allocation_id)),
        field(&["association-id"], |s| opt(&s.address.association_id)),
        field(&["domain"], |_| one("vpc")),
        field(&["instance-id"], |s| opt(&s.address.instance_id)),
        field(&["public-ip"], |s| one(&s.address.public_ip)),
        field(&["private-ip-address"], |s| opt(&s.address.private_ip)),
        field(&["network-interface-owner-id"], |s| {
            let owner = &s.address.owner_id;
            s.address
                .instance_id
                .iter()
                .map(|_| owner.clone())
                .collect()
        }),
        field(&["network-border-group"], |s| one(&s.region)),
        field(&["public-ipv4-pool"], |_| one("skyport")),
        absent(&["network-interface-id"]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.address.tags
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
        .accounts
        .allocate_address(&call.principal.tenant, &tags)
        .await?;
    apply_tag_specifications(&call, &address.allocation_id, &tags).await?;
    let mut x = XmlWriter::response("AllocateAddress", call.request_id);
    x.leaf("publicIp", &address.public_ip)
        .leaf("domain", "vpc")
        .leaf("allocationId", &address.allocation_id)
        .leaf("publicIpv4Pool", "skyport")
        .leaf("networkBorderGroup", call.accounts.region());
    Ok(x.finish("AllocateAddress"))
}

pub async fn describe_addresses(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["PublicIp", "AllocationId", "Filter"])?;
    call.dry_run()?;
    let filters = filter::parse_filters::<Shown>(&call.params)?;
    let all = call.accounts.list_addresses(&call.principal.tenant).await?;
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
    let region = call.accounts.region();
    let shown = selected
        .into_iter()
        .map(|address| Shown {
            address,
            region: region.to_string(),
        })
        .collect();
    for Shown { address, .. } in filter::apply(shown, &filters) {
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
            .leaf("networkBorderGroup", call.accounts.region())
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
        .accounts
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
    call.accounts
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
    call.accounts
        .release_address(&call.principal.tenant, address)
        .await?;
    Ok(returned_true("ReleaseAddress", call.request_id))
}
