//! The request facts a rule can match on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

/// The kind of resource a request creates or places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// A virtual machine.
    Instance,
    /// A block volume.
    Volume,
    /// A volume snapshot.
    Snapshot,
    /// A machine image.
    Image,
    /// An object storage bucket.
    Bucket,
    /// A network, subnet or address.
    Network,
}

impl ResourceKind {
    /// Whether the resource is priced by GB-month stored rather than by the hour.
    pub fn is_storage(self) -> bool {
        matches!(
            self,
            ResourceKind::Volume
                | ResourceKind::Snapshot
                | ResourceKind::Bucket
                | ResourceKind::Image
        )
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ResourceKind::Instance => "instance",
            ResourceKind::Volume => "volume",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Image => "image",
            ResourceKind::Bucket => "bucket",
            ResourceKind::Network => "network",
        })
    }
}

/// What is being asked for, in the terms rules match on. Built by the caller from the decoded
/// EC2 or S3 request; the engine never sees the wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Tenant making the request.
    pub tenant: String,
    /// API action name, e.g. `RunInstances`, `CreateBucket`.
    pub action: String,
    /// Kind of resource being placed.
    pub resource: ResourceKind,
    /// Tags on the request (e.g. `data-class = personal`).
    pub tags: BTreeMap<String, String>,
    /// Requested instance type, for instances.
    pub instance_type: Option<String>,
    /// vCPUs the request needs, for the capacity check.
    pub vcpus: Option<u32>,
    /// Region the client addressed.
    pub region: Option<String>,
    /// Availability zone the client asked for.
    pub availability_zone: Option<String>,
    /// S3 `LocationConstraint` of a `CreateBucket`.
    pub location_constraint: Option<String>,
    /// The only targets able to serve the request at all (e.g. those holding
    /// the image to launch), with why; `None` = every target.
    pub eligible: Option<Eligible>,
}

/// Targets a request is limited to, whatever the rules say, and the reason
/// the others cannot serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligible {
    /// Target names.
    pub targets: BTreeSet<String>,
    /// Why the other targets cannot serve the request (e.g. `image ami-1 is not there`).
    pub others: String,
}

impl Request {
    /// A request with only the three mandatory facts; add the rest with the `with_*` methods.
    pub fn new(
        tenant: impl Into<String>,
        action: impl Into<String>,
        resource: ResourceKind,
    ) -> Self {
        Request {
            tenant: tenant.into(),
            action: action.into(),
            resource,
            tags: BTreeMap::new(),
            instance_type: None,
            vcpus: None,
            region: None,
            availability_zone: None,
            location_constraint: None,
            eligible: None,
        }
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets the instance type.
    pub fn with_instance_type(mut self, instance_type: impl Into<String>) -> Self {
        self.instance_type = Some(instance_type.into());
        self
    }

    /// Sets the vCPUs needed.
    pub fn with_vcpus(mut self, vcpus: u32) -> Self {
        self.vcpus = Some(vcpus);
        self
    }

    /// Sets the requested region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the requested availability zone.
    pub fn with_availability_zone(mut self, zone: impl Into<String>) -> Self {
        self.availability_zone = Some(zone.into());
        self
    }

    /// Limits the request to `targets`; the others are dropped for `others`.
    pub fn with_eligible_targets(
        mut self,
        targets: impl IntoIterator<Item = impl Into<String>>,
        others: impl Into<String>,
    ) -> Self {
        self.eligible = Some(Eligible {
            targets: targets.into_iter().map(Into::into).collect(),
            others: others.into(),
        });
        self
    }

    /// Sets the bucket location constraint.
    pub fn with_location_constraint(mut self, constraint: impl Into<String>) -> Self {
        self.location_constraint = Some(constraint.into());
        self
    }
}

impl fmt::Display for Request {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {} {}",
            self.tenant, self.action, self.resource
        )?;
        for (key, value) in &self.tags {
            write!(formatter, " tag:{key}={value}")?;
        }
        let optional = [
            ("instance-type", &self.instance_type),
            ("region", &self.region),
            ("az", &self.availability_zone),
            ("location", &self.location_constraint),
        ];
        for (label, value) in optional {
            if let Some(value) = value {
                write!(formatter, " {label}={value}")?;
            }
        }
        if let Some(vcpus) = self.vcpus {
            write!(formatter, " vcpus={vcpus}")?;
        }
        if let Some(eligible) = &self.eligible {
            let names: Vec<&str> = eligible.targets.iter().map(String::as_str).collect();
            write!(formatter, " only={}", names.join(","))?;
        }
        Ok(())
    }
}
