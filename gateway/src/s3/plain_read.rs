//! The short path for S3's commonest request: a GET or HEAD of a whole object
//! in a bucket of this site, SigV4-signed by its owner or anonymous on a
//! public-read bucket or object, with nothing that changes the answer
//! (no Range, conditions, `response-*` overrides, `versionId`, `partNumber`,
//! SSE-C or CORS origin), path or virtual-host style. `x-amz-checksum-mode:
//! ENABLED`, which current SDKs send on every GetObject, is served here too.
//!
//! s3s's generic preparation (query and header decoding into its input type,
//! its own signature check, output serialisation) costs about a third of such
//! a request's CPU. Here the signature is checked once by `auth::sigv4`, the
//! record comes from the object cache and the headers are written directly.
//! Whatever this path does not recognise, or cannot answer with a 200, it
//! declines, and the request goes on to s3s unchanged: every error and every
//! unusual case keeps exactly one implementation. `tests/api/plain_read.rs`
//! compares this path's answers with s3s's header by header.

use accounts::Accounts;
use cloud::types::ObjectInfo;
use futures::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;

use crate::auth::{self, SignedRequest};
use crate::http::{BoxError, ResponseBody};
use crate::ratelimit::RateLimits;

use super::convert;

/// Query parameters a plain read may carry: a presigned signature, and the
/// operation hint aws-sdk-rust adds (`x-id=GetObject`).
const PLAIN_QUERY: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "x-id",
];

/// Headers that select, condition or transform a read; any of them, and any
/// `x-amz-` header but the signature's own, sends the request to s3s.
const SHAPING_HEADERS: &[HeaderName] = &[
    header::RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::ORIGIN,
    header::EXPECT,
    header::TRANSFER_ENCODING,
];

/// `x-amz-` headers that only carry the signature or client identification.
const SIGNATURE_HEADERS: &[&str] = &["x-amz-date", "x-amz-content-sha256", "x-amz-user-agent"];

const CHECKSUM_MODE: &str = "x-amz-checksum-mode";

/// What the short path needs from the gateway.
pub struct PlainRead<'a> {
    pub accounts: &'a Accounts,
    pub limits: &'a RateLimits,
    /// Virtual-host base domain (empty: path style only).
    pub base_domain: &'a str,
}

/// The answer to a plain read, or `None` to leave the request to s3s.
pub async fn serve(
    ctx: &PlainRead<'_>,
    parts: &http::request::Parts,
    query: &[(String, String)],
) -> Option<(&'static str, Response<ResponseBody>)> {
    let head = match parts.method {
        Method::GET => false,
        Method::HEAD => true,
        _ => return None,
    };
    let header_signed = parts.headers.contains_key(header::AUTHORIZATION);
    // A header section over AWS's limit is refused by `guard`, through s3s's path.
    let refused = super::guard::check_header_section(&parts.headers).is_err();
    if refused || !is_plain_query(query, header_signed) || !is_plain(&parts.headers) {
        return None;
    }
    let anonymous = !header_signed && !query.iter().any(|(k, _)| k.starts_with("X-Amz-"));
    let host_bucket = super::host::virtual_bucket(&parts.headers, ctx.base_domain);
    let (bucket, key) = bucket_and_key(parts.uri.path(), host_bucket)?;
    let bucket = bucket.as_str();
    let (info, caller) = if anonymous {
        // Public-read buckets and objects only; s3s answers every refusal.
        let info = ctx
            .accounts
            .objects()
            .public_object(bucket, &key)
            .await
            .ok()?;
        (info, None)
    } else {
        let signed = SignedRequest::of(parts, query, b"");
        let principal = auth::authenticate(ctx.accounts, &signed, query, "s3")
            .await
            .ok()?;
        let info = ctx
            .accounts
            .objects()
            .owned_local_object(&principal.tenant, bucket, &key)
            .await
            .ok()??;
        (info, Some(principal))
    };
    let checksums = parts.headers.contains_key(CHECKSUM_MODE);
    let headers = object_headers(&info, !head, checksums)?;
    let body = if head {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        // Opened before any header is written. A body that cannot be read
        // goes to s3s, which answers (and logs) 500 InternalError.
        let stream = match ctx
            .accounts
            .objects()
            .object_body(bucket, &info, 0..info.size)
            .await
        {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, "plain read declined: the body cannot be opened");
                return None;
            }
        };
        StreamBody::new(stream.map(|chunk| chunk.map(Frame::data).map_err(BoxError::from)))
            .boxed_unsync()
    };
    if let Some(principal) = caller {
        // Last, so that a declined request spends its token in s3s only.
        if !ctx
            .limits
            .allow(&principal.access_key_id, &principal.tenant.id)
        {
            return None;
        }
        tracing::Span::current().record("tenant", principal.tenant.name.as_str());
    }
    metrics::counter!("skyport_s3_plain_reads_total").increment(1);
    let mut response = Response::new(body);
    *response.headers_mut() = headers;
    Some((if head { "HeadObject" } else { "GetObject" }, response))
}

