//! From TOML text to validated targets and rules, collecting every problem with its position.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use crate::error::Diagnostic;
use crate::pattern::Pattern;
use crate::raw::{RawFile, RawMatch, RawRequire, RawRule, RawTarget, SpannedList};
use crate::rule::{Burst, Criterion, Match, Requirements, Rule};
use crate::target::{Capacity, Jurisdiction, PriceTable, Sla, Target};

/// Targets (sorted by name) and rules (in source order) of a validated set of files.
pub(crate) struct Parsed {
    pub targets: Vec<Target>,
    pub rules: Vec<Rule>,
}

/// One file's name and text, for positioning diagnostics.
#[derive(Clone, Copy)]
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at_offset(self.file, self.text, span.start, message)
    }
}

/// Parses and validates `sources` (name, text) as one policy set. Syntax and type errors
/// are reported for every file; semantic checks (which need all targets) run only when
/// every file parsed, since otherwise they would report phantom unknown targets.
pub(crate) fn parse_sources(sources: &[(&str, &str)]) -> Result<Parsed, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    for &(file, text) in sources {
        let source = Source { file, text };
        match toml::from_str::<RawFile>(text) {
            Ok(raw) => files.push((source, raw)),
            Err(error) => {
                let offset = error.span().map_or(0, |span| span.start);
                // toml's messages may span lines ("invalid table header\nexpected `.`");
                // one line per diagnostic keeps `file:line:col: message` greppable.
                let message = error.message().trim().replace('\n', "; ");
                diagnostics.push(Diagnostic::at_offset(file, text, offset, message));
            }
        }
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }

    let mut checker = Checker {
        diagnostics,
        target_names: BTreeSet::new(),
    };
    let mut targets = Vec::new();
    for (source, raw) in &files {
        for raw_target in &raw.target {
            if let Some(target) = checker.target(*source, raw_target) {
                targets.push(target);
            }
        }
    }
    let mut rule_names = BTreeSet::new();
    let mut rules = Vec::new();
    for (source, raw) in &files {
        for raw_rule in &raw.rule {
            if !rule_names.insert(raw_rule.name.get_ref().clone()) {
                checker.error(
                    *source,
                    raw_rule.name.span(),
                    format!("duplicate rule name \"{}\"", raw_rule.name.get_ref()),
                );
            }
            rules.push(checker.rule(*source, raw_rule));
        }
    }
    if !checker.diagnostics.is_empty() {
        // Checks run per concern, not top to bottom; report in reading order.
        let file_index = |file: &str| {
            sources
                .iter()
                .position(|(name, _)| *name == file)
                .unwrap_or(usize::MAX)
        };
        checker.diagnostics.sort_by_key(|diagnostic| {
            (
                file_index(&diagnostic.file),
                diagnostic.line,
                diagnostic.column,
            )
        });
        return Err(checker.diagnostics);
    }
    // Sorting here makes every later iteration (and so every decision) independent of the
    // order targets were declared in.
    targets.sort_by(|left, right| left.name.cmp(&right.name));
    Ok(Parsed { targets, rules })
}

struct Checker {
    diagnostics: Vec<Diagnostic>,
    target_names: BTreeSet<String>,
}

impl Checker {
    fn error(&mut self, source: Source<'_>, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics.push(source.at(span, message));
    }

    fn number(
        &mut self,
        source: Source<'_>,
        value: &Spanned<f64>,
        what: &str,
        range: (f64, f64),
    ) -> f64 {
        let number = *value.get_ref();
        if !number.is_finite() || number < range.0 || number > range.1 {
            let (low, high) = range;
            let message = if high.is_infinite() {
                format!("{what} must be a finite number >= {low}, not {number}")
            } else {
                format!("{what} must be between {low} and {high}, not {number}")
            };
            self.error(source, value.span(), message);
        }
        number
    }

