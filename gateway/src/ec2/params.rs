//! EC2 Query parameters: the flat `Name.N.Sub` form, read back as lists and structs.

use std::collections::BTreeMap;

use crate::error::Ec2Error;

/// Parameters that carry authentication or protocol framing, not action input.
const PROTOCOL_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "AWSAccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "Timestamp",
    "Expires",
    "SecurityToken",
];

/// An action's input parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

/// Sorts `Name.N…` keys by the numeric N, so `.10` follows `.9`.
fn index_of(rest: &str) -> Option<(u32, &str)> {
    let (index, tail) = match rest.split_once('.') {
        Some((index, tail)) => (index, tail),
        None => (rest, ""),
    };
    index.parse().ok().map(|n| (n, tail))
}

impl Params {
    /// Builds from decoded pairs, dropping protocol and signature parameters.
    pub fn from_pairs(pairs: &[(String, String)]) -> Params {
        let map = pairs
            .iter()
            .filter(|(k, _)| !PROTOCOL_PARAMS.contains(&k.as_str()) && !k.starts_with("X-Amz-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Params { map }
    }

    /// Rejects any parameter whose first segment is not in `allowed`.
    pub fn expect_only(&self, allowed: &[&str]) -> Result<(), Ec2Error> {
        for key in self.map.keys() {
            let head = key.split('.').next().unwrap_or(key);
            if head != "DryRun" && !allowed.contains(&head) {
                return Err(Ec2Error::bad_request(
                    "UnknownParameter",
                    format!("The parameter {head} is not recognized"),
                ));
            }
        }
        Ok(())
    }

    /// Every parameter, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of a scalar parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A scalar that must be present and non-empty.
    pub fn required(&self, name: &str) -> Result<&str, Ec2Error> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Ec2Error::missing(name))
    }

    /// A boolean parameter (`true`/`false`), default `false`.
    pub fn bool(&self, name: &str) -> Result<bool, Ec2Error> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(Ec2Error::invalid_value(format!(
                "Invalid value '{v}' for {name}: expected true or false"
            ))),
        }
    }

    /// An optional integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, Ec2Error> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| Ec2Error::invalid_value(format!("Invalid value '{v}' for {name}")))
            })
            .transpose()
    }

    /// The values of a flattened list `Name.1`, `Name.2`, … in index order.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.");
        let mut items: Vec<(u32, String)> = self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, v)| match index_of(&k[prefix.len()..]) {
                Some((n, "")) => Some((n, v.clone())),
                _ => None,
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// The fields of a struct member `Name.Field…`, as their own `Params`.
    pub fn nested(&self, name: &str) -> Params {
        let prefix = format!("{name}.");
        let map = self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k[prefix.len()..].to_string(), v.clone()))
            .collect();
        Params { map }
    }

    /// The members of a flattened list of structs `Name.N.Field…`, each as its own `Params`.
    pub fn structs(&self, name: &str) -> Vec<Params> {
        let prefix = format!("{name}.");
        let mut groups: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            if let Some((n, tail)) = index_of(&key[prefix.len()..]) {
                if !tail.is_empty() {
                    groups
                        .entry(n)
                        .or_default()
                        .insert(tail.to_string(), value.clone());
                }
            }
        }
        groups.into_values().map(|map| Params { map }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn lists_and_structs_follow_numeric_order() {
        let p = params(&[
            ("Action", "X"),
            ("InstanceId.10", "j"),
            ("InstanceId.2", "b"),
            ("InstanceId.1", "a"),
            ("Filter.1.Name", "tag:env"),
            ("Filter.1.Value.1", "prod"),
            ("Filter.1.Value.2", "dev"),
            ("Filter.2.Name", "key-name"),
            ("TagSpecification.1.Tag.1.Key", "k"),
        ]);
        assert_eq!(p.list("InstanceId"), ["a", "b", "j"]);
        let filters = p.structs("Filter");
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0].get("Name"), Some("tag:env"));
        assert_eq!(filters[0].list("Value"), ["prod", "dev"]);
        let specs = p.structs("TagSpecification");
        assert_eq!(specs[0].structs("Tag")[0].get("Key"), Some("k"));
        assert!(p.get("Action").is_none());
    }

    #[test]
    fn unknown_parameters_are_named() {
        let p = params(&[("KeyName", "a"), ("Bogus.1", "x")]);
        let err = p.expect_only(&["KeyName"]).unwrap_err();
        assert_eq!(err.code, "UnknownParameter");
        assert!(err.message.contains("Bogus"));
        assert!(params(&[("KeyName", "a"), ("DryRun", "true")])
            .expect_only(&["KeyName"])
            .is_ok());
    }

    #[test]
    fn required_and_typed_values() {
        let p = params(&[("A", ""), ("B", "true"), ("C", "12"), ("D", "x")]);
        assert_eq!(p.required("A").unwrap_err().code, "MissingParameter");
        assert!(p.bool("B").unwrap());
        assert_eq!(p.int("C").unwrap(), Some(12));
        assert_eq!(p.int("D").unwrap_err().code, "InvalidParameterValue");
    }
}
