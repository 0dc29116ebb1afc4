//! Skyport's client for a remote cloud — AWS, any EC2/S3-compatible cloud, or a
//! peer Skyport — as a [`cloud::Compute`] backend plus bucket calls and an S3
//! client for streaming objects.
//!
//! Every request to a target, EC2 or S3, goes through one per-target HTTP layer
//! (`connector.rs`): a rate limiter, a circuit breaker that fails fast after
//! consecutive failures, and a latency average. On top, the SDK's standard
//! retries (exponential backoff with jitter, `Retry-After` honoured up to a cap:
//! `retry_after.rs`) and attempt, operation and connect timeouts. Failures
//! become `cloud::Error` in one place (`error.rs`).
//!
//! ```
//! use aws_backend::{AwsTarget, TargetConfig};
//!
//! let config: TargetConfig = toml::from_str(r#"
//!     endpoint = "http://127.0.0.1:5000"
//!     region = "us-east-1"
//!     access_key_id = "AKIDEXAMPLE"
//!     secret_access_key = "secret"
//!     bucket_prefix = "site1-"
//!     attempt_timeout_secs = 2.5
//! "#).unwrap();
//! // No network is touched until the first call.
//! let target = AwsTarget::new("lab", &config).unwrap();
//! assert_eq!(target.remote_bucket_name("logs"), "site1-logs");
//! assert!(target.healthy());
//! assert_eq!(target.latency_ms(), None);
//! ```

mod addresses;
mod attempt_timeout;
mod breaker;
mod clients;
mod config;
mod connector;
mod ec2;
mod error;
mod health;
mod remote;
mod retry_after;
mod s3;
mod target;
mod volumes;

pub use config::TargetConfig;
pub use error::Error;
pub use target::AwsTarget;
