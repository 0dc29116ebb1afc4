//! Checks and fix-ups s3s leaves to us, applied to the raw request before it
//! reaches s3s:
//! - SigV2 header auth gets AWS's 15-minute clock-skew check (s3s has none);
//! - SigV2 signers sign a bucket as `/bucket/` (botocore adds the slash AWS
//!   expects) while s3s canonicalises the raw path, so `/bucket` becomes `/bucket/`;
//! - presigned SigV4 URLs may not live longer than 7 days;
//! - a SigV4 scope must name the `s3` service;
//! - s3s puts a repeated query parameter into the canonical request in the
//!   order the request has it, where SigV4 sorts by value too, so such a query
//!   is put into canonical order first (otherwise a correct signature fails);
//! - and first, `guard.rs`: input s3s would panic on or answer wrongly.
//!
//! SigV2 dates may be RFC 1123 (with `GMT`, `UTC` or a numeric zone, as s3cmd
//! sends), RFC 850 or asctime, as on AWS (`auth::dates`).

use http::uri::PathAndQuery;
use http::StatusCode;

use crate::auth::dates::parse_http_date;
use crate::auth::MAX_CLOCK_SKEW_SECS;

/// A refusal, in S3's error vocabulary.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub(crate) fn refuse(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

/// Applies the checks; may rewrite the request path.
pub fn prepare(
    parts: &mut http::request::Parts,
    query: &[(String, String)],
    now: time::OffsetDateTime,
) -> Result<(), Refusal> {
    super::guard::check(parts, query)?;
    let header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let sigv2_header = header.starts_with("AWS ");
    let sigv2_query = has("AWSAccessKeyId") && has("Signature");
    if sigv2_header {
        let date = parts
            .headers
            .get("x-amz-date")
            .or_else(|| parts.headers.get("date"))
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                refuse(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    "AWS authentication requires a valid Date or x-amz-date header",
                )
            })?;
        let when = parse_http_date(date).ok_or_else(|| {
            refuse(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        if (now - when).whole_seconds().abs() > MAX_CLOCK_SKEW_SECS {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
    }
    if sigv2_header || sigv2_query {
        let path = parts.uri.path();
        let is_bucket_only = path.len() > 1 && !path[1..].contains('/');
        if is_bucket_only {
            let rewritten = match parts.uri.query() {
                Some(q) => format!("{path}/?{q}"),
                None => format!("{path}/"),
            };
            set_path_and_query(&mut parts.uri, rewritten);
        }
    }
    order_repeated_parameters(&mut parts.uri);
    let scope = header
        .split("Credential=")
        .nth(1)
        .map(|rest| rest.split([',', ' ']).next().unwrap_or(""))
        .map(str::to_string)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.clone())
        });
    if let Some(scope) = scope {
        let service = scope.split('/').nth(3).unwrap_or("");
        if service != "s3" {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                format!("The authorization header is malformed; the credential scope names service '{service}', expecting 's3'"),
            ));
        }
    }
    if let Some((_, expires)) = query.iter().find(|(k, _)| k == "X-Amz-Expires") {
        if expires.parse::<u64>().map_or(true, |e| e > 604_800) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds",
            ));
        }
    }
    Ok(())
}

fn set_path_and_query(uri: &mut http::Uri, path_and_query: String) {
    let mut new = uri.clone().into_parts();
    new.path_and_query = PathAndQuery::try_from(path_and_query).ok();
    if let Ok(new) = http::Uri::from_parts(new) {
        *uri = new;
    }
}

