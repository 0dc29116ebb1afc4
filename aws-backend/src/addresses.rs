//! Elastic IP addresses on the target's EC2 API (VPC domain).

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::DomainType;

use crate::ec2::missing;
use crate::target::AwsTarget;

/// Codes meaning the address or association is already gone.
const GONE: &[&str] = &[
    "InvalidAllocationID.NotFound",
    "InvalidAssociationID.NotFound",
    "InvalidAddress.NotFound",
];

impl AwsTarget {
    #[tracing::instrument(skip_all, fields(backend = %self.name()))]
    pub async fn allocate_address(&self) -> cloud::Result<(String, String)> {
        let output = (self.clients.ec2.allocate_address())
            .domain(DomainType::Vpc)
            .send()
            .await
            .map_err(|error| self.fail(error))?;
        let public_ip = output
            .public_ip
            .ok_or_else(|| missing(self.name(), "publicIp"))?;
        let allocation = output
            .allocation_id
            .ok_or_else(|| missing(self.name(), "allocationId"))?;
        Ok((public_ip, allocation))
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), allocation_id, instance_remote_id))]
    pub async fn associate_address(
        &self,
        allocation_id: &str,
        instance_remote_id: &str,
        allow_reassociation: bool,
    ) -> cloud::Result<String> {
        let output = (self.clients.ec2.associate_address())
            .allocation_id(allocation_id)
            .instance_id(instance_remote_id)
            .allow_reassociation(allow_reassociation)
            .send()
            .await
            .map_err(|error| self.fail(error))?;
        Ok(output
            .association_id
            .ok_or_else(|| missing(self.name(), "associationId"))?)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), association_id))]
    pub async fn disassociate_address(&self, association_id: &str) -> cloud::Result<()> {
        let call = (self.clients.ec2.disassociate_address()).association_id(association_id);
        match call.send().await {
            Ok(_) => Ok(()),
            Err(error) if error.code().is_some_and(|code| GONE.contains(&code)) => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), allocation_id))]
    pub async fn release_address(&self, allocation_id: &str) -> cloud::Result<()> {
        let call = (self.clients.ec2.release_address()).allocation_id(allocation_id);
        match call.send().await {
            Ok(_) => Ok(()),
            Err(error) if error.code().is_some_and(|code| GONE.contains(&code)) => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }
}
