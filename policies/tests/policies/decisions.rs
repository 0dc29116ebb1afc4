//! Decision tables: policy, request and facts in; target and key reasons out.

use policies::{Request, ResourceKind};

use crate::check::{check, Case};

/// Five targets shared by the tables, from cheapest to dearest for m5.large:
/// local 0.03, compat-frankfurt 0.05, peer-osaka 0.07, aws-virginia 0.096, aws-tokyo 0.124.
const TARGETS: &str = r#"
[[target]]
name = "local"
kind = "local"
jurisdiction = { country = "JP", region = "tokyo-dc1" }
price = { instance_hour = { "m5.large" = 0.03 }, storage_gb_month = 0.01 }
sla = { availability = 99.5, support = "basic" }
capacity = { max_vcpus = 16 }

[[target]]
name = "aws-tokyo"
kind = "aws"
jurisdiction = { country = "JP", region = "ap-northeast-1" }
price = { instance_hour = { "m5.large" = 0.124, "p4d.24xlarge" = 32.77 }, storage_gb_month = 0.025 }
sla = { availability = 99.99, support = "enterprise" }

[[target]]
name = "aws-virginia"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { instance_hour = { "m5.large" = 0.096, "p4d.24xlarge" = 32.77 }, storage_gb_month = 0.023 }
sla = { availability = 99.99, support = "enterprise" }

[[target]]
name = "peer-osaka"
kind = "peer"
jurisdiction = { country = "JP", region = "osaka" }
price = { instance_hour = { "m5.large" = 0.07 } }
sla = { availability = 99.9, support = "business" }

[[target]]
name = "compat-frankfurt"
kind = "compatible"
jurisdiction = { country = "DE" }
price = { instance_hour = { "m5.large" = 0.05 }, storage_gb_month = 0.005 }
"#;

const ALL_OK: &str = "local:ok aws-tokyo:ok aws-virginia:ok peer-osaka:ok compat-frankfurt:ok";

fn policy(rules: &str) -> String {
    format!("{TARGETS}\n{rules}")
}

fn instance() -> Request {
    Request::new("acme", "RunInstances", ResourceKind::Instance).with_instance_type("m5.large")
}

fn personal_instance() -> Request {
    instance().with_tag("data-class", "personal")
}

fn bucket() -> Request {
    Request::new("acme", "CreateBucket", ResourceKind::Bucket)
}

const PERSONAL_IN_JP: &str = r#"
[[rule]]
name = "personal-in-jp"
match = { tags = { data-class = "personal*" } }
require = { country = ["JP"] }
"#;

const CHEAPEST: &str = r#"
[[rule]]
name = "cheapest"
rank = ["cheapest"]
"#;

