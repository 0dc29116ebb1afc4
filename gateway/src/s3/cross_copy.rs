//! CopyObject and UploadPartCopy between buckets on different clouds (this
//! site and a remote target, or two targets): no cloud can copy from another,
//! so Skyport reads the source and writes the destination itself, through the
//! routed service (each side checked as the caller's own request would be),
//! streaming the body from one to the other.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use super::copy::CopyRequest;
use super::routed::RoutedS3;
use crate::auth::percent_encode_strict;

/// A request of the caller's for another operation, carrying its identity.
fn on_behalf<T, U>(req: &S3Request<T>, method: http::Method, input: U) -> S3Request<U> {
    S3Request {
        input,
        method,
        uri: req.uri.clone(),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: req.credentials.clone(),
        region: req.region.clone(),
        service: req.service.clone(),
        trailing_headers: None,
    }
}

/// What a copy reads: the source (version), its `x-amz-copy-source-if-*`
/// conditions, and for a part the byte range.
struct Source<'a> {
    copy_source: &'a CopySource,
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
    range: Option<Range>,
}

impl<'a> Source<'a> {
    /// What a CopyObject or UploadPartCopy request reads.
    fn of(request: &'a impl CopyRequest, range: Option<Range>) -> Source<'a> {
        let (if_match, if_none_match, if_modified_since, if_unmodified_since) =
            request.conditions();
        Source {
            copy_source: request.source(),
            if_match: if_match.cloned(),
            if_none_match: if_none_match.cloned(),
            if_modified_since: if_modified_since.cloned(),
            if_unmodified_since: if_unmodified_since.cloned(),
            range,
        }
    }
}

/// Opens the source object for reading. For copies every failed condition is
/// 412 (S3 never answers 304 here).
async fn read<T>(
    s3: &RoutedS3,
    req: &S3Request<T>,
    source: Source<'_>,
) -> S3Result<GetObjectOutput> {
    let (bucket, key, version_id) = super::copy::bucket_source(source.copy_source)?;
    let input = GetObjectInput {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: version_id.map(str::to_owned),
        if_match: source.if_match,
        if_none_match: source.if_none_match,
        if_modified_since: source.if_modified_since,
        if_unmodified_since: source.if_unmodified_since,
        range: source.range,
        ..Default::default()
    };
    s3.get_object(on_behalf(req, http::Method::GET, input))
        .await
        .map(|response| response.output)
        .map_err(super::copy::as_copy_precondition)
}

/// The source's tags as an `x-amz-tagging` value (`k=v&…`, URL-encoded).
async fn tagging_of<T>(
    s3: &RoutedS3,
    req: &S3Request<T>,
    copy_source: &CopySource,
) -> S3Result<Option<String>> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = copy_source
    else {
        return Ok(None);
    };
    let input = GetObjectTaggingInput {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: version_id.as_deref().map(str::to_owned),
        ..Default::default()
    };
    let tags = s3
        .get_object_tagging(on_behalf(req, http::Method::GET, input))
        .await?
        .output
        .tag_set;
    if tags.is_empty() {
        return Ok(None);
    }
    let pairs = tags.iter().map(|tag| {
        let key = tag.key.as_deref().unwrap_or_default();
        let value = tag.value.as_deref().unwrap_or_default();
        format!(
            "{}={}",
            percent_encode_strict(key),
            percent_encode_strict(value)
        )
    });
    Ok(Some(pairs.collect::<Vec<_>>().join("&")))
}

pub(super) async fn copy_object(
    s3: &RoutedS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = &req.input;
    let source = read(s3, &req, Source::of(input, None)).await?;
    let replace_meta = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == "REPLACE");
    let tagging = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
        Some("REPLACE") => input.tagging.clone(),
        _ if source.tag_count.unwrap_or(0) > 0 => tagging_of(s3, &req, &input.copy_source).await?,
        _ => None,
    };
    let put = if replace_meta {
        PutObjectInput {
            content_type: input.content_type.clone(),
            cache_control: input.cache_control.clone(),
            content_disposition: input.content_disposition.clone(),
            content_encoding: input.content_encoding.clone(),
            content_language: input.content_language.clone(),
            expires: input.expires.clone(),
            metadata: input.metadata.clone(),
            ..Default::default()
        }
    } else {
        PutObjectInput {
            content_type: source.content_type.clone(),
            cache_control: source.cache_control.clone(),
            content_disposition: source.content_disposition.clone(),
            content_encoding: source.content_encoding.clone(),
            content_language: source.content_language.clone(),
            expires: source.expires.clone(),
            metadata: source.metadata.clone(),
            ..Default::default()
        }
    };
    let put = PutObjectInput {
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        acl: input.acl.clone(),
        tagging,
        body: source.body,
        content_length: source.content_length,
        ..put
    };
    let written = s3
        .put_object(on_behalf(&req, http::Method::PUT, put))
        .await?
        .output;
    let result = CopyObjectResult {
        e_tag: written.e_tag,
        last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
        ..Default::default()
    };
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(result),
        version_id: written.version_id,
        copy_source_version_id: source.version_id,
        ..Default::default()
    }))
}

pub(super) async fn upload_part_copy(
    s3: &RoutedS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = &req.input;
    let range = match &input.copy_source_range {
        Some(text) => Some(Range::parse(text).map_err(|_| {
            s3_error!(
                InvalidArgument,
                "The x-amz-copy-source-range value is invalid"
            )
        })?),
        None => None,
    };
    let source = read(s3, &req, Source::of(input, range)).await?;
    let part = UploadPartInput {
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        upload_id: input.upload_id.clone(),
        part_number: input.part_number,
        body: source.body,
        content_length: source.content_length,
        ..Default::default()
    };
    let written = s3
        .upload_part(on_behalf(&req, http::Method::PUT, part))
        .await?
        .output;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: written.e_tag,
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }),
        copy_source_version_id: source.version_id,
        ..Default::default()
    }))
}
