//! DescribeRegions, DescribeAvailabilityZones, DescribeAccountAttributes.

use aws_sdk_ec2::types::Filter;

use crate::common::{ec2_code, on_both_databases};

#[tokio::test]
async fn regions_zones_and_attributes() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let regions = ec2.describe_regions().send().await.unwrap();
        let names: Vec<_> = regions
            .regions()
            .iter()
            .filter_map(|r| r.region_name())
            .collect();
        assert_eq!(names, ["us-east-1"]);

        let filtered = ec2
            .describe_regions()
            .filters(Filter::builder().name("region-name").values("eu-*").build())
            .send()
            .await
            .unwrap();
        assert!(filtered.regions().is_empty());

        let zones = ec2.describe_availability_zones().send().await.unwrap();
        let zone = &zones.availability_zones()[0];
        assert_eq!(zone.zone_name(), Some("us-east-1a"));
        assert_eq!(zone.region_name(), Some("us-east-1"));
        let err = ec2
            .describe_availability_zones()
            .zone_names("mars-1a")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidParameterValue");

        let attrs = ec2.describe_account_attributes().send().await.unwrap();
        let platforms = attrs
            .account_attributes()
            .iter()
            .find(|a| a.attribute_name() == Some("supported-platforms"))
            .expect("supported-platforms");
        assert_eq!(
            platforms.attribute_values()[0].attribute_value(),
            Some("VPC")
        );

        let err = ec2
            .describe_regions()
            .dry_run(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "DryRunOperation");
    })
    .await;
}
