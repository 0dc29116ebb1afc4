//! The EC2 Query API: decode `Action=` requests, call the domain, encode XML.
//! Each action lives in a file named for the resources it serves; this module
//! holds the router.

pub mod account;
pub mod addresses;
pub mod filter;
pub mod ids;
pub mod image_attributes;
pub mod images;
pub mod instance_attributes;
pub mod instance_filters;
pub mod instances;
pub mod internet_gateways;
pub mod key_pairs;
pub mod network_interfaces;
pub mod page;
pub mod params;
pub mod route_tables;
pub mod security_group_rules;
pub mod security_groups;
pub mod snapshots;
pub mod subnets;
pub mod tags;
pub mod volumes;
pub mod vpcs;
pub mod xml;

use accounts::{Accounts, Principal};
use cloud::types::Direction;

use crate::error::Ec2Error;
use params::Params;

/// Everything an action handler needs.
pub struct Ec2Call<'a> {
    pub accounts: &'a Accounts,
    pub principal: &'a Principal,
    pub params: Params,
    pub request_id: &'a str,
    pub availability_zones: &'a [String],
    /// The Host the client addressed (reported as the region endpoint).
    pub host: &'a str,
}

impl Ec2Call<'_> {
    /// Answers `DryRunOperation` when `DryRun=true`: the caller would have been allowed.
    pub fn dry_run(&self) -> Result<(), Ec2Error> {
        if self.params.bool("DryRun")? {
            return Err(Ec2Error {
                status: http::StatusCode::PRECONDITION_FAILED,
                code: "DryRunOperation".into(),
                message: "Request would have succeeded, but DryRun flag is set.".into(),
            });
        }
        Ok(())
    }
}

/// Declares every action with its handler: the `Action` enum, its wire
/// names and the dispatcher come from this one list.
macro_rules! actions {
    ($($action:ident => $handler:expr),* $(,)?) => {
        /// Every EC2 action Skyport serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($action),*
        }

        impl Action {
            const ALL: &'static [Action] = &[$(Action::$action),*];

            /// The wire name (`DescribeRegions`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$action => stringify!($action)),*
                }
            }
        }

        /// Runs one action and returns the XML body of its response.
        pub async fn dispatch(action: Action, call: Ec2Call<'_>) -> Result<String, Ec2Error> {
            match action {
                $(Action::$action => ($handler)(call).await),*
            }
        }
    };
}

actions! {
    DescribeRegions => account::describe_regions,
    DescribeAvailabilityZones => account::describe_availability_zones,
    DescribeAccountAttributes => account::describe_account_attributes,
    CreateKeyPair => key_pairs::create_key_pair,
    ImportKeyPair => key_pairs::import_key_pair,
    DescribeKeyPairs => key_pairs::describe_key_pairs,
    DeleteKeyPair => key_pairs::delete_key_pair,
    CreateSecurityGroup => security_groups::create_security_group,
    DescribeSecurityGroups => security_groups::describe_security_groups,
    AuthorizeSecurityGroupIngress => |call| security_groups::authorize(call, Direction::Ingress, Action::AuthorizeSecurityGroupIngress),
    AuthorizeSecurityGroupEgress => |call| security_groups::authorize(call, Direction::Egress, Action::AuthorizeSecurityGroupEgress),
    RevokeSecurityGroupIngress => |call| security_groups::revoke(call, Direction::Ingress, Action::RevokeSecurityGroupIngress),
    RevokeSecurityGroupEgress => |call| security_groups::revoke(call, Direction::Egress, Action::RevokeSecurityGroupEgress),
    DeleteSecurityGroup => security_groups::delete_security_group,
    DescribeSecurityGroupRules => security_group_rules::describe_security_group_rules,
    ModifySecurityGroupRules => security_group_rules::modify_security_group_rules,
    CreateTags => tags::create_tags,
    DeleteTags => tags::delete_tags,
    DescribeTags => tags::describe_tags,
    RunInstances => instances::run_instances,
    DescribeInstances => instances::describe_instances,
    DescribeInstanceStatus => instances::describe_instance_status,
    StartInstances => instances::start_instances,
    StopInstances => instances::stop_instances,
    RebootInstances => instances::reboot_instances,
    TerminateInstances => instances::terminate_instances,
    GetConsoleOutput => instances::get_console_output,
    DescribeImages => images::describe_images,
    DeregisterImage => images::deregister_image,
    RegisterImage => images::register_image,
    DescribeImageAttribute => image_attributes::describe_image_attribute,
    ModifyImageAttribute => image_attributes::modify_image_attribute,
    DescribeInstanceAttribute => instance_attributes::describe_instance_attribute,
    ModifyInstanceAttribute => instance_attributes::modify_instance_attribute,
    CreateVpc => vpcs::create_vpc,
    DescribeVpcs => vpcs::describe_vpcs,
    DeleteVpc => vpcs::delete_vpc,
    DescribeVpcAttribute => vpcs::describe_vpc_attribute,
    ModifyVpcAttribute => vpcs::modify_vpc_attribute,
    CreateSubnet => subnets::create_subnet,
    DescribeSubnets => subnets::describe_subnets,
    DeleteSubnet => subnets::delete_subnet,
    ModifySubnetAttribute => subnets::modify_subnet_attribute,
    CreateInternetGateway => internet_gateways::create_internet_gateway,
    DescribeInternetGateways => internet_gateways::describe_internet_gateways,
    AttachInternetGateway => internet_gateways::attach_internet_gateway,
    DetachInternetGateway => internet_gateways::detach_internet_gateway,
    DeleteInternetGateway => internet_gateways::delete_internet_gateway,
    DescribeRouteTables => route_tables::describe_route_tables,
    CreateRouteTable => route_tables::create_route_table,
    DeleteRouteTable => route_tables::delete_route_table,
    CreateRoute => route_tables::create_route,
    ReplaceRoute => route_tables::replace_route,
    DeleteRoute => route_tables::delete_route,
    AssociateRouteTable => route_tables::associate_route_table,
    ReplaceRouteTableAssociation => route_tables::replace_route_table_association,
    DisassociateRouteTable => route_tables::disassociate_route_table,
    AllocateAddress => addresses::allocate_address,
    DescribeAddresses => addresses::describe_addresses,
    AssociateAddress => addresses::associate_address,
    DisassociateAddress => addresses::disassociate_address,
    ReleaseAddress => addresses::release_address,
    DescribeNetworkInterfaces => network_interfaces::describe_network_interfaces,
    CreateVolume => volumes::create_volume,
    DescribeVolumes => volumes::describe_volumes,
    DeleteVolume => volumes::delete_volume,
    AttachVolume => volumes::attach_volume,
    DetachVolume => volumes::detach_volume,
    CreateSnapshot => snapshots::create_snapshot,
    DescribeSnapshots => snapshots::describe_snapshots,
    DeleteSnapshot => snapshots::delete_snapshot,
}

impl Action {
    /// Parses the `Action` parameter.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .copied()
            .find(|action| action.name() == name)
    }
}

/// EC2 actions a user may reasonably expect that this build does not serve yet:
/// they get `UnsupportedOperation` rather than `InvalidAction`, which would
/// suggest a typo.
pub const NOT_YET: &[&str] = &["CreateNetworkInterface", "ModifyVolume", "CopySnapshot"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for &action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(action));
        }
        assert_eq!(Action::parse("RunInstancez"), None);
    }
}
