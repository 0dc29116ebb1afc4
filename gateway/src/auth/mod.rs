//! Request authentication for the EC2 Query and admin APIs (and S3's short
//! read path): find the access key, verify the signature (SigV4 or SigV2), and
//! resolve the caller.

pub mod dates;
pub mod sigv2;
pub mod sigv4;

use accounts::{Accounts, Principal};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// AWS allows 15 minutes between the signer's clock and ours.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// What a signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The raw (still percent-encoded) path.
    pub path: &'a str,
    /// Decoded URL query parameters.
    pub query: &'a [(String, String)],
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    /// What a signature of this HTTP request covers: its method, raw path,
    /// headers, the decoded `query` and `body`.
    pub fn of(
        parts: &'a http::request::Parts,
        query: &'a [(String, String)],
        body: &'a [u8],
    ) -> Self {
        SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query,
            headers: &parts.headers,
            body,
        }
    }
}

/// Why a request was not authenticated; mapped to wire codes in `error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no credentials")]
    Missing,
    #[error("the access key is unknown or revoked")]
    UnknownKey,
    #[error("the signature does not match")]
    SignatureMismatch,
    #[error("the request time is too far from the server time")]
    Skewed,
    #[error("the request has expired")]
    Expired,
    #[error("malformed authentication: {0}")]
    Malformed(String),
    #[error("credential lookup failed")]
    Lookup(#[source] cloud::Error),
}

/// RFC 3986 unreserved characters stay; everything else is %XX-encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes as AWS canonicalisation requires.
pub fn percent_encode_strict(text: &str) -> String {
    utf8_percent_encode(text, STRICT).to_string()
}

/// A query as both signature versions canonicalise it: every pair but the
/// signature (`signature_name`), names and values percent-encoded, sorted by
/// name and then value, joined with `&`.
pub fn canonical_query(pairs: &[(String, String)], signature_name: &str) -> String {
    let mut sorted: Vec<(String, String)> = pairs
        .iter()
        .filter(|(name, _)| name != signature_name)
        .map(|(name, value)| (percent_encode_strict(name), percent_encode_strict(value)))
        .collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The access key a request names, without verifying anything; used for rate limiting and logs.
pub fn claimed_access_key(
    headers: &http::HeaderMap,
    params: &[(String, String)],
) -> Option<String> {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        if let Some(rest) = auth.split("Credential=").nth(1) {
            return rest.split('/').next().map(str::to_string);
        }
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return rest.split(':').next().map(str::to_string);
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    get("X-Amz-Credential")
        .and_then(|c| c.split('/').next().map(str::to_string))
        .or_else(|| get("AWSAccessKeyId"))
}

/// Authenticates a query-protocol request (EC2 or admin). `params` are the URL
/// query and form body parameters together (SigV2 signs both alike); a SigV4
/// credential scope must name `service`.
pub async fn authenticate(
    accounts: &Accounts,
    request: &SignedRequest<'_>,
    params: &[(String, String)],
    service: &str,
) -> Result<Principal, AuthError> {
    let now = time::OffsetDateTime::now_utc();
    let header = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok());
    let has = |name: &str| params.iter().any(|(k, _)| k == name);
    enum Scheme {
        V4(sigv4::SigV4),
        V2(String),
    }
    let scheme = if let Some(header) = header {
        Scheme::V4(sigv4::SigV4::from_header(header, amz_date)?)
    } else if request.query.iter().any(|(k, _)| k == "X-Amz-Signature") {
        Scheme::V4(sigv4::SigV4::from_query(request.query)?)
    } else if has("Signature") && has("AWSAccessKeyId") {
        let key = params
            .iter()
            .find(|(k, _)| k == "AWSAccessKeyId")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Scheme::V2(key)
    } else {
        return Err(AuthError::Missing);
    };
    if let Scheme::V4(sig) = &scheme {
        if sig.service != service {
            return Err(AuthError::Malformed(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
    }
    let access_key = match &scheme {
        Scheme::V4(sig) => sig.access_key.clone(),
        Scheme::V2(key) => key.clone(),
    };
    let (secret, principal) = accounts
        .authenticate(&access_key)
        .await
        .map_err(AuthError::Lookup)?
        .ok_or(AuthError::UnknownKey)?;
    match scheme {
        Scheme::V4(sig) => sig.verify(request, &secret, now)?,
        Scheme::V2(_) => sigv2::verify(request, params, &secret, now)?,
    }
    Ok(principal)
}
