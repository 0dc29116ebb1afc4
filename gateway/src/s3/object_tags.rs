//! S3 object tagging on this site's buckets: the `x-amz-tagging` header of
//! writes, and Get/Put/DeleteObjectTagging (tags of one version, replaced whole).

use object_index::validate_object_tags;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::{convert, SkyportS3};
use crate::error::s3_error;

/// Reads `x-amz-tagging` (`k1=v1&k2=v2`, URL-encoded, as PutObject,
/// CreateMultipartUpload and CopyObject send it) and checks S3's limits.
pub fn tagging_header(header: Option<&str>) -> S3Result<Vec<cloud::types::Tag>> {
    let tags: Vec<cloud::types::Tag> = form_urlencoded::parse(header.unwrap_or("").as_bytes())
        .map(|(key, value)| cloud::types::Tag {
            key: key.into_owned(),
            value: value.into_owned(),
        })
        .collect();
    validate_object_tags(&tags).map_err(s3_error)?;
    Ok(tags)
}

/// GetObjectTagging: the tags of the current version, or of `versionId`.
pub async fn get(
    s3: &SkyportS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let info = s3
        .accounts
        .objects()
        .object_tags(
            &principal.tenant,
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
        )
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: convert::tag_set(info.meta.tags),
        version_id: info.version_id,
    }))
}

/// PutObjectTagging: replaces the version's tags (no new version is made).
pub async fn put(
    s3: &SkyportS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let tags = convert::tags_of(input.tagging.tag_set)?;
    let version_id = replace(
        s3,
        &principal,
        &input.bucket,
        &input.key,
        input.version_id,
        &tags,
    )
    .await?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
}

/// Sets the tags of a version (the current one unless `version_id`); returns its ID.
async fn replace(
    s3: &SkyportS3,
    principal: &accounts::Principal,
    bucket: &str,
    key: &str,
    version_id: Option<String>,
    tags: &[cloud::types::Tag],
) -> S3Result<Option<String>> {
    s3.accounts
        .objects()
        .set_object_tags(&principal.tenant, bucket, key, version_id.as_deref(), tags)
        .await
        .map_err(s3_error)
}

/// DeleteObjectTagging: removes every tag of the version.
pub async fn delete(
    s3: &SkyportS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let version_id = replace(
        s3,
        &principal,
        &input.bucket,
        &input.key,
        input.version_id,
        &[],
    )
    .await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput { version_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tagging_header_is_url_encoded_pairs_within_s3_limits() {
        let tags = tagging_header(Some("env=prod&team=data%20eng&empty=")).expect("valid");
        let pairs: Vec<(&str, &str)> = tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("env", "prod"), ("team", "data eng"), ("empty", "")]
        );
        assert!(tagging_header(None).expect("none").is_empty());
        for bad in [
            "a=1&a=2".to_string(),
            format!("{}=v", "k".repeat(129)),
            format!("k={}", "v".repeat(257)),
        ] {
            let error = tagging_header(Some(&bad)).expect_err(&bad);
            assert_eq!(*error.code(), s3s::S3ErrorCode::InvalidTag, "{bad}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(tagging_header(Some(&eleven.join("&"))).is_err());
    }
}
