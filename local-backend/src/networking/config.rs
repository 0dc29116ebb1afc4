//! `[network]` in skyport.toml: how tenant subnets are segmented and which
//! public addresses elastic IPs come from. Documented in docs/configuration.md.

use std::ops::RangeInclusive;

use cloud::{Error, Result};
use ipnet::Ipv4Net;
use serde::Deserialize;

/// How a subnet gets its own L2 domain across hosts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SegmentDriver {
    /// A Linux bridge per subnet joined across hosts by a VXLAN VNI.
    Vxlan,
    /// An 802.1Q tag per subnet on Open vSwitch.
    Vlan,
}

/// One host of the tenant networks: where its devices live and how the
/// other hosts reach it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetHostConfig {
    /// A short name for logs and `skyport admin network show`.
    pub name: String,
    /// The network namespace standing for this host (`ip netns`); empty =
    /// this machine itself. Namespaces let one machine play several hosts.
    #[serde(default)]
    pub netns: String,
    /// Its address on the fabric that carries VXLAN between hosts (vxlan
    /// driver); empty when it is the only host.
    #[serde(default)]
    pub underlay: String,
    /// The device on this machine carrying its VLAN trunk to the fabric
    /// (vlan driver); empty when it is the only host.
    #[serde(default)]
    pub trunk: String,
}

impl SegmentDriver {
    /// The name `[network] driver` takes.
    pub fn name(self) -> &'static str {
        match self {
            SegmentDriver::Vxlan => "vxlan",
            SegmentDriver::Vlan => "vlan",
        }
    }
}

/// Elastic IPs out of the box: TEST-NET-3 (RFC 5737), a documentation
/// block no network routes, so its addresses exist only on this machine —
/// the site's public bridge and its routers' namespaces — until an operator
/// configures a real pool (docs/networking.md, "The public pool beyond this machine").
pub const DEFAULT_PUBLIC_POOL: &str = "203.0.113.0/24";

/// Tenant network settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// `vxlan` or `vlan`.
    pub driver: SegmentDriver,
    /// First and last segment id subnets may take (VNIs for vxlan, VLAN ids for vlan).
    pub segment_range: [i64; 2],
    /// The public address pool of elastic IPs; empty = none. The default is
    /// [`DEFAULT_PUBLIC_POOL`].
    pub public_pool: String,
    /// Build tenant networks' data plane (bridges, segments, routers, DHCP,
    /// NAT). Off, the API still keeps VPC records.
    pub enabled: bool,
    /// The hosts; the first is the network node (routers, NAT, DHCP). Empty =
    /// this machine alone.
    pub hosts: Vec<NetHostConfig>,
    /// Where DHCP servers keep their files; empty = `<data_dir>/network`.
    pub state_dir: std::path::PathBuf,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            driver: SegmentDriver::Vxlan,
            segment_range: [1000, 4000],
            public_pool: DEFAULT_PUBLIC_POOL.into(),
            enabled: true,
            hosts: Vec::new(),
            state_dir: std::path::PathBuf::new(),
        }
    }
}

impl NetworkConfig {
    /// The segment ids, checked against what the driver can carry.
    pub fn segments(&self) -> Result<RangeInclusive<i64>> {
        let [first, last] = self.segment_range;
        let (low, high) = match self.driver {
            SegmentDriver::Vxlan => (1, (1 << 24) - 1),
            SegmentDriver::Vlan => (1, 4094),
        };
        if first > last || first < low || last > high {
            return Err(Error::invalid(
                "network.segment_range",
                format!(
                    "[{first}, {last}] is not a range of {} ids ({low} to {high})",
                    match self.driver {
                        SegmentDriver::Vxlan => "VXLAN",
                        SegmentDriver::Vlan => "VLAN",
                    }
                ),
            ));
        }
        Ok(first..=last)
    }

    /// The public pool, if one is configured.
    pub fn pool(&self) -> Result<Option<Ipv4Net>> {
        if self.public_pool.is_empty() {
            return Ok(None);
        }
        let pool: Ipv4Net = self.public_pool.parse().map_err(|_| {
            Error::invalid(
                "network.public_pool",
                format!(
                    "'{}' is not an IPv4 block like 203.0.113.0/24",
                    self.public_pool
                ),
            )
        })?;
        if pool.prefix_len() > 30 {
            return Err(Error::invalid(
                "network.public_pool",
                format!("'{}' is too small: use a /30 or larger", self.public_pool),
            ));
        }
        Ok(Some(pool.trunc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_per_driver() {
        let mut config = NetworkConfig::default();
        assert_eq!(config.segments().unwrap(), 1000..=4000);
        config.driver = SegmentDriver::Vlan;
        config.segment_range = [100, 5000];
        assert!(config.segments().is_err());
        config.segment_range = [200, 100];
        assert!(config.segments().is_err());
    }

    #[test]
    fn pools_parse() {
        let mut config = NetworkConfig::default();
        // Elastic IPs out of the box, from a block that routes nowhere.
        assert_eq!(
            config.pool().unwrap(),
            Some("203.0.113.0/24".parse().unwrap())
        );
        config.public_pool = String::new();
        assert_eq!(config.pool().unwrap(), None);
        config.public_pool = "198.51.100.0/24".into();
        assert_eq!(config.pool().unwrap().unwrap().prefix_len(), 24);
        config.public_pool = "nope".into();
        assert!(config.pool().is_err());
    }
}
