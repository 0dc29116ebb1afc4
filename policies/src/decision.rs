//! The outcome of one evaluation: the chosen target and every reason behind it.

use std::fmt;

use crate::rule::Criterion;
use crate::target::{SupportClass, TargetKind};

/// Why a candidate target was removed.
#[derive(Debug, Clone, PartialEq)]
pub enum DropReason {
    /// Listed in the rule's `exclude`.
    Excluded,
    /// Jurisdiction country not in `require.country`.
    Country {
        /// The target's country.
        country: String,
        /// The countries the rule allows.
        allowed: Vec<String>,
    },
    /// Kind not in `require.kind`.
    Kind {
        /// The target's kind.
        kind: TargetKind,
    },
    /// Region missing or not matching `require.region`.
    Region {
        /// The target's region, if it has one.
        region: Option<String>,
    },
    /// Promised availability below `require.min_availability` (or none promised).
    Availability {
        /// What the target promises.
        offered: Option<f64>,
        /// What the rule requires.
        required: f64,
    },
    /// Support class below `require.min_support`.
    Support {
        /// What the target offers.
        offered: SupportClass,
        /// What the rule requires.
        required: SupportClass,
    },
    /// Hourly price of the requested instance type above `require.max_price_per_hour`, or unknown.
    PricePerHour {
        /// The requested instance type.
        instance_type: String,
        /// The target's price for it, if listed.
        price: Option<f64>,
        /// The rule's maximum.
        max: f64,
    },
    /// Storage price above `require.max_price_per_gb_month`, or unknown.
    PricePerGbMonth {
        /// The target's storage price, if listed.
        price: Option<f64>,
        /// The rule's maximum.
        max: f64,
    },
    /// A burst target while the burst source is not over its threshold.
    NotBursting {
        /// The burst source.
        from: String,
        /// Its current utilisation.
        utilisation: f64,
        /// The threshold it must exceed.
        above: f64,
    },
    /// The target cannot serve this request at all (the request's eligible
    /// targets leave it out), for the reason given.
    Ineligible(String),
    /// No live facts were supplied for the target, so its health is unknown.
    NoFacts,
    /// The target is unhealthy.
    Unhealthy,
    /// Not enough free vCPUs.
    Capacity {
        /// vCPUs in use.
        used: u32,
        /// vCPUs requested.
        requested: u32,
        /// The target's limit.
        max: u32,
    },
}

impl fmt::Display for DropReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Excluded => write!(formatter, "excluded"),
            DropReason::Country { country, allowed } => {
                write!(
                    formatter,
                    "country {country} not in required [{}]",
                    allowed.join(", ")
                )
            }
            DropReason::Kind { kind } => write!(formatter, "kind {kind} not allowed"),
            DropReason::Region {
                region: Some(region),
            } => write!(formatter, "region {region} not allowed"),
            DropReason::Region { region: None } => {
                write!(formatter, "no region, and the rule requires one")
            }
            DropReason::Availability {
                offered: Some(offered),
                required,
            } => {
                write!(
                    formatter,
                    "availability {offered}% below required {required}%"
                )
            }
            DropReason::Availability {
                offered: None,
                required,
            } => {
                write!(formatter, "no availability promised, {required}% required")
            }
            DropReason::Support { offered, required } => {
                write!(formatter, "support {offered} below required {required}")
            }
            DropReason::PricePerHour {
                instance_type,
                price: Some(price),
                max,
            } => {
                write!(
                    formatter,
                    "{instance_type} costs {price}/h, above maximum {max}/h"
                )
            }
            DropReason::PricePerHour {
                instance_type,
                price: None,
                max,
            } => {
                write!(
                    formatter,
                    "no price for {instance_type}, maximum {max}/h required"
                )
            }
            DropReason::PricePerGbMonth {
                price: Some(price),
                max,
            } => {
                write!(
                    formatter,
                    "storage costs {price}/GB-month, above maximum {max}"
                )
            }
            DropReason::PricePerGbMonth { price: None, max } => {
                write!(
                    formatter,
                    "no storage price, maximum {max}/GB-month required"
                )
            }
            DropReason::NotBursting {
                from,
                utilisation,
                above,
            } => {
                write!(
                    formatter,
                    "burst only: {from} utilisation {utilisation} is not above {above}"
                )
            }
            DropReason::Ineligible(why) => write!(formatter, "{why}"),
            DropReason::NoFacts => write!(formatter, "no live facts (health unknown)"),
            DropReason::Unhealthy => write!(formatter, "unhealthy"),
            DropReason::Capacity {
                used,
                requested,
                max,
            } => {
                write!(
                    formatter,
                    "{requested} vCPUs requested, {used} of {max} in use"
                )
            }
        }
    }
}

/// One candidate removed, with the rule responsible (none for health and capacity, which
/// every decision checks).
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    /// The target removed.
    pub target: String,
    /// The rule that removed it, if a rule did.
    pub rule: Option<String>,
    /// Why.
    pub reason: DropReason,
}

