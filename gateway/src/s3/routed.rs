//! S3 requests routed by where their bucket lives: this site's object store
//! ([`SkyportS3`]) or a remote target, reached through `s3s-aws`'s proxy over the
//! target's resilient `aws-sdk-s3` client, which streams bodies through.
//!
//! Bucket-level calls that change the registry (create, delete, head, list,
//! location) always go to [`SkyportS3`]: federation places and records buckets.
//! Everything addressed to a remote bucket is checked here (signed caller, owner)
//! and forwarded under the bucket's name on the target.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_backend::AwsTarget;
use federation::Federation;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use s3s_aws::Proxy;

use super::SkyportS3;
use crate::error::s3_error;

/// The S3 service: local buckets to [`SkyportS3`], remote ones to their target.
pub struct RoutedS3 {
    local: SkyportS3,
    federation: Federation,
    proxies: HashMap<String, Proxy>,
}

impl RoutedS3 {
    /// Routes over the site's account layer and its remote targets.
    pub fn new(federation: Federation, targets: &BTreeMap<String, Arc<AwsTarget>>) -> RoutedS3 {
        let proxies = targets
            .iter()
            .map(|(name, target)| (name.clone(), Proxy::from(target.s3_client())))
            .collect();
        RoutedS3 {
            local: SkyportS3::new(federation.clone()),
            federation,
            proxies,
        }
    }

    /// For a bucket on a remote target: the proxy and the bucket's name there,
    /// once the caller is known to own it. `None` for local (or unknown) buckets.
    async fn remote<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
    ) -> S3Result<Option<(&Proxy, String)>> {
        let Some((owner, Some(remote))) = self
            .federation
            .bucket_home(bucket)
            .await
            .map_err(s3_error)?
        else {
            return Ok(None);
        };
        let principal = self.local.principal(req).await?;
        if principal.tenant.id != owner {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let proxy = self.proxies.get(&remote.target).ok_or_else(|| {
            s3_error!(
                ServiceUnavailable,
                "target {} is not configured on this gateway",
                remote.target
            )
        })?;
        Ok(Some((proxy, remote.name)))
    }

    /// The copy source's bucket renamed for `target`, refusing copies between clouds.
    async fn copy_source_on<T>(
        &self,
        req: &S3Request<T>,
        source: &CopySource,
        dest_remote: bool,
    ) -> S3Result<Option<CopySource>> {
        let CopySource::Bucket {
            bucket,
            key,
            version_id,
        } = source
        else {
            return Err(s3_error!(
                NotImplemented,
                "access point copy sources are not supported"
            ));
        };
        match (self.remote(req, bucket).await?, dest_remote) {
            (None, false) => Ok(None),
            (Some((_, name)), true) => Ok(Some(CopySource::Bucket {
                bucket: name.into(),
                key: key.clone(),
                version_id: version_id.clone(),
            })),
            _ => Err(s3_error!(
                NotImplemented,
                "copying between buckets on different clouds is not supported yet"
            )),
        }
    }
}

/// A target's failure is ours to report as unavailability, not as our own
/// internal error; everything else the target said passes through.
fn from_target(error: S3Error) -> S3Error {
    if *error.code() == S3ErrorCode::InternalError {
        let message = error
            .message()
            .unwrap_or("the target cloud failed")
            .to_string();
        return S3Error::with_message(
            S3ErrorCode::ServiceUnavailable,
            format!("remote target: {message}"),
        );
    }
    error
}

