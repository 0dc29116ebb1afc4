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

/// The S3 impl: `manual` methods as written, then operations addressed to one
/// bucket, forwarded when the bucket is remote. `fix` puts the Skyport bucket
/// name back into outputs that echo it. (One macro emits the whole impl so that
/// `async_trait` sees every method.)
macro_rules! routed_s3 {
    (manual { $($manual:tt)* } routed { $($op:ident($input:ident) -> $output:ident $(, fix = $fix:expr)?;)* }) => {
        #[async_trait::async_trait]
        impl S3 for RoutedS3 {
        $($manual)*
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
manual {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.local.list_buckets(req).await
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.local.create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.local.head_bucket(req).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.local.delete_bucket(req).await
    }

    // Bucket tags live in Skyport (they hold `skyport:placement`), wherever the bucket is.
    async fn get_bucket_tagging(&self, req: S3Request<GetBucketTaggingInput>) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.local.get_bucket_tagging(req).await
    }

    async fn put_bucket_tagging(&self, req: S3Request<PutBucketTaggingInput>) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.local.put_bucket_tagging(req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.local.delete_bucket_tagging(req).await
    }

    async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.local.get_bucket_location(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let remote = self.remote(&req, &req.input.bucket).await?;
        let source = self.copy_source_on(&req, &req.input.copy_source, remote.is_some()).await?;
        let (Some((proxy, remote_name)), Some(source)) = (remote, source) else {
            return self.local.copy_object(req).await;
        };
        let mut req = req;
        req.input.bucket = remote_name;
        req.input.copy_source = source;
        proxy.copy_object(req).await.map_err(from_target)
    }

    async fn upload_part_copy(&self, req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let remote = self.remote(&req, &req.input.bucket).await?;
        let source = self.copy_source_on(&req, &req.input.copy_source, remote.is_some()).await?;
        let (Some((proxy, remote_name)), Some(source)) = (remote, source) else {
            return self.local.upload_part_copy(req).await;
        };
        let mut req = req;
        req.input.bucket = remote_name;
        req.input.copy_source = source;
        proxy.upload_part_copy(req).await.map_err(from_target)
    }
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
