//! S3 object operations: PUT, GET, HEAD, DELETE, DeleteObjects, CopyObject.

use cloud::types::ObjectInfo;
use object_index::{WriteCondition, Written};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{self, checksum_fields, etag, timestamp_ms};
use super::digest::{self, Expectations};
use super::object_tags::tagging_header;
use super::SkyportS3;
use crate::error::s3_error;

/// Turns the digests a stream left behind into what the record stores.
pub fn written(slot: &digest::DigestSlot) -> cloud::Result<Written> {
    let digests = slot
        .lock()
        .ok()
        .and_then(|d| d.clone())
        .ok_or_else(|| cloud::Error::internal("body digests missing"))?;
    Ok(Written {
        etag: hex::encode(digests.md5),
        checksum: digests.checksum,
    })
}

fn write_condition(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> S3Result<Option<WriteCondition>> {
    match (if_match, if_none_match) {
        (_, Some(ETagCondition::Any)) => Ok(Some(WriteCondition::Absent)),
        (_, Some(_)) => Err(s3_error!(
            NotImplemented,
            "If-None-Match supports only '*' on writes"
        )),
        (Some(ETagCondition::ETag(tag)), None) => {
            Ok(Some(WriteCondition::ETagIs(tag.value().to_string())))
        }
        (Some(ETagCondition::Any), None) => Err(s3_error!(
            NotImplemented,
            "If-Match: * is not supported on writes"
        )),
        (None, None) => Ok(None),
    }
}

/// Evaluates GET/HEAD preconditions as RFC 9110 orders them (and S3 applies them).
pub(super) fn check_read_conditions(
    info: &ObjectInfo,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = convert::whole_seconds(info.last_modified);
    if let Some(condition) = if_match {
        if !convert::condition_matches(condition, &info.etag) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    } else if let Some(since) = if_unmodified_since {
        if modified > convert::unix_seconds(since) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(condition) = if_none_match {
        if convert::condition_matches(condition, &info.etag) {
            return Err(s3_error!(NotModified));
        }
    } else if let Some(since) = if_modified_since {
        if modified <= convert::unix_seconds(since) {
            return Err(s3_error!(NotModified));
        }
    }
    Ok(())
}

/// The byte range a GET/HEAD selects: a Range header, a part number, or everything.
fn selected_range(
    info: &ObjectInfo,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(std::ops::Range<u64>, bool)> {
    if let Some(number) = part_number {
        let index = usize::try_from(number)
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n - 1);
        let count = info.parts_count.map(|n| n as usize).unwrap_or(1);
        let index = index.filter(|i| *i < count.max(1)).ok_or_else(|| {
            s3_error!(InvalidRange, "The requested partnumber is not satisfiable")
        })?;
        if info.parts_count.is_none() {
            return Ok((0..info.size, false));
        }
        let start: u64 = info.blobs[..index].iter().map(|b| b.size).sum();
        return Ok((start..start + info.blobs[index].size, true));
    }
    match range {
        None => Ok((0..info.size, false)),
        Some(range) => match range.check(info.size) {
            Ok(selected) => Ok((selected, true)),
            Err(_) => Err(s3_error!(
                InvalidRange,
                "The requested range is not satisfiable"
            )),
        },
    }
}

pub async fn put_object(
    s3: &SkyportS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let expectations = Expectations::from_request(
        &req.headers,
        req.trailing_headers.as_ref(),
        req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
    )?;
    let input = req.input;
    let mut meta = crate::object_meta_of!(input);
    meta.tags = tagging_header(input.tagging.as_deref())?;
    meta.acl = convert::canned_acl(input.acl.as_ref().map(|a| a.as_str()))?;
    let condition = write_condition(input.if_match, input.if_none_match)?;
    let (body, slot) = digest::hashing(convert::body_stream(input.body), expectations);
    let info = s3
        .accounts
        .objects()
        .put_object(
            &principal.tenant,
            &input.bucket,
            &input.key,
            meta,
            body,
            move |_| written(&slot),
            condition,
        )
        .await
        .map_err(s3_error)?;
    let sums = checksum_fields(info.checksum.as_ref());
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag(&info.etag)),
        version_id: info.version_id.clone(),
        checksum_crc32: sums.crc32,
        checksum_crc32c: sums.crc32c,
        checksum_crc64nvme: sums.crc64nvme,
        checksum_sha1: sums.sha1,
        checksum_sha256: sums.sha256,
        ..Default::default()
    }))
}

