//! AWS Signature Version 4 verification (Authorization header and presigned
//! query) for the EC2 Query API, the admin API and S3's short read path
//! (`s3/plain_read.rs`). Other S3 requests are verified by s3s, which also
//! handles the streaming chunk signatures only S3 uses.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{percent_encode_strict, AuthError, SignedRequest, MAX_CLOCK_SKEW_SECS};

type HmacSha256 = Hmac<Sha256>;

/// The parts of a SigV4 signature, from a header or from query parameters.
#[derive(Debug)]
pub struct SigV4 {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub amz_date: String,
    /// Seconds a presigned request stays valid; `None` for header auth.
    pub expires: Option<i64>,
}

fn scope_parts(credential: &str) -> Result<(String, String, String, String), AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" {
        return Err(AuthError::Malformed(
            "the credential scope must be KEY/DATE/REGION/SERVICE/aws4_request".into(),
        ));
    }
    Ok((
        parts[0].into(),
        parts[1].into(),
        parts[2].into(),
        parts[3].into(),
    ))
}

impl SigV4 {
    /// Parses an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
    pub fn from_header(value: &str, amz_date: Option<&str>) -> Result<SigV4, AuthError> {
        let rest = value
            .strip_prefix("AWS4-HMAC-SHA256")
            .ok_or_else(|| AuthError::Malformed("unsupported authorization algorithm".into()))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(AuthError::Malformed(
                "the authorization header is missing Credential, SignedHeaders or Signature".into(),
            ));
        };
        let (access_key, date, region, service) = scope_parts(credential)?;
        let amz_date =
            amz_date.ok_or_else(|| AuthError::Malformed("missing X-Amz-Date header".into()))?;
        Ok(SigV4 {
            access_key,
            date,
            region,
            service,
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: signature.to_string(),
            amz_date: amz_date.to_string(),
            expires: None,
        })
    }

    /// Parses presigned-URL query parameters (`X-Amz-Credential` etc.).
    pub fn from_query(query: &[(String, String)]) -> Result<SigV4, AuthError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| AuthError::Malformed(format!("missing query parameter {name}")))
        };
        if get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
            return Err(AuthError::Malformed("unsupported X-Amz-Algorithm".into()));
        }
        let (access_key, date, region, service) = scope_parts(get("X-Amz-Credential")?)?;
        let expires = get("X-Amz-Expires")?
            .parse::<i64>()
            .ok()
            .filter(|e| (1..=604_800).contains(e))
            .ok_or_else(|| AuthError::Malformed("X-Amz-Expires must be 1-604800 seconds".into()))?;
        Ok(SigV4 {
            access_key,
            date,
            region,
            service,
            signed_headers: get("X-Amz-SignedHeaders")?
                .split(';')
                .map(str::to_string)
                .collect(),
            signature: get("X-Amz-Signature")?.to_string(),
            amz_date: get("X-Amz-Date")?.to_string(),
            expires: Some(expires),
        })
    }

    /// Checks the signature against `secret`, and the request time against `now`.
    pub fn verify(
        &self,
        request: &SignedRequest<'_>,
        secret: &str,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let when = time::PrimitiveDateTime::parse(&self.amz_date, format)
            .map_err(|_| AuthError::Malformed("X-Amz-Date must look like 20060102T150405Z".into()))?
            .assume_utc();
        if !self.amz_date.starts_with(&self.date) {
            return Err(AuthError::Malformed(
                "the credential scope date does not match X-Amz-Date".into(),
            ));
        }
        let age = (now - when).whole_seconds();
        match self.expires {
            None if age.abs() > MAX_CLOCK_SKEW_SECS => return Err(AuthError::Skewed),
            Some(expires) if age > expires => return Err(AuthError::Expired),
            Some(_) if age < -MAX_CLOCK_SKEW_SECS => return Err(AuthError::Skewed),
            _ => {}
        }
        // Presigned URLs are signed over UNSIGNED-PAYLOAD by S3-minded signers and
        // over the empty body's hash by others (botocore's query signer): accept both.
        // S3's own signers presign over UNSIGNED-PAYLOAD: try that first there.
        let candidates: &[Option<&str>] = match (self.expires, self.service.as_str()) {
            (None, _) => &[None],
            (Some(_), "s3") => &[Some("UNSIGNED-PAYLOAD"), None],
            (Some(_), _) => &[None, Some("UNSIGNED-PAYLOAD")],
        };
        for payload in candidates {
            let expected = self.signature_with(request, secret, *payload)?;
            if constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
                return Ok(());
            }
        }
        Err(AuthError::SignatureMismatch)
    }

    fn signature_for(
        &self,
        request: &SignedRequest<'_>,
        secret: &str,
    ) -> Result<String, AuthError> {
        self.signature_with(request, secret, None)
    }

    fn signature_with(
        &self,
        request: &SignedRequest<'_>,
        secret: &str,
        payload: Option<&str>,
    ) -> Result<String, AuthError> {
        let canonical = self.canonical_request(request, payload)?;
        let scope = format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
            self.amz_date,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), self.date.as_bytes());
        for part in [
            self.region.as_bytes(),
            self.service.as_bytes(),
            b"aws4_request",
        ] {
            key = hmac(&key, part);
        }
        Ok(hex::encode(hmac(&key, string_to_sign.as_bytes())))
    }

    fn canonical_request(
        &self,
        request: &SignedRequest<'_>,
        payload: Option<&str>,
    ) -> Result<String, AuthError> {
        let canonical_query = super::canonical_query(request.query, "X-Amz-Signature");
        let mut headers = String::new();
        for name in &self.signed_headers {
            let values: Vec<String> = request
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            if values.is_empty() {
                return Err(AuthError::Malformed(format!(
                    "signed header '{name}' is missing"
                )));
            }
            headers.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        let payload_hash = match (
            payload,
            request
                .headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok()),
        ) {
            (Some(forced), _) => forced.to_string(),
            (None, Some(hash)) => hash.to_string(),
            (None, None) => hex::encode(Sha256::digest(request.body)),
        };
        if payload_hash.len() == 64 && payload_hash != hex::encode(Sha256::digest(request.body)) {
            return Err(AuthError::Malformed(
                "x-amz-content-sha256 does not match the body".into(),
            ));
        }
        let path = canonical_path(request.path);
        Ok(format!(
            "{}\n{path}\n{canonical_query}\n{headers}\n{}\n{payload_hash}",
            request.method,
            self.signed_headers.join(";")
        ))
    }
}

