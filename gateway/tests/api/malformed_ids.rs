//! Malformed IDs answer their kind's `.Malformed` code in every action that
//! takes one, distinct from the NotFound of a well-formed ID naming nothing;
//! an elastic IP named by an unknown address is `InvalidAddress.NotFound`.

use crate::common::on_both_databases;
use crate::raw::{code_of, ec2_post};

/// (action, the ID parameter, the kind's Malformed code, a well-formed ID of
/// the kind that names nothing, its NotFound code or "" where the action
/// answers something else first). Other required parameters are left out: the
/// ID is judged before anything else.
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("DescribeInstances", "InstanceId.1", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("DescribeInstanceStatus", "InstanceId.1", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("StartInstances", "InstanceId.1", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("StopInstances", "InstanceId.1", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("RebootInstances", "InstanceId.1", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("TerminateInstances", "InstanceId.1", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("GetConsoleOutput", "InstanceId", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
    ("DescribeInstanceAttribute", "InstanceId", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", ""),
    ("ModifyInstanceAttribute", "InstanceId", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", ""),
    ("AttachVolume", "InstanceId", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", ""),
    ("AssociateAddress", "InstanceId", "InvalidInstanceID.Malformed", "i-0123456789abcdef0", ""),
    ("DescribeImages", "ImageId.1", "InvalidAMIID.Malformed", "ami-0123456789abcdef0", "InvalidAMIID.NotFound"),
    ("DeregisterImage", "ImageId", "InvalidAMIID.Malformed", "ami-0123456789abcdef0", "InvalidAMIID.NotFound"),
    ("DescribeImageAttribute", "ImageId", "InvalidAMIID.Malformed", "ami-0123456789abcdef0", ""),
    ("ModifyImageAttribute", "ImageId", "InvalidAMIID.Malformed", "ami-0123456789abcdef0", ""),
    ("RunInstances", "ImageId", "InvalidAMIID.Malformed", "ami-0123456789abcdef0", ""),
    ("DescribeVpcs", "VpcId.1", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", "InvalidVpcID.NotFound"),
    ("DeleteVpc", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", "InvalidVpcID.NotFound"),
    ("DescribeVpcAttribute", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", ""),
    ("ModifyVpcAttribute", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", ""),
    ("CreateSubnet", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", ""),
    ("CreateSecurityGroup", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", ""),
    ("CreateRouteTable", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", "InvalidVpcID.NotFound"),
    ("AttachInternetGateway", "VpcId", "InvalidVpcID.Malformed", "vpc-0123456789abcdef0", ""),
    ("DescribeSubnets", "SubnetId.1", "InvalidSubnetID.Malformed", "subnet-0123456789abcdef0", "InvalidSubnetID.NotFound"),
    ("DeleteSubnet", "SubnetId", "InvalidSubnetID.Malformed", "subnet-0123456789abcdef0", "InvalidSubnetID.NotFound"),
    ("ModifySubnetAttribute", "SubnetId", "InvalidSubnetID.Malformed", "subnet-0123456789abcdef0", ""),
    ("AssociateRouteTable", "SubnetId", "InvalidSubnetID.Malformed", "subnet-0123456789abcdef0", ""),
    ("RunInstances", "SubnetId", "InvalidSubnetID.Malformed", "subnet-0123456789abcdef0", ""),
    ("DescribeSecurityGroups", "GroupId.1", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", "InvalidGroup.NotFound"),
    ("DeleteSecurityGroup", "GroupId", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", "InvalidGroup.NotFound"),
    ("AuthorizeSecurityGroupIngress", "GroupId", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", ""),
    ("AuthorizeSecurityGroupEgress", "GroupId", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", ""),
    ("RevokeSecurityGroupIngress", "GroupId", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", ""),
    ("RevokeSecurityGroupEgress", "GroupId", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", ""),
    ("ModifySecurityGroupRules", "GroupId", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", ""),
    ("RunInstances", "SecurityGroupId.1", "InvalidGroupId.Malformed", "sg-0123456789abcdef0", ""),
    ("DescribeSecurityGroupRules", "SecurityGroupRuleId.1", "InvalidSecurityGroupRuleId.Malformed", "sgr-0123456789abcdef0", "InvalidSecurityGroupRuleId.NotFound"),
    ("DescribeVolumes", "VolumeId.1", "InvalidVolumeID.Malformed", "vol-0123456789abcdef0", "InvalidVolume.NotFound"),
    ("DeleteVolume", "VolumeId", "InvalidVolumeID.Malformed", "vol-0123456789abcdef0", "InvalidVolume.NotFound"),
    ("AttachVolume", "VolumeId", "InvalidVolumeID.Malformed", "vol-0123456789abcdef0", ""),
    ("DetachVolume", "VolumeId", "InvalidVolumeID.Malformed", "vol-0123456789abcdef0", "InvalidVolume.NotFound"),
    ("CreateSnapshot", "VolumeId", "InvalidVolumeID.Malformed", "vol-0123456789abcdef0", "InvalidVolume.NotFound"),
    ("DescribeSnapshots", "SnapshotId.1", "InvalidSnapshotID.Malformed", "snap-0123456789abcdef0", "InvalidSnapshot.NotFound"),
    ("DeleteSnapshot", "SnapshotId", "InvalidSnapshotID.Malformed", "snap-0123456789abcdef0", "InvalidSnapshot.NotFound"),
    ("CreateVolume", "SnapshotId", "InvalidSnapshotID.Malformed", "snap-0123456789abcdef0", ""),
    ("DescribeAddresses", "AllocationId.1", "InvalidAllocationID.Malformed", "eipalloc-0123456789abcdef0", "InvalidAllocationID.NotFound"),
    ("ReleaseAddress", "AllocationId", "InvalidAllocationID.Malformed", "eipalloc-0123456789abcdef0", "InvalidAllocationID.NotFound"),
    ("AssociateAddress", "AllocationId", "InvalidAllocationID.Malformed", "eipalloc-0123456789abcdef0", ""),
    ("DisassociateAddress", "AssociationId", "InvalidAssociationID.Malformed", "eipassoc-0123456789abcdef0", "InvalidAssociationID.NotFound"),
    ("DisassociateRouteTable", "AssociationId", "InvalidAssociationID.Malformed", "rtbassoc-0123456789abcdef0", "InvalidAssociationID.NotFound"),
    ("ReplaceRouteTableAssociation", "AssociationId", "InvalidAssociationID.Malformed", "rtbassoc-0123456789abcdef0", ""),
    ("DescribeInternetGateways", "InternetGatewayId.1", "InvalidInternetGatewayId.Malformed", "igw-0123456789abcdef0", "InvalidInternetGatewayID.NotFound"),
    ("DeleteInternetGateway", "InternetGatewayId", "InvalidInternetGatewayId.Malformed", "igw-0123456789abcdef0", "InvalidInternetGatewayID.NotFound"),
    ("AttachInternetGateway", "InternetGatewayId", "InvalidInternetGatewayId.Malformed", "igw-0123456789abcdef0", ""),
    ("DetachInternetGateway", "InternetGatewayId", "InvalidInternetGatewayId.Malformed", "igw-0123456789abcdef0", ""),
    ("DescribeRouteTables", "RouteTableId.1", "InvalidRouteTableId.Malformed", "rtb-0123456789abcdef0", "InvalidRouteTableID.NotFound"),
    ("DeleteRouteTable", "RouteTableId", "InvalidRouteTableId.Malformed", "rtb-0123456789abcdef0", "InvalidRouteTableID.NotFound"),
    ("CreateRoute", "RouteTableId", "InvalidRouteTableId.Malformed", "rtb-0123456789abcdef0", ""),
    ("ReplaceRoute", "RouteTableId", "InvalidRouteTableId.Malformed", "rtb-0123456789abcdef0", ""),
    ("DeleteRoute", "RouteTableId", "InvalidRouteTableId.Malformed", "rtb-0123456789abcdef0", ""),
    ("AssociateRouteTable", "RouteTableId", "InvalidRouteTableId.Malformed", "rtb-0123456789abcdef0", ""),
    ("DescribeNetworkInterfaces", "NetworkInterfaceId.1", "InvalidNetworkInterfaceId.Malformed", "eni-0123456789abcdef0", "InvalidNetworkInterfaceID.NotFound"),
    ("DescribeKeyPairs", "KeyPairId.1", "InvalidKeyPair.Malformed", "key-0123456789abcdef0", "InvalidKeyPair.NotFound"),
    ("DeleteKeyPair", "KeyPairId", "InvalidKeyPair.Malformed", "key-0123456789abcdef0", ""),
];

#[tokio::test]
async fn malformed_ids_are_not_not_found_in_any_action() {
    on_both_databases(|server| async move {
        let admin = server.admin_keys();
        let now = time::OffsetDateTime::now_utc();
        for (action, param, malformed, well_formed, not_found) in CASES {
            let kind_prefix = well_formed.split('-').next().unwrap();
            for bad in [
                "bogus".to_string(),
                format!("{kind_prefix}-xyz"),
                format!("{kind_prefix}-0123"),
                format!("{kind_prefix}-0123456789abcdef0123"),
            ] {
                // An image ID keeps its cloud's form: any hex length up to 32.
                if *malformed == "InvalidAMIID.Malformed" && bad.ends_with("0123") {
                    continue;
                }
                let body = format!("Action={action}&Version=2016-11-15&{param}={bad}");
                let (status, xml) = ec2_post(&server, Some(&admin), &body, now).await;
                assert_eq!((status, code_of(&xml)), (400, *malformed), "{body}: {xml}");
                assert!(xml.contains(&format!("Invalid id: &quot;{bad}&quot;")), "{xml}");
            }
            let body = format!("Action={action}&Version=2016-11-15&{param}={well_formed}");
            let (_, xml) = ec2_post(&server, Some(&admin), &body, now).await;
            assert_ne!(code_of(&xml), *malformed, "{body}: {xml}");
            if !not_found.is_empty() {
                assert_eq!(code_of(&xml), *not_found, "{body}: {xml}");
            }
        }

        // An elastic IP named by an address nobody holds.
        for (body, code) in [
            ("Action=DescribeAddresses&PublicIp.1=198.51.100.7", "InvalidAddress.NotFound"),
            ("Action=ReleaseAddress&PublicIp=198.51.100.7", "InvalidAddress.NotFound"),
            ("Action=DisassociateAddress&PublicIp=198.51.100.7", "InvalidAddress.NotFound"),
            ("Action=DescribeAddresses&AllocationId.1=eipalloc-0123456789abcdef0", "InvalidAllocationID.NotFound"),
        ] {
            let (status, xml) = ec2_post(&server, Some(&admin), body, now).await;
            assert_eq!((status, code_of(&xml)), (400, code), "{body}: {xml}");
        }
    })
    .await;
}
