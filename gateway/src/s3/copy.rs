//! CopyObject, and the copy source UploadPartCopy shares with it: the
//! source object (a version, never a delete marker) after its
//! `x-amz-copy-source-if-*` checks, read through the digests the copy
//! stores.

use cloud::types::{ObjectInfo, ObjectMeta};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{self, checksum_fields, etag, timestamp_ms};
use super::digest::{self, Expectations};
use super::object_tags::tagging_header;
use super::objects::{check_read_conditions, written};
use super::SkyportS3;
use crate::error::s3_error;

/// What CopyObject and UploadPartCopy share: the source and its conditions.
pub trait CopyRequest {
    fn source(&self) -> &CopySource;
    fn conditions(
        &self,
    ) -> (
        Option<&ETagCondition>,
        Option<&ETagCondition>,
        Option<&Timestamp>,
        Option<&Timestamp>,
    );
}

macro_rules! copy_request {
    ($($input:ty),*) => {$(
        impl CopyRequest for $input {
            fn source(&self) -> &CopySource {
                &self.copy_source
            }
            fn conditions(&self) -> (Option<&ETagCondition>, Option<&ETagCondition>, Option<&Timestamp>, Option<&Timestamp>) {
                (
                    self.copy_source_if_match.as_ref(),
                    self.copy_source_if_none_match.as_ref(),
                    self.copy_source_if_modified_since.as_ref(),
                    self.copy_source_if_unmodified_since.as_ref(),
                )
            }
        }
    )*};
}

copy_request!(CopyObjectInput, UploadPartCopyInput);

/// A copy source's bucket, key and version ID; an access point is refused.
pub(super) fn bucket_source(source: &CopySource) -> S3Result<(&str, &str, Option<&str>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((bucket, key, version_id.as_deref())),
        _ => Err(s3_error!(
            NotImplemented,
            "access point copy sources are not supported"
        )),
    }
}

/// For copies, every failed source condition is 412: S3 never answers 304 here.
pub(super) fn as_copy_precondition(error: s3s::S3Error) -> s3s::S3Error {
    if *error.code() == s3s::S3ErrorCode::NotModified {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    } else {
        error
    }
}

/// The source object of a copy, after its `x-amz-copy-source-if-*` checks.
pub async fn copy_source(
    s3: &SkyportS3,
    tenant: &accounts::Tenant,
    request: &impl CopyRequest,
) -> S3Result<(String, ObjectInfo)> {
    let source = request.source();
    let (if_match, if_none_match, if_modified_since, if_unmodified_since) = request.conditions();
    let (bucket, key, version_id) = bucket_source(source)?;
    let info = match version_id {
        Some(version) => match s3.accounts.objects().object_version(tenant, bucket, key, version).await.map_err(s3_error)? {
            (_, true) => return Err(s3_error!(InvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")),
            (info, false) => info,
        },
        None => s3.accounts.objects().head_object(tenant, bucket, key).await.map_err(s3_error)?,
    };
    check_read_conditions(
        &info,
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    )
    .map_err(as_copy_precondition)?;
    Ok((bucket.to_string(), info))
}

pub async fn copy_object(
    s3: &SkyportS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let (source_bucket, source) = copy_source(s3, &principal.tenant, &input).await?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == "REPLACE");
    if !replace && source_bucket == input.bucket && source.key == input.key {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let mut meta: ObjectMeta = if replace {
        crate::object_meta_of!(input)
    } else {
        source.meta.clone()
    };
    // Tags are copied unless the request replaces them (x-amz-tagging-directive).
    meta.tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
        Some("REPLACE") => tagging_header(input.tagging.as_deref())?,
        _ => source.meta.tags.clone(),
    };
    // Like AWS, a copy gets the ACL the copy request asks for, not the source's.
    meta.acl = convert::canned_acl(input.acl.as_ref().map(|a| a.as_str()))?;
    let algorithm = input
        .checksum_algorithm
        .as_ref()
        .map(|a| a.as_str().to_string())
        .or_else(|| source.checksum.as_ref().map(|c| c.algorithm.clone()));
    let expectations = Expectations {
        md5: None,
        checksum: algorithm
            .as_deref()
            .and_then(digest::Algorithm::parse)
            .map(|a| (a, digest::Expected::Compute)),
    };
    let source_body = s3
        .accounts
        .objects()
        .object_body(&source_bucket, &source, 0..source.size)
        .await
        .map_err(s3_error)?;
    let (body, slot) = digest::hashing(source_body, expectations);
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
            None,
        )
        .await
        .map_err(s3_error)?;
    let sums = checksum_fields(info.checksum.as_ref());
    let result = CopyObjectResult {
        e_tag: Some(etag(&info.etag)),
        last_modified: Some(timestamp_ms(info.last_modified)),
        checksum_crc32: sums.crc32,
        checksum_crc32c: sums.crc32c,
        checksum_crc64nvme: sums.crc64nvme,
        checksum_sha1: sums.sha1,
        checksum_sha256: sums.sha256,
        ..Default::default()
    };
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(result),
        version_id: info.version_id.clone(),
        copy_source_version_id: source.version_id.clone(),
        ..Default::default()
    }))
}
