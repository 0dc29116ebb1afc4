//! Virtual-host-style bucket addressing (`bucket.<base domain>`).
//!
//! s3s's `SingleDomain` compares the Host header with its port still on and
//! treats any other host name as a bucket, which breaks path-style clients that
//! reach the gateway by another name (`localhost:8773`). Here the port is
//! ignored and unknown hosts simply mean path style.

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// Buckets as subdomains of one base domain; any other host is path style.
pub struct BaseDomain {
    domain: String,
}

impl BaseDomain {
    /// Serves `bucket.<domain>` (the domain is matched case-insensitively).
    pub fn new(domain: &str) -> BaseDomain {
        BaseDomain {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        }
    }
}

impl S3Host for BaseDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let virtual_host = VirtualHost::new(self.domain.as_str());
        Ok(match bucket_in_host(host, &self.domain) {
            Some(bucket) => virtual_host.with_bucket(bucket),
            None => virtual_host,
        })
    }
}

/// The bucket a Host header names as `bucket.<domain>`, if any. The port is
/// ignored and names compare case-insensitively; `domain` is lowercase without
/// a trailing dot (as `Gateway::s3_base_domain` keeps it), empty for path style only.
pub fn bucket_in_host(host: &str, domain: &str) -> Option<String> {
    if domain.is_empty() {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.strip_suffix(domain)
        .and_then(|rest| rest.strip_suffix('.'))
        .filter(|bucket| !bucket.is_empty())
        .map(str::to_string)
}

/// [`bucket_in_host`] of a request's Host header.
pub fn virtual_bucket(headers: &http::HeaderMap, domain: &str) -> Option<String> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())?;
    bucket_in_host(host, domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_subdomains_only() {
        let hosts = BaseDomain::new("s3.example.test");
        let bucket = |host: &str| {
            hosts
                .parse_host_header(host)
                .unwrap()
                .bucket()
                .map(str::to_string)
        };
        assert_eq!(bucket("photos.s3.example.test:8773"), Some("photos".into()));
        assert_eq!(bucket("Photos.S3.Example.Test"), Some("photos".into()));
        assert_eq!(bucket("s3.example.test:8773"), None);
        assert_eq!(bucket("localhost:8773"), None);
        assert_eq!(bucket("evil-s3.example.test"), None);
        assert_eq!(bucket("photos.s3.example.test."), Some("photos".into()));
        assert_eq!(bucket_in_host("photos.s3.example.test", ""), None);
    }
}
