//! CORS for browsers: answering preflight `OPTIONS` requests and adding the
//! `Access-Control-*` headers to actual requests, from the bucket's rules.
//! Runs outside s3s (which has no notion of CORS), before and after it.

use accounts::Accounts;
use cloud::types::CorsRule;
use http::{HeaderMap, HeaderValue, StatusCode};

/// The bucket a request addresses: `bucket.<base domain>` or the first path segment.
pub fn bucket_of(parts: &http::request::Parts, base_domain: &str) -> Option<String> {
    if let Some(bucket) = super::host::virtual_bucket(&parts.headers, base_domain) {
        return Some(bucket);
    }
    let segment = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    (!segment.is_empty()).then(|| segment.to_string())
}

/// `*` in a rule matches any run of characters (at most one `*` is allowed by S3).
fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value[..head.len()].eq_ignore_ascii_case(head)
                && value[value.len() - tail.len()..].eq_ignore_ascii_case(tail)
        }
    }
}

fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|rule| {
        rule.allowed_origins
            .iter()
            .any(|o| pattern_matches(o, origin))
            && rule
                .allowed_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
            && headers
                .iter()
                .all(|h| rule.allowed_headers.iter().any(|a| pattern_matches(a, h)))
    })
}

fn allow_headers(rule: &CorsRule, origin: &str, headers: &mut HeaderMap) {
    let allowed_origin = if rule.allowed_origins.iter().any(|o| o == "*") {
        "*"
    } else {
        origin
    };
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("access-control-allow-origin", allowed_origin.to_string());
    set(
        "access-control-allow-methods",
        rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        );
    }
    if allowed_origin != "*" {
        set("access-control-allow-credentials", "true".into());
    }
    set(
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into(),
    );
}

/// A preflight answer: status, headers, and the S3 error (code, message)
/// when refused.
pub struct Preflight {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub refusal: Option<(&'static str, &'static str)>,
}

fn refused(status: StatusCode, code: &'static str, message: &'static str) -> Preflight {
    Preflight {
        status,
        headers: HeaderMap::new(),
        refusal: Some((code, message)),
    }
}

/// Answers an `OPTIONS` preflight for `bucket`.
pub async fn preflight(
    accounts: &Accounts,
    bucket: Option<String>,
    headers: &HeaderMap,
) -> Preflight {
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let method = headers
        .get("access-control-request-method")
        .and_then(|v| v.to_str().ok());
    let (Some(origin), Some(method), Some(bucket)) = (origin, method, bucket) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        );
    };
    let requested: Vec<String> = headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rules = match accounts.objects().bucket_cors(&bucket).await {
        Ok(Some(rules)) => rules,
        Ok(None) => {
            return refused(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
            )
        }
        Err(_) => {
            return refused(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
            )
        }
    };
    match find_rule(&rules, origin, method, &requested) {
        Some(rule) => {
            let mut out = HeaderMap::new();
            allow_headers(rule, origin, &mut out);
            if !requested.is_empty() {
                if let Ok(value) = HeaderValue::from_str(&requested.join(", ")) {
                    out.insert("access-control-allow-headers", value);
                }
            }
            if let Some(age) = rule.max_age_seconds {
                out.insert("access-control-max-age", HeaderValue::from(age));
            }
            Preflight { status: StatusCode::OK, headers: out, refusal: None }
        }
        None => refused(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ),
    }
}

/// Adds CORS headers to the response of an actual (non-preflight) request.
pub async fn decorate(
    accounts: &Accounts,
    bucket: &str,
    origin: &str,
    method: &str,
    response: &mut HeaderMap,
) {
    if let Ok(Some(rules)) = accounts.objects().bucket_cors(bucket).await {
        if let Some(rule) = find_rule(&rules, origin, method, &[]) {
            allow_headers(rule, origin, response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_origins_methods_and_headers() {
        let rule = CorsRule {
            allowed_origins: vec!["https://*.example.com".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_headers: vec!["x-amz-*".into(), "content-type".into()],
            ..Default::default()
        };
        let rules = [rule];
        assert!(find_rule(
            &rules,
            "https://app.example.com",
            "PUT",
            &["content-type".into(), "x-amz-date".into()]
        )
        .is_some());
        assert!(find_rule(&rules, "https://app.example.com", "DELETE", &[]).is_none());
        assert!(find_rule(&rules, "https://evil.test", "GET", &[]).is_none());
        assert!(find_rule(
            &rules,
            "https://app.example.com",
            "GET",
            &["authorization".into()]
        )
        .is_none());
        assert!(pattern_matches("*", "anything"));
    }
}