/// Each path segment percent-encoded once, as non-S3 services sign it.
fn canonical_path(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".into();
    }
    raw_path
        .split('/')
        .map(|segment| {
            percent_encode_strict(
                &percent_encoding::percent_decode_str(segment).decode_utf8_lossy(),
            )
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Compares without an early exit, so timing reveals nothing about the expected value.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials and scope a client signs with.
pub struct ClientKey<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// Signs a request as a client would (used by `skyport admin` and tests); returns the headers to add.
pub fn sign_request(
    method: &str,
    path: &str,
    host: &str,
    body: &[u8],
    key: &ClientKey<'_>,
) -> Vec<(&'static str, String)> {
    sign_request_at(method, path, host, body, key, OffsetDateTime::now_utc())
}

/// Signs a request whose body is streamed and not hashed (`UNSIGNED-PAYLOAD`,
/// as S3 clients do for large uploads over TLS or loopback).
pub fn sign_unsigned_payload(
    method: &str,
    path: &str,
    host: &str,
    key: &ClientKey<'_>,
) -> Vec<(&'static str, String)> {
    sign_with_payload(
        method,
        path,
        host,
        b"",
        "UNSIGNED-PAYLOAD".into(),
        key,
        OffsetDateTime::now_utc(),
    )
}

/// Signs a request whose body hash is `payload` as sent (`UNSIGNED-PAYLOAD`,
/// `STREAMING-…`), at `now`; for tests that build such requests by hand.
pub fn sign_with_payload_at(
    method: &str,
    path: &str,
    host: &str,
    payload: &str,
    key: &ClientKey<'_>,
    now: OffsetDateTime,
) -> Vec<(&'static str, String)> {
    sign_with_payload(method, path, host, b"", payload.into(), key, now)
}

/// [`sign_request`] with the signer's clock given, to test clock skew.
pub fn sign_request_at(
    method: &str,
    path: &str,
    host: &str,
    body: &[u8],
    key: &ClientKey<'_>,
    now: OffsetDateTime,
) -> Vec<(&'static str, String)> {
    let payload = hex::encode(Sha256::digest(body));
    sign_with_payload(method, path, host, body, payload, key, now)
}

fn sign_with_payload(
    method: &str,
    path: &str,
    host: &str,
    body: &[u8],
    payload: String,
    key: &ClientKey<'_>,
    now: OffsetDateTime,
) -> Vec<(&'static str, String)> {
    sign_with_query(method, path, &[], host, body, payload, key, now)
}

/// Signs a request with a query string (decoded pairs) and a body, as S3 clients do.
pub fn sign_s3_request_at(
    method: &str,
    path: &str,
    query: &[(String, String)],
    host: &str,
    body: &[u8],
    key: &ClientKey<'_>,
    now: OffsetDateTime,
) -> Vec<(&'static str, String)> {
    let payload = hex::encode(Sha256::digest(body));
    sign_with_query(method, path, query, host, body, payload, key, now)
}

#[allow(clippy::too_many_arguments)] // one private signer behind the public shapes
fn sign_with_query(
    method: &str,
    path: &str,
    query: &[(String, String)],
    host: &str,
    body: &[u8],
    payload: String,
    key: &ClientKey<'_>,
    now: OffsetDateTime,
) -> Vec<(&'static str, String)> {
    let (access_key, secret, region, service) =
        (key.access_key, key.secret, key.region, key.service);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let amz_date = now.format(format).unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("host", host),
        ("x-amz-date", amz_date.as_str()),
        ("x-amz-content-sha256", payload.as_str()),
    ] {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    let mut sig = SigV4 {
        access_key: access_key.to_string(),
        date: amz_date[..8].to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: vec![
            "host".into(),
            "x-amz-content-sha256".into(),
            "x-amz-date".into(),
        ],
        signature: String::new(),
        amz_date: amz_date.clone(),
        expires: None,
    };
    let request = SignedRequest {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    sig.signature = sig.signature_for(&request, secret).unwrap_or_default();
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={}",
        sig.access_key,
        sig.date,
        sig.signed_headers.join(";"),
        sig.signature
    );
    vec![
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", payload),
        ("authorization", authorization),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "get-vanilla-query" case of AWS's SigV4 test suite.
    #[test]
    fn matches_the_aws_test_suite_vector() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let sig = SigV4::from_header(auth, Some("20150830T123600Z")).unwrap();
        let request = SignedRequest {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let now = time::macros::datetime!(2015-08-30 12:40:00 UTC);
        sig.verify(&request, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now)
            .unwrap();
        assert!(matches!(
            sig.verify(&request, "wrong", now),
            Err(AuthError::SignatureMismatch)
        ));
        let later = time::macros::datetime!(2015-08-30 13:00:00 UTC);
        assert!(matches!(
            sig.verify(&request, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", later),
            Err(AuthError::Skewed)
        ));
    }
}
