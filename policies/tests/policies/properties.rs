//! Property tests: requirements are never violated, decisions are deterministic, and
//! unhealthy targets are never chosen, over random policies, requests and facts.

use std::fmt::Write as _;

use policies::{decide, Decision, Facts, PolicySet, Request, ResourceKind, TargetFacts};
use proptest::prelude::*;

const COUNTRIES: [&str; 3] = ["JP", "US", "DE"];
const KINDS: [&str; 4] = ["local", "aws", "compatible", "peer"];
const SUPPORT: [&str; 5] = ["none", "basic", "developer", "business", "enterprise"];
const CRITERIA: [&str; 4] = ["cheapest", "prefer", "lowest-latency", "least-utilised"];

#[derive(Debug, Clone)]
struct GenTarget {
    country: usize,
    kind: usize,
    availability: Option<f64>,
    support: usize,
    price: Option<f64>,
}

#[derive(Debug, Clone)]
struct GenRule {
    /// Match on data-class: None = any request, Some(pattern).
    tag: Option<&'static str>,
    /// Match on resource kind.
    bucket_only: Option<bool>,
    countries: Option<Vec<usize>>,
    min_availability: Option<f64>,
    min_support: Option<usize>,
    max_price: Option<f64>,
    exclude: Option<usize>,
    rank: Vec<usize>,
    burst: Option<(usize, usize, f64)>,
    fail_on_unhealthy: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    targets: Vec<GenTarget>,
    rules: Vec<GenRule>,
    /// Per target: None = no facts, Some((healthy, utilisation, latency)).
    facts: Vec<Option<(bool, f64, Option<f64>)>>,
    tag: Option<&'static str>,
    bucket: bool,
    /// A permutation of target indices, for declaring targets in another order.
    order: Vec<usize>,
}

fn target_strategy() -> impl Strategy<Value = GenTarget> {
    (
        0..3usize,
        0..4usize,
        proptest::option::of(prop_oneof![Just(99.0), Just(99.9), Just(99.99)]),
        0..5usize,
        proptest::option::of(1u32..100),
    )
        .prop_map(|(country, kind, availability, support, price)| GenTarget {
            country,
            kind,
            availability,
            support,
            price: price.map(|cents| f64::from(cents) / 100.0),
        })
}

fn rule_strategy(targets: usize) -> impl Strategy<Value = GenRule> {
    (
        proptest::option::of(prop_oneof![
            Just("personal"),
            Just("personal*"),
            Just("*"),
            Just("public")
        ]),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3)),
        proptest::option::of(prop_oneof![Just(99.0), Just(99.5), Just(99.95)]),
        proptest::option::of(0..5usize),
        proptest::option::of((1u32..100).prop_map(|cents| f64::from(cents) / 100.0)),
        proptest::option::of(0..targets),
        proptest::sample::subsequence(vec![0usize, 2, 3], 0..=2),
        proptest::option::of((0..targets, 0..targets, 0.0..=1.0f64)),
        any::<bool>(),
    )
        .prop_map(
            |(
                tag,
                bucket_only,
                countries,
                min_availability,
                min_support,
                max_price,
                exclude,
                rank,
                burst,
                fail_on_unhealthy,
            )| GenRule {
                tag,
                bucket_only,
                countries,
                min_availability,
                min_support,
                max_price,
                exclude,
                rank,
                burst: burst.filter(|(from, to, _)| from != to),
                fail_on_unhealthy,
            },
        )
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (1..7usize)
        .prop_flat_map(|count| {
            let facts = proptest::option::weighted(
                0.9,
                (
                    proptest::bool::weighted(0.7),
                    0.0..=1.0f64,
                    proptest::option::of(1.0..300.0f64),
                ),
            );
            (
                proptest::collection::vec(target_strategy(), count),
                proptest::collection::vec(rule_strategy(count), 0..6),
                proptest::collection::vec(facts, count),
                proptest::option::of(prop_oneof![
                    Just("personal"),
                    Just("personal-health"),
                    Just("public")
                ]),
                any::<bool>(),
                Just((0..count).collect::<Vec<_>>()).prop_shuffle(),
            )
        })
        .prop_map(|(targets, rules, facts, tag, bucket, order)| Scenario {
            targets,
            rules,
            facts,
            tag,
            bucket,
            order,
        })
}

