//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort,
//! ListParts, ListMultipartUploads.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{self, checksum_fields, etag, timestamp_ms};
use super::copy::copy_source;
use super::digest::{self, Expectations};
use super::objects::written;
use super::{owner, SkyportS3};
use crate::error::s3_error;

fn part_number(number: i32) -> S3Result<u32> {
    u32::try_from(number)
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })
}

pub async fn create(
    s3: &SkyportS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let mut meta = crate::object_meta_of!(input);
    meta.tags = super::object_tags::tagging_header(input.tagging.as_deref())?;
    let algorithm = input.checksum_algorithm.map(|a| a.as_str().to_string());
    let upload = s3
        .accounts
        .objects()
        .create_multipart_upload(
            &principal.tenant,
            &input.bucket,
            &input.key,
            meta,
            algorithm.clone(),
        )
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload.upload_id),
        checksum_algorithm: algorithm.map(ChecksumAlgorithm::from),
        ..Default::default()
    }))
}

pub async fn upload_part(
    s3: &SkyportS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let principal = s3.principal(&req).await?;
    let expectations = Expectations::from_request(
        &req.headers,
        req.trailing_headers.as_ref(),
        req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
    )?;
    let input = req.input;
    let number = part_number(input.part_number)?;
    let (body, slot) = digest::hashing(convert::body_stream(input.body), expectations);
    let part = s3
        .accounts
        .objects()
        .upload_part(
            &principal.tenant,
            &input.bucket,
            &input.key,
            &input.upload_id,
            number,
            body,
            move |_| written(&slot),
        )
        .await
        .map_err(s3_error)?;
    let sums = checksum_fields(part.checksum.as_ref());
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        checksum_crc32: sums.crc32,
        checksum_crc32c: sums.crc32c,
        checksum_crc64nvme: sums.crc64nvme,
        checksum_sha1: sums.sha1,
        checksum_sha256: sums.sha256,
        ..Default::default()
    }))
}

/// Parses `bytes=first-last` (both inclusive) against the source size.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(range) = range else {
        return Ok(0..size);
    };
    let invalid = || {
        s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let (first, last): (u64, u64) = (
        first.parse().map_err(|_| invalid())?,
        last.parse().map_err(|_| invalid())?,
    );
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(first..last + 1)
}

pub async fn upload_part_copy(
    s3: &SkyportS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let number = part_number(input.part_number)?;
    let (source_bucket, source) = copy_source(s3, &principal.tenant, &input).await?;
    let range = copy_range(input.copy_source_range.as_deref(), source.size)?;
    let source_body = s3
        .accounts
        .objects()
        .object_body(&source_bucket, &source, range)
        .await
        .map_err(s3_error)?;
    let (body, slot) = digest::hashing(
        source_body,
        Expectations {
            md5: None,
            checksum: None,
        },
    );
    let part = s3
        .accounts
        .objects()
        .upload_part(
            &principal.tenant,
            &input.bucket,
            &input.key,
            &input.upload_id,
            number,
            body,
            move |_| written(&slot),
        )
        .await
        .map_err(s3_error)?;
    let result = CopyPartResult {
        e_tag: Some(etag(&part.etag)),
        last_modified: Some(timestamp_ms(part.last_modified)),
        ..Default::default()
    };
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(result),
        ..Default::default()
    }))
}

pub async fn complete(
    s3: &SkyportS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let parts = input
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default();
    let mut requested = Vec::with_capacity(parts.len());
    for part in parts {
        let number = part
            .part_number
            .ok_or_else(|| s3_error!(MalformedXML, "each Part needs a PartNumber"))?;
        let tag = part
            .e_tag
            .ok_or_else(|| s3_error!(MalformedXML, "each Part needs an ETag"))?;
        requested.push((part_number(number)?, tag.value().to_string()));
    }
    let condition = match (input.if_match, input.if_none_match) {
        (_, Some(ETagCondition::Any)) => Some(object_index::WriteCondition::Absent),
        (Some(ETagCondition::ETag(tag)), _) => Some(object_index::WriteCondition::ETagIs(
            tag.value().to_string(),
        )),
        _ => None,
    };
    let info = s3
        .accounts
        .objects()
        .complete_multipart_upload(
            &principal.tenant,
            &input.bucket,
            &input.key,
            &input.upload_id,
            &requested,
            condition,
        )
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(etag(&info.etag)),
        version_id: info.version_id.clone(),
        ..Default::default()
    }))
}

