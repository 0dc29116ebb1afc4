//! Bucket and object settings: canned ACLs, CORS rules, lifecycle rules.

use cloud::types::{CannedAcl, CorsRule, LifecycleRule};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::canned_acl;
use super::{owner, SkyportS3};
use crate::error::s3_error;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// The grants a canned ACL stands for, as GetBucketAcl/GetObjectAcl report them.
fn grants(acl: CannedAcl, owner: &Owner) -> Vec<Grant> {
    let mut grants = vec![Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            id: owner.id.clone(),
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    if acl == CannedAcl::PublicRead {
        grants.push(Grant {
            grantee: Some(Grantee {
                type_: Type::from_static(Type::GROUP),
                uri: Some(ALL_USERS.into()),
                display_name: None,
                email_address: None,
                id: None,
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
    }
    grants
}

/// Reads a canned ACL from an ACL request: the header, or a policy that is exactly
/// "owner full control" (private) or that plus "AllUsers read" (public-read).
fn requested_acl(
    header: Option<&str>,
    policy: Option<&AccessControlPolicy>,
) -> S3Result<CannedAcl> {
    if header.is_some() || policy.is_none() {
        return canned_acl(header);
    }
    let grants = policy
        .and_then(|p| p.grants.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let public = grants.iter().any(|g| {
        g.grantee.as_ref().and_then(|e| e.uri.as_deref()) == Some(ALL_USERS)
            && g.permission.as_ref().map(|p| p.as_str()) == Some(Permission::READ)
    });
    let others = grants
        .iter()
        .filter(|g| {
            g.grantee
                .as_ref()
                .and_then(|e| e.uri.as_deref())
                .is_some_and(|u| u != ALL_USERS)
        })
        .count();
    if others > 0 {
        return Err(s3_error!(
            NotImplemented,
            "only private and public-read access can be expressed"
        ));
    }
    Ok(if public {
        CannedAcl::PublicRead
    } else {
        CannedAcl::Private
    })
}

pub async fn put_bucket_acl(
    s3: &SkyportS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let acl = requested_acl(
        input.acl.as_ref().map(|a| a.as_str()),
        input.access_control_policy.as_ref(),
    )?;
    s3.accounts
        .objects()
        .set_bucket_acl(&principal.tenant, &input.bucket, acl)
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

pub async fn get_bucket_acl(
    s3: &SkyportS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let principal = s3.principal(&req).await?;
    let acl = s3
        .accounts
        .objects()
        .bucket_acl(&principal.tenant, &req.input.bucket)
        .await
        .map_err(s3_error)?;
    let owner = owner(&principal.tenant);
    Ok(S3Response::new(GetBucketAclOutput {
        grants: Some(grants(acl, &owner)),
        owner: Some(owner),
    }))
}

pub async fn put_object_acl(
    s3: &SkyportS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let acl = requested_acl(
        input.acl.as_ref().map(|a| a.as_str()),
        input.access_control_policy.as_ref(),
    )?;
    s3.accounts
        .objects()
        .set_object_acl(&principal.tenant, &input.bucket, &input.key, acl)
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

pub async fn get_object_acl(
    s3: &SkyportS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let principal = s3.principal(&req).await?;
    let info = s3
        .accounts
        .objects()
        .head_object(&principal.tenant, &req.input.bucket, &req.input.key)
        .await
        .map_err(s3_error)?;
    let owner = owner(&principal.tenant);
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(grants(info.meta.acl, &owner)),
        owner: Some(owner),
        ..Default::default()
    }))
}

pub async fn put_bucket_cors(
    s3: &SkyportS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let mut rules = Vec::new();
    for rule in input.cors_configuration.cors_rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "each CORSRule needs AllowedOrigin and AllowedMethod"
            ));
        }
        if let Some(bad) = rule
            .allowed_methods
            .iter()
            .find(|m| !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&m.as_str()))
        {
            return Err(s3_error!(
                InvalidRequest,
                "Found unsupported HTTP method in CORS config. Unsupported method is {}",
                bad
            ));
        }
        rules.push(CorsRule {
            id: rule.id,
            allowed_origins: rule.allowed_origins,
            allowed_methods: rule.allowed_methods,
            allowed_headers: rule.allowed_headers.unwrap_or_default(),
            expose_headers: rule.expose_headers.unwrap_or_default(),
            max_age_seconds: rule.max_age_seconds,
        });
    }
    s3.accounts
        .objects()
        .set_bucket_cors(&principal.tenant, &input.bucket, Some(&rules))
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub async fn get_bucket_cors(
    s3: &SkyportS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let principal = s3.principal(&req).await?;
    s3.accounts
        .objects()
        .bucket(&principal.tenant, &req.input.bucket)
        .await
        .map_err(s3_error)?;
    let rules = s3
        .accounts
        .objects()
        .bucket_cors(&req.input.bucket)
        .await
        .map_err(s3_error)?
        .ok_or_else(|| {
            s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            )
        })?;
    let rules = rules
        .into_iter()
        .map(|r| CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: (!r.allowed_headers.is_empty()).then_some(r.allowed_headers),
            expose_headers: (!r.expose_headers.is_empty()).then_some(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(rules),
    }))
}

pub async fn delete_bucket_cors(
    s3: &SkyportS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let principal = s3.principal(&req).await?;
    s3.accounts
        .objects()
        .set_bucket_cors(&principal.tenant, &req.input.bucket, None)
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(DeleteBucketCorsOutput::default()))
}