/// The S3 impl, written once per kind of operation (one macro emits the whole
/// impl so that `async_trait` sees every method):
/// - `local`: always served by [`SkyportS3`] (the bucket registry and bucket
///   tags live in Skyport wherever the bucket is);
/// - `copies`: forwarded when the destination is remote, with the copy source
///   renamed on the same target (copies across clouds are refused);
/// - `routed`: forwarded when the bucket is remote; `fix` puts the Skyport
///   bucket name back into outputs that echo it.
macro_rules! routed_s3 {
    (
        local { $($lop:ident($linput:ident) -> $loutput:ident;)* }
        copies { $($cop:ident($cinput:ident) -> $coutput:ident;)* }
        routed { $($op:ident($input:ident) -> $output:ident $(, fix = $fix:expr)?;)* }
    ) => {
        #[async_trait::async_trait]
        impl S3 for RoutedS3 {
        $(
            async fn $lop(&self, req: S3Request<$linput>) -> S3Result<S3Response<$loutput>> {
                self.local.$lop(req).await
            }
        )*
        $(
            async fn $cop(&self, req: S3Request<$cinput>) -> S3Result<S3Response<$coutput>> {
                let remote = self.remote(&req, &req.input.bucket).await?;
                let source = self.copy_source_on(&req, &req.input.copy_source, remote.is_some()).await?;
                let (Some((proxy, remote_name)), Some(source)) = (remote, source) else {
                    return self.local.$cop(req).await;
                };
                let mut req = req;
                req.input.bucket = remote_name;
                req.input.copy_source = source;
                proxy.$cop(req).await.map_err(from_target)
            }
        )*
        $(
            async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                let Some((proxy, remote_name)) = self.remote(&req, &req.input.bucket).await? else {
                    return self.local.$op(req).await;
                };
                let mut req = req;
                let _bucket = std::mem::replace(&mut req.input.bucket, remote_name);
                #[allow(unused_mut)]
                let mut response = proxy.$op(req).await.map_err(from_target)?;
                $( ($fix)(&mut response.output, _bucket); )?
                Ok(response)
            }
        )*
        }
    };
}

routed_s3! {
    local {
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput;
        put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput;
        delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput;
    }
    copies {
        copy_object(CopyObjectInput) -> CopyObjectOutput;
        upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
    }
    routed {
        put_object(PutObjectInput) -> PutObjectOutput;
        get_object(GetObjectInput) -> GetObjectOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput, fix = |o: &mut ListObjectsOutput, b: String| o.name = Some(b);
        list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output, fix = |o: &mut ListObjectsV2Output, b: String| o.name = Some(b);
        list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput, fix = |o: &mut ListObjectVersionsOutput, b: String| o.name = Some(b);
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput, fix = |o: &mut CreateMultipartUploadOutput, b: String| o.bucket = Some(b);
        upload_part(UploadPartInput) -> UploadPartOutput;
        complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput, fix = |o: &mut CompleteMultipartUploadOutput, b: String| {
            o.location = o.key.as_ref().map(|k| format!("/{b}/{k}"));
            o.bucket = Some(b);
        };
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
        list_parts(ListPartsInput) -> ListPartsOutput, fix = |o: &mut ListPartsOutput, b: String| o.bucket = Some(b);
        list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput, fix = |o: &mut ListMultipartUploadsOutput, b: String| o.bucket = Some(b);
        put_bucket_acl(PutBucketAclInput) -> PutBucketAclOutput;
        get_bucket_acl(GetBucketAclInput) -> GetBucketAclOutput;
        put_object_acl(PutObjectAclInput) -> PutObjectAclOutput;
        get_object_acl(GetObjectAclInput) -> GetObjectAclOutput;
        put_bucket_cors(PutBucketCorsInput) -> PutBucketCorsOutput;
        get_bucket_cors(GetBucketCorsInput) -> GetBucketCorsOutput;
        delete_bucket_cors(DeleteBucketCorsInput) -> DeleteBucketCorsOutput;
        put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput) -> PutBucketLifecycleConfigurationOutput;
        get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput) -> GetBucketLifecycleConfigurationOutput;
        delete_bucket_lifecycle(DeleteBucketLifecycleInput) -> DeleteBucketLifecycleOutput;
        put_bucket_versioning(PutBucketVersioningInput) -> PutBucketVersioningOutput;
        get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput;
        get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput;
        put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput;
        delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput;
    }
}