fn target_name(index: usize) -> String {
    format!("t{index}")
}

/// Renders the scenario as a policy file, declaring targets in `order`.
fn render(scenario: &Scenario, order: &[usize]) -> String {
    let mut text = String::new();
    for &index in order {
        let target = &scenario.targets[index];
        let _ = writeln!(
            text,
            "[[target]]\nname = \"{}\"\nkind = \"{}\"",
            target_name(index),
            KINDS[target.kind]
        );
        let _ = writeln!(
            text,
            "jurisdiction = {{ country = \"{}\" }}",
            COUNTRIES[target.country]
        );
        let price = target
            .price
            .map(|price| format!("\"m5.large\" = {price:?}"))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "price = {{ instance_hour = {{ {price} }}, storage_gb_month = 0.01 }}"
        );
        let availability = target
            .availability
            .map(|value| format!("availability = {value:?}, "))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "sla = {{ {availability}support = \"{}\" }}\n",
            SUPPORT[target.support]
        );
    }
    for (index, rule) in scenario.rules.iter().enumerate() {
        let _ = writeln!(text, "[[rule]]\nname = \"r{index}\"");
        let mut matcher = Vec::new();
        if let Some(tag) = rule.tag {
            matcher.push(format!("tags = {{ data-class = \"{tag}\" }}"));
        }
        if let Some(bucket_only) = rule.bucket_only {
            matcher.push(format!(
                "resource = [\"{}\"]",
                if bucket_only { "bucket" } else { "instance" }
            ));
        }
        if !matcher.is_empty() {
            let _ = writeln!(text, "match = {{ {} }}", matcher.join(", "));
        }
        let mut require = Vec::new();
        if let Some(countries) = &rule.countries {
            let quoted: Vec<String> = countries
                .iter()
                .map(|country| format!("\"{}\"", COUNTRIES[*country]))
                .collect();
            require.push(format!("country = [{}]", quoted.join(", ")));
        }
        if let Some(value) = rule.min_availability {
            require.push(format!("min_availability = {value:?}"));
        }
        if let Some(support) = rule.min_support {
            require.push(format!("min_support = \"{}\"", SUPPORT[support]));
        }
        if let Some(price) = rule.max_price {
            require.push(format!("max_price_per_hour = {price:?}"));
        }
        if !require.is_empty() {
            let _ = writeln!(text, "require = {{ {} }}", require.join(", "));
        }
        if let Some(excluded) = rule.exclude {
            let _ = writeln!(text, "exclude = [\"{}\"]", target_name(excluded));
        }
        let mut rank: Vec<&str> = rule
            .rank
            .iter()
            .map(|criterion| CRITERIA[*criterion])
            .collect();
        // Always give a rule something to do, and prefer needs a list.
        rank.push("prefer");
        let quoted: Vec<String> = rank
            .iter()
            .map(|criterion| format!("\"{criterion}\""))
            .collect();
        let _ = writeln!(
            text,
            "rank = [{}]\nprefer = [\"{}\"]",
            quoted.join(", "),
            target_name(index % scenario.targets.len())
        );
        if let Some((from, to, above)) = rule.burst {
            let _ = writeln!(
                text,
                "burst = {{ from = \"{}\", to = [\"{}\"], above = {above:?} }}",
                target_name(from),
                target_name(to)
            );
        }
        if rule.fail_on_unhealthy {
            let _ = writeln!(text, "on_unhealthy = \"fail\"");
        }
        text.push('\n');
    }
    text
}

fn facts(scenario: &Scenario) -> Facts {
    let mut facts = Facts::new();
    for (index, entry) in scenario.facts.iter().enumerate() {
        if let Some((healthy, utilisation, latency)) = entry {
            let base = if *healthy {
                TargetFacts::healthy()
            } else {
                TargetFacts::unhealthy()
            };
            let mut target_facts = base.with_utilisation(*utilisation);
            target_facts.latency_ms = *latency;
            facts.insert(target_name(index), target_facts);
        }
    }
    facts
}

