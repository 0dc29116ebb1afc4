//! Targets: the clouds a request may be placed on, described by static facts.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// What kind of cloud a target is. Only informs `require.kind`; the engine never calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// This Skyport's own libvirt hosts and object store.
    Local,
    /// Amazon Web Services.
    Aws,
    /// Any other EC2/S3-compatible cloud.
    Compatible,
    /// Another Skyport site.
    Peer,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TargetKind::Local => "local",
            TargetKind::Aws => "aws",
            TargetKind::Compatible => "compatible",
            TargetKind::Peer => "peer",
        })
    }
}

/// Support classes, ordered from least to most: `require.min_support` compares with this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupportClass {
    /// No support contract (the default when a target does not say).
    #[default]
    None,
    /// Basic support.
    Basic,
    /// Developer support.
    Developer,
    /// Business support.
    Business,
    /// Enterprise support.
    Enterprise,
}

impl fmt::Display for SupportClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            SupportClass::None => "none",
            SupportClass::Basic => "basic",
            SupportClass::Developer => "developer",
            SupportClass::Business => "business",
            SupportClass::Enterprise => "enterprise",
        })
    }
}

/// Where a target's data and machines legally sit.
#[derive(Debug, Clone, PartialEq)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2 country code, upper case (e.g. `JP`).
    pub country: String,
    /// Provider region name (e.g. `ap-northeast-1`), if the target has one.
    pub region: Option<String>,
}

/// Prices in one currency the admin chooses; the engine only compares them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    /// Price per hour by instance type; a type missing here has no known price on this target.
    pub instance_hour: BTreeMap<String, f64>,
    /// Price per GB-month stored (volumes, buckets).
    pub storage_gb_month: Option<f64>,
    /// Price per GB sent out of the target.
    pub egress_gb: Option<f64>,
}

/// The service level a target promises.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sla {
    /// Promised availability in percent (e.g. 99.95); `None` means nothing is promised.
    pub availability: Option<f64>,
    /// Support class available.
    pub support: SupportClass,
}

/// Static capacity limits; current use comes from [`crate::Facts`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Capacity {
    /// Most vCPUs the target will run at once, if limited.
    pub max_vcpus: Option<u32>,
}

/// One placement target, as declared by a `[[target]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Unique name that rules and facts refer to.
    pub name: String,
    /// What sort of cloud it is.
    pub kind: TargetKind,
    /// Country and region.
    pub jurisdiction: Jurisdiction,
    /// Price table.
    pub price: PriceTable,
    /// Service level.
    pub sla: Sla,
    /// Capacity limits.
    pub capacity: Capacity,
}

impl Target {
    /// The hourly price of `instance_type` here, if the table lists it.
    pub fn price_per_hour(&self, instance_type: &str) -> Option<f64> {
        self.price.instance_hour.get(instance_type).copied()
    }
}
