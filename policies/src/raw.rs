//! The TOML file shape as serde sees it: spanned, unvalidated, `deny_unknown_fields`.
//!
//! Kept apart from the model so that spans (needed only for error positions) never leak
//! into the types the engine evaluates.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::request::ResourceKind;
use crate::rule::{Criterion, OnUnhealthy};
use crate::target::{SupportClass, TargetKind};

/// A list of strings whose elements and whole are each positioned.
pub(crate) type SpannedList = Spanned<Vec<Spanned<String>>>;

/// One policy file: any number of targets and rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub target: Vec<RawTarget>,
    #[serde(default)]
    pub rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub name: Spanned<String>,
    pub kind: TargetKind,
    pub jurisdiction: RawJurisdiction,
    #[serde(default)]
    pub price: RawPrice,
    #[serde(default)]
    pub sla: RawSla,
    #[serde(default)]
    pub capacity: RawCapacity,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJurisdiction {
    pub country: Spanned<String>,
    pub region: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrice {
    /// Values stay untyped here: an unquoted `m5.large = 1` arrives as a table under `m5`,
    /// and only a hand-made message can say "quote the instance type". (toml cannot span
    /// a value given by dotted keys, so the span is the whole table's.)
    pub instance_hour: Option<Spanned<BTreeMap<String, toml::Value>>>,
    pub storage_gb_month: Option<Spanned<f64>>,
    pub egress_gb: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSla {
    pub availability: Option<Spanned<f64>>,
    #[serde(default)]
    pub support: SupportClass,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapacity {
    pub max_vcpus: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: Spanned<String>,
    pub description: Option<String>,
    #[serde(rename = "match", default)]
    pub matcher: RawMatch,
    #[serde(default)]
    pub require: RawRequire,
    pub exclude: Option<SpannedList>,
    pub rank: Option<Spanned<Vec<Spanned<Criterion>>>>,
    pub prefer: Option<SpannedList>,
    pub burst: Option<Spanned<RawBurst>>,
    #[serde(default)]
    pub on_unhealthy: OnUnhealthy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub tenant: Option<SpannedList>,
    pub action: Option<SpannedList>,
    pub resource: Option<Spanned<Vec<ResourceKind>>>,
    pub tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub instance_type: Option<SpannedList>,
    pub region: Option<SpannedList>,
    pub availability_zone: Option<SpannedList>,
    pub location_constraint: Option<SpannedList>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequire {
    pub country: Option<SpannedList>,
    pub kind: Option<Spanned<Vec<TargetKind>>>,
    pub region: Option<SpannedList>,
    pub min_availability: Option<Spanned<f64>>,
    pub min_support: Option<SupportClass>,
    pub max_price_per_hour: Option<Spanned<f64>>,
    pub max_price_per_gb_month: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBurst {
    pub from: Spanned<String>,
    pub to: SpannedList,
    pub above: Spanned<f64>,
}
