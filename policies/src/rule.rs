//! Rules: which requests they match and what they do to the candidate targets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::pattern::Pattern;
use crate::request::{Request, ResourceKind};
use crate::target::{SupportClass, TargetKind};

/// Which requests a rule applies to. Every key is optional; an absent key matches any
/// request, a present key must match (values within a key are alternatives).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Match {
    /// Tenant name patterns.
    pub tenant: Vec<Pattern>,
    /// Action name patterns (`RunInstances`, `CreateBucket`, `Create*`).
    pub action: Vec<Pattern>,
    /// Resource kinds.
    pub resource: Vec<ResourceKind>,
    /// Tags the request must carry; values are patterns (`*` = present with any value).
    pub tags: BTreeMap<String, Pattern>,
    /// Instance type patterns; a request without an instance type does not match.
    pub instance_type: Vec<Pattern>,
    /// Requested region patterns; a request without a region does not match.
    pub region: Vec<Pattern>,
    /// Requested availability zone patterns; a request without one does not match.
    pub availability_zone: Vec<Pattern>,
    /// Bucket `LocationConstraint` patterns; a request without one does not match.
    pub location_constraint: Vec<Pattern>,
}

impl Match {
    /// Whether `request` satisfies every key present.
    pub fn matches(&self, request: &Request) -> bool {
        fn any(patterns: &[Pattern], value: &str) -> bool {
            patterns.is_empty() || patterns.iter().any(|pattern| pattern.matches(value))
        }
        fn any_optional(patterns: &[Pattern], value: Option<&str>) -> bool {
            patterns.is_empty() || value.is_some_and(|value| any(patterns, value))
        }
        any(&self.tenant, &request.tenant)
            && any(&self.action, &request.action)
            && (self.resource.is_empty() || self.resource.contains(&request.resource))
            && self.tags.iter().all(|(key, pattern)| {
                request
                    .tags
                    .get(key)
                    .is_some_and(|value| pattern.matches(value))
            })
            && any_optional(&self.instance_type, request.instance_type.as_deref())
            && any_optional(&self.region, request.region.as_deref())
            && any_optional(
                &self.availability_zone,
                request.availability_zone.as_deref(),
            )
            && any_optional(
                &self.location_constraint,
                request.location_constraint.as_deref(),
            )
    }
}

/// Hard constraints: a target failing any of them is dropped. Absent means unconstrained.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Requirements {
    /// Allowed jurisdiction countries.
    pub country: Option<BTreeSet<String>>,
    /// Allowed target kinds.
    pub kind: Option<BTreeSet<TargetKind>>,
    /// Allowed target region patterns; a target without a region fails.
    pub region: Option<Vec<Pattern>>,
    /// Minimum promised availability, percent.
    pub min_availability: Option<f64>,
    /// Minimum support class.
    pub min_support: Option<SupportClass>,
    /// Maximum hourly price of the requested instance type. Only applies to requests with an
    /// instance type; a target with no price for that type fails.
    pub max_price_per_hour: Option<f64>,
    /// Maximum storage price per GB-month. Only applies to volume, snapshot, image and
    /// bucket requests; a target with no storage price fails.
    pub max_price_per_gb_month: Option<f64>,
}

impl Requirements {
    /// Whether no requirement is set.
    pub fn is_empty(&self) -> bool {
        *self == Requirements::default()
    }
}

/// One ranking criterion; candidates are sorted by the criteria of all matching rules in
/// rule order, then by target name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    /// Lowest price for this request first (hourly price of the instance type, or storage
    /// price per GB-month for storage); targets without a price last.
    Cheapest,
    /// Targets in the rule's `prefer` list first, in list order; others after.
    Prefer,
    /// Lowest measured latency first; targets without a latency fact last.
    LowestLatency,
    /// Lowest current utilisation first.
    LeastUtilised,
}

impl fmt::Display for Criterion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Criterion::Cheapest => "cheapest",
            Criterion::Prefer => "prefer",
            Criterion::LowestLatency => "lowest-latency",
            Criterion::LeastUtilised => "least-utilised",
        })
    }
}

/// Burst: the `to` targets are only allowed while `from` is busier than `above` (or not
/// available at all); while `from` is over the threshold it is ranked after everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// The target bursting out (usually the local one).
    pub from: String,
    /// The targets that absorb the burst.
    pub to: Vec<String>,
    /// Utilisation threshold, 0..=1; bursting starts strictly above it.
    pub above: f64,
}

/// What to do when the best candidate is unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnhealthy {
    /// Skip it and take the next healthy candidate (the default).
    #[default]
    Failover,
    /// Refuse the request, naming this rule.
    Fail,
}

/// One `[[rule]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name, quoted in decisions and errors.
    pub name: String,
    /// Free text for humans.
    pub description: Option<String>,
    /// Which requests it applies to.
    pub matcher: Match,
    /// Hard constraints on targets.
    pub require: Requirements,
    /// Targets removed outright.
    pub exclude: Vec<String>,
    /// Ranking criteria, most significant first.
    pub rank: Vec<Criterion>,
    /// Preference order for [`Criterion::Prefer`].
    pub prefer: Vec<String>,
    /// Burst gating.
    pub burst: Option<Burst>,
    /// Failover behaviour.
    pub on_unhealthy: OnUnhealthy,
}
