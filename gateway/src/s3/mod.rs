//! The S3 REST API, served by the `s3s` crate (protocol, XML, SigV4/SigV2 and
//! streaming-signature checks) over Skyport's domain. This module only
//! translates: s3s types in, one accounts call, s3s types out.

pub mod auth;
pub mod convert;
mod copy;
pub mod cors;
pub mod create_bucket_tags;
mod cross_copy;
pub mod digest;
pub mod front;
pub mod guard;
pub mod host;
pub mod listing;
pub mod multipart;
pub mod object_tags;
pub mod objects;
pub mod plain_read;
pub mod precheck;
pub mod routed;
pub mod services_path;
pub mod settings;
pub mod versioning;

use std::cell::RefCell;

use accounts::{Accounts, Principal};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use crate::error::s3_error;

tokio::task_local! {
    /// The S3 operation of the request being served, for metrics and logs.
    pub static S3_OPERATION: RefCell<String>;
}

/// Skyport's implementation of the S3 trait.
pub struct SkyportS3 {
    accounts: Accounts,
}

impl SkyportS3 {
    /// Serves S3 over the given account layer.
    pub fn new(accounts: Accounts) -> SkyportS3 {
        SkyportS3 { accounts }
    }

    /// The signed caller, or `None` for an anonymous request (reads of public objects).
    pub(crate) async fn reader<T>(&self, request: &S3Request<T>) -> S3Result<Option<Principal>> {
        match request.credentials {
            Some(_) => self.principal(request).await.map(Some),
            None => Ok(None),
        }
    }

    /// The tenant whose bucket is listed: the caller's, or for anonymous callers
    /// the owner of a public-read bucket.
    pub(crate) async fn listing_tenant<T>(
        &self,
        request: &S3Request<T>,
        bucket: &str,
    ) -> S3Result<accounts::Tenant> {
        match self.reader(request).await? {
            Some(principal) => Ok(principal.tenant),
            None => self
                .accounts
                .objects()
                .public_bucket_owner(bucket)
                .await
                .map_err(s3_error),
        }
    }

    pub(crate) async fn principal<T>(&self, request: &S3Request<T>) -> S3Result<Principal> {
        let credentials = request
            .credentials
            .as_ref()
            .ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))?;
        match self
            .accounts
            .authenticate(&credentials.access_key)
            .await
            .map_err(s3_error)?
        {
            Some((_, principal)) => Ok(principal),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

fn timestamp(unix: i64) -> Timestamp {
    Timestamp::from(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

pub(crate) fn owner(tenant: &accounts::Tenant) -> Owner {
    Owner {
        display_name: Some(tenant.name.clone()),
        id: Some(tenant.account_id.clone()),
    }
}

#[async_trait::async_trait]
impl S3 for SkyportS3 {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let principal = self.principal(&req).await?;
        let buckets = self
            .accounts
            .objects()
            .list_buckets(&principal.tenant)
            .await
            .map_err(s3_error)?;
        let input = req.input;
        let max = match input.max_buckets {
            None => usize::MAX,
            Some(n) if (1..=10_000).contains(&n) => n as usize,
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets must be between 1 and 10000"
                ))
            }
        };
        let after = input.continuation_token.clone().unwrap_or_default();
        let mut selected: Vec<_> = buckets
            .into_iter()
            .filter(|b| {
                input
                    .prefix
                    .as_deref()
                    .is_none_or(|p| b.name.starts_with(p))
            })
            .filter(|b| b.name > after)
            .collect();
        let truncated = selected.len() > max;
        selected.truncate(max);
        let continuation_token = truncated
            .then(|| selected.last().map(|b| b.name.clone()))
            .flatten();
        let buckets = selected
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created_at)),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner(&principal.tenant)),
            prefix: input.prefix,
            continuation_token,
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let principal = self.principal(&req).await?;
        let requested = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_string());
        let location_constraint = requested.filter(|l| !l.is_empty());
        // Without placement policies every bucket is here: only this site's region makes sense.
        if let Some(location) = &location_constraint {
            if self.accounts.placement().remotes().next().is_none()
                && *location != self.accounts.region()
            {
                return Err(s3_error!(
                    InvalidLocationConstraint,
                    "The specified location-constraint is not valid: this site serves {}",
                    self.accounts.region()
                ));
            }
        }
        let tags = req
            .extensions
            .get::<create_bucket_tags::CreateBucketTags>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        let placing = accounts::BucketPlacing {
            location_constraint,
            tags,
        };
        let acl = convert::canned_acl(req.input.acl.as_ref().map(|a| a.as_str()))?;
        let bucket = self
            .accounts
            .create_bucket(&principal.tenant, &req.input.bucket, &placing)
            .await
            .map_err(s3_error)?;
        if acl != cloud::types::CannedAcl::Private {
            self.accounts
                .objects()
                .set_bucket_acl(&principal.tenant, &bucket.name, acl)
                .await
                .map_err(s3_error)?;
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", bucket.name)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let principal = self.principal(&req).await?;
        let bucket = self
            .accounts
            .objects()
            .bucket(&principal.tenant, &req.input.bucket)
            .await
            .map_err(s3_error)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(bucket.region),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let principal = self.principal(&req).await?;
        self.accounts
            .delete_bucket(&principal.tenant, &req.input.bucket)
            .await
            .map_err(s3_error)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let principal = self.principal(&req).await?;
        let bucket = self
            .accounts
            .objects()
            .bucket(&principal.tenant, &req.input.bucket)
            .await
            .map_err(s3_error)?;
        // AWS reports us-east-1 as an empty constraint.
        let location_constraint =
            (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put_object(self, req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get_object(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        objects::delete_object(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        objects::delete_objects(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        copy::copy_object(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        listing::list_objects(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        listing::list_objects_v2(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_uploads(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        settings::put_bucket_acl(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        settings::get_bucket_acl(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        settings::put_object_acl(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        settings::get_object_acl(self, req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        settings::put_bucket_cors(self, req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        object_tags::get(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        object_tags::put(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        object_tags::delete(self, req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        settings::get_bucket_tagging(self, req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        settings::put_bucket_tagging(self, req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        settings::delete_bucket_tagging(self, req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        settings::get_bucket_cors(self, req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        settings::delete_bucket_cors(self, req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        settings::put_bucket_lifecycle(self, req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        settings::get_bucket_lifecycle(self, req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        settings::delete_bucket_lifecycle(self, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        versioning::put(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        versioning::get(self, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        versioning::list(self, req).await
    }
}
