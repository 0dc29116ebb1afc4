//! One remote target's settings, as written in skyport.toml under `[targets.NAME]`.
//!
//! Durations are typed here; in TOML each key carries its unit (`_secs`, `_ms`)
//! and accepts an integer or a decimal (`attempt_timeout_secs = 0.5`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Connection and resilience settings of one remote target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Base URL of the target (`http://127.0.0.1:5000`, a peer Skyport, an
    /// EC2/S3-compatible cloud). `None` = AWS's own endpoints for `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region to sign for and, on AWS, to talk to.
    pub region: String,
    /// Access key ID Skyport uses on the target.
    pub access_key_id: String,
    /// The secret key, inline. Exactly one of this and `secret_access_key_file` is required.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// A file holding the secret key (surrounding whitespace ignored).
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// Prepended to bucket names on the target, so several sites can share one account.
    #[serde(default)]
    pub bucket_prefix: String,

    /// Time allowed for one HTTP attempt, until the response headers arrive
    /// (`attempt_timeout_secs`, default 10).
    #[serde(
        rename = "attempt_timeout_secs",
        default = "defaults::attempt_timeout",
        deserialize_with = "seconds"
    )]
    pub attempt_timeout: Duration,
    /// Time allowed for a whole EC2 or bucket call, retries and backoff included
    /// (`operation_timeout_secs`, default 30). Object transfers are not bounded by
    /// it: they are guarded by the attempt timeout until the body is sent, then
    /// by the SDK's stalled-stream protection.
    #[serde(
        rename = "operation_timeout_secs",
        default = "defaults::operation_timeout",
        deserialize_with = "seconds"
    )]
    pub operation_timeout: Duration,
    /// Time allowed to open a TCP (and TLS) connection (`connect_timeout_secs`, default 3).
    #[serde(
        rename = "connect_timeout_secs",
        default = "defaults::connect_timeout",
        deserialize_with = "seconds"
    )]
    pub connect_timeout: Duration,
    /// Attempts per call, the first included (default 3; 1 disables retries).
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Base of the exponential backoff between attempts (`initial_backoff_ms`, default 100).
    #[serde(
        rename = "initial_backoff_ms",
        default = "defaults::initial_backoff",
        deserialize_with = "milliseconds"
    )]
    pub initial_backoff: Duration,
    /// Longest backoff between two attempts (`max_backoff_secs`, default 5).
    #[serde(
        rename = "max_backoff_secs",
        default = "defaults::max_backoff",
        deserialize_with = "seconds"
    )]
    pub max_backoff: Duration,
    /// Sustained requests per second Skyport sends this target (default 50).
    #[serde(default = "defaults::requests_per_second")]
    pub requests_per_second: u32,
    /// Requests that may go out at once after a quiet period (default 100).
    #[serde(default = "defaults::burst")]
    pub burst: u32,
    /// Consecutive failed attempts that open the circuit breaker (default 3).
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before it lets a trial through
    /// (`breaker_cooldown_secs`, default 10).
    #[serde(
        rename = "breaker_cooldown_secs",
        default = "defaults::breaker_cooldown",
        deserialize_with = "seconds"
    )]
    pub breaker_cooldown: Duration,
    /// Longest `Retry-After` Skyport honours on a 429/503 (`max_retry_after_secs`,
    /// default 5); longer requests are cut to this (and to `max_backoff_secs`).
    #[serde(
        rename = "max_retry_after_secs",
        default = "defaults::max_retry_after",
        deserialize_with = "seconds"
    )]
    pub max_retry_after: Duration,
}

