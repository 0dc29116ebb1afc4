//! Bucket versioning: Put/GetBucketVersioning and ListObjectVersions.

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{etag, maybe_encode, timestamp_ms};
use super::{owner, SkyportS3};
use crate::error::s3_error;

pub async fn put(
    s3: &SkyportS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let enabled = match input
        .versioning_configuration
        .status
        .as_ref()
        .map(|s| s.as_str())
    {
        Some("Enabled") => true,
        Some("Suspended") => false,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "Status must be Enabled or Suspended"
            ))
        }
    };
    if input
        .versioning_configuration
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == "Enabled")
    {
        return Err(s3_error!(NotImplemented, "MFA delete is not supported"));
    }
    s3.accounts
        .objects()
        .set_bucket_versioning(&principal.tenant, &input.bucket, enabled)
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub async fn get(
    s3: &SkyportS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let principal = s3.principal(&req).await?;
    let state = s3
        .accounts
        .objects()
        .bucket_versioning(&principal.tenant, &req.input.bucket)
        .await
        .map_err(s3_error)?;
    let status = match state {
        cloud::types::Versioning::Unversioned => None,
        cloud::types::Versioning::Enabled => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::ENABLED,
        )),
        cloud::types::Versioning::Suspended => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::SUSPENDED,
        )),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status,
        mfa_delete: None,
    }))
}

pub async fn list(
    s3: &SkyportS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let encode = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str() == "url");
    let max = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
    let prefix = input.prefix.clone().unwrap_or_default();
    let listing = s3
        .accounts
        .objects()
        .list_object_versions(
            &principal.tenant,
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            input.key_marker.as_deref(),
            input.version_id_marker.as_deref(),
            max,
        )
        .await
        .map_err(s3_error)?;
    let owner = owner(&principal.tenant);
    let truncated = listing.truncated;
    let next = listing.next.clone().filter(|_| truncated);
    let common_prefixes = listing
        .common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(maybe_encode(p.clone(), encode)),
        })
        .collect();
    let (mut versions, mut markers) = (Vec::new(), Vec::new());
    for entry in listing.entries {
        let version_id = Some(
            entry
                .info
                .version_id
                .clone()
                .unwrap_or_else(|| "null".into()),
        );
        let key = Some(maybe_encode(entry.info.key.clone(), encode));
        if entry.is_delete_marker {
            markers.push(DeleteMarkerEntry {
                is_latest: Some(entry.is_latest),
                key,
                last_modified: Some(timestamp_ms(entry.info.last_modified)),
                owner: Some(owner.clone()),
                version_id,
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(etag(&entry.info.etag)),
                is_latest: Some(entry.is_latest),
                key,
                last_modified: Some(timestamp_ms(entry.info.last_modified)),
                owner: Some(owner.clone()),
                size: Some(entry.info.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id,
                ..Default::default()
            });
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(maybe_encode(prefix, encode)),
        key_marker: input.key_marker,
        version_id_marker: input.version_id_marker,
        max_keys: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: next.as_ref().map(|n| maybe_encode(n.0.clone(), encode)),
        next_version_id_marker: next.and_then(|n| n.1),
        common_prefixes: Some(common_prefixes),
        delimiter: input.delimiter,
        versions: Some(versions),
        delete_markers: Some(markers),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
