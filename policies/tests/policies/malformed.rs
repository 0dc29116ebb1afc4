//! Policy files are admin input, but they arrive as bytes a parser must take
//! without panicking: arbitrary text, and valid policies with bytes cut,
//! duplicated or replaced anywhere. Every answer is a policy set or
//! diagnostics that render.

use policies::PolicySet;
use proptest::prelude::*;

const VALID: &str = r#"[[target]]
name = "local"
kind = "local"
jurisdiction = { country = "JP" }
sla = { availability = 99.9 }
price = { instance_hour = { "t3.micro" = 0.01 } }

[[target]]
name = "aws"
kind = "aws"
jurisdiction = { country = "US" }

[[rule]]
name = "keep-data-home"
match = { tenant = ["acme"], kind = ["bucket"] }
require = { country = ["JP"], min_availability = 99.0 }
rank = ["prefer", "cheapest"]
prefer = ["local"]
burst = { from = "local", to = ["aws"], above = 0.8 }
"#;

fn check(text: &str) {
    match PolicySet::from_sources(&[("fuzz.toml", text)]) {
        Ok(_) => {}
        Err(error) => {
            for diagnostic in error.diagnostics() {
                let _ = diagnostic.to_string();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn mangled_policies_never_panic(
        edits in proptest::collection::vec((0..VALID.len(), 0usize..8, "[\\[\\]{}=\",.0-9a-z \n-]{0,6}"), 1..5),
    ) {
        let mut text = VALID.to_string();
        for (at, cut, insert) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(at..end, &insert);
        }
        check(&text);
    }

    #[test]
    fn numbers_anywhere_never_panic(value in prop_oneof![
        Just("1e309".to_string()), Just("-0.0".to_string()), Just("nan".to_string()), Just("inf".to_string()),
        Just("9223372036854775808".to_string()), any::<f64>().prop_map(|f| format!("{f:?}")), any::<i64>().prop_map(|i| i.to_string()),
    ]) {
        for field in ["availability = 99.9", "\"t3.micro\" = 0.01", "min_availability = 99.0", "above = 0.8"] {
            let (key, _) = field.split_once(" = ").unwrap();
            check(&VALID.replace(field, &format!("{key} = {value}")));
        }
    }
}