impl TargetConfig {
    /// A config with an inline secret and every resilience knob at its default.
    pub fn new(
        endpoint: Option<String>,
        region: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        TargetConfig {
            endpoint,
            region: region.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: Some(secret_access_key.into()),
            secret_access_key_file: None,
            bucket_prefix: String::new(),
            attempt_timeout: defaults::attempt_timeout(),
            operation_timeout: defaults::operation_timeout(),
            connect_timeout: defaults::connect_timeout(),
            max_attempts: defaults::max_attempts(),
            initial_backoff: defaults::initial_backoff(),
            max_backoff: defaults::max_backoff(),
            requests_per_second: defaults::requests_per_second(),
            burst: defaults::burst(),
            breaker_failures: defaults::breaker_failures(),
            breaker_cooldown: defaults::breaker_cooldown(),
            max_retry_after: defaults::max_retry_after(),
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn attempt_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn operation_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(3)
    }
    pub fn max_attempts() -> u32 {
        3
    }
    pub fn initial_backoff() -> Duration {
        Duration::from_millis(100)
    }
    pub fn max_backoff() -> Duration {
        Duration::from_secs(5)
    }
    pub fn requests_per_second() -> u32 {
        50
    }
    pub fn burst() -> u32 {
        100
    }
    pub fn breaker_failures() -> u32 {
        3
    }
    pub fn breaker_cooldown() -> Duration {
        Duration::from_secs(10)
    }
    pub fn max_retry_after() -> Duration {
        Duration::from_secs(5)
    }
}

/// A non-negative number of seconds, integer or decimal.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    scaled(deserializer, 1.0)
}

/// A non-negative number of milliseconds, integer or decimal.
fn milliseconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    scaled(deserializer, 1e-3)
}

fn scaled<'de, D: Deserializer<'de>>(
    deserializer: D,
    unit_secs: f64,
) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Integer(u64),
        Decimal(f64),
    }
    let value = match Number::deserialize(deserializer)? {
        Number::Integer(integer) => integer as f64,
        Number::Decimal(decimal) => decimal,
    };
    Duration::try_from_secs_f64(value * unit_secs)
        .map_err(|_| serde::de::Error::custom(format!("{value} is not a non-negative duration")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_the_credentials() {
        let config: TargetConfig = toml::from_str(
            r#"
            region = "ap-northeast-1"
            access_key_id = "AKID"
            secret_access_key = "secret"
            "#,
        )
        .unwrap();
        assert_eq!(config.endpoint, None);
        assert_eq!(config.bucket_prefix, "");
        assert_eq!(config.attempt_timeout, Duration::from_secs(10));
        assert_eq!(config.operation_timeout, Duration::from_secs(30));
        assert_eq!(config.connect_timeout, Duration::from_secs(3));
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.initial_backoff, Duration::from_millis(100));
        assert_eq!(config.max_backoff, Duration::from_secs(5));
        assert_eq!(config.requests_per_second, 50);
        assert_eq!(config.burst, 100);
        assert_eq!(config.breaker_failures, 3);
        assert_eq!(config.breaker_cooldown, Duration::from_secs(10));
        assert_eq!(config.max_retry_after, Duration::from_secs(5));
    }

    #[test]
    fn durations_take_integers_and_decimals() {
        let config: TargetConfig = toml::from_str(
            r#"
            endpoint = "http://127.0.0.1:5000"
            region = "us-east-1"
            access_key_id = "AKID"
            secret_access_key_file = "/run/secret"
            attempt_timeout_secs = 0.25
            initial_backoff_ms = 20
            breaker_cooldown_secs = 1
            "#,
        )
        .unwrap();
        assert_eq!(config.attempt_timeout, Duration::from_millis(250));
        assert_eq!(config.initial_backoff, Duration::from_millis(20));
        assert_eq!(config.breaker_cooldown, Duration::from_secs(1));
        assert_eq!(
            config.secret_access_key_file,
            Some(PathBuf::from("/run/secret"))
        );
    }

    #[test]
    fn unknown_keys_and_negative_durations_are_refused() {
        let unknown = toml::from_str::<TargetConfig>(
            "region = \"r\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\nretries = 3\n",
        );
        assert!(unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `retries`"));
        let negative = toml::from_str::<TargetConfig>(
            "region = \"r\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\nattempt_timeout_secs = -1\n",
        );
        assert!(negative.is_err());
    }
}
