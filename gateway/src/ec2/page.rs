//! MaxResults / NextToken pagination over an ordered listing.

use super::filter::{self, Filterable};
use super::params::Params;
use crate::error::Ec2Error;

/// What a Describe* of resources identified by `id` answers: those named in
/// the `ids` list parameter (all when it is empty; an unknown one is
/// NotFound), through the filters, in ID order, one page.
pub fn describe<T: Filterable>(
    params: &Params,
    mut all: Vec<T>,
    ids: &str,
    kind: cloud::ResourceKind,
    id: impl Fn(&T) -> &str + Copy,
) -> Result<Page<T>, Ec2Error> {
    let filters = filter::parse_filters::<T>(params)?;
    all.sort_by(|a, b| id(a).cmp(id(b)));
    let selected = filter::select_ids(all, &params.list(ids), kind, id)?;
    paginate(filter::apply(selected, &filters), params, |item| {
        id(item).to_string()
    })
}

/// One page and the token for the next, if any.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Pages `items` (already in a stable order by `key`) per `MaxResults` (5–1000) and `NextToken`.
/// The token names the last key returned, so pages stay correct when items come and go.
pub fn paginate<T>(
    items: Vec<T>,
    params: &Params,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, Ec2Error> {
    let max = match params.int("MaxResults")? {
        None => None,
        Some(n) if (5..=1000).contains(&n) => Some(n as usize),
        Some(n) => return Err(Ec2Error::invalid_value(format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."))),
    };
    let after = match params.get("NextToken") {
        None | Some("") => None,
        Some(token) => Some(crate::page_token::last_key(token).ok_or_else(|| {
            Ec2Error::bad_request("InvalidNextToken", "The specified token is invalid")
        })?),
    };
    let mut remaining: Vec<T> = match &after {
        Some(last) => items
            .into_iter()
            .filter(|item| key(item).as_str() > last.as_str())
            .collect(),
        None => items,
    };
    let Some(max) = max else {
        return Ok(Page {
            items: remaining,
            next_token: None,
        });
    };
    if remaining.len() <= max {
        return Ok(Page {
            items: remaining,
            next_token: None,
        });
    }
    remaining.truncate(max);
    let next_token = remaining
        .last()
        .map(|item| crate::page_token::token(&key(item)));
    Ok(Page {
        items: remaining,
        next_token,
    })
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
    fn pages_cover_everything_once() {
        let items: Vec<String> = (0..12).map(|i| format!("id-{i:02}")).collect();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut pairs = vec![("MaxResults", "5".to_string())];
            if let Some(t) = &token {
                pairs.push(("NextToken", t.clone()));
            }
            let p = params(
                &pairs
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>(),
            );
            let page = paginate(items.clone(), &p, |s| s.clone()).unwrap();
            assert!(page.items.len() <= 5);
            seen.extend(page.items);
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn bad_sizes_and_tokens_are_rejected() {
        assert!(paginate(vec![1], &params(&[("MaxResults", "2")]), |i| i.to_string()).is_err());
        let err = paginate(vec![1], &params(&[("NextToken", "!!")]), |i| i.to_string())
            .err()
            .unwrap();
        assert_eq!(err.code, "InvalidNextToken");
    }
}
