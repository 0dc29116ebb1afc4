//! [`AwsTarget`] as accounts sees it: a [`cloud::RemoteTarget`].

use async_trait::async_trait;

use crate::target::AwsTarget;

#[async_trait]
impl cloud::RemoteTarget for AwsTarget {
    fn name(&self) -> &str {
        AwsTarget::name(self)
    }

    fn healthy(&self) -> bool {
        AwsTarget::healthy(self)
    }

    fn latency_ms(&self) -> Option<f64> {
        AwsTarget::latency_ms(self)
    }

    async fn probe(&self) -> cloud::Result<()> {
        AwsTarget::probe(self).await
    }

    async fn images_owned_by(&self, owners: &[String]) -> cloud::Result<Vec<cloud::ImageView>> {
        AwsTarget::images_owned_by(self, owners).await
    }

    async fn delete_security_group(&self, group_id: &str) -> cloud::Result<()> {
        AwsTarget::delete_security_group(self, group_id).await
    }

    async fn allocate_address(&self) -> cloud::Result<(String, String)> {
        AwsTarget::allocate_address(self).await
    }

    async fn associate_address(
        &self,
        allocation_id: &str,
        instance_remote_id: &str,
        allow_reassociation: bool,
    ) -> cloud::Result<String> {
        AwsTarget::associate_address(self, allocation_id, instance_remote_id, allow_reassociation)
            .await
    }

    async fn disassociate_address(&self, association_id: &str) -> cloud::Result<()> {
        AwsTarget::disassociate_address(self, association_id).await
    }

    async fn release_address(&self, allocation_id: &str) -> cloud::Result<()> {
        AwsTarget::release_address(self, allocation_id).await
    }

    fn remote_bucket_name(&self, bucket: &str) -> String {
        AwsTarget::remote_bucket_name(self, bucket)
    }

    async fn create_bucket(
        &self,
        remote_name: &str,
        location_constraint: Option<&str>,
    ) -> cloud::Result<()> {
        AwsTarget::create_bucket(self, remote_name, location_constraint).await
    }

    async fn delete_bucket(&self, remote_name: &str) -> cloud::Result<()> {
        AwsTarget::delete_bucket(self, remote_name).await
    }
}
