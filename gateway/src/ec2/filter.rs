//! EC2 `Filter.N.Name` / `Filter.N.Value.M` filters, matched generically: each
//! resource says which values it has for a filter name, tags are handled once here.

use cloud::types::Tag;

use super::params::Params;
use crate::error::Ec2Error;

/// One filter: the resource matches if any of its values matches any pattern.
#[derive(Debug, Clone)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// Something Describe* can filter.
pub trait Filterable {
    /// The filter names this resource supports besides `tag:KEY`, `tag-key` and `tag-value`.
    const FILTERS: &'static [&'static str];
    /// The resource's tags.
    fn tags(&self) -> &[Tag];
    /// Values for a non-tag filter name, or `None` if the name is not supported.
    fn filter_values(&self, name: &str) -> Option<Vec<String>>;
}

/// Shared records (DescribeInstances hands out the federation's own copies).
impl<T: Filterable> Filterable for std::sync::Arc<T> {
    const FILTERS: &'static [&'static str] = T::FILTERS;

    fn tags(&self) -> &[Tag] {
        T::tags(self)
    }

    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        T::filter_values(self, name)
    }
}

/// Reads `Filter.N` from the parameters, refusing names `T` does not support
/// (AWS does so even when there is nothing to filter).
pub fn parse_filters<T: Filterable>(params: &Params) -> Result<Vec<Filter>, Ec2Error> {
    params
        .structs("Filter")
        .into_iter()
        .map(|f| {
            let name = f
                .get("Name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| Ec2Error::missing("Filter.N.Name"))?;
            let known = name.starts_with("tag:")
                || name == "tag-key"
                || name == "tag-value"
                || T::FILTERS.contains(&name);
            if !known {
                return Err(Ec2Error::invalid_value(format!(
                    "The filter '{name}' is invalid"
                )));
            }
            Ok(Filter {
                name: name.to_string(),
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

/// Whether the resource passes every filter. Unknown filter names are an error, as on AWS.
pub fn matches<T: Filterable>(resource: &T, filters: &[Filter]) -> Result<bool, Ec2Error> {
    for filter in filters {
        let values: Vec<String> = if let Some(key) = filter.name.strip_prefix("tag:") {
            resource
                .tags()
                .iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.clone())
                .collect()
        } else if filter.name == "tag-key" {
            resource.tags().iter().map(|t| t.key.clone()).collect()
        } else if filter.name == "tag-value" {
            resource.tags().iter().map(|t| t.value.clone()).collect()
        } else {
            resource.filter_values(&filter.name).ok_or_else(|| {
                Ec2Error::invalid_value(format!("The filter '{}' is invalid", filter.name))
            })?
        };
        if !any_matches(&filter.values, &values) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Keeps the resources that pass every filter.
pub fn apply<T: Filterable>(resources: Vec<T>, filters: &[Filter]) -> Result<Vec<T>, Ec2Error> {
    if filters.is_empty() {
        return Ok(resources);
    }
    let mut kept = Vec::with_capacity(resources.len());
    for resource in resources {
        if matches(&resource, filters)? {
            kept.push(resource);
        }
    }
    Ok(kept)
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
        const FILTERS: &'static [&'static str] = &["name"];
        fn tags(&self) -> &[Tag] {
            &self.tags
        }
        fn filter_values(&self, name: &str) -> Option<Vec<String>> {
            (name == "name").then(|| vec![self.name.clone()])
        }
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
    fn tag_filters_and_unknown_names() {
        let thing = Thing {
            name: "db-1".into(),
            tags: vec![Tag {
                key: "env".into(),
                value: "prod".into(),
            }],
        };
        let f = |name: &str, values: &[&str]| {
            vec![Filter {
                name: name.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }]
        };
        assert!(matches(&thing, &f("tag:env", &["prod", "dev"])).unwrap());
        assert!(!matches(&thing, &f("tag:env", &["dev"])).unwrap());
        assert!(matches(&thing, &f("tag-key", &["e*"])).unwrap());
        assert!(matches(&thing, &f("tag-value", &["pr?d"])).unwrap());
        assert!(matches(&thing, &f("name", &["db-*"])).unwrap());
        assert_eq!(
            matches(&thing, &f("color", &["red"])).unwrap_err().code,
            "InvalidParameterValue"
        );
    }
}