    fn price(&mut self, source: Source<'_>, value: &Spanned<f64>, what: &str) -> f64 {
        self.number(source, value, what, (0.0, f64::INFINITY))
    }

    fn country(&mut self, source: Source<'_>, value: &Spanned<String>) -> String {
        let country = value.get_ref();
        if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
            self.error(source, value.span(), format!("country must be a two-letter upper-case ISO code such as \"JP\", not \"{country}\""));
        }
        country.clone()
    }

    fn target(&mut self, source: Source<'_>, raw: &RawTarget) -> Option<Target> {
        let name = raw.name.get_ref();
        if name.is_empty() {
            self.error(source, raw.name.span(), "target name must not be empty");
        }
        if !self.target_names.insert(name.clone()) {
            self.error(
                source,
                raw.name.span(),
                format!("duplicate target name \"{name}\""),
            );
            return None;
        }
        let country = self.country(source, &raw.jurisdiction.country);
        let region = raw
            .jurisdiction
            .region
            .as_ref()
            .map(|region| region.get_ref().clone());
        if let Some(region) = &raw.jurisdiction.region {
            if region.get_ref().is_empty() {
                self.error(
                    source,
                    region.span(),
                    "region must not be empty; omit it instead",
                );
            }
        }
        let mut instance_hour = BTreeMap::new();
        let no_prices = BTreeMap::new();
        let (prices, prices_span) = match &raw.price.instance_hour {
            Some(table) => (table.get_ref(), table.span()),
            None => (&no_prices, 0..0),
        };
        for (instance_type, value) in prices {
            let number = match value {
                toml::Value::Float(number) => *number,
                // Whole prices are fine; the cast is exact for any plausible price.
                toml::Value::Integer(number) => *number as f64,
                toml::Value::Table(_) => {
                    self.error(source, prices_span.clone(), format!("instance type \"{instance_type}\" is a table: quote instance types, e.g. \"{instance_type}.large\" = 0.1"));
                    continue;
                }
                other => {
                    self.error(
                        source,
                        prices_span.clone(),
                        format!(
                            "price of {instance_type} must be a number, not a {}",
                            other.type_str()
                        ),
                    );
                    continue;
                }
            };
            let price = self.price(
                source,
                &Spanned::new(prices_span.clone(), number),
                &format!("price of {instance_type}"),
            );
            instance_hour.insert(instance_type.clone(), price);
        }
        let storage_gb_month = raw
            .price
            .storage_gb_month
            .as_ref()
            .map(|price| self.price(source, price, "storage_gb_month"));
        let egress_gb = raw
            .price
            .egress_gb
            .as_ref()
            .map(|price| self.price(source, price, "egress_gb"));
        let availability = raw
            .sla
            .availability
            .as_ref()
            .map(|value| self.number(source, value, "availability", (0.0, 100.0)));
        let max_vcpus = raw.capacity.max_vcpus.as_ref().map(|value| {
            if *value.get_ref() == 0 {
                self.error(
                    source,
                    value.span(),
                    "max_vcpus must be at least 1; omit it for no limit",
                );
            }
            *value.get_ref()
        });
        Some(Target {
            name: name.clone(),
            kind: raw.kind,
            jurisdiction: Jurisdiction { country, region },
            price: PriceTable {
                instance_hour,
                storage_gb_month,
                egress_gb,
            },
            sla: Sla {
                availability,
                support: raw.sla.support,
            },
            capacity: Capacity { max_vcpus },
        })
    }

    /// A reference to a target by name, which must exist in the whole set.
    fn target_reference(
        &mut self,
        source: Source<'_>,
        rule: &str,
        value: &Spanned<String>,
    ) -> String {
        let name = value.get_ref();
        if !self.target_names.contains(name) {
            self.error(
                source,
                value.span(),
                format!("rule \"{rule}\" names unknown target \"{name}\""),
            );
        }
        name.clone()
    }

    fn target_references(
        &mut self,
        source: Source<'_>,
        rule: &str,
        key: &str,
        list: &SpannedList,
    ) -> Vec<String> {
        if list.get_ref().is_empty() {
            self.error(
                source,
                list.span(),
                format!("{key} must not be empty; omit it instead"),
            );
        }
        let mut seen = BTreeSet::new();
        let mut names = Vec::new();
        for value in list.get_ref() {
            let name = self.target_reference(source, rule, value);
            if !seen.insert(name.clone()) {
                self.error(
                    source,
                    value.span(),
                    format!("{key} lists \"{name}\" twice"),
                );
            }
            names.push(name);
        }
        names
    }

    fn patterns(
        &mut self,
        source: Source<'_>,
        key: &str,
        list: &Option<SpannedList>,
    ) -> Vec<Pattern> {
        let Some(list) = list else { return Vec::new() };
        if list.get_ref().is_empty() {
            // An empty alternative list would match nothing, which is never what was meant.
            self.error(
                source,
                list.span(),
                format!("{key} must not be empty; omit it to match anything"),
            );
        }
        list.get_ref()
            .iter()
            .map(|value| {
                if value.get_ref().is_empty() {
                    self.error(
                        source,
                        value.span(),
                        format!("{key} pattern must not be empty"),
                    );
                }
                Pattern::new(value.get_ref().clone())
            })
            .collect()
    }

    fn matcher(&mut self, source: Source<'_>, raw: &RawMatch) -> Match {
        let resource = match &raw.resource {
            Some(resource) => {
                if resource.get_ref().is_empty() {
                    self.error(
                        source,
                        resource.span(),
                        "match.resource must not be empty; omit it to match anything",
                    );
                }
                resource.get_ref().clone()
            }
            None => Vec::new(),
        };
        let mut tags = BTreeMap::new();
        if let Some(raw_tags) = &raw.tags {
            if raw_tags.get_ref().is_empty() {
                self.error(
                    source,
                    raw_tags.span(),
                    "match.tags must not be empty; omit it to match anything",
                );
            }
            for (key, value) in raw_tags.get_ref() {
                if key.is_empty() {
                    self.error(source, value.span(), "tag key must not be empty");
                }
                if value.get_ref().is_empty() {
                    self.error(
                        source,
                        value.span(),
                        format!("tag \"{key}\" pattern must not be empty; use \"*\" for any value"),
                    );
                }
                tags.insert(key.clone(), Pattern::new(value.get_ref().clone()));
            }
        }
        Match {
            tenant: self.patterns(source, "match.tenant", &raw.tenant),
            action: self.patterns(source, "match.action", &raw.action),
            resource,
            tags,
            instance_type: self.patterns(source, "match.instance_type", &raw.instance_type),
            region: self.patterns(source, "match.region", &raw.region),
            availability_zone: self.patterns(
                source,
                "match.availability_zone",
                &raw.availability_zone,
            ),
            location_constraint: self.patterns(
                source,
                "match.location_constraint",
                &raw.location_constraint,
            ),
        }
    }

    fn requirements(&mut self, source: Source<'_>, raw: &RawRequire) -> Requirements {
        let country = raw.country.as_ref().map(|list| {
            if list.get_ref().is_empty() {
                self.error(
                    source,
                    list.span(),
                    "require.country must not be empty: it would allow no target",
                );
            }
            list.get_ref()
                .iter()
                .map(|value| self.country(source, value))
                .collect::<BTreeSet<_>>()
        });
        let kind = raw.kind.as_ref().map(|list| {
            if list.get_ref().is_empty() {
                self.error(
                    source,
                    list.span(),
                    "require.kind must not be empty: it would allow no target",
                );
            }
            list.get_ref().iter().copied().collect::<BTreeSet<_>>()
        });
        let region = match &raw.region {
            Some(list) if list.get_ref().is_empty() => {
                self.error(
                    source,
                    list.span(),
                    "require.region must not be empty: it would allow no target",
                );
                Some(Vec::new())
            }
            Some(_) => Some(self.patterns(source, "require.region", &raw.region)),
            None => None,
        };
        Requirements {
            country,
            kind,
            region,
            min_availability: raw
                .min_availability
                .as_ref()
                .map(|value| self.number(source, value, "require.min_availability", (0.0, 100.0))),
            min_support: raw.min_support,
            max_price_per_hour: raw
                .max_price_per_hour
                .as_ref()
                .map(|value| self.price(source, value, "require.max_price_per_hour")),
            max_price_per_gb_month: raw
                .max_price_per_gb_month
                .as_ref()
                .map(|value| self.price(source, value, "require.max_price_per_gb_month")),
        }
    }

    fn rule(&mut self, source: Source<'_>, raw: &RawRule) -> Rule {
        let name = raw.name.get_ref().clone();
        if name.is_empty() {
            self.error(source, raw.name.span(), "rule name must not be empty");
        }
        let matcher = self.matcher(source, &raw.matcher);
        let require = self.requirements(source, &raw.require);
        let exclude = match &raw.exclude {
            Some(list) => self.target_references(source, &name, "exclude", list),
            None => Vec::new(),
        };
        let prefer = match &raw.prefer {
            Some(list) => self.target_references(source, &name, "prefer", list),
            None => Vec::new(),
        };

        let mut rank = Vec::new();
        if let Some(raw_rank) = &raw.rank {
            if raw_rank.get_ref().is_empty() {
                self.error(
                    source,
                    raw_rank.span(),
                    "rank must not be empty; omit it instead",
                );
            }
            for criterion in raw_rank.get_ref() {
                if rank.contains(criterion.get_ref()) {
                    self.error(
                        source,
                        criterion.span(),
                        format!("rank lists \"{}\" twice", criterion.get_ref()),
                    );
                }
                rank.push(*criterion.get_ref());
            }
        }
        // prefer and rank = ["prefer"] only make sense together; say so rather than guess
        // where an implicit "prefer" would sit among the other criteria.
        match (&raw.prefer, rank.contains(&Criterion::Prefer)) {
            (Some(list), false) => {
                self.error(
                    source,
                    list.span(),
                    "prefer is set but rank does not include \"prefer\"",
                );
            }
            (None, true) => {
                let span = raw
                    .rank
                    .as_ref()
                    .map_or(raw.name.span(), |rank| rank.span());
                self.error(
                    source,
                    span,
                    "rank includes \"prefer\" but the rule has no prefer list",
                );
            }
            _ => {}
        }

        let burst = raw.burst.as_ref().map(|raw_burst| {
            let burst_span = raw_burst.span();
            let raw_burst = raw_burst.get_ref();
            let from = self.target_reference(source, &name, &raw_burst.from);
            let to = self.target_references(source, &name, "burst.to", &raw_burst.to);
            if to.contains(&from) {
                self.error(
                    source,
                    burst_span,
                    format!("burst.to must not contain burst.from (\"{from}\")"),
                );
            }
            let above = self.number(source, &raw_burst.above, "burst.above", (0.0, 1.0));
            Burst { from, to, above }
        });

        let rule = Rule {
            name,
            description: raw.description.clone(),
            matcher,
            require,
            exclude,
            rank,
            prefer,
            burst,
            on_unhealthy: raw.on_unhealthy,
        };
        // A rule that only matches is almost always a half-written one.
        let does_nothing = rule.require.is_empty()
            && rule.exclude.is_empty()
            && rule.rank.is_empty()
            && rule.burst.is_none()
            && rule.on_unhealthy == crate::rule::OnUnhealthy::Failover;
        if does_nothing {
            self.error(source, raw.name.span(), format!("rule \"{}\" has no require, exclude, rank, burst or on_unhealthy: it does nothing", rule.name));
        }
        rule
    }
}
