//! Property tests over every parser that takes a client's bytes, run with the
//! unit tests (debug build: arithmetic overflow panics, as it must here).
//! The bar is zero panics on any input. Inputs mix arbitrary text with
//! near-valid shapes (a SigV4 header with one field mangled), since purely
//! random bytes rarely get past the first check.
//!
//! s3s is driven through its public service with the same guard the server
//! applies (`s3::precheck::prepare`); a request the guard lets through must
//! not panic s3s — including aws-chunked bodies, which s3s parses once the
//! seed signature checks out, so those requests are signed for real.

use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use proptest::prelude::*;
use s3s::dto::{PutObjectInput, PutObjectOutput};
use s3s::{S3Request, S3Response, S3Result};

use crate::auth::sigv4::{sign_with_payload_at, ClientKey, SigV4};
use crate::auth::{self, sigv2, SignedRequest};
use crate::ec2::params::Params;

/// Text that looks like what goes into dates, scopes and signatures.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{8}",
        "[0-9]{8}T[0-9]{6}Z",
        "[0-9TZ:+ ,/.-]{0,20}",
        "2026-12-07T14:22:56Z",
        "2026-207T142256Z",
        "\\PC{0,20}",
        any::<String>(),
    ]
}

fn sigv4_header() -> impl Strategy<Value = String> {
    (fragment(), fragment(), fragment(), fragment(), fragment()).prop_map(
        |(key, date, region, service, signature)| {
            format!("AWS4-HMAC-SHA256 Credential={key}/{date}/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}")
        },
    )
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![fragment(), sigv4_header(), "AWS [A-Z]{0,4}:\\PC{0,10}"]
}

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "x-amz-date",
    "date",
    "x-amz-content-sha256",
    "content-md5",
    "x-amz-acl",
    "range",
    "if-modified-since",
    "x-amz-copy-source",
    "x-amz-copy-source-range",
    "x-amz-decoded-content-length",
    "content-encoding",
    "x-amz-trailer",
    "x-amz-checksum-crc32",
    "x-amz-tagging",
    "expect",
];

const QUERY_NAMES: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    "uploadId",
    "partNumber",
    "max-keys",
    "list-type",
    "versionId",
    "acl",
    "tagging",
    "uploads",
    "delete",
    "prefix",
    "continuation-token",
];

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (proptest::sample::select(HEADER_NAMES), header_value())
            .prop_map(|(n, v)| (n.to_string(), v)),
        0..6,
    )
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::sample::select(QUERY_NAMES).prop_map(str::to_string),
                "\\PC{0,8}"
            ],
            fragment(),
        ),
        0..5,
    )
}

fn header_map(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn encode_query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An S3 that reads every PUT body to its end, so s3s's body parsers run.
struct Sink;

#[async_trait::async_trait]
impl s3s::S3 for Sink {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if let Some(mut body) = req.input.body {
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        }
        Ok(S3Response::new(PutObjectOutput::default()))
    }
}

const AK: &str = "AKIDPROPERTY";
const SK: &str = "secret/property/key";

fn sink_service() -> s3s::service::S3Service {
    let mut builder = s3s::service::S3ServiceBuilder::new(Sink);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(AK, SK));
    builder.build()
}