fn request(scenario: &Scenario) -> Request {
    let mut request = if scenario.bucket {
        Request::new("acme", "CreateBucket", ResourceKind::Bucket)
    } else {
        Request::new("acme", "RunInstances", ResourceKind::Instance).with_instance_type("m5.large")
    };
    if let Some(tag) = scenario.tag {
        request = request.with_tag("data-class", tag);
    }
    request
}

/// Whether `rule` matches the scenario's request, computed independently of the engine.
fn rule_matches(rule: &GenRule, scenario: &Scenario) -> bool {
    let tag_ok = match (rule.tag, scenario.tag) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some("*"), Some(_)) => true,
        (Some("personal*"), Some(value)) => value.starts_with("personal"),
        (Some(pattern), Some(value)) => pattern == value,
    };
    let resource_ok = rule
        .bucket_only
        .is_none_or(|bucket_only| bucket_only == scenario.bucket);
    tag_ok && resource_ok
}

fn load(scenario: &Scenario, order: &[usize]) -> PolicySet {
    let text = render(scenario, order);
    PolicySet::parse("generated.toml", &text)
        .unwrap_or_else(|error| panic!("generated policy invalid:\n{error}\n{text}"))
}

fn natural_order(scenario: &Scenario) -> Vec<usize> {
    (0..scenario.targets.len()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_chosen_target_meets_every_matching_requirement(scenario in scenario_strategy()) {
        let policies = load(&scenario, &natural_order(&scenario));
        let decision = decide(&request(&scenario), &facts(&scenario), &policies);
        let Some(chosen) = &decision.target else { return Ok(()) };
        let index: usize = chosen.trim_start_matches('t').parse().expect("generated name");
        let target = &scenario.targets[index];
        for (rule_index, rule) in scenario.rules.iter().enumerate() {
            if !rule_matches(rule, &scenario) {
                continue;
            }
            let why = format!("rule r{rule_index} violated by {chosen}\n{}", decision.explain());
            prop_assert!(rule.exclude != Some(index), "{}", why);
            if let Some(countries) = &rule.countries {
                prop_assert!(countries.contains(&target.country), "{}", why);
            }
            if let Some(required) = rule.min_availability {
                prop_assert!(target.availability.is_some_and(|offered| offered >= required), "{}", why);
            }
            if let Some(required) = rule.min_support {
                prop_assert!(target.support >= required, "{}", why);
            }
            if let (Some(max), false) = (rule.max_price, scenario.bucket) {
                prop_assert!(target.price.is_some_and(|price| price <= max), "{}", why);
            }
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_decision(scenario in scenario_strategy()) {
        let policies = load(&scenario, &natural_order(&scenario));
        let request = request(&scenario);
        let facts = facts(&scenario);
        let first: Decision = decide(&request, &facts, &policies);
        prop_assert_eq!(&first, &decide(&request, &facts, &policies));
        prop_assert_eq!(&first, &decide(&request.clone(), &facts.clone(), &policies.clone()));
        // Declaring the targets in another order changes nothing.
        let shuffled = load(&scenario, &scenario.order);
        prop_assert_eq!(&first, &decide(&request, &facts, &shuffled));
        prop_assert_eq!(first.explain(), decide(&request, &facts, &shuffled).explain());
    }

    #[test]
    fn an_unhealthy_or_unknown_target_is_never_chosen(scenario in scenario_strategy()) {
        let policies = load(&scenario, &natural_order(&scenario));
        let facts = facts(&scenario);
        let decision = decide(&request(&scenario), &facts, &policies);
        if let Some(chosen) = &decision.target {
            prop_assert!(facts.is_healthy(chosen), "{} chosen but not healthy\n{}", chosen, decision.explain());
        }
        prop_assert_eq!(decision.target.is_none(), decision.refusal.is_some());
    }
}
