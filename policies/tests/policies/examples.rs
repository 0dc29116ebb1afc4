//! The example files shipped in docs/examples/policies load and decide as documented.

use std::path::PathBuf;

use policies::{Facts, PolicySet, Request, ResourceKind, TargetFacts};

use crate::check::{check_with, facts};

fn example(file: &str) -> PolicySet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples/policies")
        .join(file);
    PolicySet::load_files(&[&path])
        .unwrap_or_else(|error| panic!("{} does not load:\n{error}", path.display()))
}

#[test]
fn data_residency_keeps_personal_data_in_japan() {
    let policies = example("data-residency.toml");
    let personal_bucket = Request::new("acme", "CreateBucket", ResourceKind::Bucket)
        .with_tag("data-class", "personal");
    let all_ok = Facts::all_healthy(&policies);
    check_with(
        "personal bucket goes local",
        &policies,
        &personal_bucket,
        &all_ok,
        Some("local-tokyo"),
        &["aws-virginia: country US not in required [JP] (rule personal-data-stays-in-japan)"],
    );
    check_with(
        "personal bucket fails over within Japan",
        &policies,
        &personal_bucket,
        &facts("local-tokyo:down aws-tokyo:ok aws-virginia:ok"),
        Some("aws-tokyo"),
        &["local-tokyo: unhealthy"],
    );
    check_with(
        "personal bucket never fails over abroad",
        &policies,
        &personal_bucket,
        &facts("local-tokyo:down aws-tokyo:down aws-virginia:ok"),
        None,
        &["no target satisfies policy rule \"personal-data-stays-in-japan\""],
    );
    check_with(
        "a US personal-data bucket is refused, naming both rules",
        &policies,
        &personal_bucket
            .clone()
            .with_location_constraint("us-west-2"),
        &all_ok,
        None,
        &["\"personal-data-stays-in-japan\", \"us-location-constraint\""],
    );
    check_with(
        "a public US bucket goes to Virginia",
        &policies,
        &Request::new("acme", "CreateBucket", ResourceKind::Bucket)
            .with_location_constraint("us-east-1"),
        &all_ok,
        Some("aws-virginia"),
        &["matched rules: us-location-constraint, local-first"],
    );
}

#[test]
fn cost_first_takes_the_cheapest_target_above_the_sla_floor() {
    let policies = example("cost-first.toml");
    let all_ok = Facts::all_healthy(&policies);
    let instance =
        Request::new("acme", "RunInstances", ResourceKind::Instance).with_instance_type("m5.large");
    check_with(
        "dev work goes to the cheapest",
        &policies,
        &instance,
        &all_ok,
        Some("local-osaka"),
        &["matched rules: price-ceiling, cheapest-first"],
    );
    let production = instance.clone().with_tag("env", "production");
    check_with(
        "production needs the SLA floor; latency breaks the price tie",
        &policies,
        &production,
        &facts("local-osaka:ok sakura-ishikari:ok,lat=12 aws-tokyo:ok peer-fukuoka:ok,lat=30"),
        Some("sakura-ishikari"),
        &[
            "local-osaka: availability 99.5% below required 99.9% (rule production-sla-floor)",
            "order: sakura-ishikari, peer-fukuoka, aws-tokyo",
        ],
    );
    let big = Request::new("acme", "RunInstances", ResourceKind::Instance)
        .with_instance_type("m5.4xlarge");
    check_with(
        "nothing under the price ceiling",
        &policies,
        &big,
        &all_ok,
        None,
        &[
            "aws-tokyo: m5.4xlarge costs 0.992/h, above maximum 0.5/h (rule price-ceiling)",
            "local-osaka: no price for m5.4xlarge",
        ],
    );
}

#[test]
fn burst_to_cloud_prefers_local_until_it_is_busy() {
    let policies = example("burst-to-cloud.toml");
    let instance = Request::new("acme", "RunInstances", ResourceKind::Instance)
        .with_instance_type("m5.large")
        .with_vcpus(2);
    let with_local = |local: TargetFacts| Facts::all_healthy(&policies).with("local-dc", local);
    check_with("quiet: local", &policies, &instance, &with_local(TargetFacts::healthy().with_utilisation(0.4)), Some("local-dc"), &[
        "aws-tokyo: burst only: local-dc utilisation 0.4 is not above 0.8 (rule prefer-local-burst-to-aws)",
    ]);
    check_with(
        "busy: cheapest cloud",
        &policies,
        &instance,
        &with_local(TargetFacts::healthy().with_utilisation(0.93)),
        Some("aws-osaka"),
        &["demoted: local-dc utilisation 0.93 above 0.8"],
    );
    check_with(
        "out of vCPUs: cloud",
        &policies,
        &instance,
        &with_local(TargetFacts::healthy().with_used_vcpus(127)),
        Some("aws-osaka"),
        &["local-dc: 2 vCPUs requested, 127 of 128 in use"],
    );
    let volume = Request::new("acme", "CreateVolume", ResourceKind::Volume);
    check_with(
        "storage stays local",
        &policies,
        &volume,
        &with_local(TargetFacts::healthy().with_utilisation(0.99)),
        Some("local-dc"),
        &["aws-tokyo: kind aws not allowed (rule storage-stays-local)"],
    );
    check_with(
        "storage refuses to fail over",
        &policies,
        &volume,
        &with_local(TargetFacts::unhealthy()),
        None,
        &["policy rule \"storage-stays-local\" forbids failover"],
    );
}

#[test]
fn the_explanation_in_the_docs_is_what_explain_prints() {
    let policies = example("data-residency.toml");
    let request = Request::new("acme", "RunInstances", ResourceKind::Instance)
        .with_tag("data-class", "personal");
    let decision = policies::decide(
        &request,
        &facts("local-tokyo:down aws-tokyo:ok aws-virginia:ok"),
        &policies,
    );
    let expected = "\
target: aws-tokyo
matched rules: personal-data-stays-in-japan, local-first
dropped:
  aws-virginia: country US not in required [JP] (rule personal-data-stays-in-japan)
  local-tokyo: unhealthy
ranking: prefer (rule local-first), then target name
order: local-tokyo, aws-tokyo
";
    assert_eq!(decision.explain(), expected);
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/policies.md"),
    )
    .expect("docs/policies.md");
    assert!(
        docs.contains(expected),
        "docs/policies.md should show this explanation verbatim"
    );
}