pub async fn put_bucket_lifecycle(
    s3: &SkyportS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let config = input
        .lifecycle_configuration
        .ok_or_else(|| s3_error!(MalformedXML, "missing LifecycleConfiguration"))?;
    let mut rules = Vec::new();
    for rule in config.rules {
        if rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
            || rule.noncurrent_version_expiration.is_some()
        {
            return Err(s3_error!(NotImplemented, "only Expiration and AbortIncompleteMultipartUpload lifecycle actions are supported"));
        }
        let prefix = rule
            .filter
            .as_ref()
            .and_then(|f| f.prefix.clone())
            .or(rule.prefix.clone())
            .unwrap_or_default();
        let expiration_days = match rule.expiration.as_ref() {
            Some(e) if e.date.is_some() => {
                return Err(s3_error!(
                    NotImplemented,
                    "Expiration by Date is not supported; use Days"
                ))
            }
            Some(e) => e
                .days
                .map(|d| u32::try_from(d).ok().filter(|d| *d > 0))
                .map(|d| {
                    d.ok_or_else(|| {
                        s3_error!(
                            InvalidArgument,
                            "'Days' for Expiration action must be a positive integer"
                        )
                    })
                })
                .transpose()?,
            None => None,
        };
        let abort_incomplete_days = rule
            .abort_incomplete_multipart_upload
            .as_ref()
            .and_then(|a| a.days_after_initiation)
            .map(|d| d.max(1) as u32);
        if expiration_days.is_none() && abort_incomplete_days.is_none() {
            return Err(s3_error!(
                MalformedXML,
                "a lifecycle rule needs an Expiration with Days or AbortIncompleteMultipartUpload"
            ));
        }
        rules.push(LifecycleRule {
            id: rule.id,
            prefix,
            enabled: rule.status.as_str() == "Enabled",
            expiration_days,
            abort_incomplete_days,
        });
    }
    s3.accounts
        .objects()
        .set_bucket_lifecycle(&principal.tenant, &input.bucket, Some(&rules))
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(
        PutBucketLifecycleConfigurationOutput::default(),
    ))
}

pub async fn get_bucket_lifecycle(
    s3: &SkyportS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let principal = s3.principal(&req).await?;
    let rules = s3
        .accounts
        .objects()
        .bucket_lifecycle(&principal.tenant, &req.input.bucket)
        .await
        .map_err(s3_error)?
        .ok_or_else(|| {
            s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            )
        })?;
    let rules = rules
        .into_iter()
        .map(|r| LifecycleRule_ {
            id: r.id,
            filter: Some(LifecycleRuleFilter {
                prefix: Some(r.prefix),
                ..Default::default()
            }),
            status: ExpirationStatus::from(
                if r.enabled { "Enabled" } else { "Disabled" }.to_string(),
            ),
            expiration: r.expiration_days.map(|d| LifecycleExpiration {
                days: Some(d as i32),
                ..Default::default()
            }),
            abort_incomplete_multipart_upload: r.abort_incomplete_days.map(|d| {
                AbortIncompleteMultipartUpload {
                    days_after_initiation: Some(d as i32),
                }
            }),
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        })
        .collect();
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(rules),
        ..Default::default()
    }))
}

pub async fn delete_bucket_lifecycle(
    s3: &SkyportS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let principal = s3.principal(&req).await?;
    s3.accounts
        .objects()
        .set_bucket_lifecycle(&principal.tenant, &req.input.bucket, None)
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
}

/// The s3s lifecycle rule type (renamed here to keep ours readable).
type LifecycleRule_ = s3s::dto::LifecycleRule;

/// GetBucketTagging: the tenant's tags (`NoSuchTagSet` when there are none).
pub async fn get_bucket_tagging(
    s3: &SkyportS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let principal = s3.principal(&req).await?;
    let tags = s3
        .accounts
        .objects()
        .bucket_tags(&principal.tenant, &req.input.bucket)
        .await
        .map_err(s3_error)?;
    if tags.is_empty() {
        return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
    }
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: super::convert::tag_set(tags),
    }))
}

/// PutBucketTagging: replaces the tenant's tags (`aws:` keys are reserved).
pub async fn put_bucket_tagging(
    s3: &SkyportS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let principal = s3.principal(&req).await?;
    let input = req.input;
    let tags = super::convert::tags_of(input.tagging.tag_set)?;
    if tags
        .iter()
        .enumerate()
        .any(|(at, t)| tags[..at].iter().any(|e| e.key == t.key))
    {
        return Err(s3_error!(
            InvalidTag,
            "Cannot provide multiple Tags with the same key"
        ));
    }
    s3.accounts
        .objects()
        .set_bucket_tags(&principal.tenant, &input.bucket, &tags)
        .await
        .map_err(|e| match e {
            cloud::Error::InvalidParameter { message, .. } => s3_error!(InvalidTag, "{message}"),
            other => s3_error(other),
        })?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}

/// DeleteBucketTagging: removes the tenant's tags (Skyport's stay).
pub async fn delete_bucket_tagging(
    s3: &SkyportS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let principal = s3.principal(&req).await?;
    s3.accounts
        .objects()
        .set_bucket_tags(&principal.tenant, &req.input.bucket, &[])
        .await
        .map_err(s3_error)?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}
