//! EC2 `Filter.N.Name` / `Filter.N.Value.M` filters. Each Describe action's
//! filters are one table of data ([`Filterable::FILTERS`]): the names AWS
//! documents for it (with their aliases) and how to read a resource's values
//! for them; `tag:KEY`, `tag-key` and `tag-value` are handled once here.

use cloud::types::Tag;

use super::params::Params;
use crate::error::Ec2Error;

/// How a resource's values for one filter are read.
pub type Values<T> = fn(&T) -> Vec<String>;

/// One filter of an action: AWS's name and its documented aliases, and the
/// resource's values for it.
pub struct FilterField<T> {
    pub names: &'static [&'static str],
    pub values: Values<T>,
}

/// A filter whose values are read by `values`.
pub const fn field<T>(names: &'static [&'static str], values: Values<T>) -> FilterField<T> {
    FilterField { names, values }
}

fn no_values<T>(_: &T) -> Vec<String> {
    Vec::new()
}

/// Filters AWS documents for features this site does not have: accepted,
/// and no resource has a value for them (so they match nothing).
pub const fn absent<T>(names: &'static [&'static str]) -> FilterField<T> {
    FilterField {
        names,
        values: no_values::<T>,
    }
}

/// One value.
pub fn one(value: impl Into<String>) -> Vec<String> {
    vec![value.into()]
}

/// The value when there is one.
pub fn opt(value: &Option<String>) -> Vec<String> {
    value.iter().cloned().collect()
}

/// Something Describe* can filter.
pub trait Filterable: Sized + 'static {
    /// The action's filters besides `tag:KEY`, `tag-key` and `tag-value`.
    const FILTERS: &'static [FilterField<Self>];
    /// The resource's tags.
    fn tags(&self) -> &[Tag];
}

/// What a filter reads: a field of the table, or tags.
enum Source<T: 'static> {
    Field(Values<T>),
    Tag(String),
    TagKey,
    TagValue,
}

/// One parsed filter: the resource matches if any of its values matches any pattern.
pub struct Filter<T: 'static> {
    /// The name the client sent.
    pub name: String,
    source: Source<T>,
    /// The patterns.
    pub values: Vec<String>,
}

/// Takes out the filters on `names`, whose value is `value` for every
/// resource (such as the caller's account ID); answers whether they all pass.
pub fn settle_constant<T>(filters: &mut Vec<Filter<T>>, names: &[&str], value: &str) -> bool {
    let mut pass = true;
    filters.retain(|filter| {
        if !names.contains(&filter.name.as_str()) {
            return true;
        }
        pass &= any_matches(&filter.values, &[value.to_string()]);
        false
    });
    pass
}

/// The table entry for `name`, if `T` documents it.
fn lookup<T: Filterable>(name: &str) -> Option<Values<T>> {
    T::FILTERS
        .iter()
        .find(|field| field.names.contains(&name))
        .map(|field| field.values)
}

/// Reads `Filter.N` from the parameters, refusing names `T` does not support
/// (AWS does so even when there is nothing to filter).
pub fn parse_filters<T: Filterable>(params: &Params) -> Result<Vec<Filter<T>>, Ec2Error> {
    params
        .structs("Filter")
        .into_iter()
        .map(|f| {
            let name = f
                .get("Name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| Ec2Error::missing("Filter.N.Name"))?;
            let source = if let Some(key) = name.strip_prefix("tag:") {
                Source::Tag(key.to_string())
            } else if name == "tag-key" {
                Source::TagKey
            } else if name == "tag-value" {
                Source::TagValue
            } else {
                Source::Field(lookup::<T>(name).ok_or_else(|| {
                    Ec2Error::invalid_value(format!("The filter '{name}' is invalid"))
                })?)
            };
            Ok(Filter {
                name: name.to_string(),
                source,
                values: f.list("Value"),
            })
        })
        .collect()
}

/// One element of a filter pattern.
#[derive(Clone, Copy, PartialEq)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
}

/// Splits a pattern: `*` and `?` are wildcards, `\*`, `\?` and `\\` their literal selves.
fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            '*' => Token::AnyRun,
            '?' => Token::AnyOne,
            c => Token::Literal(c),
        });
    }
    out
}

/// `*` matches any run of characters, `?` any one character; a backslash escapes them.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<Token>, Vec<char>) = (tokens(pattern), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some(Token::AnyOne) => true,
            Some(Token::Literal(c)) => *c == t[ti],
            _ => false,
        };
        if step {
            pi += 1;
            ti += 1;
        } else if p.get(pi) == Some(&Token::AnyRun) {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|token| *token == Token::AnyRun)
}

