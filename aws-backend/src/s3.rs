//! Bucket calls on the target's S3 API. Objects stream through
//! [`AwsTarget::s3_client`] directly (the gateway proxies them).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::target::AwsTarget;

impl AwsTarget {
    /// Creates `remote_name` on the target. `location_constraint` `None` means
    /// the target's own region (sent as a constraint unless it is `us-east-1`,
    /// where S3 takes none).
    ///
    /// Skyport never adopts a bucket it did not create: one that already exists
    /// (in the target's account — the operator's own, another site's, another
    /// target's with a different `bucket_prefix` — or anyone's) is refused with
    /// `BucketTakenByOther`. HeadBucket asks first, because us-east-1 answers a
    /// create of a bucket the account owns with 200; `BucketAlreadyOwnedByYou`
    /// (other regions) cannot tell ours from the account's either, so it is not
    /// ours.
    #[tracing::instrument(skip(self), fields(backend = %self.name()))]
    pub async fn create_bucket(
        &self,
        remote_name: &str,
        location_constraint: Option<&str>,
    ) -> cloud::Result<()> {
        if self.bucket_exists(remote_name).await? {
            return Err(cloud::Error::BucketTakenByOther(remote_name.to_owned()));
        }
        let constraint = location_constraint
            .or(Some(self.region()))
            .filter(|region| *region != "us-east-1");
        let configuration = constraint.map(|region| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build()
        });
        let call = (self.clients.s3.create_bucket())
            .bucket(remote_name)
            .set_create_bucket_configuration(configuration)
            .customize()
            .config_override(self.s3_call_config())
            .send();
        match call.await {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Err(cloud::Error::BucketTakenByOther(remote_name.to_owned()))
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Whether a bucket of this name exists on the target, whoever owns it:
    /// 404 is the only answer that says it does not (403: someone else's;
    /// 301: in another region).
    async fn bucket_exists(&self, remote_name: &str) -> cloud::Result<bool> {
        let call = (self.clients.s3.head_bucket())
            .bucket(remote_name)
            .customize()
            .config_override(self.s3_call_config())
            .send();
        match call.await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(service)) => match service.raw().status().as_u16() {
                404 => Ok(false),
                301 | 403 => Ok(true),
                _ => Err(self.fail(SdkError::ServiceError(service))),
            },
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Deletes `remote_name` on the target; a bucket that is already gone counts
    /// as deleted. Fails with `BucketNotEmpty` while it holds objects.
    #[tracing::instrument(skip(self), fields(backend = %self.name()))]
    pub async fn delete_bucket(&self, remote_name: &str) -> cloud::Result<()> {
        let call = (self.clients.s3.delete_bucket())
            .bucket(remote_name)
            .customize()
            .config_override(self.s3_call_config())
            .send();
        match call.await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("NoSuchBucket") => Ok(()),
            Err(error) if error.code() == Some("BucketNotEmpty") => {
                Err(cloud::Error::BucketNotEmpty(remote_name.to_owned()))
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Bucket calls carry no object body, so they get the attempt and operation timeouts.
    fn s3_call_config(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder().timeout_config(self.clients.s3_call_timeouts.clone())
    }
}
