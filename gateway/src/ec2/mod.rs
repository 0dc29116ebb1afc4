//! The EC2 Query API: decode `Action=` requests, call the domain, encode XML.
//! Each action lives in a file named for the resources it serves; this module
//! holds the router.

pub mod account;
pub mod filter;
pub mod images;
pub mod instance_attributes;
pub mod instances;
pub mod key_pairs;
pub mod page;
pub mod params;
pub mod security_groups;
pub mod tags;
pub mod xml;

use federation::{Federation, Principal};

use crate::error::Ec2Error;
use params::Params;

/// Everything an action handler needs.
pub struct Ec2Call<'a> {
    pub federation: &'a Federation,
    pub principal: &'a Principal,
    pub params: Params,
    pub request_id: &'a str,
    pub availability_zones: &'a [String],
    /// The Host the client addressed (reported as the region endpoint).
    pub host: &'a str,
    /// The local image store, when this site has compute.
    pub images: Option<&'a local_backend::ImageStore>,
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

/// Every EC2 action Skyport serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    DescribeRegions,
    DescribeAvailabilityZones,
    DescribeAccountAttributes,
    CreateKeyPair,
    ImportKeyPair,
    DescribeKeyPairs,
    DeleteKeyPair,
    CreateSecurityGroup,
    DescribeSecurityGroups,
    AuthorizeSecurityGroupIngress,
    AuthorizeSecurityGroupEgress,
    RevokeSecurityGroupIngress,
    RevokeSecurityGroupEgress,
    DeleteSecurityGroup,
    CreateTags,
    DeleteTags,
    DescribeTags,
    RunInstances,
    DescribeInstances,
    DescribeInstanceStatus,
    StartInstances,
    StopInstances,
    RebootInstances,
    TerminateInstances,
    GetConsoleOutput,
    DescribeImages,
    DeregisterImage,
    DescribeInstanceAttribute,
    ModifyInstanceAttribute,
    RegisterImage,
}

impl Action {
    const ALL: [Action; 30] = [
        Action::DescribeRegions,
        Action::DescribeAvailabilityZones,
        Action::DescribeAccountAttributes,
        Action::CreateKeyPair,
        Action::ImportKeyPair,
        Action::DescribeKeyPairs,
        Action::DeleteKeyPair,
        Action::CreateSecurityGroup,
        Action::DescribeSecurityGroups,
        Action::AuthorizeSecurityGroupIngress,
        Action::AuthorizeSecurityGroupEgress,
        Action::RevokeSecurityGroupIngress,
        Action::RevokeSecurityGroupEgress,
        Action::DeleteSecurityGroup,
        Action::CreateTags,
        Action::DeleteTags,
        Action::DescribeTags,
        Action::RunInstances,
        Action::DescribeInstances,
        Action::DescribeInstanceStatus,
        Action::StartInstances,
        Action::StopInstances,
        Action::RebootInstances,
        Action::TerminateInstances,
        Action::GetConsoleOutput,
        Action::DescribeImages,
        Action::DeregisterImage,
        Action::DescribeInstanceAttribute,
        Action::ModifyInstanceAttribute,
        Action::RegisterImage,
    ];