pub async fn abort(
    s3: &SkyportS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    s3.accounts
        .objects()
        .abort_multipart_upload(
            &principal.tenant,
            &input.bucket,
            &input.key,
            &input.upload_id,
        )
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_parts(
    s3: &SkyportS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let (upload, parts) = s3
        .accounts
        .objects()
        .list_parts(
            &principal.tenant,
            &input.bucket,
            &input.key,
            &input.upload_id,
        )
        .await
        .map_err(s3_error)?;
    let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    let remaining: Vec<_> = parts
        .into_iter()
        .filter(|p| p.part_number > marker)
        .collect();
    let is_truncated = remaining.len() > max_parts;
    let page: Vec<_> = remaining.into_iter().take(max_parts).collect();
    let next_marker = page.last().map(|p| p.part_number as i32);
    let owner = owner(&principal.tenant);
    let parts = page
        .iter()
        .map(|p| {
            let sums = checksum_fields(p.checksum.as_ref());
            Part {
                part_number: Some(p.part_number as i32),
                e_tag: Some(etag(&p.etag)),
                size: Some(p.blob.size as i64),
                last_modified: Some(timestamp_ms(p.last_modified)),
                checksum_crc32: sums.crc32,
                checksum_crc32c: sums.crc32c,
                checksum_crc64nvme: sums.crc64nvme,
                checksum_sha1: sums.sha1,
                checksum_sha256: sums.sha256,
            }
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload.upload_id),
        parts: Some(parts),
        is_truncated: Some(is_truncated),
        max_parts: Some(max_parts as i32),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: next_marker,
        owner: Some(owner.clone()),
        initiator: Some(Initiator {
            display_name: owner.display_name.clone(),
            id: owner.id.clone(),
        }),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
        ..Default::default()
    }))
}

pub async fn list_uploads(
    s3: &SkyportS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let prefix = input.prefix.clone().unwrap_or_default();
    let uploads = s3
        .accounts
        .objects()
        .list_multipart_uploads(&principal.tenant, &input.bucket, &prefix)
        .await
        .map_err(s3_error)?;
    let max_uploads = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
    let key_marker = input.key_marker.clone().unwrap_or_default();
    let id_marker = input.upload_id_marker.clone().unwrap_or_default();
    let remaining: Vec<_> = uploads
        .into_iter()
        .filter(|u| {
            key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.upload_id > id_marker)
        })
        .collect();
    // With a delimiter, keys below it roll up into common prefixes (one entry each).
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let mut prefixes: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    for upload in remaining {
        let rolled = delimiter.as_deref().and_then(|d| {
            upload.key[prefix.len()..]
                .find(d)
                .map(|at| upload.key[..prefix.len() + at + d.len()].to_string())
        });
        match rolled {
            Some(cp) if prefixes.last() == Some(&cp) => {}
            Some(cp) => prefixes.push(cp),
            None => kept.push(upload),
        }
    }
    let is_truncated = kept.len() + prefixes.len() > max_uploads;
    let page: Vec<_> = kept
        .into_iter()
        .take(max_uploads.saturating_sub(prefixes.len().min(max_uploads)))
        .collect();
    prefixes.truncate(max_uploads);
    let owner = owner(&principal.tenant);
    let next = page.last().map(|u| (u.key.clone(), u.upload_id.clone()));
    let uploads = page
        .into_iter()
        .map(|u| MultipartUpload {
            key: Some(u.key),
            upload_id: Some(u.upload_id),
            initiated: Some(timestamp_ms(u.initiated)),
            owner: Some(owner.clone()),
            initiator: Some(Initiator {
                display_name: owner.display_name.clone(),
                id: owner.id.clone(),
            }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix,
        key_marker: input.key_marker,
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max_uploads as i32),
        is_truncated: Some(is_truncated),
        next_key_marker: next.as_ref().filter(|_| is_truncated).map(|n| n.0.clone()),
        next_upload_id_marker: next.filter(|_| is_truncated).map(|n| n.1),
        uploads: Some(uploads),
        common_prefixes: Some(
            prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect(),
        ),
        delimiter: input.delimiter,
        ..Default::default()
    }))
}
