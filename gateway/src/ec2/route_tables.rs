//! DescribeRouteTables, CreateRouteTable, DeleteRouteTable, CreateRoute,
//! ReplaceRoute, DeleteRoute, AssociateRouteTable, ReplaceRouteTableAssociation,
//! DisassociateRouteTable.

use cloud::network::{Route, RouteTable};
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{absent, field, one, FilterField, Filterable};
use super::page::describe;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// A table as DescribeRouteTables shows it: `attached` lists the gateways
/// attached to its VPC; a route through any other is a blackhole, as AWS
/// reports it after a detach.
struct Shown {
    table: RouteTable,
    attached: Vec<String>,
}

fn route_state(route: &Route, attached: &[String]) -> &'static str {
    if route.gateway_id == "local" || attached.contains(&route.gateway_id) {
        "active"
    } else {
        "blackhole"
    }
}

fn route_origin(route: &Route) -> &'static str {
    if route.gateway_id == "local" {
        "CreateRouteTable"
    } else {
        "CreateRoute"
    }
}

fn routes(shown: &Shown) -> impl Iterator<Item = &Route> {
    shown.table.routes.iter()
}

impl Filterable for Shown {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["route-table-id"], |s| one(&s.table.id)),
        field(&["vpc-id"], |s| one(&s.table.vpc_id)),
        field(&["owner-id"], |s| one(&s.table.owner_id)),
        // Association filters read the table's associations: the main one and
        // each subnet's (a table with none matches none of them).
        field(&["association.main"], |s| {
            let main = s.table.main.then(|| "true".to_string());
            let subnets = s.table.associations.iter().map(|_| "false".to_string());
            main.into_iter().chain(subnets).collect()
        }),
        field(&["association.subnet-id"], |s| {
            s.table
                .associations
                .iter()
                .map(|a| a.subnet_id.clone())
                .collect()
        }),
        field(&["association.route-table-association-id"], |s| {
            let main = s.table.main_association_id();
            let subnets = s.table.associations.iter().map(|a| a.id.clone());
            main.into_iter().chain(subnets).collect()
        }),
        field(&["association.route-table-id"], |s| {
            let associated = s.table.main || !s.table.associations.is_empty();
            associated.then(|| s.table.id.clone()).into_iter().collect()
        }),
        field(&["route.destination-cidr-block"], |s| {
            routes(s).map(|r| r.destination.clone()).collect()
        }),
        field(&["route.gateway-id"], |s| {
            routes(s).map(|r| r.gateway_id.clone()).collect()
        }),
        field(&["route.origin"], |s| {
            routes(s).map(|r| route_origin(r).to_string()).collect()
        }),
        field(&["route.state"], |s| {
            routes(s)
                .map(|r| route_state(r, &s.attached).to_string())
                .collect()
        }),
        absent(&[
            "association.gateway-id",
            "route.destination-ipv6-cidr-block",
            "route.destination-prefix-list-id",
            "route.egress-only-internet-gateway-id",
            "route.instance-id",
            "route.nat-gateway-id",
            "route.transit-gateway-id",
            "route.vpc-peering-connection-id",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.table.tags
    }
}

fn write_table(x: &mut XmlWriter, table: &RouteTable, attached: &[String]) {
    x.leaf("routeTableId", &table.id)
        .leaf("vpcId", &table.vpc_id)
        .leaf("ownerId", &table.owner_id)
        .start("routeSet");
    for route in &table.routes {
        x.start("item")
            .leaf("destinationCidrBlock", &route.destination)
            .leaf("gatewayId", &route.gateway_id)
            .leaf("state", route_state(route, attached))
            .leaf("origin", route_origin(route))
            .end();
    }
    x.end().start("associationSet");
    if let Some(main) = table.main_association_id() {
        x.start("item")
            .leaf("routeTableAssociationId", main)
            .leaf("routeTableId", &table.id)
            .leaf("main", true)
            .start("associationState")
            .leaf("state", "associated")
            .end()
            .end();
    }
    for association in &table.associations {
        x.start("item")
            .leaf("routeTableAssociationId", &association.id)
            .leaf("routeTableId", &table.id)
            .leaf("subnetId", &association.subnet_id)
            .leaf("main", false)
            .start("associationState")
            .leaf("state", "associated")
            .end()
            .end();
    }
    x.end()
        .start("propagatingVgwSet")
        .end()
        .tag_set(&table.tags);
}

/// Gateways attached to some VPC of the tenant, for route states.
async fn attached_gateways(call: &Ec2Call<'_>) -> Result<Vec<(String, String)>, Ec2Error> {
    Ok(call
        .accounts
        .list_internet_gateways(&call.principal.tenant)
        .await?
        .into_iter()
        .filter_map(|g| Some((g.vpc_id?, g.id)))
        .collect())
}

