//! Skyport's configuration: `skyport.toml`, overridden by `SKYPORT_*` environment
//! variables and command-line flags (flags win). Every key is documented in
//! docs/configuration.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Limits on request rates (requests per second and burst size).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second allowed for one access key.
    pub per_key_per_second: u32,
    /// Requests one access key may send at once before being limited.
    pub per_key_burst: u32,
    /// Sustained requests per second for all keys of one tenant together.
    pub per_tenant_per_second: u32,
    /// Burst size for one tenant.
    pub per_tenant_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_key_per_second: 2000,
            per_key_burst: 4000,
            per_tenant_per_second: 4000,
            per_tenant_burst: 8000,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the single EC2 + S3 endpoint listens on.
    pub bind: SocketAddr,
    /// Threads serving client connections, each with its own runtime; 0 means
    /// one per CPU.
    pub connection_threads: usize,
    /// Directory holding the SQLite database, the object store and the client profile.
    pub data_dir: PathBuf,
    /// Database URL; empty means SQLite at `<data_dir>/skyport.db`.
    pub database: String,
    /// File holding the key that seals secret access keys; empty means `<data_dir>/master.key`.
    pub master_key_file: PathBuf,
    /// The region this site reports.
    pub region: String,
    /// Availability zones of this site; empty means one zone, `<region>a`.
    pub availability_zones: Vec<String>,
    /// Base domain for virtual-host-style S3 (`bucket.<domain>`); empty disables
    /// it. `localhost` by default: `<bucket>.localhost` resolves to loopback
    /// (RFC 6761), as MinIO serves it.
    pub s3_base_domain: String,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `gateway=debug`.
    pub log: String,
    /// Unfinished multipart uploads older than this many hours are aborted.
    pub multipart_expiry_hours: u64,
    /// Seconds between two applications of buckets' lifecycle rules.
    pub lifecycle_interval_secs: u64,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// Directory of placement policy files (docs/policies.md); empty means
    /// everything stays on this site. Changes are picked up while running.
    pub policy_dir: PathBuf,
    /// Seconds between two checks of the policy directory for changes.
    pub policy_reload_secs: f64,
    /// The policies' name for this site's own backend.
    pub local_target: String,
    /// Seconds between two health probes of each remote target.
    pub target_probe_secs: f64,
    /// Seconds between two sweeps for instances launched on a remote target
    /// but never recorded (a crash mid-launch); they are terminated.
    pub reconcile_interval_secs: f64,
    /// Seconds between two refreshes of every live instance's state from its
    /// target. DescribeInstances serves settled instances from the records
    /// (asking targets only about instances in a transitional state), so
    /// changes made outside Skyport show within this interval.
    pub instance_sync_secs: f64,
    /// How old such an instance must be before the sweep terminates it.
    pub orphan_grace_secs: u64,
    /// Remote clouds by the name the policies give them: endpoint, region,
    /// credentials and resilience settings.
    pub targets: BTreeMap<String, aws_backend::TargetConfig>,
    /// This site's own compute: libvirt host, instance network, instance types.
    pub compute: local_backend::ComputeConfig,
    /// Tenant networks: segmentation driver, segment ids, public address pool.
    pub network: local_backend::NetworkConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8773)),
            connection_threads: 0,
            data_dir: PathBuf::from("./skyport-data"),
            database: String::new(),
            master_key_file: PathBuf::new(),
            region: "us-east-1".into(),
            availability_zones: Vec::new(),
            s3_base_domain: "localhost".into(),
            log: "info,s3s=off".into(),
            multipart_expiry_hours: 7 * 24,
            lifecycle_interval_secs: 3600,
            rate_limit: RateLimitConfig::default(),
            policy_dir: PathBuf::new(),
            policy_reload_secs: 1.0,
            local_target: "local".into(),
            target_probe_secs: 5.0,
            reconcile_interval_secs: 300.0,
            instance_sync_secs: 5.0,
            orphan_grace_secs: 600,
            targets: BTreeMap::new(),
            compute: local_backend::ComputeConfig::default(),
            network: local_backend::NetworkConfig::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    /// Reads a TOML file; unknown keys are errors that name the file and position.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        if self.database.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("skyport.db").display()
            )
        } else {
            self.database.clone()
        }
    }

    /// The master key file in force.
    pub fn master_key_path(&self) -> PathBuf {
        if self.master_key_file.as_os_str().is_empty() {
            self.data_dir.join("master.key")
        } else {
            self.master_key_file.clone()
        }
    }

    /// The compute settings with their defaults resolved against the site's
    /// data directory and zones.
    pub fn compute(&self) -> local_backend::ComputeConfig {
        let mut compute = self.compute.clone();
        if compute.instances_dir.as_os_str().is_empty() {
            compute.instances_dir = self.data_dir.join("instances");
        }
        if compute.images_dir.as_os_str().is_empty() {
            compute.images_dir = self.data_dir.join("images");
        }
        if compute.availability_zone.is_empty() {
            compute.availability_zone = self.zones().remove(0);
        }
        compute
    }

    /// What the account layer needs of `[network]`, checked; `data_plane` is
    /// the opened fabric's MTU, or why there is no data plane.
    pub fn network_settings(
        &self,
        data_plane: Result<Option<u32>, String>,
    ) -> cloud::Result<accounts::NetworkSettings> {
        let (mtu, data_plane_missing) = match data_plane {
            Ok(mtu) => (mtu, None),
            Err(reason) => (None, Some(reason)),
        };
        Ok(accounts::NetworkSettings {
            segments: self.network.segments()?,
            public_pool: self.network.pool()?,
            zones: self.zones(),
            data_plane_missing,
            mtu,
        })
    }

    /// Where the network data plane keeps its files.
    pub fn network_state_dir(&self) -> PathBuf {
        if self.network.state_dir.as_os_str().is_empty() {
            self.data_dir.join("network")
        } else {
            self.network.state_dir.clone()
        }
    }

    /// The availability zones in force.
    pub fn zones(&self) -> Vec<String> {
        if self.availability_zones.is_empty() {
            vec![format!("{}a", self.region)]
        } else {
            self.availability_zones.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let config: Config =
            toml::from_str("region = \"ap-northeast-1\"\n[rate_limit]\nper_key_burst = 5\n")
                .unwrap();
        assert_eq!(config.bind.port(), 8773);
        assert_eq!(config.zones(), ["ap-northeast-1a"]);
        assert_eq!(config.rate_limit.per_key_burst, 5);
        assert_eq!(config.rate_limit.per_key_per_second, 2000);
        assert!(config
            .database_url()
            .starts_with("sqlite://./skyport-data/skyport.db"));
    }

    #[test]
    fn the_example_file_is_valid_and_says_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skyport.toml");
        let config = Config::from_file(&path).unwrap();
        let compute = config.compute();
        assert!(compute.enabled);
        assert_eq!(compute.cidr, local_backend::ComputeConfig::default().cidr);
        assert_eq!(compute.availability_zone, config.zones()[0]);
        assert!(compute.images_dir.ends_with("images"));
    }

    #[test]
    fn unknown_keys_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skyport.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:1\"\nbogus = 1\n").unwrap();
        let message = Config::from_file(&path).unwrap_err().to_string();
        assert!(
            message.contains("skyport.toml") && message.contains("bogus"),
            "{message}"
        );
    }
}