/// One ranking criterion in force, in order of significance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankStep {
    /// The rule contributing it.
    pub rule: String,
    /// The criterion.
    pub criterion: Criterion,
}

/// A burst source over its threshold, ranked after every other candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Demotion {
    /// The burst source.
    pub target: String,
    /// The rule with the burst.
    pub rule: String,
    /// Its utilisation.
    pub utilisation: f64,
    /// The threshold exceeded.
    pub above: f64,
}

/// Why no target was chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The policy set declares no targets.
    NoTargets,
    /// Every candidate was dropped; `rules` lists the rules that dropped any (empty when
    /// only health or capacity did).
    NoCandidate {
        /// Responsible rules, in evaluation order.
        rules: Vec<String>,
    },
    /// The best candidate is unhealthy and a matching rule says `on_unhealthy = "fail"`.
    Unhealthy {
        /// The rule refusing to fail over.
        rule: String,
        /// The unhealthy best candidate.
        target: String,
    },
}

impl Refusal {
    /// The rules responsible for the refusal, for naming in the client's error.
    pub fn rules(&self) -> Vec<&str> {
        match self {
            Refusal::NoTargets => Vec::new(),
            Refusal::NoCandidate { rules } => rules.iter().map(String::as_str).collect(),
            Refusal::Unhealthy { rule, .. } => vec![rule.as_str()],
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoTargets => write!(formatter, "no placement targets are configured"),
            Refusal::NoCandidate { rules } if rules.is_empty() => {
                write!(formatter, "no healthy target with capacity is available")
            }
            Refusal::NoCandidate { rules } => {
                let quoted: Vec<String> = rules.iter().map(|rule| format!("\"{rule}\"")).collect();
                write!(
                    formatter,
                    "no target satisfies policy rule {}",
                    quoted.join(", ")
                )
            }
            Refusal::Unhealthy { rule, target } => {
                write!(
                    formatter,
                    "target {target} is unhealthy and policy rule \"{rule}\" forbids failover"
                )
            }
        }
    }
}

/// The engine's answer for one request: the target (or none) and every reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The chosen target, if any.
    pub target: Option<String>,
    /// Rules whose `match` accepted the request, in evaluation order.
    pub matched_rules: Vec<String>,
    /// Candidates removed, in the order they were removed.
    pub dropped: Vec<Dropped>,
    /// Ranking criteria applied, most significant first (target name breaks remaining ties).
    pub ranking: Vec<RankStep>,
    /// Burst sources demoted for being over their threshold.
    pub demoted: Vec<Demotion>,
    /// Candidates that met every rule, best first, before health and capacity were checked.
    pub ranked: Vec<String>,
    /// Why there is no target; `None` exactly when `target` is `Some`.
    pub refusal: Option<Refusal>,
}

impl Decision {
    /// The rules responsible when no target was chosen; empty otherwise.
    pub fn responsible_rules(&self) -> Vec<&str> {
        self.refusal
            .as_ref()
            .map(Refusal::rules)
            .unwrap_or_default()
    }

    /// Multi-line, human-readable account of the decision (what `skyport policy explain` prints).
    pub fn explain(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.target, &self.refusal) {
            (Some(target), _) => writeln!(formatter, "target: {target}")?,
            (None, Some(refusal)) => writeln!(formatter, "target: none ({refusal})")?,
            (None, None) => writeln!(formatter, "target: none")?,
        }
        if self.matched_rules.is_empty() {
            writeln!(formatter, "matched rules: none")?;
        } else {
            writeln!(
                formatter,
                "matched rules: {}",
                self.matched_rules.join(", ")
            )?;
        }
        if !self.dropped.is_empty() {
            writeln!(formatter, "dropped:")?;
            for dropped in &self.dropped {
                match &dropped.rule {
                    Some(rule) => writeln!(
                        formatter,
                        "  {}: {} (rule {rule})",
                        dropped.target, dropped.reason
                    )?,
                    None => writeln!(formatter, "  {}: {}", dropped.target, dropped.reason)?,
                }
            }
        }
        for demotion in &self.demoted {
            writeln!(
                formatter,
                "demoted: {} utilisation {} above {} (rule {})",
                demotion.target, demotion.utilisation, demotion.above, demotion.rule
            )?;
        }
        let mut ranking = Vec::new();
        if !self.demoted.is_empty() {
            ranking.push("demoted burst sources last".to_string());
        }
        ranking.extend(
            self.ranking
                .iter()
                .map(|step| format!("{} (rule {})", step.criterion, step.rule)),
        );
        ranking.push("target name".to_string());
        writeln!(formatter, "ranking: {}", ranking.join(", then "))?;
        if self.ranked.is_empty() {
            writeln!(formatter, "order: (no candidates)")
        } else {
            writeln!(formatter, "order: {}", self.ranked.join(", "))
        }
    }
}
