//! Building one target's EC2 and S3 SDK clients on the same resilient HTTP layer,
//! retry quota and retry policy.

use std::sync::Arc;

use aws_sdk_ec2::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_smithy_http_client::tls;

use crate::attempt_timeout::AttemptTimeoutInterceptor;
use crate::config::TargetConfig;
use crate::connector::ResilientHttpClient;
use crate::health::TargetHealth;
use crate::retry_after::RetryAfterClassifier;

/// Both SDK clients of one target, plus the timeouts bucket calls run under.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub s3: aws_sdk_s3::Client,
    /// Attempt and operation timeouts for S3 calls without a streamed body
    /// (the S3 client itself has none, so object transfers of any size work).
    pub s3_call_timeouts: TimeoutConfig,
}

pub(crate) fn build(
    name: &str,
    config: &TargetConfig,
    secret_access_key: String,
    health: Arc<TargetHealth>,
) -> Clients {
    let credentials = Credentials::new(
        config.access_key_id.clone(),
        secret_access_key,
        None,
        None,
        "skyport-target-config",
    );
    let region = Region::new(config.region.clone());
    // The SDK's default HTTPS client (hyper 1, rustls with aws-lc), built once so
    // both clients share its connection pool.
    let base = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let retry = RetryConfig::standard()
        .with_max_attempts(config.max_attempts.max(1))
        .with_initial_backoff(config.initial_backoff)
        .with_max_backoff(config.max_backoff);
    // A partition of its own: this target's retry quota is not spent by others.
    let partition = RetryPartition::custom(format!("skyport-target-{name}")).build();
    let retry_after = RetryAfterClassifier::new(config.max_retry_after);
    let call_timeouts = TimeoutConfig::builder()
        .connect_timeout(config.connect_timeout)
        .operation_attempt_timeout(config.attempt_timeout)
        .operation_timeout(config.operation_timeout)
        .build();

    let ec2_http = ResilientHttpClient::new(base.clone(), health.clone(), None);
    let mut ec2 = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.clone())
        .credentials_provider(credentials.clone())
        .http_client(SharedHttpClient::new(ec2_http))
        .retry_config(retry.clone())
        .retry_partition(partition.clone())
        .retry_classifier(retry_after.clone())
        .interceptor(AttemptTimeoutInterceptor)
        .timeout_config(call_timeouts.clone());
    if let Some(endpoint) = &config.endpoint {
        ec2 = ec2.endpoint_url(endpoint);
    }

    // S3 object bodies stream through the gateway, so no attempt or operation
    // timeout on the client: the connector bounds the wait for response headers
    // once the body is sent, and the SDK's stalled-stream protection catches
    // transfers that stop moving.
    let s3_http = ResilientHttpClient::new(base, health, Some(config.attempt_timeout));
    let mut s3 = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .http_client(SharedHttpClient::new(s3_http))
        .retry_config(retry)
        .retry_partition(partition)
        .retry_classifier(retry_after)
        .interceptor(AttemptTimeoutInterceptor)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.connect_timeout)
                .build(),
        )
        .force_path_style(true)
        // Compatible clouds and peers may not know the flexible checksums (or the
        // aws-chunked trailer encoding they ride on) that the SDK would otherwise
        // add to every PUT; the gateway checks what its clients send itself.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &config.endpoint {
        s3 = s3.endpoint_url(endpoint);
    }

    Clients {
        ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        s3_call_timeouts: call_timeouts,
    }
}
