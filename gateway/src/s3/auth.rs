//! Hooks s3s calls for authentication and access: secret lookup (with rate
//! limiting, since this is where the caller becomes known) and the refusal of
//! anonymous requests.

use std::cell::RefCell;
use std::sync::Arc;

use accounts::Accounts;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};

use super::S3_OPERATION;
use crate::error::s3_error;
use crate::ratelimit::RateLimits;

/// Looks secrets up in the account layer.
pub struct KeyLookup {
    pub accounts: Accounts,
    pub limits: Arc<RateLimits>,
}

#[async_trait::async_trait]
impl S3Auth for KeyLookup {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let Some((secret, principal)) = self
            .accounts
            .authenticate(access_key)
            .await
            .map_err(s3_error)?
        else {
            return Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ));
        };
        tracing::Span::current().record("tenant", principal.tenant.name.as_str());
        if !self.limits.allow(access_key, &principal.tenant.id) {
            return Err(s3_error!(SlowDown, "Please reduce your request rate."));
        }
        Ok(SecretKey::from(secret))
    }
}

/// Operations an anonymous caller may attempt; the handlers then allow them
/// only on public-read buckets and objects.
const ANONYMOUS_READS: &[&str] = &["GetObject", "HeadObject", "ListObjects", "ListObjectsV2"];

/// Refuses anonymous requests except reads that public-read ACLs may allow.
pub struct RequireSignature;

#[async_trait::async_trait]
impl S3Access for RequireSignature {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name().to_string();
        let anonymous_ok = ANONYMOUS_READS.contains(&operation.as_str());
        let _ = S3_OPERATION.try_with(|slot: &RefCell<String>| *slot.borrow_mut() = operation);
        match cx.credentials() {
            Some(_) => Ok(()),
            None if anonymous_ok => Ok(()),
            None => Err(s3_error!(AccessDenied, "Access Denied")),
        }
    }
}
