//! AWS Signature Version 2 for the EC2 Query API (boto 2, euca2ools).
//! String to sign: METHOD \n host \n path \n sorted, encoded query without `Signature`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use time::OffsetDateTime;

use super::sigv4::constant_time_eq;
use super::{AuthError, SignedRequest, MAX_CLOCK_SKEW_SECS};

/// Verifies a SigV2 query signature. `params` are all form/query parameters.
pub fn verify(
    request: &SignedRequest<'_>,
    params: &[(String, String)],
    secret: &str,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let signature =
        get("Signature").ok_or_else(|| AuthError::Malformed("missing Signature".into()))?;
    let method = get("SignatureMethod").unwrap_or("HmacSHA256");
    check_time(get("Timestamp"), get("Expires"), now)?;
    let query = super::canonical_query(params, "Signature");
    let host = request
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let string_to_sign = format!("{}\n{host}\n{path}\n{query}", request.method);
    let expected = match method {
        "HmacSHA256" => sign_sha256(secret, &string_to_sign),
        "HmacSHA1" => sign_sha1(secret, &string_to_sign),
        other => {
            return Err(AuthError::Malformed(format!(
                "unsupported SignatureMethod {other}"
            )))
        }
    };
    if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

fn sign_sha256(secret: &str, text: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Base64 of HMAC-SHA1 over `text`: SigV2's signature (also S3's, which
/// `s3::services_path` re-signs for the path it strips).
pub(crate) fn sign_sha1(secret: &str, text: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn parse_time(text: &str) -> Result<OffsetDateTime, AuthError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            // boto 2 sends "2026-11-26T14:00:00Z" but some tools omit the zone.
            let format =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            time::PrimitiveDateTime::parse(text.trim_end_matches('Z'), format)
                .map(|t| t.assume_utc())
        })
        .map_err(|_| AuthError::Malformed(format!("invalid timestamp '{text}'")))
}

fn check_time(
    timestamp: Option<&str>,
    expires: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    match (timestamp, expires) {
        (Some(ts), _) => {
            if (now - parse_time(ts)?).whole_seconds().abs() > MAX_CLOCK_SKEW_SECS {
                return Err(AuthError::Skewed);
            }
        }
        (None, Some(exp)) => {
            if parse_time(exp)? < now {
                return Err(AuthError::Expired);
            }
        }
        (None, None) => {
            return Err(AuthError::Malformed(
                "a SigV2 request needs Timestamp or Expires".into(),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_params(secret: &str, host: &str, ts: &str) -> Vec<(String, String)> {
        let mut params = vec![
            ("AWSAccessKeyId".to_string(), "AKID".to_string()),
            ("Action".to_string(), "DescribeRegions".to_string()),
            ("SignatureMethod".to_string(), "HmacSHA256".to_string()),
            ("SignatureVersion".to_string(), "2".to_string()),
            ("Timestamp".to_string(), ts.to_string()),
            ("Version".to_string(), "2016-11-15".to_string()),
        ];
        let query = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::auth::percent_encode_strict(k),
                    crate::auth::percent_encode_strict(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let signature = sign_sha256(secret, &format!("GET\n{host}\n/\n{query}"));
        params.push(("Signature".to_string(), signature));
        params
    }

    #[test]
    fn verifies_and_rejects() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "127.0.0.1:8773".parse().unwrap());
        let request = SignedRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let now = time::macros::datetime!(2026-11-26 14:00:00 UTC);
        let params = signed_params("secret", "127.0.0.1:8773", "2026-11-26T14:01:00Z");
        verify(&request, &params, "secret", now).unwrap();
        assert!(matches!(
            verify(&request, &params, "other", now),
            Err(AuthError::SignatureMismatch)
        ));
        let old = signed_params("secret", "127.0.0.1:8773", "2026-11-26T13:00:00Z");
        assert!(matches!(
            verify(&request, &old, "secret", now),
            Err(AuthError::Skewed)
        ));
    }
}
