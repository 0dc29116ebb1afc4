//! CreateInternetGateway, DescribeInternetGateways, Attach/DetachInternetGateway,
//! DeleteInternetGateway.

use cloud::network::InternetGateway;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{field, one, opt, FilterField, Filterable};
use super::page::describe;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for InternetGateway {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["internet-gateway-id"], |g| one(&g.id)),
        field(&["attachment.vpc-id"], |g| opt(&g.vpc_id)),
        field(&["attachment.state"], |g| {
            g.vpc_id.iter().map(|_| "available".to_string()).collect()
        }),
        field(&["owner-id"], |g| one(&g.owner_id)),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

fn write_gateway(x: &mut XmlWriter, gateway: &InternetGateway) {
    x.leaf("internetGatewayId", &gateway.id)
        .leaf("ownerId", &gateway.owner_id)
        .start("attachmentSet");
    if let Some(vpc) = &gateway.vpc_id {
        x.start("item")
            .leaf("vpcId", vpc)
            .leaf("state", "available")
            .end();
    }
    x.end().tag_set(&gateway.tags);
}

pub async fn create_internet_gateway(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["TagSpecification"])?;
    let tags = tag_specifications(&call.params, "internet-gateway")?;
    call.dry_run()?;
    let mut gateway = call
        .accounts
        .create_internet_gateway(&call.principal.tenant)
        .await?;
    apply_tag_specifications(&call, &gateway.id, &tags).await?;
    gateway.tags = tags;
    let mut x = XmlWriter::response("CreateInternetGateway", call.request_id);
    x.start("internetGateway");
    write_gateway(&mut x, &gateway);
    Ok(x.finish("CreateInternetGateway"))
}

pub async fn describe_internet_gateways(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["InternetGatewayId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let all = call
        .accounts
        .list_internet_gateways(&call.principal.tenant)
        .await?;
    let page = describe(
        &call.params,
        all,
        "InternetGatewayId",
        ResourceKind::InternetGateway,
        |g| &g.id,
    )?;
    let mut x = XmlWriter::response("DescribeInternetGateways", call.request_id);
    x.start("internetGatewaySet");
    for gateway in &page.items {
        x.start("item");
        write_gateway(&mut x, gateway);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeInternetGateways"))
}

pub async fn attach_internet_gateway(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InternetGatewayId", "VpcId"])?;
    let id = call.params.required("InternetGatewayId")?;
    let vpc = call.params.required("VpcId")?;
    call.dry_run()?;
    call.accounts
        .attach_internet_gateway(&call.principal.tenant, id, vpc)
        .await?;
    Ok(returned_true("AttachInternetGateway", call.request_id))
}

pub async fn detach_internet_gateway(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InternetGatewayId", "VpcId"])?;
    let id = call.params.required("InternetGatewayId")?;
    let vpc = call.params.required("VpcId")?;
    call.dry_run()?;
    call.accounts
        .detach_internet_gateway(&call.principal.tenant, id, vpc)
        .await?;
    Ok(returned_true("DetachInternetGateway", call.request_id))
}

pub async fn delete_internet_gateway(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InternetGatewayId"])?;
    let id = call.params.required("InternetGatewayId")?;
    call.dry_run()?;
    call.accounts
        .delete_internet_gateway(&call.principal.tenant, id)
        .await?;
    Ok(returned_true("DeleteInternetGateway", call.request_id))
}
