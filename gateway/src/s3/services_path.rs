//! S3 under euca2ools' `/services/objectstorage` path (as EC2 is served under
//! `/services/compute`): the prefix is taken off before s3s routes the request.
//!
//! SigV2 signs the path as sent, prefix included, while s3s checks the
//! signature over the path it routes. So a SigV2 request (header or query)
//! whose signature holds for the prefixed path is re-signed here for the
//! path without it, with the caller's own secret; one that does not hold is
//! passed on as it is and s3s refuses it as usual. SigV4 chains its seed
//! signature into streamed chunks, which cannot be re-signed: SigV4 clients
//! address S3 at the root path.

use accounts::Accounts;
use http::uri::PathAndQuery;

use crate::auth::sigv2::sign_sha1;
use crate::auth::sigv4::constant_time_eq;

/// euca2ools' object storage path.
pub const PREFIX: &str = "/services/objectstorage";

/// Subresources that belong in SigV2's canonical resource (sorted, as AWS lists them).
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The path without the prefix, when it has it (`/services/objectstorage` alone is `/`).
pub fn strip(path: &str) -> Option<&str> {
    match path.strip_prefix(PREFIX)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

fn unique<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, name: &str) -> Option<&'a str> {
    let mut found = pairs.filter(|(k, _)| *k == name).map(|(_, v)| v);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// SigV2's string to sign for S3 (the REST authentication document), as s3s builds it.
pub(crate) fn string_to_sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &http::HeaderMap,
    presigned: bool,
) -> Option<String> {
    let mut all: Vec<(&str, &str)> = Vec::new();
    for (name, value) in headers {
        all.push((name.as_str(), value.to_str().ok()?));
    }
    all.sort_by(|a, b| a.0.cmp(b.0));
    let header = |name: &str| unique(all.iter().copied(), name).unwrap_or("");
    let qs = |name: &str| unique(query.iter().map(|(k, v)| (k.as_str(), v.as_str())), name);
    let mut text = format!(
        "{method}\n{}\n{}\n",
        header("content-md5"),
        header("content-type")
    );
    if presigned {
        text.push_str(qs("Expires").unwrap_or(""));
    } else if unique(all.iter().copied(), "x-amz-date").is_none() {
        text.push_str(header("date"));
    }
    text.push('\n');
    let mut last = "";
    for &(name, _) in &all {
        if !name.starts_with("x-amz-") || name == last {
            continue;
        }
        last = name;
        let values: Vec<&str> = all
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.trim())
            .collect();
        text.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    text.push_str(path);
    let mut separator = '?';
    for name in SUBRESOURCES {
        if let Some(value) = qs(name) {
            text.push(separator);
            separator = '&';
            text.push_str(name);
            if !value.is_empty() {
                text.push('=');
                text.push_str(value);
            }
        }
    }
    Some(text)
}

/// The SigV2 signature a request carries: (access key, signature, presigned).
fn sigv2_of(
    parts: &http::request::Parts,
    query: &[(String, String)],
) -> Option<(String, String, bool)> {
    if let Some(header) = parts.headers.get(http::header::AUTHORIZATION) {
        let (key, signature) = header
            .to_str()
            .ok()?
            .strip_prefix("AWS ")?
            .split_once(':')?;
        return Some((key.to_string(), signature.to_string(), false));
    }
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some((get("AWSAccessKeyId")?, get("Signature")?, true))
}

/// Takes the prefix off the request's path (a bucket alone gets SigV2's
/// trailing slash) and re-signs a SigV2 signature that holds for the path as sent.
/// `query` (decoded) follows the rewritten URI.
pub async fn unprefix(
    accounts: &Accounts,
    parts: &mut http::request::Parts,
    query: &mut [(String, String)],
) {
    let Some(rest) = strip(parts.uri.path()) else {
        return;
    };
    let mut path = rest.to_string();
    if path.len() > 1 && !path[1..].contains('/') {
        path.push('/');
    }
    let mut resigned_header = None;
    if let Some((key, signature, presigned)) = sigv2_of(parts, query) {
        let sent = string_to_sign(
            parts.method.as_str(),
            parts.uri.path(),
            query,
            &parts.headers,
            presigned,
        );
        let routed = string_to_sign(
            parts.method.as_str(),
            &path,
            query,
            &parts.headers,
            presigned,
        );
        let secret = match accounts.authenticate(&key).await {
            Ok(Some((secret, _))) => Some(secret),
            _ => None,
        };
        if let (Some(sent), Some(routed), Some(secret)) = (sent, routed, secret) {
            if constant_time_eq(sign_sha1(&secret, &sent).as_bytes(), signature.as_bytes()) {
                let fresh = sign_sha1(&secret, &routed);
                if presigned {
                    for (name, value) in query.iter_mut() {
                        if name == "Signature" {
                            value.clone_from(&fresh);
                        }
                    }
                } else {
                    resigned_header = Some(format!("AWS {key}:{fresh}"));
                }
            }
        }
    }
    if let Some(value) = resigned_header.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        parts.headers.insert(http::header::AUTHORIZATION, value);
    }
    let path_and_query = match parts.uri.query() {
        None => path,
        Some(_) => {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query.iter())
                .finish();
            format!("{path}?{encoded}")
        }
    };
    let mut uri = parts.uri.clone().into_parts();
    uri.path_and_query = PathAndQuery::try_from(path_and_query).ok();
    if let Ok(uri) = http::Uri::from_parts(uri) {
        parts.uri = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_prefix_is_stripped() {
        assert_eq!(strip("/services/objectstorage"), Some("/"));
        assert_eq!(strip("/services/objectstorage/b/k"), Some("/b/k"));
        assert_eq!(strip("/services/objectstoragex/b"), None);
        assert_eq!(strip("/services/compute"), None);
    }

    /// AWS's SigV2 documentation example (Object GET, path style).
    #[test]
    fn string_to_sign_matches_the_aws_example() {
        let mut headers = http::HeaderMap::new();
        headers.insert("date", "Tue, 27 Mar 2007 19:36:42 +0000".parse().unwrap());
        let text = string_to_sign(
            "GET",
            "/awsexamplebucket1/photos/puppy.jpg",
            &[],
            &headers,
            false,
        )
        .unwrap();
        assert_eq!(
            text,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(
            sign_sha1("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &text),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
        let query = vec![
            ("acl".to_string(), String::new()),
            ("x".to_string(), "y".to_string()),
        ];
        headers.insert("x-amz-meta-b", " 2 ".parse().unwrap());
        headers.insert("x-amz-date", "d".parse().unwrap());
        let text = string_to_sign("PUT", "/b/k", &query, &headers, false).unwrap();
        assert_eq!(text, "PUT\n\n\n\nx-amz-date:d\nx-amz-meta-b:2\n/b/k?acl");
    }
}
