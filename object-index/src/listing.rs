//! Listing objects: keys in byte order, rolled up into common prefixes, read
//! with seeks so a page costs the same whatever the bucket's size.

use cloud::types::ObjectListing;
use cloud::Result;

use crate::objects::{object_from_row, OBJECT_COLUMNS};
use crate::ObjectIndex;
use cloud::tenancy::Tenant;
use datastore::db_err;

/// The smallest string greater than every string that starts with `prefix`.
pub(crate) fn after_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Where a listing resumes.
enum Resume {
    After(String),
    From(String),
}

impl ObjectIndex {
    /// One page of keys in byte order, rolled up into common prefixes at `delimiter`.
    /// Each query reads only the rows it returns (plus one), and a run of keys
    /// under one common prefix is skipped with a single seek, so a page costs the
    /// same in a bucket of a thousand keys or a million.
    pub async fn list_objects(
        &self,
        tenant: &Tenant,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ObjectListing> {
        self.bucket(tenant, bucket).await?;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let mut listing = ObjectListing::default();
        let common_prefix_of = |key: &str| -> Option<String> {
            let delimiter = delimiter?;
            let rest = key.strip_prefix(prefix)?;
            rest.find(delimiter)
                .map(|at| key[..prefix.len() + at + delimiter.len()].to_string())
        };
        let mut resume = match start_after {
            Some(marker) if !marker.is_empty() => match common_prefix_of(marker) {
                // Keys under a prefix already reported are not reported again.
                Some(cp) => match after_prefix(&cp) {
                    Some(next) => Resume::From(next),
                    None => return Ok(listing),
                },
                None => Resume::After(marker.to_string()),
            },
            _ => Resume::From(prefix.to_string()),
        };
        if max_keys == 0 {
            return Ok(listing);
        }
        loop {
            let wanted = max_keys - listing.objects.len() - listing.common_prefixes.len();
            let (op, bound) = match &resume {
                Resume::After(key) if key.as_str() >= prefix => (">", key.clone()),
                Resume::From(key) if key.as_str() >= prefix => (">=", key.clone()),
                _ => (">=", prefix.to_string()),
            };
            let rows = sqlx::query(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND object_key {op} $2 ORDER BY object_key LIMIT $3"
            ))
            .bind(bucket)
            .bind(&bound)
            .bind(wanted as i64 + 1)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
            if rows.is_empty() {
                return Ok(listing);
            }
            let mut skipped_to = None;
            for row in &rows {
                let info = object_from_row(row)?;
                if !info.key.starts_with(prefix) {
                    return Ok(listing);
                }
                if listing.objects.len() + listing.common_prefixes.len() == max_keys {
                    listing.is_truncated = true;
                    return Ok(listing);
                }
                if let Some(cp) = common_prefix_of(&info.key) {
                    listing.last = Some(cp.clone());
                    listing.common_prefixes.push(cp.clone());
                    skipped_to = Some(after_prefix(&cp));
                    break;
                }
                listing.last = Some(info.key.clone());
                resume = Resume::After(info.key.clone());
                listing.objects.push(info);
            }
            match skipped_to {
                Some(Some(next)) => resume = Resume::From(next),
                Some(None) => return Ok(listing),
                None if rows.len() <= wanted => return Ok(listing),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_bounds_every_key_under_it() {
        assert_eq!(after_prefix("photos/").as_deref(), Some("photos0"));
        assert_eq!(after_prefix("a").as_deref(), Some("b"));
        let next = after_prefix("x\u{D7FF}").unwrap();
        assert!("x\u{D7FF}zzz" < next.as_str());
        assert_eq!(after_prefix(""), None);
    }
}
