//! Benchmark of one decision with 50 rules and 10 targets, against a 1 rule / 1 target baseline.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use policies::{decide, Facts, PolicySet, Request, ResourceKind, TargetFacts};

const COUNTRIES: [&str; 3] = ["JP", "US", "DE"];
const KINDS: [&str; 4] = ["local", "aws", "compatible", "peer"];

/// Ten targets and fifty rules: most rules match other tenants, tags or actions (so the
/// matcher is exercised), and about a dozen match the benchmark request and require,
/// exclude, rank and burst.
fn large_policy() -> PolicySet {
    let mut text = String::new();
    for index in 0..10u32 {
        let _ = write!(
            text,
            "[[target]]\nname = \"target-{index:02}\"\nkind = \"{}\"\njurisdiction = {{ country = \"{}\", region = \"region-{index}\" }}\n\
             price = {{ instance_hour = {{ \"m5.large\" = {:.3}, \"t3.micro\" = 0.01 }}, storage_gb_month = 0.02 }}\n\
             sla = {{ availability = {}, support = \"business\" }}\ncapacity = {{ max_vcpus = 512 }}\n\n",
            KINDS[index as usize % 4],
            COUNTRIES[index as usize % 3],
            0.05 + 0.01 * f64::from(index),
            if index % 2 == 0 { "99.99" } else { "99.9" },
        );
    }
    for index in 0..50 {
        let _ = writeln!(text, "[[rule]]\nname = \"rule-{index:02}\"");
        match index % 5 {
            // Never matches: another tenant.
            0 => {
                let _ = writeln!(text, "match = {{ tenant = [\"tenant-{index}\", \"other-*\"] }}\nrequire = {{ country = [\"US\"] }}");
            }
            // Never matches: another tag value.
            1 => {
                let _ = writeln!(text, "match = {{ tags = {{ data-class = \"secret-{index}\" }} }}\nexclude = [\"target-0{}\"]", index % 10);
            }
            // Never matches: another action.
            2 => {
                let _ = writeln!(text, "match = {{ action = [\"Create*\"], resource = [\"bucket\"] }}\nrank = [\"cheapest\"]");
            }
            // Matches: requirements that keep most targets.
            3 => {
                let _ = writeln!(
                    text,
                    "match = {{ tenant = [\"acme\"], tags = {{ data-class = \"personal*\" }}, instance_type = [\"m5.*\"] }}\n\
                     require = {{ country = [\"JP\", \"US\"], min_availability = 99.5, min_support = \"basic\", max_price_per_hour = 1.0 }}"
                );
            }
            // Matches: ranking (and one burst).
            _ => {
                let _ = writeln!(text, "match = {{ action = [\"RunInstances\"] }}\nrank = [\"lowest-latency\", \"cheapest\"]");
                if index == 4 {
                    let _ = writeln!(text, "burst = {{ from = \"target-00\", to = [\"target-03\", \"target-06\"], above = 0.8 }}");
                }
            }
        }
        text.push('\n');
    }
    PolicySet::parse("bench.toml", &text)
        .unwrap_or_else(|error| panic!("benchmark policy invalid:\n{error}"))
}

fn large_facts() -> Facts {
    (0..10u32).fold(Facts::new(), |facts, index| {
        let target_facts = TargetFacts::healthy()
            .with_utilisation(0.1 * f64::from(index))
            .with_latency_ms(f64::from(10 + index % 3));
        facts.with(format!("target-{index:02}"), target_facts)
    })
}

fn small_policy() -> PolicySet {
    let text =
        "[[target]]\nname = \"local\"\nkind = \"local\"\njurisdiction = { country = \"JP\" }\n\n\
                [[rule]]\nname = \"only\"\nrequire = { country = [\"JP\"] }\n";
    PolicySet::parse("baseline.toml", text)
        .unwrap_or_else(|error| panic!("baseline policy invalid:\n{error}"))
}

fn request() -> Request {
    Request::new("acme", "RunInstances", ResourceKind::Instance)
        .with_instance_type("m5.large")
        .with_tag("data-class", "personal")
        .with_vcpus(2)
}

fn bench_decide(criterion: &mut Criterion) {
    let large = large_policy();
    let large_facts = large_facts();
    let small = small_policy();
    let small_facts = Facts::new().with("local", TargetFacts::healthy());
    let request = request();
    let mut group = criterion.benchmark_group("decide");
    group.bench_function("baseline_1_rule_1_target", |bencher| {
        bencher.iter(|| {
            decide(
                black_box(&request),
                black_box(&small_facts),
                black_box(&small),
            )
        })
    });
    group.bench_function("50_rules_10_targets", |bencher| {
        bencher.iter(|| {
            decide(
                black_box(&request),
                black_box(&large_facts),
                black_box(&large),
            )
        })
    });
    group.finish();
}

/// Mean time per call of `run` over roughly `budget`.
fn time_per_call(budget: Duration, mut run: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut calls: u32 = 0;
    while start.elapsed() < budget {
        for _ in 0..100 {
            run();
        }
        calls += 100;
    }
    start.elapsed() / calls.max(1)
}

/// Prints the ratio of the large decision to the baseline, measured back to back in this run
/// so that machine load affects both alike.
fn print_ratio() {
    let large = large_policy();
    let large_facts = large_facts();
    let small = small_policy();
    let small_facts = Facts::new().with("local", TargetFacts::healthy());
    let request = request();
    let decision = decide(&request, &large_facts, &large);
    println!(
        "\nsample decision (50 rules, 10 targets):\n{}",
        decision.explain()
    );
    let budget = Duration::from_millis(500);
    let baseline = time_per_call(budget, || {
        black_box(decide(
            black_box(&request),
            black_box(&small_facts),
            black_box(&small),
        ));
    });
    let large_time = time_per_call(budget, || {
        black_box(decide(
            black_box(&request),
            black_box(&large_facts),
            black_box(&large),
        ));
    });
    let ratio = large_time.as_secs_f64() / baseline.as_secs_f64().max(f64::MIN_POSITIVE);
    println!("baseline (1 rule, 1 target): {baseline:?} per decision");
    println!("50 rules, 10 targets:        {large_time:?} per decision ({ratio:.1}x baseline; target < 10 µs)");
}

criterion_group!(benches, bench_decide);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` runs this binary without `--bench`; only measure for real runs.
    if std::env::args().any(|argument| argument == "--bench") {
        print_ratio();
    }
}
