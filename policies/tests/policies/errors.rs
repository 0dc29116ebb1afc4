//! Invalid policies are rejected with file:line:column and a plain message.

use policies::PolicySet;

const TARGET: &str =
    "[[target]]\nname = \"local\"\nkind = \"local\"\njurisdiction = { country = \"JP\" }\n";

fn errors(sources: &[(&str, &str)]) -> Vec<String> {
    match PolicySet::from_sources(sources) {
        Ok(_) => panic!("policy unexpectedly valid: {sources:?}"),
        Err(error) => error
            .diagnostics()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// (name, policy text after the shared target, the start of an expected diagnostic)
const CASES: &[(&str, &str, &str)] = &[
    ("syntax", "[[rule]\n", "t.toml:5:7: "),
    ("unknown rule key", "[[rule]]\nname = \"r\"\nexlude = [\"local\"]\n", "t.toml:7:1: unknown field `exlude`"),
    ("unknown require key", "[[rule]]\nname = \"r\"\nrequire = { countries = [\"JP\"] }\n", "t.toml:7:13: unknown field `countries`"),
    ("wrong type", "[[rule]]\nname = \"r\"\nrequire = { min_availability = \"high\" }\n", "t.toml:7:32: invalid type: string \"high\", expected f64"),
    ("unknown kind", "[[target]]\nname = \"x\"\nkind = \"azure\"\njurisdiction = { country = \"JP\" }\n", "t.toml:7:8: unknown variant `azure`"),
    ("unknown criterion", "[[rule]]\nname = \"r\"\nrank = [\"fastest\"]\n", "t.toml:7:9: unknown variant `fastest`"),
    ("missing field", "[[target]]\nname = \"x\"\nkind = \"aws\"\n", "t.toml:5:1: missing field `jurisdiction`"),
    ("unknown target in exclude", "[[rule]]\nname = \"r\"\nexclude = [\"lcoal\"]\n", "t.toml:7:12: rule \"r\" names unknown target \"lcoal\""),
    ("unknown burst source", "[[rule]]\nname = \"r\"\nburst = { from = \"nope\", to = [\"local\"], above = 0.5 }\n", "t.toml:7:18: rule \"r\" names unknown target \"nope\""),
    ("burst threshold out of range", "[[target]]\nname = \"aws\"\nkind = \"aws\"\njurisdiction = { country = \"US\" }\n[[rule]]\nname = \"r\"\n[rule.burst]\nfrom = \"local\"\nto = [\"aws\"]\nabove = 80\n", "t.toml:14:9: burst.above must be between 0 and 1, not 80"),
    ("burst into itself", "[[rule]]\nname = \"r\"\nburst = { from = \"local\", to = [\"local\"], above = 0.5 }\n", "t.toml:7:9: burst.to must not contain burst.from (\"local\")"),
    ("empty require set", "[[rule]]\nname = \"r\"\nrequire = { country = [] }\n", "t.toml:7:23: require.country must not be empty: it would allow no target"),
    ("empty match list", "[[rule]]\nname = \"r\"\nmatch = { tenant = [] }\nexclude = [\"local\"]\n", "t.toml:7:20: match.tenant must not be empty; omit it to match anything"),
    ("lower-case country", "[[rule]]\nname = \"r\"\nrequire = { country = [\"jp\"] }\n", "t.toml:7:24: country must be a two-letter upper-case ISO code such as \"JP\", not \"jp\""),
    ("availability over 100", "[[target]]\nname = \"x\"\nkind = \"aws\"\njurisdiction = { country = \"US\" }\nsla = { availability = 100.5 }\n", "t.toml:9:24: availability must be between 0 and 100, not 100.5"),
    ("negative price", "[[target]]\nname = \"x\"\nkind = \"aws\"\njurisdiction = { country = \"US\" }\nprice = { instance_hour = { \"m5.large\" = -1 } }\n", "t.toml:9:27: price of m5.large must be a finite number >= 0, not -1"),
    ("rule does nothing", "[[rule]]\nname = \"idle\"\nmatch = { tenant = [\"acme\"] }\n", "t.toml:6:8: rule \"idle\" has no require, exclude, rank, burst or on_unhealthy: it does nothing"),
    ("prefer without rank", "[[rule]]\nname = \"r\"\nprefer = [\"local\"]\n", "t.toml:7:10: prefer is set but rank does not include \"prefer\""),
    ("rank prefer without list", "[[rule]]\nname = \"r\"\nrank = [\"prefer\"]\n", "t.toml:7:8: rank includes \"prefer\" but the rule has no prefer list"),
    ("duplicate rule", "[[rule]]\nname = \"r\"\nexclude = [\"local\"]\n[[rule]]\nname = \"r\"\nrank = [\"cheapest\"]\n", "t.toml:9:8: duplicate rule name \"r\""),
    ("duplicate target", TARGET, "t.toml:6:8: duplicate target name \"local\""),
];

#[test]
fn each_error_is_positioned() {
    for (name, rest, expected) in CASES {
        let text = format!("{TARGET}{rest}");
        let found = errors(&[("t.toml", &text)]);
        assert!(
            found
                .iter()
                .any(|diagnostic| diagnostic.starts_with(expected)),
            "case {name}: expected {expected:?}, got {found:#?}"
        );
    }
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = format!("{TARGET}[[rule]]\nname = \"r\"\nexclude = [\"a\", \"b\"]\nrequire = {{ min_availability = 101 }}\n");
    let found = errors(&[("t.toml", &text)]);
    assert_eq!(
        found,
        vec![
            "t.toml:7:12: rule \"r\" names unknown target \"a\"",
            "t.toml:7:17: rule \"r\" names unknown target \"b\"",
            "t.toml:8:32: require.min_availability must be between 0 and 100, not 101",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    );
}

#[test]
fn errors_name_the_right_file_across_files() {
    let second =
        "[[target]]\nname = \"local\"\nkind = \"aws\"\njurisdiction = { country = \"US\" }\n";
    let found = errors(&[("10-local.toml", TARGET), ("20-aws.toml", second)]);
    assert_eq!(
        found,
        vec!["20-aws.toml:2:8: duplicate target name \"local\"".to_string()]
    );

    // Syntax errors are reported for every broken file, not only the first.
    let found = errors(&[
        ("a.toml", "x = \n"),
        ("b.toml", TARGET),
        ("c.toml", "[[rule]]\nname = 1\n"),
    ]);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("a.toml:1:"), "{found:#?}");
    assert!(
        found[1].starts_with("c.toml:2:8: invalid type: integer `1`, expected a string"),
        "{found:#?}"
    );
}

#[test]
fn rules_may_refer_to_targets_in_other_files() {
    let rules = "[[rule]]\nname = \"r\"\nexclude = [\"local\"]\n";
    let policies = PolicySet::from_sources(&[("rules.toml", rules), ("targets.toml", TARGET)])
        .expect("valid across files");
    assert_eq!(policies.files(), ["rules.toml", "targets.toml"]);
}

#[test]
fn unquoted_instance_types_get_a_hint() {
    let text =
        format!("{TARGET}price = {{ instance_hour = {{ m5.large = 0.1, t3 = \"cheap\" }} }}\n");
    let found = errors(&[("t.toml", &text)]);
    assert_eq!(found, vec![
        "t.toml:5:27: instance type \"m5\" is a table: quote instance types, e.g. \"m5.large\" = 0.1".to_string(),
        "t.toml:5:27: price of t3 must be a number, not a string".to_string(),
    ]);
}

#[test]
fn syntax_errors_are_one_line() {
    let found = errors(&[("t.toml", "[[rule]\n")]);
    assert_eq!(
        found,
        vec!["t.toml:1:7: invalid table header; expected `.`, `]]`".to_string()]
    );
}
