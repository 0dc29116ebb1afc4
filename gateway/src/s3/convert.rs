//! Small conversions between s3s DTOs and domain values, shared by the S3 handlers.

use cloud::types::{CannedAcl, Checksum, ObjectHeaders, ObjectMeta};
use cloud::{ByteStream, Error};
use futures::StreamExt;
use s3s::dto::{ETag, ETagCondition, StreamingBlob, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode};

/// Unix milliseconds to an S3 timestamp.
pub fn timestamp_ms(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

/// Unix milliseconds to whole seconds, as HTTP dates compare.
pub fn whole_seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// The unix seconds of an S3 timestamp.
pub fn unix_seconds(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// A strong ETag from its bare value.
pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

/// Whether an `If-Match`-style condition holds for `current`.
pub fn condition_matches(condition: &ETagCondition, current: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == current,
    }
}

/// An S3 timestamp as an HTTP date (`Fri, 27 Nov 2026 10:00:00 GMT`).
pub fn http_date(t: &Timestamp) -> Option<String> {
    let mut out = Vec::with_capacity(29);
    t.format(TimestampFormat::HttpDate, &mut out).ok()?;
    String::from_utf8(out).ok()
}

/// [`object_meta`] from any s3s input with the standard header fields
/// (PutObject, CopyObject, CreateMultipartUpload).
#[macro_export]
macro_rules! object_meta_of {
    ($input:expr) => {
        $crate::s3::convert::object_meta(
            $input.content_type,
            $input.cache_control,
            $input.content_disposition,
            $input.content_encoding,
            $input.content_language,
            $input.expires.as_ref(),
            $input.metadata,
        )
    };
}

/// Builds what is stored with an object from the request's headers.
pub fn object_meta(
    content_type: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<&Timestamp>,
    metadata: Option<s3s::dto::Metadata>,
) -> ObjectMeta {
    ObjectMeta {
        headers: ObjectHeaders {
            // What S3 reports for objects stored without a Content-Type.
            content_type: content_type.or_else(|| Some("binary/octet-stream".into())),
            cache_control,
            content_disposition,
            content_encoding: content_encoding.filter(|e| e != "aws-chunked"),
            content_language,
            expires: expires.and_then(http_date),
        },
        user_metadata: metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        acl: CannedAcl::Private,
        tags: Vec::new(),
    }
}

/// A canned ACL header value; ACLs that grant writes or need per-user grants are not supported.
pub fn canned_acl(value: Option<&str>) -> Result<CannedAcl, S3Error> {
    match value {
        None => Ok(CannedAcl::Private),
        Some(text) => CannedAcl::parse(text).ok_or_else(|| {
            // A canned ACL S3 knows but Skyport cannot express is a missing
            // feature (501); anything else is the client's mistake (400), as on AWS.
            const KNOWN: [&str; 4] = [
                "public-read-write",
                "authenticated-read",
                "aws-exec-read",
                "log-delivery-write",
            ];
            if KNOWN.contains(&text) {
                S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    format!("the canned ACL '{text}' is not supported; use private or public-read"),
                )
            } else {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("x-amz-acl: '{text}' is not a canned ACL"),
                )
            }
        }),
    }
}

/// The stored `Expires` header back as a timestamp.
pub fn expires(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.headers
        .expires
        .as_deref()
        .and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s).ok())
}

/// A body error as the domain sees it. s3s checks a signed body against
/// `x-amz-content-sha256` as it streams and fails the stream with its own
/// (private) error type, known here by its text.
fn body_error(error: s3s::StdError) -> std::io::Error {
    if error.to_string().contains("Sha256Mismatch") {
        return std::io::Error::other(Error::ContentSha256Mismatch);
    }
    std::io::Error::other(error)
}

/// A request body as the domain's byte stream (a missing body is empty).
pub fn body_stream(body: Option<StreamingBlob>) -> ByteStream {
    match body {
        Some(blob) => Box::pin(blob.map(|chunk| chunk.map_err(body_error))),
        None => Box::pin(futures::stream::empty()),
    }
}

/// A domain byte stream as a response body.
pub fn response_body(stream: ByteStream) -> StreamingBlob {
    StreamingBlob::wrap(sync_wrapper::SyncStream::new(stream))
}

/// Checksum fields of S3 outputs (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).
#[derive(Default)]
pub struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

/// Spreads a stored checksum over the matching output field.
pub fn checksum_fields(checksum: Option<&Checksum>) -> ChecksumFields {
    let mut fields = ChecksumFields::default();
    if let Some(c) = checksum {
        let value = Some(c.value.clone());
        match c.algorithm.as_str() {
            "CRC32" => fields.crc32 = value,
            "CRC32C" => fields.crc32c = value,
            "CRC64NVME" => fields.crc64nvme = value,
            "SHA1" => fields.sha1 = value,
            "SHA256" => fields.sha256 = value,
            _ => {}
        }
    }
    fields
}

/// URL-encodes a key or prefix for `EncodingType=url` listings.
pub fn maybe_encode(value: String, encode: bool) -> String {
    if encode {
        form_urlencoded::byte_serialize(value.as_bytes()).collect()
    } else {
        value
    }
}

/// An S3 error with AWS's text.
pub fn error(code: S3ErrorCode, message: &str) -> S3Error {
    S3Error::with_message(code, message.to_string())
}

/// Tags as S3's `TagSet` carries them.
pub fn tag_set(tags: Vec<cloud::types::Tag>) -> Vec<s3s::dto::Tag> {
    tags.into_iter()
        .map(|t| s3s::dto::Tag {
            key: Some(t.key),
            value: Some(t.value),
        })
        .collect()
}

/// A request's `TagSet`; a tag without a key is MalformedXML.
pub fn tags_of(tag_set: Vec<s3s::dto::Tag>) -> s3s::S3Result<Vec<cloud::types::Tag>> {
    tag_set
        .into_iter()
        .map(|tag| {
            Ok(cloud::types::Tag {
                key: tag
                    .key
                    .ok_or_else(|| s3s::s3_error!(MalformedXML, "each Tag needs a Key"))?,
                value: tag.value.unwrap_or_default(),
            })
        })
        .collect()
}
