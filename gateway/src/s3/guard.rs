//! Client input that s3s would mishandle, refused first in AWS's words.
//!
//! s3s 0.14's digit parser subtracts before it checks (`then_some(c - b'0')`),
//! so a SigV4 date with a byte below `'0'` in a digit's place — `x-amz-date:
//! 2026-12-07T14:22:56Z` trimmed to 16 bytes, a scope date `2026-1-7`, the
//! same in a presigned URL — overflows, which panics in debug builds. Every
//! date it would parse is checked here with `auth::dates` first. The rest are
//! answers s3s gets wrong: an unknown method, an unknown presign algorithm,
//! and a header section larger than AWS's 8 KiB.

use http::{Method, StatusCode};

use super::precheck::{refuse, Refusal};
use crate::auth::dates::{parse_iso_basic, parse_scope_date};

/// AWS refuses a request whose header section exceeds 8 KiB.
pub const MAX_HEADER_SECTION: usize = 8 * 1024;

const ISO_FORMAT: &str = "yyyyMMdd'T'HHmmss'Z'";

/// Every check of this module, in the order AWS applies them.
pub fn check(parts: &http::request::Parts, query: &[(String, String)]) -> Result<(), Refusal> {
    check_method(&parts.method)?;
    check_header_section(&parts.headers)?;
    check_header_signature(&parts.headers)?;
    check_presigned(query)
}

fn check_method(method: &Method) -> Result<(), Refusal> {
    const S3_METHODS: [Method; 6] = [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::POST,
        Method::DELETE,
        Method::OPTIONS,
    ];
    if S3_METHODS.contains(method) {
        return Ok(());
    }
    Err(refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    ))
}

/// The header section as HTTP/1.1 carries it: `name: value\r\n` per header.
pub fn check_header_section(headers: &http::HeaderMap) -> Result<(), Refusal> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size <= MAX_HEADER_SECTION {
        return Ok(());
    }
    Err(refuse(
        StatusCode::BAD_REQUEST,
        "RequestHeaderSectionTooLarge",
        format!(
            "Your request header section exceeds the maximum allowed size ({MAX_HEADER_SECTION} bytes)."
        ),
    ))
}

/// The scope dates after each `Credential=` (s3s parses the field between
/// the first and the second slash).
fn scope_dates(text: &str) -> impl Iterator<Item = &str> {
    text.split("Credential=")
        .skip(1)
        .map(|rest| rest.split('/').nth(1).unwrap_or(""))
}

fn check_header_signature(headers: &http::HeaderMap) -> Result<(), Refusal> {
    let mut sigv4 = false;
    for value in headers.get_all(http::header::AUTHORIZATION) {
        let text = String::from_utf8_lossy(value.as_bytes());
        if text.starts_with("AWS ") {
            continue;
        }
        sigv4 = true;
        let bad = scope_dates(&text)
            .find(|d| parse_scope_date(d).is_none())
            .map(str::to_string);
        if let Some(bad) = bad {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                format!("The authorization header is malformed; incorrect date format \"{bad}\". This date in the credential must be in the format \"yyyyMMdd\"."),
            ));
        }
    }
    for value in headers.get_all("x-amz-date") {
        // A SigV2 date is an HTTP date (checked in `precheck`), but one of
        // SigV4's length (16 bytes) is parsed by s3s all the same.
        let must_be_iso = sigv4 || value.len() == 16;
        let valid = value.to_str().ok().and_then(parse_iso_basic).is_some();
        if must_be_iso && !valid {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
            ));
        }
    }
    Ok(())
}

fn check_presigned(query: &[(String, String)]) -> Result<(), Refusal> {
    let malformed = |message: String| {
        refuse(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        )
    };
    for (name, value) in query {
        match name.as_str() {
            "X-Amz-Algorithm" if value != "AWS4-HMAC-SHA256" => {
                return Err(malformed(
                    "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
                ))
            }
            "X-Amz-Date" if parse_iso_basic(value).is_none() => {
                return Err(malformed(format!(
                    "X-Amz-Date must be in the ISO8601 Long Format \"{ISO_FORMAT}\""
                )))
            }
            "X-Amz-Credential" => {
                let date = value.split('/').nth(1).unwrap_or("");
                if parse_scope_date(date).is_none() {
                    return Err(malformed(format!("Error parsing the X-Amz-Credential parameter; incorrect date format \"{date}\". This date in the credential must be in the format \"yyyyMMdd\".")));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri("/b/k");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn code(parts: &http::request::Parts, query: &[(&str, &str)]) -> Option<&'static str> {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check(parts, &query).err().map(|r| r.code)
    }

    const V4: &str = "AWS4-HMAC-SHA256 Credential=AK/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

    #[test]
    fn sigv4_dates_s3s_would_choke_on_are_refused() {
        let ok = parts(
            "GET",
            &[("authorization", V4), ("x-amz-date", "20261207T142256Z")],
        );
        assert_eq!(code(&ok, &[]), None);
        let dashed = parts(
            "GET",
            &[
                ("authorization", V4),
                ("x-amz-date", "2026-12-07T14:22:56Z"),
            ],
        );
        assert_eq!(code(&dashed, &[]), Some("AccessDenied"));
        let short = parts("GET", &[("x-amz-date", "2026-207T142256Z")]);
        assert_eq!(code(&short, &[]), Some("AccessDenied"));
        let scope = V4.replace("20261207", "2026-1-7");
        let scope = parts(
            "GET",
            &[
                ("authorization", &scope),
                ("x-amz-date", "20261207T142256Z"),
            ],
        );
        assert_eq!(code(&scope, &[]), Some("AuthorizationHeaderMalformed"));
        let sigv2 = parts(
            "GET",
            &[
                ("authorization", "AWS AK:sig"),
                ("x-amz-date", "Mon, 07 Dec 2026 14:22:56 +0000"),
            ],
        );
        assert_eq!(code(&sigv2, &[]), None);
    }

    #[test]
    fn presigned_parameters_are_checked() {
        let p = parts("GET", &[]);
        let good = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "AK/20261207/us-east-1/s3/aws4_request"),
            ("X-Amz-Date", "20261207T142256Z"),
        ];
        assert_eq!(code(&p, &good), None);
        for (i, bad) in [
            "AWS4-HMAC-SHA512",
            "AK/2026-1-7/us-east-1/s3/aws4_request",
            "2026-12-07T14:22:56Z",
        ]
        .into_iter()
        .enumerate()
        {
            let mut query = good;
            query[i].1 = bad;
            assert_eq!(
                code(&p, &query),
                Some("AuthorizationQueryParametersError"),
                "{bad}"
            );
        }
    }

    #[test]
    fn methods_and_header_sections_as_aws() {
        assert_eq!(code(&parts("PATCH", &[]), &[]), Some("MethodNotAllowed"));
        assert_eq!(code(&parts("FOO", &[]), &[]), Some("MethodNotAllowed"));
        assert_eq!(code(&parts("OPTIONS", &[]), &[]), None);
        let big = "a".repeat(MAX_HEADER_SECTION);
        assert_eq!(
            code(&parts("GET", &[("x-pad", &big)]), &[]),
            Some("RequestHeaderSectionTooLarge")
        );
    }
}
