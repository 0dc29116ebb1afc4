//! DescribeVpcAttribute / ModifyVpcAttribute: AWS's defaults, one attribute
//! per call, hostnames only with DNS support, and another tenant's VPC unseen.

use aws_sdk_ec2::types::{AttributeBooleanValue, VpcAttributeName};

use crate::common::{ec2_code, on_both_databases};
use crate::raw::{code_of, ec2_post};

fn on(value: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(value).build()
}

async fn attribute(ec2: &aws_sdk_ec2::Client, vpc: &str, name: VpcAttributeName) -> bool {
    let out = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc)
        .attribute(name.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.vpc_id(), Some(vpc));
    let value = match name {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
        _ => out.enable_network_address_usage_metrics(),
    };
    value
        .and_then(|v| v.value())
        .expect("the attribute is answered")
}

#[tokio::test]
async fn dns_attributes_default_change_and_stay_the_tenants() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let default_vpc = ec2.describe_vpcs().send().await.unwrap().vpcs()[0]
            .vpc_id()
            .unwrap()
            .to_string();
        // AWS's defaults: DNS everywhere, hostnames in the default VPC only.
        assert!(attribute(&ec2, &default_vpc, VpcAttributeName::EnableDnsSupport).await);
        assert!(attribute(&ec2, &default_vpc, VpcAttributeName::EnableDnsHostnames).await);
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.40.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        assert!(attribute(&ec2, &vpc, VpcAttributeName::EnableDnsSupport).await);
        assert!(!attribute(&ec2, &vpc, VpcAttributeName::EnableDnsHostnames).await);
        assert!(
            !attribute(
                &ec2,
                &vpc,
                VpcAttributeName::EnableNetworkAddressUsageMetrics
            )
            .await
        );

        ec2.modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_hostnames(on(true))
            .send()
            .await
            .unwrap();
        assert!(attribute(&ec2, &vpc, VpcAttributeName::EnableDnsHostnames).await);
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_network_address_usage_metrics(on(true))
            .send()
            .await
            .unwrap();
        assert!(
            attribute(
                &ec2,
                &vpc,
                VpcAttributeName::EnableNetworkAddressUsageMetrics
            )
            .await
        );
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_hostnames(on(false))
            .send()
            .await
            .unwrap();
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_support(on(false))
            .send()
            .await
            .unwrap();
        assert!(!attribute(&ec2, &vpc, VpcAttributeName::EnableDnsSupport).await);
        // Hostnames need DNS support.
        let refused = ec2
            .modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_hostnames(on(true))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&refused), "InvalidParameterValue");
        // One attribute per call, as on AWS.
        let both = ec2
            .modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_support(on(true))
            .enable_dns_hostnames(on(true))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&both), "InvalidParameterCombination");
        assert!(!attribute(&ec2, &vpc, VpcAttributeName::EnableDnsSupport).await);
        let (status, body) = ec2_post(
            &server,
            Some(&server.admin_keys()),
            &format!("Action=DescribeVpcAttribute&Version=2016-11-15&VpcId={vpc}&Attribute=colour"),
            time::OffsetDateTime::now_utc(),
        )
        .await;
        assert_eq!((status, code_of(&body)), (400, "InvalidParameterValue"));

        // Another tenant can neither see nor change them.
        let other = server.ec2(&server.tenant("team-b"));
        let unseen = other
            .describe_vpc_attribute()
            .vpc_id(&vpc)
            .attribute(VpcAttributeName::EnableDnsSupport)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&unseen), "InvalidVpcID.NotFound");
        let untouched = other
            .modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_support(on(true))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&untouched), "InvalidVpcID.NotFound");
        assert!(!attribute(&ec2, &vpc, VpcAttributeName::EnableDnsSupport).await);
    })
    .await;
}