/// Runs a request the way the server does: the guard, then s3s; panics if s3s panics.
fn through_s3s(
    method: &str,
    path: &str,
    query_pairs: &[(String, String)],
    headers: http::HeaderMap,
    body: Vec<u8>,
) {
    let uri = match query_pairs.is_empty() {
        true => path.to_string(),
        false => format!("{path}?{}", encode_query(query_pairs)),
    };
    let Ok(request) = http::Request::builder().method(method).uri(&uri).body(()) else {
        return;
    };
    let (mut parts, ()) = request.into_parts();
    parts.headers = headers;
    let decoded: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc();
    if crate::s3::precheck::prepare(&mut parts, &decoded, now).is_err() {
        return;
    }
    let request = http::Request::from_parts(parts, s3s::Body::from(Bytes::from(body)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(
        AssertUnwindSafe(async {
            if let Ok(response) = sink_service().call(request).await {
                let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            }
        })
        .catch_unwind(),
    );
    assert!(outcome.is_ok(), "s3s panicked on {method} {uri}");
}

fn aws_chunked_body() -> impl Strategy<Value = Vec<u8>> {
    let chunk = (
        "[0-9a-fA-F;=x-]{0,12}",
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(size, data)| {
            let mut out = format!("{size}\r\n").into_bytes();
            out.extend(data);
            out.extend(b"\r\n");
            out
        });
    prop_oneof![
        proptest::collection::vec(chunk, 0..4).prop_map(|chunks| chunks.concat()),
        proptest::collection::vec(any::<u8>(), 0..80),
        "(0\r\n)?(x-amz-checksum-crc32:\\PC{0,10}\r\n){0,2}(\r\n)?".prop_map(String::into_bytes),
    ]
}

/// s3s 0.14's digit parser underflows on a `'-'` where it expects a digit
/// (in a header, or in a browser POST form's field where the guard cannot
/// look); with overflow checks off for s3s (Cargo.toml, as in release) it
/// answers with an error instead of panicking.
#[test]
fn s3s_refuses_dashed_dates_without_panicking() {
    let request = http::Request::builder()
        .uri("/bucket/key")
        .header("host", "localhost")
        .header("x-amz-date", "2026-207T142256Z")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={AK}/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        )
        .body(s3s::Body::empty())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(AssertUnwindSafe(sink_service().call(request)).catch_unwind());
    let Ok(Ok(response)) = outcome else {
        panic!("s3s panicked (or failed) on a dashed date");
    };
    assert!(response.status().is_client_error(), "{}", response.status());
}

/// The streaming cases below reach s3s's decoder: a well-formed one is stored.
#[test]
fn a_signed_aws_chunked_upload_reaches_the_handler() {
    let key = ClientKey {
        access_key: AK,
        secret: SK,
        region: "us-east-1",
        service: "s3",
    };
    let now = time::OffsetDateTime::now_utc();
    let payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
    let mut pairs: Vec<(String, String)> =
        sign_with_payload_at("PUT", "/bucket/key", "localhost", payload, &key, now)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
    let body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n".to_vec();
    pairs.push(("host".into(), "localhost".into()));
    pairs.push(("content-encoding".into(), "aws-chunked".into()));
    pairs.push(("content-length".into(), body.len().to_string()));
    pairs.push(("x-amz-decoded-content-length".into(), "5".into()));
    pairs.push(("x-amz-trailer".into(), "x-amz-checksum-crc32".into()));
    let request = http::Request::builder()
        .method("PUT")
        .uri("/bucket/key")
        .body(s3s::Body::from(Bytes::from(body)))
        .unwrap();
    let (mut parts, body) = request.into_parts();
    parts.headers = header_map(&pairs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime
        .block_on(sink_service().call(http::Request::from_parts(parts, body)))
        .unwrap();
    let status = response.status();
    let body = runtime.block_on(http_body_util::BodyExt::collect(response.into_body()));
    assert_eq!(
        status,
        http::StatusCode::OK,
        "{:?}",
        body.map(|b| b.to_bytes())
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn s3s_behind_the_guard_never_panics(
        method in proptest::sample::select(&["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS"][..]),
        path in prop_oneof![Just("/".to_string()), Just("/bucket".to_string()), Just("/bucket/key".to_string()), "/[a-z0-9%./-]{0,12}"],
        query in query(),
        headers in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        through_s3s(method, &path, &query, header_map(&headers), body);
    }

    /// Signed streaming uploads whose chunked body is arbitrary: s3s's
    /// aws-chunked decoder (with and without trailers) gets the bytes.
    #[test]
    fn aws_chunked_bodies_never_panic(
        payload in proptest::sample::select(&[
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        ][..]),
        decoded_length in prop_oneof![Just(None), (0u64..100).prop_map(Some), Just(Some(u64::MAX))],
        trailer in prop_oneof![Just(None), Just(Some("x-amz-checksum-crc32".to_string())), "\\PC{0,12}".prop_map(Some)],
        body in aws_chunked_body(),
    ) {
        let key = ClientKey { access_key: AK, secret: SK, region: "us-east-1", service: "s3" };
        let now = time::OffsetDateTime::now_utc();
        let mut pairs: Vec<(String, String)> = sign_with_payload_at("PUT", "/bucket/key", "localhost", payload, &key, now)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        pairs.push(("host".into(), "localhost".into()));
        pairs.push(("content-encoding".into(), "aws-chunked".into()));
        pairs.push(("content-length".into(), body.len().to_string()));
        if let Some(length) = decoded_length {
            pairs.push(("x-amz-decoded-content-length".into(), length.to_string()));
        }
        if let Some(trailer) = trailer {
            pairs.push(("x-amz-trailer".into(), trailer));
        }
        through_s3s("PUT", "/bucket/key", &[], header_map(&pairs), body);
    }

    #[test]
    fn sigv4_parsing_and_verification_never_panic(
        header in header_value(),
        amz_date in proptest::option::of(fragment()),
        query in query(),
        headers in headers(),
        path in "\\PC{0,16}",
        body in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let headers = header_map(&headers);
        let request = SignedRequest { method: "GET", path: &path, query: &query, headers: &headers, body: &body };
        let now = time::OffsetDateTime::now_utc();
        for sig in [SigV4::from_header(&header, amz_date.as_deref()), SigV4::from_query(&query)]
            .into_iter()
            .flatten()
        {
            let _ = sig.verify(&request, "secret", now);
        }
        let _ = auth::claimed_access_key(&headers, &query);
        let _ = sigv2::verify(&request, &query, "secret", now);
    }

    #[test]
    fn ec2_parameters_never_panic(
        pairs in proptest::collection::vec(
            (prop_oneof!["[A-Za-z]{1,8}(\\.[0-9]{1,12}(\\.[A-Za-z]{1,6})?){0,2}", "\\PC{0,16}"], fragment()),
            0..8,
        ),
    ) {
        let params = Params::from_pairs(&pairs);
        for (name, _) in &pairs {
            let head = name.split('.').next().unwrap_or("");
            let _ = params.get(name);
            let _ = params.bool(name);
            let _ = params.int(name);
            let _ = params.list(head);
            for nested in params.structs(head) {
                let _ = nested.list("Value");
                let _ = nested.get("Name");
            }
            let _ = params.nested(head);
        }
        let _ = params.expect_only(&["Filter", "MaxResults", "NextToken"]);
        let _ = crate::ec2::page::paginate((0..20).collect::<Vec<i32>>(), &params, |n| n.to_string());
        for (pattern, text) in &pairs {
            let _ = crate::ec2::filter::wildcard_match(pattern, text);
        }
    }

    #[test]
    fn s3_xml_skyport_reads_never_panics(
        xml in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "(<[A-Za-z]{1,6}>|</[A-Za-z]{1,6}>|<Tags>|<Tag>|</Tag>|<Key>|</Key>|<Value>|</Value>|&[a-z#0-9]{0,5};?|\\PC{0,6}){0,16}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let _ = crate::s3::create_bucket_tags::tags_of(&xml);
    }

    #[test]
    fn sigv2_string_to_sign_never_panics(
        method in "\\PC{0,6}",
        path in "\\PC{0,16}",
        query in query(),
        headers in headers(),
        presigned in any::<bool>(),
    ) {
        let headers = header_map(&headers);
        let _ = crate::s3::services_path::string_to_sign(&method, &path, &query, &headers, presigned);
        let _ = crate::s3::services_path::strip(&path);
    }

    #[test]
    fn s3_header_readers_never_panic(headers in headers(), host in "\\PC{0,24}") {
        let headers = header_map(&headers);
        let _ = crate::s3::digest::Expectations::from_request(&headers, None, None);
        let _ = crate::s3::host::bucket_in_host(&host, "s3.example.com");
        let _ = crate::s3::host::bucket_in_host(&host, "");
    }
}