    /// The wire name (`DescribeRegions`).
    pub fn name(self) -> &'static str {
        match self {
            Action::DescribeRegions => "DescribeRegions",
            Action::DescribeAvailabilityZones => "DescribeAvailabilityZones",
            Action::DescribeAccountAttributes => "DescribeAccountAttributes",
            Action::CreateKeyPair => "CreateKeyPair",
            Action::ImportKeyPair => "ImportKeyPair",
            Action::DescribeKeyPairs => "DescribeKeyPairs",
            Action::DeleteKeyPair => "DeleteKeyPair",
            Action::CreateSecurityGroup => "CreateSecurityGroup",
            Action::DescribeSecurityGroups => "DescribeSecurityGroups",
            Action::AuthorizeSecurityGroupIngress => "AuthorizeSecurityGroupIngress",
            Action::AuthorizeSecurityGroupEgress => "AuthorizeSecurityGroupEgress",
            Action::RevokeSecurityGroupIngress => "RevokeSecurityGroupIngress",
            Action::RevokeSecurityGroupEgress => "RevokeSecurityGroupEgress",
            Action::DeleteSecurityGroup => "DeleteSecurityGroup",
            Action::CreateTags => "CreateTags",
            Action::DeleteTags => "DeleteTags",
            Action::DescribeTags => "DescribeTags",
            Action::RunInstances => "RunInstances",
            Action::DescribeInstances => "DescribeInstances",
            Action::DescribeInstanceStatus => "DescribeInstanceStatus",
            Action::StartInstances => "StartInstances",
            Action::StopInstances => "StopInstances",
            Action::RebootInstances => "RebootInstances",
            Action::TerminateInstances => "TerminateInstances",
            Action::GetConsoleOutput => "GetConsoleOutput",
            Action::DescribeImages => "DescribeImages",
            Action::DeregisterImage => "DeregisterImage",
            Action::DescribeInstanceAttribute => "DescribeInstanceAttribute",
            Action::ModifyInstanceAttribute => "ModifyInstanceAttribute",
            Action::RegisterImage => "RegisterImage",
        }
    }

    /// Parses the `Action` parameter.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.name() == name)
    }
}

/// EC2 actions a user may reasonably expect that this build does not serve yet:
/// they get `UnsupportedOperation` rather than `InvalidAction`, which would
/// suggest a typo.
pub const NOT_YET: &[&str] = &[
    "CreateVpc",
    "DescribeVpcs",
    "CreateSubnet",
    "DescribeSubnets",
    "CreateVolume",
    "DescribeVolumes",
    "AttachVolume",
    "AllocateAddress",
    "DescribeAddresses",
];

/// Runs one action and returns the XML body of its response.
pub async fn dispatch(action: Action, call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    match action {
        Action::DescribeRegions => account::describe_regions(call).await,
        Action::DescribeAvailabilityZones => account::describe_availability_zones(call).await,
        Action::DescribeAccountAttributes => account::describe_account_attributes(call).await,
        Action::CreateKeyPair => key_pairs::create_key_pair(call).await,
        Action::ImportKeyPair => key_pairs::import_key_pair(call).await,
        Action::DescribeKeyPairs => key_pairs::describe_key_pairs(call).await,
        Action::DeleteKeyPair => key_pairs::delete_key_pair(call).await,
        Action::CreateSecurityGroup => security_groups::create_security_group(call).await,
        Action::DescribeSecurityGroups => security_groups::describe_security_groups(call).await,
        Action::AuthorizeSecurityGroupIngress => {
            security_groups::authorize(call, cloud::types::Direction::Ingress, action).await
        }
        Action::AuthorizeSecurityGroupEgress => {
            security_groups::authorize(call, cloud::types::Direction::Egress, action).await
        }
        Action::RevokeSecurityGroupIngress => {
            security_groups::revoke(call, cloud::types::Direction::Ingress, action).await
        }
        Action::RevokeSecurityGroupEgress => {
            security_groups::revoke(call, cloud::types::Direction::Egress, action).await
        }
        Action::DeleteSecurityGroup => security_groups::delete_security_group(call).await,
        Action::CreateTags => tags::create_tags(call).await,
        Action::DeleteTags => tags::delete_tags(call).await,
        Action::DescribeTags => tags::describe_tags(call).await,
        Action::RunInstances => instances::run_instances(call).await,
        Action::DescribeInstances => instances::describe_instances(call).await,
        Action::DescribeInstanceStatus => instances::describe_instance_status(call).await,
        Action::StartInstances => instances::start_instances(call).await,
        Action::StopInstances => instances::stop_instances(call).await,
        Action::RebootInstances => instances::reboot_instances(call).await,
        Action::TerminateInstances => instances::terminate_instances(call).await,
        Action::GetConsoleOutput => instances::get_console_output(call).await,
        Action::DescribeImages => images::describe_images(call).await,
        Action::DeregisterImage => images::deregister_image(call).await,
        Action::RegisterImage => images::register_image(call).await,
        Action::DescribeInstanceAttribute => {
            instance_attributes::describe_instance_attribute(call).await
        }
        Action::ModifyInstanceAttribute => {
            instance_attributes::modify_instance_attribute(call).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(action));
        }
        assert_eq!(Action::parse("RunInstancez"), None);
    }
}
