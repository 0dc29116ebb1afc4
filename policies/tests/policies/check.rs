//! The `check` helper every decision table goes through, and compact fact notation.

use policies::{decide, Facts, Health, PolicySet, Request, TargetFacts};

/// One row of a decision table.
pub struct Case<'a> {
    /// What the row shows, printed on failure.
    pub name: &'a str,
    /// Policy text (targets and rules).
    pub policy: String,
    /// The request.
    pub request: Request,
    /// Live facts, in the notation of [`facts`].
    pub facts: &'a str,
    /// Expected target, or `None` for a refusal.
    pub target: Option<&'a str>,
    /// Substrings the explanation must contain.
    pub reasons: &'a [&'a str],
}

/// Parses the policy, decides, and checks the target and the reasons.
pub fn check(case: Case<'_>) {
    let policies = PolicySet::parse(case.name, &case.policy)
        .unwrap_or_else(|error| panic!("case {}: policy does not parse:\n{error}", case.name));
    check_with(
        case.name,
        &policies,
        &case.request,
        &facts(case.facts),
        case.target,
        case.reasons,
    );
}

/// [`check`] against an already loaded set.
pub fn check_with(
    name: &str,
    policies: &PolicySet,
    request: &Request,
    facts: &Facts,
    target: Option<&str>,
    reasons: &[&str],
) {
    let decision = decide(request, facts, policies);
    let explanation = decision.explain();
    assert_eq!(
        decision.target.as_deref(),
        target,
        "case {name}: wrong target\n{explanation}"
    );
    assert_eq!(
        decision.refusal.is_none(),
        decision.target.is_some(),
        "case {name}: refusal iff no target\n{explanation}"
    );
    for reason in reasons {
        assert!(
            explanation.contains(reason),
            "case {name}: explanation lacks {reason:?}\n{explanation}"
        );
    }
}

/// Facts from a compact notation: space-separated `name:state[,util=F][,lat=F][,used=N]`
/// where state is `ok` or `down`. Targets not mentioned have no facts.
pub fn facts(spec: &str) -> Facts {
    let mut facts = Facts::new();
    for entry in spec.split_whitespace() {
        let (name, rest) = entry.split_once(':').expect("name:state");
        let mut parts = rest.split(',');
        let mut target_facts = match parts.next() {
            Some("ok") => TargetFacts::healthy(),
            Some("down") => TargetFacts {
                health: Health::Unhealthy,
                ..TargetFacts::healthy()
            },
            other => panic!("unknown state {other:?}"),
        };
        for part in parts {
            let (key, value) = part.split_once('=').expect("key=value");
            match key {
                "util" => target_facts.utilisation = value.parse().expect("utilisation"),
                "lat" => target_facts.latency_ms = Some(value.parse().expect("latency")),
                "used" => target_facts.used_vcpus = Some(value.parse().expect("used vcpus")),
                other => panic!("unknown fact {other}"),
            }
        }
        facts.insert(name, target_facts);
    }
    facts
}
