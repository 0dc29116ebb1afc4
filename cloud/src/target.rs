//! A remote cloud Skyport places resources on: AWS, an EC2/S3-compatible cloud, or a
//! peer Skyport. Accounts holds these as trait objects, so it never depends on the
//! backend crate that implements them.

use async_trait::async_trait;

use crate::compute::Compute;
use crate::error::Result;
use crate::volumes::BlockStorage;

/// A remote target: its compute, its block storage, its bucket registry, and
/// its health.
#[async_trait]
pub trait RemoteTarget: Compute + BlockStorage {
    /// The target's name, as policies call it.
    fn name(&self) -> &str;
    /// False while calls to the target are failing (circuit open).
    fn healthy(&self) -> bool;
    /// Recent latency of successful calls, if any were made.
    fn latency_ms(&self) -> Option<f64>;
    /// One cheap call, allowed through even when the circuit is open, to learn
    /// whether the target is back.
    async fn probe(&self) -> Result<()>;
    /// The target's images owned by `owners` (account IDs, or `amazon`,
    /// `aws-marketplace`, `self` as EC2 spells them).
    async fn images_owned_by(&self, owners: &[String]) -> Result<Vec<crate::ImageView>>;
    /// Deletes a security group (the target's ID); one already gone is fine,
    /// one still in use is `DependencyViolation`.
    async fn delete_security_group(&self, group_id: &str) -> Result<()>;
    /// Allocates an elastic IP on the target: (public address, allocation ID there).
    async fn allocate_address(&self) -> Result<(String, String)>;
    /// Associates an allocated address with an instance (both in the target's
    /// IDs); returns the target's association ID.
    async fn associate_address(
        &self,
        allocation_id: &str,
        instance_remote_id: &str,
        allow_reassociation: bool,
    ) -> Result<String>;
    /// Removes an association; one already gone is fine.
    async fn disassociate_address(&self, association_id: &str) -> Result<()>;
    /// Releases an allocated address; one already gone is fine.
    async fn release_address(&self, allocation_id: &str) -> Result<()>;
    /// The name a Skyport bucket gets on the target.
    fn remote_bucket_name(&self, bucket: &str) -> String;
    /// Creates a bucket on the target; one we already own there is fine.
    async fn create_bucket(
        &self,
        remote_name: &str,
        location_constraint: Option<&str>,
    ) -> Result<()>;
    /// Deletes a bucket on the target; one already gone is fine.
    async fn delete_bucket(&self, remote_name: &str) -> Result<()>;
}
