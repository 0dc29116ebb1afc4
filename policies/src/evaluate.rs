//! `decide`: the pure function from (request, facts, policies) to a [`Decision`].
//!
//! Order of evaluation, which `docs/policies.md` documents:
//! 1. match: collect the rules whose `match` accepts the request, in rule order;
//! 2. require and exclude: each matching rule, in order, drops the candidates failing it;
//! 3. burst: gate burst targets on their source's utilisation, demote busy sources;
//! 4. rank: sort by demotion, then each matching rule's `rank` criteria in order (a
//!    criterion already in force is not repeated, except `prefer`), then name;
//! 5. availability: walk the ranking, skipping targets without facts, unhealthy or full,
//!    unless a matching rule says `on_unhealthy = "fail"`; the first left is chosen.

use std::cmp::Ordering;

use crate::decision::{Decision, Demotion, DropReason, Dropped, RankStep, Refusal};
use crate::facts::{Facts, Health, TargetFacts};
use crate::policy_set::PolicySet;
use crate::request::Request;
use crate::rule::{Criterion, OnUnhealthy, Rule};
use crate::target::Target;

/// Chooses a target for `request` given the live `facts`, and says why. Deterministic: the
/// same inputs always give the same decision, whatever order targets were declared in.
pub fn decide(request: &Request, facts: &Facts, policies: &PolicySet) -> Decision {
    let matching: Vec<&Rule> = policies
        .rules()
        .iter()
        .filter(|rule| rule.matcher.matches(request))
        .collect();
    let mut decision = Decision {
        target: None,
        matched_rules: matching.iter().map(|rule| rule.name.clone()).collect(),
        dropped: Vec::new(),
        ranking: Vec::new(),
        demoted: Vec::new(),
        ranked: Vec::new(),
        refusal: None,
    };
    if policies.targets().is_empty() {
        decision.refusal = Some(Refusal::NoTargets);
        return decision;
    }

    // Targets come sorted by name, which every later tie falls back on.
    let mut candidates: Vec<&Target> = policies.targets().iter().collect();
    if let Some(eligible) = &request.eligible {
        candidates.retain(|target| {
            let keep = eligible.targets.contains(&target.name);
            if !keep {
                decision.dropped.push(Dropped {
                    target: target.name.clone(),
                    rule: None,
                    reason: DropReason::Ineligible(eligible.others.clone()),
                });
            }
            keep
        });
    }
    for rule in &matching {
        candidates.retain(|target| match requirement_failure(rule, target, request) {
            None => true,
            Some(reason) => {
                decision.dropped.push(Dropped {
                    target: target.name.clone(),
                    rule: Some(rule.name.clone()),
                    reason,
                });
                false
            }
        });
    }

    let mut demoted: Vec<&str> = Vec::new();
    for rule in &matching {
        let Some(burst) = &rule.burst else { continue };
        let source_candidate = candidates.iter().find(|target| target.name == burst.from);
        // The gate is closed only while the source could itself take the request and is
        // not busy; a source that is dropped, unhealthy or full opens it (failover).
        let source_usable =
            source_candidate.and_then(|target| usable_facts(target, facts, request).ok());
        match source_usable {
            Some(source_facts) if source_facts.utilisation > burst.above => {
                decision.demoted.push(Demotion {
                    target: burst.from.clone(),
                    rule: rule.name.clone(),
                    utilisation: source_facts.utilisation,
                    above: burst.above,
                });
                demoted.push(&burst.from);
            }
            Some(source_facts) => {
                candidates.retain(|target| {
                    if !burst.to.contains(&target.name) {
                        return true;
                    }
                    decision.dropped.push(Dropped {
                        target: target.name.clone(),
                        rule: Some(rule.name.clone()),
                        reason: DropReason::NotBursting {
                            from: burst.from.clone(),
                            utilisation: source_facts.utilisation,
                            above: burst.above,
                        },
                    });
                    false
                });
            }
            None => {}
        }
    }

    // A criterion already in force cannot break any tie it did not break the first time,
    // so only its first occurrence counts (prefer lists differ per rule and always count).
    let mut steps: Vec<(&Rule, Criterion)> = Vec::new();
    for rule in &matching {
        for criterion in &rule.rank {
            let repeated = *criterion != Criterion::Prefer
                && steps.iter().any(|(_, earlier)| earlier == criterion);
            if !repeated {
                steps.push((rule, *criterion));
                decision.ranking.push(RankStep {
                    rule: rule.name.clone(),
                    criterion: *criterion,
                });
            }
        }
    }
    let mut keyed: Vec<(bool, Vec<f64>, &Target)> = candidates
        .iter()
        .map(|target| {
            let target_facts = facts.get(&target.name);
            let keys = steps
                .iter()
                .map(|(rule, criterion)| rank_key(*criterion, rule, target, request, target_facts))
                .collect();
            (demoted.contains(&target.name.as_str()), keys, *target)
        })
        .collect();
    keyed.sort_by(|left, right| {
        left.0
            .cmp(&right.0)
            .then_with(|| compare_keys(&left.1, &right.1))
            .then_with(|| left.2.name.cmp(&right.2.name))
    });
    decision.ranked = keyed
        .iter()
        .map(|(_, _, target)| target.name.clone())
        .collect();

    let refuse_failover = matching
        .iter()
        .find(|rule| rule.on_unhealthy == OnUnhealthy::Fail);
    for (position, (_, _, target)) in keyed.iter().enumerate() {
        match usable_facts(target, facts, request) {
            Ok(_) => {
                decision.target = Some(target.name.clone());
                return decision;
            }
            Err(reason) => {
                let health_problem = matches!(reason, DropReason::Unhealthy | DropReason::NoFacts);
                decision.dropped.push(Dropped {
                    target: target.name.clone(),
                    rule: None,
                    reason,
                });
                if let (0, true, Some(rule)) = (position, health_problem, refuse_failover) {
                    decision.refusal = Some(Refusal::Unhealthy {
                        rule: rule.name.clone(),
                        target: target.name.clone(),
                    });
                    return decision;
                }
            }
        }
    }

    let mut rules: Vec<String> = Vec::new();
    for rule in decision
        .dropped
        .iter()
        .filter_map(|dropped| dropped.rule.as_ref())
    {
        if !rules.contains(rule) {
            rules.push(rule.clone());
        }
    }
    decision.refusal = Some(Refusal::NoCandidate { rules });
    decision
}