#[test]
fn matching_and_requirements() {
    let cases = [
        Case {
            name: "no rules: first healthy target by name",
            policy: policy(""),
            request: instance(),
            facts: ALL_OK,
            target: Some("aws-tokyo"),
            reasons: &["matched rules: none", "ranking: target name", "order: aws-tokyo, aws-virginia, compat-frankfurt, local, peer-osaka"],
        },
        Case {
            name: "cheapest overall",
            policy: policy(CHEAPEST),
            request: instance(),
            facts: ALL_OK,
            target: Some("local"),
            reasons: &["matched rules: cheapest", "ranking: cheapest (rule cheapest), then target name"],
        },
        Case {
            name: "personal data stays in Japan",
            policy: policy(&format!("{PERSONAL_IN_JP}{CHEAPEST}")),
            request: personal_instance(),
            facts: "local:down aws-tokyo:ok aws-virginia:ok peer-osaka:ok compat-frankfurt:ok",
            target: Some("peer-osaka"),
            reasons: &[
                "matched rules: personal-in-jp, cheapest",
                "aws-virginia: country US not in required [JP] (rule personal-in-jp)",
                "compat-frankfurt: country DE not in required [JP] (rule personal-in-jp)",
                "local: unhealthy",
            ],
        },
        Case {
            name: "untagged data may leave Japan",
            policy: policy(&format!("{PERSONAL_IN_JP}{CHEAPEST}")),
            request: instance().with_tag("data-class", "public"),
            facts: "local:down aws-tokyo:ok aws-virginia:ok peer-osaka:ok compat-frankfurt:ok",
            target: Some("compat-frankfurt"),
            reasons: &["matched rules: cheapest"],
        },
        Case {
            name: "tag wildcard matches",
            policy: policy(&format!("{PERSONAL_IN_JP}{CHEAPEST}")),
            request: instance().with_tag("data-class", "personal-health"),
            facts: "local:down aws-tokyo:ok aws-virginia:ok peer-osaka:ok compat-frankfurt:ok",
            target: Some("peer-osaka"),
            reasons: &["matched rules: personal-in-jp, cheapest"],
        },
        Case {
            name: "availability floor",
            policy: policy("[[rule]]\nname = \"four-nines\"\nrequire = { min_availability = 99.95 }\nrank = [\"cheapest\"]\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("aws-virginia"),
            reasons: &[
                "local: availability 99.5% below required 99.95% (rule four-nines)",
                "compat-frankfurt: no availability promised, 99.95% required (rule four-nines)",
                "peer-osaka: availability 99.9% below required 99.95% (rule four-nines)",
            ],
        },
        Case {
            name: "support floor",
            policy: policy("[[rule]]\nname = \"business\"\nrequire = { min_support = \"business\" }\nrank = [\"cheapest\"]\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("peer-osaka"),
            reasons: &["local: support basic below required business (rule business)", "compat-frankfurt: support none below required business"],
        },
        Case {
            name: "price ceiling for the requested type",
            policy: policy("[[rule]]\nname = \"cap\"\nrequire = { max_price_per_hour = 0.06 }\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("compat-frankfurt"),
            reasons: &["aws-tokyo: m5.large costs 0.124/h, above maximum 0.06/h (rule cap)", "peer-osaka: m5.large costs 0.07/h"],
        },
        Case {
            name: "price ceiling drops targets without a price for the type",
            policy: policy("[[rule]]\nname = \"cap\"\nrequire = { max_price_per_hour = 40.0 }\n"),
            request: Request::new("acme", "RunInstances", ResourceKind::Instance).with_instance_type("p4d.24xlarge"),
            facts: ALL_OK,
            target: Some("aws-tokyo"),
            reasons: &["local: no price for p4d.24xlarge, maximum 40/h required (rule cap)"],
        },
        Case {
            name: "storage price ceiling applies to buckets",
            policy: policy("[[rule]]\nname = \"cheap-storage\"\nrequire = { max_price_per_gb_month = 0.02 }\nrank = [\"cheapest\"]\n"),
            request: bucket(),
            facts: ALL_OK,
            target: Some("compat-frankfurt"),
            reasons: &["peer-osaka: no storage price", "aws-tokyo: storage costs 0.025/GB-month, above maximum 0.02"],
        },
        Case {
            name: "kind and region requirements",
            policy: policy("[[rule]]\nname = \"aws-apac\"\nrequire = { kind = [\"aws\", \"peer\"], region = [\"ap-*\"] }\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("aws-tokyo"),
            reasons: &["local: kind local not allowed (rule aws-apac)", "aws-virginia: region us-east-1 not allowed (rule aws-apac)", "peer-osaka: region osaka not allowed"],
        },
        Case {
            name: "exclude",
            policy: policy("[[rule]]\nname = \"no-tokyo\"\nexclude = [\"aws-tokyo\", \"aws-virginia\"]\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("compat-frankfurt"),
            reasons: &["aws-tokyo: excluded (rule no-tokyo)", "aws-virginia: excluded (rule no-tokyo)"],
        },
        Case {
            name: "match on every request key",
            policy: policy(
                r#"
[[rule]]
name = "narrow"
exclude = ["aws-tokyo"]
[rule.match]
tenant = ["ac*"]
action = ["Run*"]
resource = ["instance"]
instance_type = ["m5.*"]
region = ["ap-northeast-1"]
availability_zone = ["ap-northeast-1?", "ap-northeast-1a"]
"#,
            ),
            request: instance().with_region("ap-northeast-1").with_availability_zone("ap-northeast-1a"),
            facts: ALL_OK,
            target: Some("aws-virginia"),
            reasons: &["matched rules: narrow"],
        },
        Case {
            name: "a request lacking a matched key does not match",
            policy: policy("[[rule]]\nname = \"az\"\nmatch = { availability_zone = [\"*\"] }\nexclude = [\"aws-tokyo\"]\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("aws-tokyo"),
            reasons: &["matched rules: none"],
        },
        Case {
            name: "bucket location constraint",
            policy: policy("[[rule]]\nname = \"eu-buckets\"\nmatch = { location_constraint = [\"eu-*\"] }\nrequire = { country = [\"DE\"] }\n"),
            request: bucket().with_location_constraint("eu-central-1"),
            facts: ALL_OK,
            target: Some("compat-frankfurt"),
            reasons: &["matched rules: eu-buckets"],
        },
        Case {
            name: "other tenants are not matched",
            policy: policy("[[rule]]\nname = \"globex\"\nmatch = { tenant = [\"globex\"] }\nexclude = [\"aws-tokyo\"]\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("aws-tokyo"),
            reasons: &["matched rules: none"],
        },
    ];
    for case in cases {
        check(case);
    }
}

#[test]
fn ranking() {
    let cases = [
        Case {
            name: "cheapest storage for a bucket",
            policy: policy(CHEAPEST),
            request: bucket(),
            facts: ALL_OK,
            target: Some("compat-frankfurt"),
            reasons: &["order: compat-frankfurt, local, aws-virginia, aws-tokyo, peer-osaka"],
        },
        Case {
            name: "prefer list order, others after by name",
            policy: policy("[[rule]]\nname = \"pref\"\nrank = [\"prefer\"]\nprefer = [\"peer-osaka\", \"local\"]\n"),
            request: instance(),
            facts: ALL_OK,
            target: Some("peer-osaka"),
            reasons: &["order: peer-osaka, local, aws-tokyo, aws-virginia, compat-frankfurt"],
        },
        Case {
            name: "lowest latency, unknown last",
            policy: policy("[[rule]]\nname = \"fast\"\nrank = [\"lowest-latency\"]\n"),
            request: instance(),
            facts: "local:ok,lat=9 aws-tokyo:ok,lat=4 aws-virginia:ok,lat=160 peer-osaka:ok compat-frankfurt:ok,lat=240",
            target: Some("aws-tokyo"),
            reasons: &["order: aws-tokyo, local, aws-virginia, compat-frankfurt, peer-osaka"],
        },
        Case {
            name: "least utilised",
            policy: policy("[[rule]]\nname = \"spread\"\nrank = [\"least-utilised\"]\n"),
            request: instance(),
            facts: "local:ok,util=0.9 aws-tokyo:ok,util=0.5 aws-virginia:ok,util=0.1 peer-osaka:ok,util=0.3 compat-frankfurt:ok,util=0.7",
            target: Some("aws-virginia"),
            reasons: &["ranking: least-utilised (rule spread), then target name"],
        },
        Case {
            name: "earlier rules rank first, later ones break ties",
            policy: policy(
                "[[rule]]\nname = \"pref\"\nrank = [\"prefer\"]\nprefer = [\"aws-tokyo\", \"aws-virginia\"]\n\
                 [[rule]]\nname = \"jp\"\nrequire = { country = [\"JP\", \"US\"] }\n\
                 [[rule]]\nname = \"cheap\"\nrank = [\"cheapest\"]\n",
            ),
            request: instance(),
            facts: ALL_OK,
            target: Some("aws-tokyo"),
            reasons: &["ranking: prefer (rule pref), then cheapest (rule cheap), then target name", "order: aws-tokyo, aws-virginia, local, peer-osaka"],
        },
    ];
    for case in cases {
        check(case);
    }
}

const BURST: &str = r#"
[[rule]]
name = "burst"
match = { resource = ["instance"] }
rank = ["prefer", "cheapest"]
prefer = ["local"]
burst = { from = "local", to = ["aws-tokyo", "aws-virginia"], above = 0.8 }
"#;

#[test]
fn burst_failover_and_refusals() {
    let cases = [
        Case {
            name: "burst: local below threshold keeps the work",
            policy: policy(&format!("{BURST}[[rule]]\nname = \"only-burst\"\nrequire = {{ kind = [\"local\", \"aws\"] }}\n")),
            request: instance(),
            facts: "local:ok,util=0.5 aws-tokyo:ok aws-virginia:ok",
            target: Some("local"),
            reasons: &["aws-tokyo: burst only: local utilisation 0.5 is not above 0.8 (rule burst)"],
        },
        Case {
            name: "burst: local above threshold bursts to the cheapest cloud",
            policy: policy(&format!("{BURST}[[rule]]\nname = \"only-burst\"\nrequire = {{ kind = [\"local\", \"aws\"] }}\n")),
            request: instance(),
            facts: "local:ok,util=0.85 aws-tokyo:ok aws-virginia:ok",
            target: Some("aws-virginia"),
            reasons: &["demoted: local utilisation 0.85 above 0.8 (rule burst)", "order: aws-virginia, aws-tokyo, local"],
        },
        Case {
            name: "burst: at exactly the threshold does not burst",
            policy: policy(&format!("{BURST}[[rule]]\nname = \"only-burst\"\nrequire = {{ kind = [\"local\", \"aws\"] }}\n")),
            request: instance(),
            facts: "local:ok,util=0.8 aws-tokyo:ok aws-virginia:ok",
            target: Some("local"),
            reasons: &["burst only"],
        },
        Case {
            name: "burst: an unhealthy local opens the gate",
            policy: policy(&format!("{BURST}[[rule]]\nname = \"only-burst\"\nrequire = {{ kind = [\"local\", \"aws\"] }}\n")),
            request: instance(),
            facts: "local:down aws-tokyo:ok aws-virginia:ok",
            target: Some("aws-virginia"),
            reasons: &["local: unhealthy"],
        },
        Case {
            name: "burst: a full local opens the gate",
            policy: policy(&format!("{BURST}[[rule]]\nname = \"only-burst\"\nrequire = {{ kind = [\"local\", \"aws\"] }}\n")),
            request: instance().with_vcpus(4),
            facts: "local:ok,util=0.2,used=14 aws-tokyo:ok aws-virginia:ok",
            target: Some("aws-virginia"),
            reasons: &["local: 4 vCPUs requested, 14 of 16 in use"],
        },
        Case {
            name: "burst: rules without a match leave storage alone",
            policy: policy(BURST),
            request: bucket(),
            facts: "local:ok,util=0.1 aws-tokyo:ok aws-virginia:ok",
            target: Some("aws-tokyo"),
            reasons: &["matched rules: none"],
        },
        Case {
            name: "failover skips an unhealthy best candidate",
            policy: policy(CHEAPEST),
            request: instance(),
            facts: "local:down aws-tokyo:ok aws-virginia:ok peer-osaka:ok compat-frankfurt:ok",
            target: Some("compat-frankfurt"),
            reasons: &["local: unhealthy"],
        },
        Case {
            name: "targets without facts are not used",
            policy: policy(CHEAPEST),
            request: instance(),
            facts: "aws-tokyo:ok",
            target: Some("aws-tokyo"),
            reasons: &["local: no live facts (health unknown)", "compat-frankfurt: no live facts"],
        },
        Case {
            name: "on_unhealthy = fail refuses instead of failing over",
            policy: policy(&format!("{CHEAPEST}[[rule]]\nname = \"strict\"\nmatch = {{ tenant = [\"acme\"] }}\non_unhealthy = \"fail\"\n")),
            request: instance(),
            facts: "local:down aws-tokyo:ok aws-virginia:ok peer-osaka:ok compat-frankfurt:ok",
            target: None,
            reasons: &["target: none (target local is unhealthy and policy rule \"strict\" forbids failover)"],
        },
        Case {
            name: "on_unhealthy = fail with a healthy best candidate",
            policy: policy(&format!("{CHEAPEST}[[rule]]\nname = \"strict\"\non_unhealthy = \"fail\"\n")),
            request: instance(),
            facts: "local:ok aws-virginia:down",
            target: Some("local"),
            reasons: &[],
        },
        Case {
            name: "conflicting rules refuse, naming both",
            policy: policy(&format!("{PERSONAL_IN_JP}[[rule]]\nname = \"us-only\"\nmatch = {{ location_constraint = [\"us-*\"] }}\nrequire = {{ country = [\"US\"] }}\n")),
            request: bucket().with_tag("data-class", "personal").with_location_constraint("us-west-2"),
            facts: ALL_OK,
            target: None,
            reasons: &["target: none (no target satisfies policy rule \"personal-in-jp\", \"us-only\")", "local: country JP not in required [US] (rule us-only)"],
        },
        Case {
            name: "nothing healthy",
            policy: policy(CHEAPEST),
            request: instance(),
            facts: "local:down",
            target: None,
            reasons: &["target: none (no healthy target with capacity is available)"],
        },
        Case {
            name: "no targets at all",
            policy: String::new(),
            request: instance(),
            facts: "",
            target: None,
            reasons: &["no placement targets are configured"],
        },
    ];
    for case in cases {
        check(case);
    }
}

#[test]
fn responsible_rules_are_available_to_callers() {
    let policies = policies::PolicySet::parse("t.toml", &policy(&format!("{PERSONAL_IN_JP}[[rule]]\nname = \"no-jp\"\nexclude = [\"local\", \"aws-tokyo\", \"peer-osaka\"]\n")))
        .expect("parses");
    let decision = policies::decide(
        &personal_instance(),
        &crate::check::facts(ALL_OK),
        &policies,
    );
    assert_eq!(decision.target, None);
    assert_eq!(
        decision.responsible_rules(),
        vec!["personal-in-jp", "no-jp"]
    );
}

#[test]
fn targets_that_cannot_serve_a_request_are_left_out_before_the_rules() {
    let only_us = |request: Request| {
        request.with_eligible_targets(
            ["aws-virginia", "compat-frankfurt"],
            "image ami-1 is not there",
        )
    };
    let cases = [
        Case {
            name: "the cheapest eligible target wins",
            policy: policy(CHEAPEST),
            request: only_us(instance()),
            facts: ALL_OK,
            target: Some("compat-frankfurt"),
            reasons: &[
                "local: image ami-1 is not there",
                "order: compat-frankfurt, aws-virginia",
            ],
        },
        Case {
            name: "a requirement can still refuse every eligible target",
            policy: policy(PERSONAL_IN_JP),
            request: only_us(personal_instance()),
            facts: ALL_OK,
            target: None,
            reasons: &[
                "aws-tokyo: image ami-1 is not there",
                "no target satisfies policy rule \"personal-in-jp\"",
            ],
        },
    ];
    for case in cases {
        check(case);
    }
}
