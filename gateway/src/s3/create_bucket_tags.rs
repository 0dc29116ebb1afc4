//! Tags sent with CreateBucket (`CreateBucketConfiguration.Tags`, which current
//! boto3 and awscli send) for the placement policies to match on.
//!
//! s3s 0.14 parses the configuration but skips `Tags`, so the gateway reads the
//! small body once before handing it on unchanged (its signature still holds)
//! and passes the tags in the request's extensions.

use bytes::Bytes;
use cloud::types::Tag;
use http::Method;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use quick_xml::events::Event;

/// CreateBucket bodies are a few hundred bytes; anything bigger is not one.
const MAX_CONFIGURATION: usize = 64 * 1024;

/// The tags of a CreateBucket, as a request extension.
#[derive(Debug, Clone, Default)]
pub struct CreateBucketTags(pub Vec<Tag>);

/// Whether a request is addressed to a bucket itself (not an object) with no
/// sub-resource: the shape of CreateBucket.
fn is_create_bucket(
    parts: &http::request::Parts,
    query: &[(String, String)],
    base_domain: &str,
) -> bool {
    if parts.method != Method::PUT || !query.is_empty() {
        return false;
    }
    let virtual_host = super::host::virtual_bucket(&parts.headers, base_domain).is_some();
    let path = parts.uri.path();
    if virtual_host {
        path == "/"
    } else {
        let trimmed = path.trim_start_matches('/').trim_end_matches('/');
        !trimmed.is_empty() && !trimmed.contains('/')
    }
}

/// Reads the tags out of a CreateBucket body. Returns the body to pass on (the
/// same bytes) and, for a CreateBucket, its tags in `parts.extensions`.
pub async fn extract(
    parts: &mut http::request::Parts,
    query: &[(String, String)],
    base_domain: &str,
    body: Incoming,
) -> s3s::Body {
    let small = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > 0 && n <= MAX_CONFIGURATION);
    if !small || !is_create_bucket(parts, query, base_domain) {
        return s3s::Body::from(body);
    }
    let bytes = match Limited::new(body, MAX_CONFIGURATION).collect().await {
        Ok(collected) => collected.to_bytes(),
        // Let s3s report the broken body as it would have.
        Err(_) => return s3s::Body::from(Bytes::new()),
    };
    parts.extensions.insert(CreateBucketTags(tags_of(&bytes)));
    s3s::Body::from(bytes)
}

/// `<Tags><Tag><Key>k</Key><Value>v</Value></Tag>…</Tags>` anywhere in the
/// configuration; malformed XML yields no tags (s3s reports the XML error).
pub(crate) fn tags_of(xml: &[u8]) -> Vec<Tag> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut tags = Vec::new();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let (mut key, mut value) = (None, None);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(start)) => path.push(start.local_name().as_ref().to_vec()),
            Ok(Event::End(_)) => {
                if path.last().is_some_and(|n| n == b"Tag") && path.iter().any(|n| n == b"Tags") {
                    if let Some(key) = key.take() {
                        tags.push(Tag {
                            key,
                            value: value.take().unwrap_or_default(),
                        });
                    }
                }
                path.pop();
            }
            Ok(Event::Text(text)) => {
                let in_tag = path.len() >= 2 && path[path.len() - 2] == b"Tag";
                if let (true, Ok(text)) = (in_tag, text.unescape()) {
                    match path.last().map(Vec::as_slice) {
                        Some(b"Key") => key = Some(text.into_owned()),
                        Some(b"Value") => value = Some(text.into_owned()),
                        _ => {}
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_out_of_the_configuration() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
            <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <LocationConstraint>ap-northeast-1</LocationConstraint>
              <Tags><Tag><Key>data-class</Key><Value>personal</Value></Tag><Tag><Key>team</Key><Value>a &amp; b</Value></Tag></Tags>
            </CreateBucketConfiguration>"#;
        let tags = tags_of(xml);
        assert_eq!(tags.len(), 2);
        assert_eq!(
            (tags[0].key.as_str(), tags[0].value.as_str()),
            ("data-class", "personal")
        );
        assert_eq!(tags[1].value, "a & b");
        assert!(tags_of(b"<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint></CreateBucketConfiguration>").is_empty());
        assert!(tags_of(b"not xml <<<").is_empty());
    }
}