/// Only a presigned signature (never beside an Authorization header: s3s
/// refuses the mix) and the SDK's operation hint.
fn is_plain_query(query: &[(String, String)], header_signed: bool) -> bool {
    query.iter().all(|(k, _)| {
        PLAIN_QUERY.contains(&k.as_str()) && !(header_signed && k.starts_with("X-Amz-"))
    })
}

/// No body, and no header that shapes the answer (but checksum mode ENABLED).
fn is_plain(headers: &HeaderMap) -> bool {
    let empty = headers
        .get(header::CONTENT_LENGTH)
        .is_none_or(|v| v.as_bytes() == b"0");
    let checksum_mode_ok = headers
        .get_all(CHECKSUM_MODE)
        .iter()
        .all(|v| v.as_bytes() == b"ENABLED");
    empty
        && checksum_mode_ok
        && SHAPING_HEADERS.iter().all(|h| !headers.contains_key(h))
        && headers.keys().all(|name| {
            let name = name.as_str();
            !name.starts_with("x-amz-")
                || name == CHECKSUM_MODE
                || SIGNATURE_HEADERS.contains(&name)
        })
}

/// The bucket and percent-decoded key a request names: the bucket from the
/// Host header when it names one (virtual-host style), else the path's first
/// segment; `None` without a key (a bucket request).
fn bucket_and_key(path: &str, host_bucket: Option<String>) -> Option<(String, String)> {
    let path = path.strip_prefix('/')?;
    let (bucket, key) = match host_bucket {
        Some(bucket) => (bucket, path),
        None => {
            let (bucket, key) = path.split_once('/')?;
            if bucket.is_empty() || bucket.contains('%') {
                return None;
            }
            (bucket.to_string(), key)
        }
    };
    if key.is_empty() {
        return None;
    }
    let key = percent_encoding::percent_decode_str(key)
        .decode_utf8()
        .ok()?
        .into_owned();
    Some((bucket, key))
}

