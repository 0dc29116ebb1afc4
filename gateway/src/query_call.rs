//! What the two query-string APIs on the shared port (EC2 and STS) do before
//! their action runs: merge the query with the form body, name the action,
//! authenticate for the service's credential scope and apply the rate limits.

use accounts::Principal;
use bytes::Bytes;

use crate::auth::{self, AuthError, SignedRequest};
use crate::server::Gateway;

/// One query-API request's parameters (query string and form body together).
pub(crate) struct QueryCall {
    pub all: Vec<(String, String)>,
    /// The `Action` parameter; empty when there is none.
    pub action: String,
}

impl QueryCall {
    pub fn new(query: &[(String, String)], form: Vec<(String, String)>) -> Self {
        let mut all = query.to_vec();
        all.extend(form);
        let action = all
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        QueryCall { all, action }
    }

    /// The authenticated caller, or `None` when its key or tenant is over its
    /// rate limit (each API words that refusal its own way).
    pub async fn admit(
        &self,
        gateway: &Gateway,
        parts: &http::request::Parts,
        query: &[(String, String)],
        body: &Bytes,
        service: &str,
    ) -> Result<Option<Principal>, AuthError> {
        let signed = SignedRequest::of(parts, query, body);
        let principal = auth::authenticate(&gateway.accounts, &signed, &self.all, service).await?;
        tracing::Span::current().record("tenant", principal.tenant.name.as_str());
        let allowed = gateway
            .limits
            .allow(&principal.access_key_id, &principal.tenant.id);
        Ok(allowed.then_some(principal))
    }
}