/// Sorts a query that repeats a parameter name into SigV4's canonical order
/// (by encoded name, then encoded value); other queries stay as they are.
fn order_repeated_parameters(uri: &mut http::Uri) {
    let Some(raw) = uri.query() else {
        return;
    };
    // Names decoded (borrowed unless they hold a `%`): most queries repeat
    // none, and are left as they are without encoding anything.
    let decoded = |text| percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    let mut names: Vec<_> = raw
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| decoded(segment.split_once('=').map_or(segment, |(name, _)| name)))
        .collect();
    names.sort_unstable();
    if !names.windows(2).any(|two| two[0] == two[1]) {
        return;
    }
    let raw = raw.to_owned();
    let canonical = |text: &str| {
        crate::auth::percent_encode_strict(
            &percent_encoding::percent_decode_str(text).decode_utf8_lossy(),
        )
    };
    let mut pairs: Vec<(String, String, &str)> = raw
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            (canonical(name), canonical(value), segment)
        })
        .collect();
    pairs.sort();
    let query: Vec<&str> = pairs.iter().map(|(_, _, segment)| *segment).collect();
    let rewritten = format!("{}?{}", uri.path(), query.join("&"));
    set_path_and_query(uri, rewritten);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn sigv2_gets_a_skew_check_and_a_bucket_slash() {
        let now = time::macros::datetime!(2026-11-26 14:00:00 UTC);
        let mut fresh = parts(
            "/bucket?location",
            &[
                ("authorization", "AWS AK:sig"),
                ("date", "Thu, 26 Nov 2026 14:05:00 GMT"),
            ],
        );
        prepare(&mut fresh, &[], now).unwrap();
        assert_eq!(fresh.uri.path(), "/bucket/");
        assert_eq!(fresh.uri.query(), Some("location"));
        let mut stale = parts(
            "/bucket/key",
            &[
                ("authorization", "AWS AK:sig"),
                ("date", "Thu, 26 Nov 2026 13:40:00 GMT"),
            ],
        );
        assert_eq!(
            prepare(&mut stale, &[], now).unwrap_err().code,
            "RequestTimeTooSkewed"
        );
        let mut object = parts(
            "/bucket/key",
            &[
                ("authorization", "AWS AK:sig"),
                ("x-amz-date", "Thu, 26 Nov 2026 14:00:00 GMT"),
            ],
        );
        prepare(&mut object, &[], now).unwrap();
        assert_eq!(object.uri.path(), "/bucket/key");
    }

    #[test]
    fn a_repeated_parameter_is_put_in_canonical_order() {
        let now = time::OffsetDateTime::now_utc();
        let mut repeated = parts(
            "/b/k?prefix=x&key-marker=public-read&a%20b=1&key-marker=foo",
            &[],
        );
        prepare(&mut repeated, &[], now).unwrap();
        assert_eq!(
            repeated.uri.query(),
            Some("a%20b=1&key-marker=foo&key-marker=public-read&prefix=x")
        );
        let mut single = parts("/b/k?prefix=x&key-marker=public-read", &[]);
        prepare(&mut single, &[], now).unwrap();
        assert_eq!(single.uri.query(), Some("prefix=x&key-marker=public-read"));
    }

    #[test]
    fn sigv4_scope_and_expiry_are_checked() {
        let now = time::OffsetDateTime::now_utc();
        let mut ec2_scoped = parts("/", &[("authorization", "AWS4-HMAC-SHA256 Credential=AK/20261126/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")]);
        assert_eq!(
            prepare(&mut ec2_scoped, &[], now).unwrap_err().code,
            "AuthorizationHeaderMalformed"
        );
        let query = vec![
            (
                "X-Amz-Credential".to_string(),
                "AK/20261126/us-east-1/s3/aws4_request".to_string(),
            ),
            ("X-Amz-Expires".to_string(), "604801".to_string()),
        ];
        let mut long = parts("/b/k", &[]);
        assert_eq!(
            prepare(&mut long, &query, now).unwrap_err().code,
            "AuthorizationQueryParametersError"
        );
        let ok = vec![
            (
                "X-Amz-Credential".to_string(),
                "AK/20261126/us-east-1/s3/aws4_request".to_string(),
            ),
            ("X-Amz-Expires".to_string(), "3600".to_string()),
        ];
        prepare(&mut parts("/b/k", &[]), &ok, now).unwrap();
    }
}