/// The first requirement of `rule` that `target` fails, if any.
fn requirement_failure(rule: &Rule, target: &Target, request: &Request) -> Option<DropReason> {
    if rule.exclude.contains(&target.name) {
        return Some(DropReason::Excluded);
    }
    let require = &rule.require;
    if let Some(countries) = &require.country {
        if !countries.contains(&target.jurisdiction.country) {
            return Some(DropReason::Country {
                country: target.jurisdiction.country.clone(),
                allowed: countries.iter().cloned().collect(),
            });
        }
    }
    if let Some(kinds) = &require.kind {
        if !kinds.contains(&target.kind) {
            return Some(DropReason::Kind { kind: target.kind });
        }
    }
    if let Some(regions) = &require.region {
        let region = target.jurisdiction.region.as_deref();
        if !region.is_some_and(|region| regions.iter().any(|pattern| pattern.matches(region))) {
            return Some(DropReason::Region {
                region: region.map(str::to_string),
            });
        }
    }
    if let Some(required) = require.min_availability {
        let offered = target.sla.availability;
        if !offered.is_some_and(|offered| offered >= required) {
            return Some(DropReason::Availability { offered, required });
        }
    }
    if let Some(required) = require.min_support {
        if target.sla.support < required {
            return Some(DropReason::Support {
                offered: target.sla.support,
                required,
            });
        }
    }
    if let (Some(max), Some(instance_type)) = (require.max_price_per_hour, &request.instance_type) {
        let price = target.price_per_hour(instance_type);
        if !price.is_some_and(|price| price <= max) {
            return Some(DropReason::PricePerHour {
                instance_type: instance_type.clone(),
                price,
                max,
            });
        }
    }
    if let (Some(max), true) = (
        require.max_price_per_gb_month,
        request.resource.is_storage(),
    ) {
        let price = target.price.storage_gb_month;
        if !price.is_some_and(|price| price <= max) {
            return Some(DropReason::PricePerGbMonth { price, max });
        }
    }
    None
}

/// The target's facts if it can take the request now, else why not.
fn usable_facts<'facts>(
    target: &Target,
    facts: &'facts Facts,
    request: &Request,
) -> Result<&'facts TargetFacts, DropReason> {
    let target_facts = facts.get(&target.name).ok_or(DropReason::NoFacts)?;
    if target_facts.health != Health::Healthy {
        return Err(DropReason::Unhealthy);
    }
    if let (Some(requested), Some(max), Some(used)) = (
        request.vcpus,
        target.capacity.max_vcpus,
        target_facts.used_vcpus,
    ) {
        if used.saturating_add(requested) > max {
            return Err(DropReason::Capacity {
                used,
                requested,
                max,
            });
        }
    }
    Ok(target_facts)
}

/// Sort key for one criterion: lower is better; unknown values sort last.
fn rank_key(
    criterion: Criterion,
    rule: &Rule,
    target: &Target,
    request: &Request,
    target_facts: Option<&TargetFacts>,
) -> f64 {
    let unknown = f64::INFINITY;
    match criterion {
        Criterion::Cheapest => request_price(target, request).unwrap_or(unknown),
        Criterion::Prefer => {
            let position = rule
                .prefer
                .iter()
                .position(|name| *name == target.name)
                .unwrap_or(rule.prefer.len());
            position as f64
        }
        Criterion::LowestLatency => target_facts
            .and_then(|facts| facts.latency_ms)
            .unwrap_or(unknown),
        Criterion::LeastUtilised => target_facts.map_or(unknown, |facts| facts.utilisation),
    }
}

/// The price that "cheapest" compares: hourly for the instance type, else storage per GB-month.
fn request_price(target: &Target, request: &Request) -> Option<f64> {
    match &request.instance_type {
        Some(instance_type) => target.price_per_hour(instance_type),
        None if request.resource.is_storage() => target.price.storage_gb_month,
        None => None,
    }
}

/// Lexicographic comparison with a total order on floats, so NaN from a caller cannot make
/// the sort inconsistent.
fn compare_keys(left: &[f64], right: &[f64]) -> Ordering {
    left.iter()
        .zip(right)
        .map(|(left, right)| left.total_cmp(right))
        .find(|ordering| ordering.is_ne())
        .unwrap_or(Ordering::Equal)
}