/// Everything GET and HEAD share: the record, checked and with its range.
struct Selected {
    info: ObjectInfo,
    range: std::ops::Range<u64>,
    partial: bool,
}

#[allow(clippy::too_many_arguments)]
async fn select(
    s3: &SkyportS3,
    tenant: Option<&accounts::Tenant>,
    bucket: &str,
    key: &str,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
    range: Option<&Range>,
    part_number: Option<i32>,
    version_id: Option<&str>,
) -> S3Result<Selected> {
    let info = match (tenant, version_id) {
        (Some(tenant), Some(version)) => {
            let (info, is_marker) = s3
                .accounts
                .objects()
                .object_version(tenant, bucket, key, version)
                .await
                .map_err(s3_error)?;
            if is_marker {
                let mut error = s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                );
                error.set_headers(delete_marker_headers());
                return Err(error);
            }
            Ok(info)
        }
        (Some(tenant), None) => s3.accounts.objects().head_object(tenant, bucket, key).await,
        (None, Some(version)) => {
            s3.accounts
                .objects()
                .public_object_version(bucket, key, version)
                .await
        }
        (None, None) => s3.accounts.objects().public_object(bucket, key).await,
    };
    let info = match info {
        Ok(info) => info,
        Err(error) => {
            let marked = matches!(
                error,
                cloud::Error::NotFound {
                    kind: cloud::ResourceKind::Object,
                    ..
                }
            ) && s3
                .accounts
                .objects()
                .latest_is_delete_marker(bucket, key)
                .await
                .unwrap_or(false);
            let mut wire = s3_error(error);
            if marked {
                wire.set_headers(delete_marker_headers());
            }
            return Err(wire);
        }
    };
    check_read_conditions(
        &info,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    )?;
    let (range, partial) = selected_range(&info, range, part_number)?;
    Ok(Selected {
        info,
        range,
        partial,
    })
}

/// `x-amz-delete-marker: true`, sent when the newest version is a delete marker.
fn delete_marker_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static("true"),
    );
    headers
}

fn content_range(selected: &Selected) -> Option<String> {
    selected.partial.then(|| {
        format!(
            "bytes {}-{}/{}",
            selected.range.start,
            selected.range.end.saturating_sub(1),
            selected.info.size
        )
    })
}

/// GET and HEAD take the same inputs and answer the same headers; the macros
/// keep the two (distinct s3s types) from drifting apart.
macro_rules! select_for {
    ($s3:expr, $principal:expr, $input:expr) => {
        select(
            $s3,
            $principal.as_ref().map(|p| &p.tenant),
            &$input.bucket,
            &$input.key,
            $input.if_match.as_ref(),
            $input.if_none_match.as_ref(),
            $input.if_modified_since.as_ref(),
            $input.if_unmodified_since.as_ref(),
            $input.range.as_ref(),
            $input.part_number,
            $input.version_id.as_deref(),
        )
    };
}

