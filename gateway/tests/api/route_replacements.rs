//! ReplaceRoute and ReplaceRouteTableAssociation (a subnet's association and
//! the VPC's main one), seen through DescribeRouteTables' `association.*`
//! filters; another tenant touches neither.

use aws_sdk_ec2::types::{Filter, RouteTable};

use crate::common::{ec2_code, on_both_databases};

async fn tables(ec2: &aws_sdk_ec2::Client, filters: &[(&str, &str)]) -> Vec<RouteTable> {
    let mut request = ec2.describe_route_tables();
    for (name, value) in filters {
        request = request.filters(Filter::builder().name(*name).values(*value).build());
    }
    request.send().await.unwrap().route_tables().to_vec()
}

fn ids(tables: &[RouteTable]) -> Vec<&str> {
    tables.iter().filter_map(|t| t.route_table_id()).collect()
}

#[tokio::test]
async fn routes_and_associations_are_replaced() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.50.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.50.1.0/24")
            .send()
            .await
            .unwrap()
            .subnet
            .unwrap()
            .subnet_id
            .unwrap();
        let main = tables(&ec2, &[("vpc-id", &vpc), ("association.main", "true")]).await;
        assert_eq!(main.len(), 1);
        let main_table = main[0].route_table_id().unwrap().to_string();
        let main_association = main[0].associations()[0]
            .route_table_association_id()
            .unwrap()
            .to_string();
        let new_table = || async {
            ec2.create_route_table()
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap()
                .route_table
                .unwrap()
                .route_table_id
                .unwrap()
        };
        let (first, second) = (new_table().await, new_table().await);
        // A table with no association matches no association filter.
        assert!(tables(&ec2, &[("association.route-table-id", &first)])
            .await
            .is_empty());
        assert!(
            tables(&ec2, &[("vpc-id", &vpc), ("association.main", "false")])
                .await
                .is_empty()
        );
        let association = ec2
            .associate_route_table()
            .route_table_id(&first)
            .subnet_id(&subnet)
            .send()
            .await
            .unwrap()
            .association_id
            .unwrap();
        assert_eq!(
            ids(&tables(&ec2, &[("association.subnet-id", &subnet)]).await),
            [first.as_str()]
        );
        assert_eq!(
            ids(&tables(&ec2, &[("association.main", "false")]).await),
            [first.as_str()]
        );
        assert!(tables(&ec2, &[("association.gateway-id", "*")])
            .await
            .is_empty());

        // The subnet moves to the second table under a new association ID.
        let moved = ec2
            .replace_route_table_association()
            .association_id(&association)
            .route_table_id(&second)
            .send()
            .await
            .unwrap()
            .new_association_id
            .unwrap();
        assert_ne!(moved, association);
        assert_eq!(
            ids(&tables(&ec2, &[("association.subnet-id", &subnet)]).await),
            [second.as_str()]
        );
        assert_eq!(
            ids(&tables(&ec2, &[("association.route-table-association-id", &moved)]).await),
            [second.as_str()]
        );
        assert!(tables(
            &ec2,
            &[("association.route-table-association-id", &association)]
        )
        .await
        .is_empty());
        let gone = ec2
            .replace_route_table_association()
            .association_id(&association)
            .route_table_id(&first)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&gone), "InvalidAssociationID.NotFound");

        // The main association: the first table becomes main, the old one a plain table.
        let new_main = ec2
            .replace_route_table_association()
            .association_id(&main_association)
            .route_table_id(&first)
            .send()
            .await
            .unwrap()
            .new_association_id
            .unwrap();
        let main_now = tables(&ec2, &[("vpc-id", &vpc), ("association.main", "true")]).await;
        assert_eq!(ids(&main_now), [first.as_str()]);
        assert_eq!(
            main_now[0].associations()[0].route_table_association_id(),
            Some(new_main.as_str())
        );
        ec2.delete_route_table()
            .route_table_id(&main_table)
            .send()
            .await
            .unwrap();

        // ReplaceRoute: after the gateway changes, the default route follows it.
        let gateway = || async {
            ec2.create_internet_gateway()
                .send()
                .await
                .unwrap()
                .internet_gateway
                .unwrap()
                .internet_gateway_id
                .unwrap()
        };
        let (old_gateway, new_gateway) = (gateway().await, gateway().await);
        ec2.attach_internet_gateway()
            .internet_gateway_id(&old_gateway)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        ec2.create_route()
            .route_table_id(&second)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&old_gateway)
            .send()
            .await
            .unwrap();
        ec2.detach_internet_gateway()
            .internet_gateway_id(&old_gateway)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        ec2.attach_internet_gateway()
            .internet_gateway_id(&new_gateway)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        assert_eq!(
            ids(&tables(&ec2, &[("route.state", "blackhole")]).await),
            [second.as_str()]
        );
        ec2.replace_route()
            .route_table_id(&second)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&new_gateway)
            .send()
            .await
            .unwrap();
        let routed = tables(&ec2, &[("route.gateway-id", &new_gateway)]).await;
        assert_eq!(ids(&routed), [second.as_str()]);
        assert!(tables(&ec2, &[("route.state", "blackhole")])
            .await
            .is_empty());
        for (destination, code) in [
            ("10.99.0.0/16", "InvalidParameterValue"),
            ("10.50.0.0/16", "InvalidParameterValue"),
        ] {
            let refused = ec2
                .replace_route()
                .route_table_id(&second)
                .destination_cidr_block(destination)
                .gateway_id(&new_gateway)
                .send()
                .await
                .unwrap_err();
            assert_eq!(ec2_code(&refused), code, "{destination}");
        }

        // Another tenant: not found, and nothing moved.
        let other = server.ec2(&server.tenant("team-b"));
        let refused = other
            .replace_route()
            .route_table_id(&second)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&old_gateway)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&refused), "InvalidRouteTableID.NotFound");
        let other_vpc = other.describe_vpcs().send().await.unwrap().vpcs()[0]
            .vpc_id()
            .unwrap()
            .to_string();
        let other_main = tables(
            &other,
            &[("vpc-id", &other_vpc), ("association.main", "true")],
        )
        .await;
        let refused = other
            .replace_route_table_association()
            .association_id(&moved)
            .route_table_id(other_main[0].route_table_id().unwrap())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&refused), "InvalidAssociationID.NotFound");
        assert_eq!(
            ids(&tables(&ec2, &[("association.subnet-id", &subnet)]).await),
            [second.as_str()]
        );
    })
    .await;
}
