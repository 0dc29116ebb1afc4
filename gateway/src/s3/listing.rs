//! ListObjects (v1) and ListObjectsV2.

use cloud::types::ObjectListing;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{etag, maybe_encode, timestamp_ms};
use super::{owner, SkyportS3};
use crate::error::s3_error;

/// AWS returns at most 1000 keys per page.
const MAX_KEYS: i32 = 1000;

fn page_size(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

fn wants_url_encoding(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(|e| e.as_str()) {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

fn contents(
    listing: &ObjectListing,
    encode: bool,
    with_owner: Option<&Owner>,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let objects = listing
        .objects
        .iter()
        .map(|o| Object {
            key: Some(maybe_encode(o.key.clone(), encode)),
            size: Some(o.size as i64),
            e_tag: Some(etag(&o.etag)),
            last_modified: Some(timestamp_ms(o.last_modified)),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            owner: with_owner.cloned(),
            ..Default::default()
        })
        .collect();
    let prefixes = listing
        .common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: Some(maybe_encode(p.clone(), encode)),
        })
        .collect();
    (objects, prefixes)
}

pub async fn list_objects(
    s3: &SkyportS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let tenant = s3.listing_tenant(&req, &req.input.bucket).await?;
    let input = req.input;
    let encode = wants_url_encoding(input.encoding_type.as_ref())?;
    let max_keys = page_size(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let listing = s3
        .accounts
        .objects()
        .list_objects(
            &tenant,
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            input.marker.as_deref(),
            max_keys,
        )
        .await
        .map_err(s3_error)?;
    let owner = owner(&tenant);
    let (objects, prefixes) = contents(&listing, encode, Some(&owner));
    // Like AWS, NextMarker is only sent when a delimiter is given.
    let next_marker = (listing.is_truncated && input.delimiter.is_some())
        .then(|| listing.last.clone())
        .flatten();
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(maybe_encode(prefix, encode)),
        marker: Some(maybe_encode(input.marker.unwrap_or_default(), encode)),
        max_keys: Some(max_keys as i32),
        is_truncated: Some(listing.is_truncated),
        contents: Some(objects),
        common_prefixes: Some(prefixes),
        delimiter: input.delimiter.map(|d| maybe_encode(d, encode)),
        next_marker: next_marker.map(|m| maybe_encode(m, encode)),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

pub async fn list_objects_v2(
    s3: &SkyportS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let tenant = s3.listing_tenant(&req, &req.input.bucket).await?;
    let input = req.input;
    let encode = wants_url_encoding(input.encoding_type.as_ref())?;
    let max_keys = page_size(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let resume_after = match input.continuation_token.as_deref() {
        Some(token) => Some(crate::page_token::last_key(token).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })?),
        None => input.start_after.clone(),
    };
    let listing = s3
        .accounts
        .objects()
        .list_objects(
            &tenant,
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            resume_after.as_deref(),
            max_keys,
        )
        .await
        .map_err(s3_error)?;
    let owner = owner(&tenant);
    let (objects, prefixes) = contents(
        &listing,
        encode,
        input.fetch_owner.unwrap_or(false).then_some(&owner),
    );
    let key_count = (objects.len() + prefixes.len()) as i32;
    let next = listing
        .is_truncated
        .then(|| listing.last.as_deref().map(crate::page_token::token))
        .flatten();
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(maybe_encode(prefix, encode)),
        max_keys: Some(max_keys as i32),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(listing.is_truncated),
        next_continuation_token: next,
        contents: Some(objects),
        common_prefixes: Some(prefixes),
        delimiter: input.delimiter.map(|d| maybe_encode(d, encode)),
        encoding_type: input.encoding_type,
        start_after: input.start_after.map(|s| maybe_encode(s, encode)),
        ..Default::default()
    }))
}