macro_rules! object_output {
    ($output:ident, $selected:expr, $input:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let selected = &$selected;
        let checksum_mode = $input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == "ENABLED");
        let sums = checksum_fields(selected.info.checksum.as_ref().filter(|_| !selected.partial && checksum_mode));
        let headers = &selected.info.meta.headers;
        $output {
            $($field: $value,)*
            content_length: Some((selected.range.end - selected.range.start) as i64),
            content_range: content_range(selected),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&selected.info.etag)),
            last_modified: Some(timestamp_ms(selected.info.last_modified)),
            content_type: $input.response_content_type.or_else(|| headers.content_type.clone()),
            cache_control: $input.response_cache_control.or_else(|| headers.cache_control.clone()),
            content_disposition: $input.response_content_disposition.or_else(|| headers.content_disposition.clone()),
            content_encoding: $input.response_content_encoding.or_else(|| headers.content_encoding.clone()),
            content_language: $input.response_content_language.or_else(|| headers.content_language.clone()),
            expires: $input.response_expires.or_else(|| convert::expires(&selected.info.meta)),
            metadata: Some(selected.info.meta.user_metadata.clone().into_iter().collect()),
            version_id: selected.info.version_id.clone(),
            parts_count: selected.info.parts_count.filter(|_| $input.part_number.is_some()).map(|n| n as i32),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            ..Default::default()
        }
    }};
}

pub async fn get_object(
    s3: &SkyportS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let principal = s3.reader(&req).await?;
    let input = req.input;
    let selected = select_for!(s3, principal, input).await?;
    // Opened before the answer starts: a body that cannot be read is an error document.
    let body = s3
        .accounts
        .objects()
        .object_body(&input.bucket, &selected.info, selected.range.clone())
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(
        object_output!(GetObjectOutput, selected, input, {
            body: Some(convert::response_body(body)),
            tag_count: (!selected.info.meta.tags.is_empty()).then_some(selected.info.meta.tags.len() as i32),
        }),
    ))
}

pub async fn head_object(
    s3: &SkyportS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let principal = s3.reader(&req).await?;
    let input = req.input;
    let selected = select_for!(s3, principal, input).await?;
    // The 206 of a ranged HEAD is set in server.rs: s3s ignores a status set here.
    Ok(S3Response::new(object_output!(
        HeadObjectOutput,
        selected,
        input,
        {}
    )))
}

async fn delete_one(
    s3: &SkyportS3,
    tenant: &accounts::Tenant,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> cloud::Result<cloud::types::DeleteOutcome> {
    match version {
        Some(version) => {
            s3.accounts
                .objects()
                .delete_object_version(tenant, bucket, key, version)
                .await
        }
        None => {
            s3.accounts
                .objects()
                .delete_object(tenant, bucket, key)
                .await
        }
    }
}

pub async fn delete_object(
    s3: &SkyportS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let outcome = delete_one(
        s3,
        &principal.tenant,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )
    .await
    .map_err(s3_error)?;
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: outcome.delete_marker.then_some(true),
        version_id: outcome.version_id,
        ..Default::default()
    }))
}

pub async fn delete_objects(
    s3: &SkyportS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    if input.delete.objects.len() > 1000 {
        return Err(s3_error!(
            MalformedXML,
            "A DeleteObjects request may name at most 1000 keys"
        ));
    }
    s3.accounts
        .objects()
        .bucket(&principal.tenant, &input.bucket)
        .await
        .map_err(s3_error)?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for object in input.delete.objects {
        match delete_one(
            s3,
            &principal.tenant,
            &input.bucket,
            &object.key,
            object.version_id.as_deref(),
        )
        .await
        {
            Ok(_) if quiet => {}
            Ok(outcome) => deleted.push(DeletedObject {
                key: Some(object.key),
                version_id: object.version_id.clone(),
                delete_marker: outcome.delete_marker.then_some(true),
                delete_marker_version_id: if object.version_id.is_none() {
                    outcome.version_id
                } else {
                    None
                },
            }),
            Err(e) => {
                let wire = s3_error(e);
                errors.push(Error {
                    code: Some(wire.code().as_str().to_string()),
                    key: Some(object.key),
                    message: wire.message().map(str::to_string),
                    version_id: object.version_id,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    }))
}
