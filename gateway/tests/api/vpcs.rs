//! Tenant networks through aws-sdk-ec2: the default VPC, VPCs and subnets
//! with their range and overlap rules, gateways and routes, on both databases.

use aws_sdk_ec2::types::Filter;

use crate::common::{ec2_code, on_both_databases};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

#[tokio::test]
async fn vpcs_subnets_gateways_and_routes() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        // Every tenant has a default VPC with a subnet in each zone.
        let defaults = ec2
            .describe_vpcs()
            .filters(filter("is-default", "true"))
            .send()
            .await
            .unwrap()
            .vpcs
            .unwrap_or_default();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].cidr_block(), Some("172.31.0.0/16"));
        let default_subnets = ec2
            .describe_subnets()
            .filters(filter("default-for-az", "true"))
            .send()
            .await
            .unwrap()
            .subnets
            .unwrap_or_default();
        assert!(!default_subnets.is_empty());
        assert!(default_subnets.iter().all(
            |s| s.vpc_id() == defaults[0].vpc_id() && s.map_public_ip_on_launch() == Some(true)
        ));

        let vpc = ec2
            .create_vpc()
            .cidr_block("10.8.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap();
        let vpc_id = vpc.vpc_id().unwrap().to_string();
        assert!(vpc_id.starts_with("vpc-") && vpc.is_default() == Some(false));
        let err = ec2
            .create_vpc()
            .cidr_block("10.16.0.0/12")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidVpc.Range");

        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.8.1.0/24")
            .send()
            .await
            .unwrap()
            .subnet
            .unwrap();
        assert_eq!(subnet.available_ip_address_count(), Some(251));
        let err = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.8.1.0/25")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidSubnet.Conflict");
        let err = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.9.1.0/24")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidSubnet.Range");

        let igw = ec2
            .create_internet_gateway()
            .send()
            .await
            .unwrap()
            .internet_gateway
            .unwrap()
            .internet_gateway_id
            .unwrap();
        ec2.attach_internet_gateway()
            .internet_gateway_id(&igw)
            .vpc_id(&vpc_id)
            .send()
            .await
            .unwrap();
        let tables = ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &vpc_id))
            .send()
            .await
            .unwrap()
            .route_tables
            .unwrap_or_default();
        assert_eq!(tables.len(), 1);
        let table = tables[0].route_table_id().unwrap().to_string();
        ec2.create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&igw)
            .send()
            .await
            .unwrap();
        let err = ec2
            .create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&igw)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "RouteAlreadyExists");
        let routes = ec2
            .describe_route_tables()
            .route_table_ids(&table)
            .send()
            .await
            .unwrap()
            .route_tables
            .unwrap_or_default()[0]
            .routes()
            .iter()
            .map(|r| {
                (
                    r.destination_cidr_block().unwrap_or_default().to_string(),
                    r.gateway_id().unwrap_or_default().to_string(),
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(
            routes,
            [
                ("0.0.0.0/0".to_string(), igw.clone()),
                ("10.8.0.0/16".to_string(), "local".to_string())
            ]
        );

        // Nothing goes while something depends on it.
        let err = ec2.delete_vpc().vpc_id(&vpc_id).send().await.unwrap_err();
        assert_eq!(ec2_code(&err), "DependencyViolation");
        let err = ec2
            .delete_internet_gateway()
            .internet_gateway_id(&igw)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "DependencyViolation");
        ec2.detach_internet_gateway()
            .internet_gateway_id(&igw)
            .vpc_id(&vpc_id)
            .send()
            .await
            .unwrap();
        ec2.delete_internet_gateway()
            .internet_gateway_id(&igw)
            .send()
            .await
            .unwrap();
        ec2.delete_subnet()
            .subnet_id(subnet.subnet_id().unwrap())
            .send()
            .await
            .unwrap();
        ec2.delete_vpc().vpc_id(&vpc_id).send().await.unwrap();
        let err = ec2
            .describe_vpcs()
            .vpc_ids(&vpc_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidVpcID.NotFound");
        // Elastic IPs out of the box, from the default pool 203.0.113.0/24.
        let address = ec2.allocate_address().send().await.unwrap();
        assert!(
            address.public_ip().unwrap().starts_with("203.0.113."),
            "{address:?}"
        );
    })
    .await;
}
