//! Live facts about targets, collected by the caller at evaluation time.

use std::collections::BTreeMap;

/// Whether a target is currently usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Answering and usable.
    Healthy,
    /// Failing health checks; never chosen.
    Unhealthy,
}

/// What the caller measured about one target just now.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetFacts {
    /// Current health.
    pub health: Health,
    /// Current utilisation, 0 (idle) to 1 (full).
    pub utilisation: f64,
    /// Measured round-trip latency in milliseconds, if known.
    pub latency_ms: Option<f64>,
    /// vCPUs in use, if known; enables the capacity check against `capacity.max_vcpus`.
    pub used_vcpus: Option<u32>,
}

impl TargetFacts {
    /// A healthy, idle target with nothing else known.
    pub fn healthy() -> Self {
        TargetFacts {
            health: Health::Healthy,
            utilisation: 0.0,
            latency_ms: None,
            used_vcpus: None,
        }
    }

    /// An unhealthy target with nothing else known.
    pub fn unhealthy() -> Self {
        TargetFacts {
            health: Health::Unhealthy,
            ..TargetFacts::healthy()
        }
    }

    /// Sets the utilisation.
    pub fn with_utilisation(mut self, utilisation: f64) -> Self {
        self.utilisation = utilisation;
        self
    }

    /// Sets the latency.
    pub fn with_latency_ms(mut self, latency_ms: f64) -> Self {
        self.latency_ms = Some(latency_ms);
        self
    }

    /// Sets the vCPUs in use.
    pub fn with_used_vcpus(mut self, used_vcpus: u32) -> Self {
        self.used_vcpus = Some(used_vcpus);
        self
    }
}

/// Live facts keyed by target name. A target with no entry counts as unavailable: the
/// engine will not place work where nobody has looked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    targets: BTreeMap<String, TargetFacts>,
}

impl Facts {
    /// No facts at all.
    pub fn new() -> Self {
        Facts::default()
    }

    /// Healthy, idle facts for every target in `policies`; handy for `policy explain` of a
    /// hypothetical request.
    pub fn all_healthy(policies: &crate::PolicySet) -> Self {
        let targets = policies
            .targets()
            .iter()
            .map(|target| (target.name.clone(), TargetFacts::healthy()))
            .collect();
        Facts { targets }
    }

    /// Adds or replaces the facts of `target`.
    pub fn with(mut self, target: impl Into<String>, facts: TargetFacts) -> Self {
        self.insert(target, facts);
        self
    }

    /// Adds or replaces the facts of `target`.
    pub fn insert(&mut self, target: impl Into<String>, facts: TargetFacts) {
        self.targets.insert(target.into(), facts);
    }

    /// The facts of `target`, if any.
    pub fn get(&self, target: &str) -> Option<&TargetFacts> {
        self.targets.get(target)
    }

    /// Whether `target` has facts and is healthy.
    pub fn is_healthy(&self, target: &str) -> bool {
        self.get(target)
            .is_some_and(|facts| facts.health == Health::Healthy)
    }
}
