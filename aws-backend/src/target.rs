//! [`AwsTarget`]: one remote cloud — its clients, its health, its probe.

use std::num::NonZeroU32;
use std::sync::Arc;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::clients::{self, Clients};
use crate::config::TargetConfig;
use crate::connector::as_probe;
use crate::error::Error;
use crate::health::TargetHealth;

/// A remote target: AWS, an EC2/S3-compatible cloud or a peer Skyport.
///
/// Cheap to clone; clones share the clients, the rate limiter, the circuit
/// breaker and the latency average.
#[derive(Debug, Clone)]
pub struct AwsTarget {
    name: Arc<str>,
    region: Arc<str>,
    bucket_prefix: Arc<str>,
    pub(crate) clients: Clients,
    health: Arc<TargetHealth>,
}

impl AwsTarget {
    /// Builds the target's clients from its config. Reads `secret_access_key_file`
    /// if set; opens no connection.
    pub fn new(name: &str, config: &TargetConfig) -> Result<AwsTarget, Error> {
        let invalid = |message: &str| Error::InvalidConfig {
            target: name.to_owned(),
            message: message.to_owned(),
        };
        if config.region.trim().is_empty() {
            return Err(invalid("region must not be empty"));
        }
        if config.access_key_id.trim().is_empty() {
            return Err(invalid("access_key_id must not be empty"));
        }
        if let Some(endpoint) = &config.endpoint {
            let host = endpoint
                .strip_prefix("http://")
                .or_else(|| endpoint.strip_prefix("https://"));
            if host.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
                return Err(invalid(
                    "endpoint must be an http:// or https:// URL with a host",
                ));
            }
        }
        let secret = match (&config.secret_access_key, &config.secret_access_key_file) {
            (Some(secret), None) => secret.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| Error::SecretFile {
                    target: name.to_owned(),
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_owned(),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "set only one of secret_access_key and secret_access_key_file",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "secret_access_key or secret_access_key_file is required",
                ))
            }
        };
        if secret.is_empty() {
            return Err(invalid("the secret access key is empty"));
        }
        let requests_per_second = NonZeroU32::new(config.requests_per_second)
            .ok_or_else(|| invalid("requests_per_second must be at least 1"))?;
        let burst =
            NonZeroU32::new(config.burst).ok_or_else(|| invalid("burst must be at least 1"))?;
        if config.max_attempts == 0 {
            return Err(invalid("max_attempts must be at least 1"));
        }
        if config.breaker_failures == 0 {
            return Err(invalid("breaker_failures must be at least 1"));
        }
        let health = Arc::new(TargetHealth::new(
            name,
            requests_per_second,
            burst,
            config.breaker_failures,
            config.breaker_cooldown,
        ));
        Ok(AwsTarget {
            name: name.into(),
            region: config.region.as_str().into(),
            bucket_prefix: config.bucket_prefix.as_str().into(),
            clients: clients::build(name, config, secret, health.clone()),
            health,
        })
    }

    /// The target's name in skyport.toml.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The region the clients sign for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// An S3 client for this target: path-style addressing, on the target's
    /// resilient HTTP layer (rate limit, breaker, retries). It has no overall
    /// timeout, so objects of any size can stream through it.
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        self.clients.s3.clone()
    }

    /// This target's S3 as an s3s service: `s3s-aws`'s proxy over
    /// [`Self::s3_client`], forwarding requests for buckets that live here
    /// with their bodies streaming through.
    pub fn s3_service(&self) -> std::sync::Arc<dyn s3s::S3> {
        std::sync::Arc::new(s3s_aws::Proxy::from(self.s3_client()))
    }

    /// The bucket's name on the target: `bucket_prefix` + `bucket`.
    pub fn remote_bucket_name(&self, bucket: &str) -> String {
        format!("{}{bucket}", self.bucket_prefix)
    }

    /// False while the circuit breaker is open (calls fail fast until a trial or
    /// [`probe`](Self::probe) succeeds).
    pub fn healthy(&self) -> bool {
        !self.health.breaker.is_open()
    }

    /// Exponentially weighted average latency of successful attempts, in milliseconds.
    pub fn latency_ms(&self) -> Option<f64> {
        self.health.latency_ms()
    }

    /// One cheap call (EC2 DescribeAvailabilityZones, a single attempt). It goes
    /// out even while the breaker is open once the cooldown has passed, and its
    /// success closes the breaker.
    #[tracing::instrument(skip(self), fields(backend = %self.name))]
    pub async fn probe(&self) -> cloud::Result<()> {
        let call = self
            .clients
            .ec2
            .describe_availability_zones()
            .customize()
            .config_override(aws_sdk_ec2::Config::builder().retry_config(RetryConfig::disabled()))
            .send();
        as_probe(call)
            .await
            .map(|_| ())
            .map_err(|error| self.fail(error))
    }

    /// Classifies a failed SDK call and logs it.
    pub(crate) fn fail<E>(&self, error: SdkError<E, HttpResponse>) -> cloud::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let error = Error::from_sdk(&self.name, error);
        tracing::debug!(backend = %self.name, %error, "target call failed");
        error.into()
    }
}