fn any_matches(patterns: &[String], values: &[String]) -> bool {
    patterns
        .iter()
        .any(|p| values.iter().any(|v| wildcard_match(p, v)))
}

/// Whether the resource passes every filter.
pub fn matches<T: Filterable>(resource: &T, filters: &[Filter<T>]) -> bool {
    filters.iter().all(|filter| {
        let values: Vec<String> = match &filter.source {
            Source::Field(values) => values(resource),
            Source::Tag(key) => resource
                .tags()
                .iter()
                .filter(|t| &t.key == key)
                .map(|t| t.value.clone())
                .collect(),
            Source::TagKey => resource.tags().iter().map(|t| t.key.clone()).collect(),
            Source::TagValue => resource.tags().iter().map(|t| t.value.clone()).collect(),
        };
        any_matches(&filter.values, &values)
    })
}

/// Keeps the resources that pass every filter (records or shared records).
pub fn apply<T: Filterable, R: std::borrow::Borrow<T>>(
    resources: Vec<R>,
    filters: &[Filter<T>],
) -> Vec<R> {
    if filters.is_empty() {
        return resources;
    }
    resources
        .into_iter()
        .filter(|resource| matches(resource.borrow(), filters))
        .collect()
}

/// Keeps the resources whose ID is in `wanted` (all of them when it is
/// empty); an ID that names none is `NotFound`, as Describe* answers on AWS.
pub fn select_ids<T>(
    resources: Vec<T>,
    wanted: &[String],
    kind: cloud::ResourceKind,
    id: impl Fn(&T) -> &str,
) -> Result<Vec<T>, Ec2Error> {
    if let Some(missing) = wanted
        .iter()
        .find(|w| !resources.iter().any(|r| id(r) == w.as_str()))
    {
        return Err(cloud::Error::not_found(kind, missing.clone()).into());
    }
    Ok(resources
        .into_iter()
        .filter(|r| wanted.is_empty() || wanted.iter().any(|w| w == id(r)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing {
        name: String,
        tags: Vec<Tag>,
    }

    impl Filterable for Thing {
        const FILTERS: &'static [FilterField<Self>] = &[
            field(&["name", "thing-name"], |t| one(&t.name)),
            absent(&["color"]),
        ];
        fn tags(&self) -> &[Tag] {
            &self.tags
        }
    }

    fn params(filters: &[(&str, &[&str])]) -> Params {
        let mut pairs = Vec::new();
        for (n, (name, values)) in filters.iter().enumerate() {
            pairs.push((format!("Filter.{}.Name", n + 1), name.to_string()));
            for (m, value) in values.iter().enumerate() {
                pairs.push((
                    format!("Filter.{}.Value.{}", n + 1, m + 1),
                    value.to_string(),
                ));
            }
        }
        Params::from_pairs(&pairs)
    }

    #[test]
    fn wildcards() {
        for (p, t, ok) in [
            ("web-*", "web-01", true),
            ("web-?", "web-1", true),
            ("web-?", "web-12", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b", "ab", true),
            ("a*b", "ac", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("a\\?", "a?", true),
            ("a\\\\b", "a\\b", true),
        ] {
            assert_eq!(wildcard_match(p, t), ok, "{p} vs {t}");
        }
    }

    #[test]
    fn tables_aliases_tags_and_unknown_names() {
        let thing = Thing {
            name: "db-1".into(),
            tags: vec![Tag {
                key: "env".into(),
                value: "prod".into(),
            }],
        };
        let check = |name: &str, values: &[&str]| {
            let filters = parse_filters::<Thing>(&params(&[(name, values)])).unwrap();
            matches(&thing, &filters)
        };
        assert!(check("tag:env", &["prod", "dev"]));
        assert!(!check("tag:env", &["dev"]));
        assert!(check("tag-key", &["e*"]));
        assert!(check("tag-value", &["pr?d"]));
        assert!(check("name", &["db-*"]));
        assert!(
            check("thing-name", &["db-1"]),
            "an alias reads the same values"
        );
        assert!(!check("color", &["*"]), "an absent feature matches nothing");
        let unknown = parse_filters::<Thing>(&params(&[("size", &["1"])]))
            .err()
            .unwrap();
        assert_eq!(unknown.code, "InvalidParameterValue");
        assert_eq!(unknown.message, "The filter 'size' is invalid");
    }
}