/// The headers s3s writes for a whole-object GetObject/HeadObject (in its
/// order), with the stored checksum when `checksums`; `None` when a metadata
/// value would need RFC 2047 encoding, which s3s does and this path leaves to it.
fn object_headers(info: &ObjectInfo, tag_count: bool, checksums: bool) -> Option<HeaderMap> {
    let meta = &info.meta;
    let mut headers = HeaderMap::with_capacity(12 + meta.user_metadata.len());
    let mut put = |name: HeaderName, value: &str| -> Option<()> {
        headers.insert(name, HeaderValue::from_str(value).ok()?);
        Some(())
    };
    put(header::ACCEPT_RANGES, "bytes")?;
    let fields = &meta.headers;
    if let Some(value) = &fields.cache_control {
        put(header::CACHE_CONTROL, value)?;
    }
    let sums = convert::checksum_fields(info.checksum.as_ref().filter(|_| checksums));
    for (name, value) in [
        ("x-amz-checksum-crc32", &sums.crc32),
        ("x-amz-checksum-crc32c", &sums.crc32c),
        ("x-amz-checksum-crc64nvme", &sums.crc64nvme),
        ("x-amz-checksum-sha1", &sums.sha1),
        ("x-amz-checksum-sha256", &sums.sha256),
    ] {
        if let Some(value) = value {
            put(HeaderName::from_static(name), value)?;
        }
    }
    for (name, value) in [
        (header::CONTENT_DISPOSITION, &fields.content_disposition),
        (header::CONTENT_ENCODING, &fields.content_encoding),
        (header::CONTENT_LANGUAGE, &fields.content_language),
    ] {
        if let Some(value) = value {
            put(name, value)?;
        }
    }
    put(header::CONTENT_LENGTH, &info.size.to_string())?;
    if let Some(value) = &fields.content_type {
        put(header::CONTENT_TYPE, value)?;
    }
    put(header::ETAG, &format!("\"{}\"", info.etag))?;
    if let Some(expires) = convert::expires(meta) {
        put(header::EXPIRES, &convert::http_date(&expires)?)?;
    }
    put(
        header::LAST_MODIFIED,
        &convert::http_date(&convert::timestamp_ms(info.last_modified))?,
    )?;
    for (name, value) in &meta.user_metadata {
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return None;
        }
        let name = HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()).ok()?;
        put(name, value)?;
    }
    if tag_count && !meta.tags.is_empty() {
        put(
            HeaderName::from_static("x-amz-tagging-count"),
            &meta.tags.len().to_string(),
        )?;
    }
    if let Some(version) = &info.version_id {
        put(HeaderName::from_static("x-amz-version-id"), version)?;
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn only_unshaped_bodiless_requests_are_plain() {
        let signed = [
            ("host", "127.0.0.1:8773"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=…"),
            ("x-amz-date", "20261127T100000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("amz-sdk-invocation-id", "abc"),
            ("user-agent", "aws-sdk-rust"),
        ];
        assert!(is_plain(&headers(&signed)));
        assert!(is_plain(&headers(&[("content-length", "0")])));
        assert!(is_plain(&headers(&[("x-amz-checksum-mode", "ENABLED")])));
        for shaping in [
            ("range", "bytes=0-1"),
            ("if-none-match", "\"x\""),
            ("origin", "https://example.test"),
            ("x-amz-checksum-mode", "DISABLED"),
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-security-token", "t"),
            ("content-length", "3"),
        ] {
            let mut all = signed.to_vec();
            all.push(shaping);
            assert!(!is_plain(&headers(&all)), "{shaping:?} is not plain");
        }
    }

    #[test]
    fn plain_queries_carry_one_signature_at_most() {
        let query = |pairs: &[&str]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|k| (k.to_string(), "v".to_string()))
                .collect()
        };
        let presigned = query(&["X-Amz-Credential", "X-Amz-Signature", "x-id"]);
        assert!(is_plain_query(&presigned, false));
        assert!(!is_plain_query(&presigned, true));
        assert!(is_plain_query(&query(&["x-id"]), true));
        assert!(is_plain_query(&[], true));
        for shaping in [
            "versionId",
            "partNumber",
            "response-content-type",
            "tagging",
            "acl",
        ] {
            assert!(!is_plain_query(&query(&[shaping]), true), "{shaping}");
        }
    }

    #[test]
    fn paths_and_hosts_name_a_bucket_and_a_decoded_key() {
        let named = |path, host: Option<&str>| bucket_and_key(path, host.map(str::to_string));
        assert_eq!(
            named("/photos/a%20b/c%2Bd+e", None),
            Some(("photos".into(), "a b/c+d+e".into()))
        );
        assert_eq!(named("/photos/", None), None);
        assert_eq!(named("/photos", None), None);
        assert_eq!(named("/", None), None);
        assert_eq!(named("/photos/%FF", None), None);
        assert_eq!(
            named("/a%20b/c", Some("photos")),
            Some(("photos".into(), "a b/c".into()))
        );
        assert_eq!(named("/", Some("photos")), None);
    }
}