fn gateways_of(attached: &[(String, String)], vpc: &str) -> Vec<String> {
    attached
        .iter()
        .filter(|(v, _)| v == vpc)
        .map(|(_, g)| g.clone())
        .collect()
}

pub async fn describe_route_tables(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["RouteTableId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let attached = attached_gateways(&call).await?;
    let all = call
        .accounts
        .list_route_tables(&call.principal.tenant)
        .await?
        .into_iter()
        .map(|table| Shown {
            attached: gateways_of(&attached, &table.vpc_id),
            table,
        })
        .collect();
    let page = describe(
        &call.params,
        all,
        "RouteTableId",
        ResourceKind::RouteTable,
        |s| &s.table.id,
    )?;
    let mut x = XmlWriter::response("DescribeRouteTables", call.request_id);
    x.start("routeTableSet");
    for shown in &page.items {
        x.start("item");
        write_table(&mut x, &shown.table, &shown.attached);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeRouteTables"))
}

pub async fn create_route_table(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    // Current SDKs send a ClientToken; retries of this call are not made
    // idempotent by it yet (a retried create leaves a second, empty table).
    call.params
        .expect_only(&["VpcId", "TagSpecification", "ClientToken"])?;
    let vpc = call.params.required("VpcId")?;
    let tags = tag_specifications(&call.params, "route-table")?;
    call.dry_run()?;
    let mut table = call
        .accounts
        .create_route_table(&call.principal.tenant, vpc)
        .await?;
    apply_tag_specifications(&call, &table.id, &tags).await?;
    table.tags = tags;
    let mut x = XmlWriter::response("CreateRouteTable", call.request_id);
    x.start("routeTable");
    write_table(&mut x, &table, &[]);
    Ok(x.finish("CreateRouteTable"))
}

pub async fn delete_route_table(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["RouteTableId"])?;
    let id = call.params.required("RouteTableId")?;
    call.dry_run()?;
    call.accounts
        .delete_route_table(&call.principal.tenant, id)
        .await?;
    Ok(returned_true("DeleteRouteTable", call.request_id))
}

pub async fn create_route(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["RouteTableId", "DestinationCidrBlock", "GatewayId"])?;
    let table = call.params.required("RouteTableId")?;
    let destination = call.params.required("DestinationCidrBlock")?;
    let gateway = call.params.required("GatewayId")?;
    call.dry_run()?;
    call.accounts
        .create_route(&call.principal.tenant, table, destination, gateway)
        .await?;
    Ok(returned_true("CreateRoute", call.request_id))
}

pub async fn delete_route(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["RouteTableId", "DestinationCidrBlock"])?;
    let table = call.params.required("RouteTableId")?;
    let destination = call.params.required("DestinationCidrBlock")?;
    call.dry_run()?;
    call.accounts
        .delete_route(&call.principal.tenant, table, destination)
        .await?;
    Ok(returned_true("DeleteRoute", call.request_id))
}

pub async fn associate_route_table(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["RouteTableId", "SubnetId"])?;
    let table = call.params.required("RouteTableId")?;
    let subnet = call.params.required("SubnetId")?;
    call.dry_run()?;
    let association = call
        .accounts
        .associate_route_table(&call.principal.tenant, table, subnet)
        .await?;
    let mut x = XmlWriter::response("AssociateRouteTable", call.request_id);
    x.leaf("associationId", association)
        .start("associationState")
        .leaf("state", "associated");
    Ok(x.finish("AssociateRouteTable"))
}

pub async fn disassociate_route_table(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["AssociationId"])?;
    let association = call.params.required("AssociationId")?;
    call.dry_run()?;
    call.accounts
        .disassociate_route_table(&call.principal.tenant, association)
        .await?;
    Ok(returned_true("DisassociateRouteTable", call.request_id))
}

pub async fn replace_route(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["RouteTableId", "DestinationCidrBlock", "GatewayId"])?;
    let table = call.params.required("RouteTableId")?;
    let destination = call.params.required("DestinationCidrBlock")?;
    let gateway = call.params.required("GatewayId")?;
    call.dry_run()?;
    call.accounts
        .replace_route(&call.principal.tenant, table, destination, gateway)
        .await?;
    Ok(returned_true("ReplaceRoute", call.request_id))
}

pub async fn replace_route_table_association(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["AssociationId", "RouteTableId"])?;
    let association = call.params.required("AssociationId")?;
    let table = call.params.required("RouteTableId")?;
    call.dry_run()?;
    let new_id = call
        .accounts
        .replace_route_table_association(&call.principal.tenant, association, table)
        .await?;
    let mut x = XmlWriter::response("ReplaceRouteTableAssociation", call.request_id);
    x.leaf("newAssociationId", new_id)
        .start("associationState")
        .leaf("state", "associated");
    Ok(x.finish("ReplaceRouteTableAssociation"))
}
