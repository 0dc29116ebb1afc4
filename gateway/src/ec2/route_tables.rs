//! DescribeRouteTables, CreateRouteTable, DeleteRouteTable, CreateRoute,
//! DeleteRoute, AssociateRouteTable, DisassociateRouteTable.

use cloud::network::RouteTable;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::Filterable;
use super::page::describe;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// The main table's implicit association, with an ID derived from the table's.
fn main_association_id(table: &RouteTable) -> String {
    format!("rtbassoc-{}", table.id.trim_start_matches("rtb-"))
}

impl Filterable for RouteTable {
    const FILTERS: &'static [&'static str] = &[
        "route-table-id",
        "vpc-id",
        "owner-id",
        "association.main",
        "association.subnet-id",
        "association.route-table-association-id",
        "association.route-table-id",
        "route.destination-cidr-block",
        "route.gateway-id",
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let mut association_ids: Vec<String> =
            self.associations.iter().map(|a| a.id.clone()).collect();
        if self.main {
            association_ids.push(main_association_id(self));
        }
        let values = match name {
            "route-table-id" | "association.route-table-id" => vec![self.id.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "owner-id" => vec![self.owner_id.clone()],
            "association.main" => vec![self.main.to_string()],
            "association.subnet-id" => self
                .associations
                .iter()
                .map(|a| a.subnet_id.clone())
                .collect(),
            "association.route-table-association-id" => association_ids,
            "route.destination-cidr-block" => {
                self.routes.iter().map(|r| r.destination.clone()).collect()
            }
            "route.gateway-id" => self.routes.iter().map(|r| r.gateway_id.clone()).collect(),
            _ => return None,
        };
        Some(values)
    }
}

/// `attached` lists the gateways attached to the table's VPC: a route through
/// any other is a blackhole, as AWS reports it after a detach.
fn write_table(x: &mut XmlWriter, table: &RouteTable, attached: &[String]) {
    x.leaf("routeTableId", &table.id)
        .leaf("vpcId", &table.vpc_id)
        .leaf("ownerId", &table.owner_id)
        .start("routeSet");
    for route in &table.routes {
        let local = route.gateway_id == "local";
        let state = if local || attached.contains(&route.gateway_id) {
            "active"
        } else {
            "blackhole"
        };
        x.start("item")
            .leaf("destinationCidrBlock", &route.destination)
            .leaf("gatewayId", &route.gateway_id)
            .leaf("state", state)
            .leaf(
                "origin",
                if local {
                    "CreateRouteTable"
                } else {
                    "CreateRoute"
                },
            )
            .end();
    }
    x.end().start("associationSet");
    if table.main {
        x.start("item")
            .leaf("routeTableAssociationId", main_association_id(table))
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
        .federation
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
    let all = call
        .federation
        .list_route_tables(&call.principal.tenant)
        .await?;
    let page = describe(
        &call.params,
        all,
        "RouteTableId",
        ResourceKind::RouteTable,
        |t| &t.id,
    )?;
    let attached = attached_gateways(&call).await?;
    let mut x = XmlWriter::response("DescribeRouteTables", call.request_id);
    x.start("routeTableSet");
    for table in &page.items {
        x.start("item");
        write_table(&mut x, table, &gateways_of(&attached, &table.vpc_id));
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
        .federation
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
    call.federation
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
    call.federation
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
    call.federation
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
        .federation
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
    call.federation
        .disassociate_route_table(&call.principal.tenant, association)
        .await?;
    Ok(returned_true("DisassociateRouteTable", call.request_id))
}
