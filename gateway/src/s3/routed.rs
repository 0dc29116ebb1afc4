//! S3 requests routed by where their bucket lives: this site's object store
//! ([`SkyportS3`]) or a remote target, reached through the S3 service the
//! target offers (`AwsTarget::s3_service`: a proxy that streams bodies
//! through).
//!
//! Bucket-level calls that change the registry (create, delete, head, list,
//! location) always go to [`SkyportS3`]: accounts places and records buckets.
//! Everything addressed to a remote bucket needs a signed caller, whom the
//! bucket registry lets through only as the owner (`RemoteHome::owned_by`),
//! and is forwarded under the bucket's name on the target.

use std::collections::HashMap;
use std::sync::Arc;

use accounts::Accounts;
use object_index::RemoteHome;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use super::SkyportS3;
use crate::error::s3_error;

/// A remote target's S3 service.
type Proxy = Arc<dyn S3>;

/// The S3 service: local buckets to [`SkyportS3`], remote ones to their target.
pub struct RoutedS3 {
    local: SkyportS3,
    accounts: Accounts,
    proxies: HashMap<String, Proxy>,
}

impl RoutedS3 {
    /// Routes over the site's account layer and its remote targets' S3
    /// services, by target name.
    pub fn new(accounts: Accounts, targets: impl IntoIterator<Item = (String, Proxy)>) -> RoutedS3 {
        let proxies = targets.into_iter().collect();
        RoutedS3 {
            local: SkyportS3::new(accounts.clone()),
            accounts,
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
        let home = self
            .accounts
            .objects()
            .remote_home(bucket)
            .await
            .map_err(s3_error)?;
        self.owned_remote(req, home).await
    }

    /// [`Self::remote`] for a bucket whose home was already looked up.
    async fn owned_remote<T>(
        &self,
        req: &S3Request<T>,
        home: Option<RemoteHome>,
    ) -> S3Result<Option<(&Proxy, String)>> {
        let Some(home) = home else {
            return Ok(None);
        };
        let principal = self.local.principal(req).await?;
        let remote = home.owned_by(&principal.tenant).map_err(s3_error)?;
        let proxy = self.proxies.get(&remote.target).ok_or_else(|| {
            s3_error!(
                ServiceUnavailable,
                "target {} is not configured on this gateway",
                remote.target
            )
        })?;
        Ok(Some((proxy, remote.name)))
    }

    /// Where a copy's source is, relative to its destination (whose remote
    /// target, if any, is `dest_target`).
    async fn copy_route<T>(
        &self,
        req: &S3Request<T>,
        source: &CopySource,
        dest_target: Option<&str>,
    ) -> S3Result<CopyRoute> {
        let (bucket, key, version_id) = super::copy::bucket_source(source)?;
        let home = self
            .accounts
            .objects()
            .remote_home(bucket)
            .await
            .map_err(s3_error)?;
        let from = home.as_ref().map(|home| home.target().to_string());
        Ok(match (from.as_deref(), dest_target) {
            (None, None) => CopyRoute::Local,
            (Some(from), Some(to)) if from == to => {
                // The caller must own the source as well as the destination.
                let (_, name) = self
                    .owned_remote(req, home)
                    .await?
                    .ok_or_else(|| s3_error!(NoSuchBucket))?;
                CopyRoute::SameTarget(CopySource::Bucket {
                    bucket: name.into(),
                    key: key.into(),
                    version_id: version_id.map(Into::into),
                })
            }
            _ => CopyRoute::Across,
        })
    }
}

/// How a copy is served.
enum CopyRoute {
    /// Both buckets on this site.
    Local,
    /// Both on one remote target: the target copies (the source renamed there).
    SameTarget(CopySource),
    /// On different clouds: Skyport reads one and writes the other.
    Across,
}

/// The S3 impl, written once per kind of operation (one macro emits the whole
/// impl so that `async_trait` sees every method):
/// - `local`: always served by [`SkyportS3`] (the bucket registry, bucket
///   tags and CORS rules live in Skyport wherever the bucket is: browsers
///   talk to Skyport, so Skyport answers their preflights);
/// - `copies`: served here when both buckets are this site's, forwarded when
///   both are on one target (the source renamed there), and otherwise read
///   from one cloud and written to the other (`cross_copy`);
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
                let home = self.accounts.objects().remote_home(&req.input.bucket).await.map_err(s3_error)?;
                let dest_target = home.as_ref().map(|home| home.target().to_string());
                let remote = self.owned_remote(&req, home).await?;
                match self.copy_route(&req, &req.input.copy_source, dest_target.as_deref()).await? {
                    CopyRoute::Local => self.local.$cop(req).await,
                    CopyRoute::Across => super::cross_copy::$cop(self, req).await,
                    CopyRoute::SameTarget(source) => {
                        let Some((proxy, remote_name)) = remote else {
                            return Err(s3_error!(InternalError, "a remote copy without a remote bucket"));
                        };
                        let mut req = req;
                        req.input.bucket = remote_name;
                        req.input.copy_source = source;
                        proxy.$cop(req).await.map_err(crate::error::remote_s3_error)
                    }
                }
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
                let mut response = proxy.$op(req).await.map_err(crate::error::remote_s3_error)?;
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
        put_bucket_cors(PutBucketCorsInput) -> PutBucketCorsOutput;
        get_bucket_cors(GetBucketCorsInput) -> GetBucketCorsOutput;
        delete_bucket_cors(DeleteBucketCorsInput) -> DeleteBucketCorsOutput;
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
