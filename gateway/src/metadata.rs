//! The EC2 instance metadata service for local guests (IMDSv1 and IMDSv2).
//!
//! Guests on the site's network reach it as 169.254.169.254:80 through the
//! DNAT rule local compute installs; on tenant networks, one instance of it
//! listens on 169.254.169.254:80 inside each VPC's router namespace. A guest
//! is known by its source address (and VPC): each local instance has a fixed one.
//! IMDSv2 tokens are HMACs over the guest's address and the expiry, under a key
//! made at start: they need no storage and cannot be replayed by another guest.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use accounts::Accounts;
use accounts::InstanceMetadata;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand::RngCore;
use sha2::Sha256;
use tower::ServiceExt;

const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// IMDSv2's longest token lifetime (six hours).
const MAX_TTL_SECS: u64 = 21_600;

struct Service {
    accounts: Accounts,
    /// The VPC whose router this service listens in; `None` = the site's network.
    vpc: Option<String>,
    tokens: Tokens,
}

/// IMDSv2 session tokens.
struct Tokens {
    key: [u8; 32],
}

/// The metadata service's routes for guests of `vpc` (`None` = the site's network).
pub fn router(accounts: Accounts, vpc: Option<String>) -> Router {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    Router::new()
        .route("/latest/api/token", put(issue_token))
        .route("/latest", get(latest))
        .route("/latest/", get(latest))
        .route("/latest/user-data", get(user_data))
        .route("/latest/meta-data", get(meta_data_root))
        .route("/latest/meta-data/", get(meta_data_root))
        .route("/latest/meta-data/{*path}", get(meta_data))
        .with_state(Arc::new(Service {
            accounts,
            vpc,
            tokens: Tokens { key },
        }))
}

/// Serves the metadata service on `listener` until the process ends (or the task is aborted).
pub async fn serve(listener: tokio::net::TcpListener, accounts: Accounts, vpc: Option<String>) {
    let app = router(accounts, vpc);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, say: wait rather than spin.
                tracing::warn!(%error, "metadata service: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request)
            });
            // Guests' simplest clients (busybox `nc`) shut their side down
            // right after the request: a complete request is still answered.
            let connection = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "metadata connection ended with an error");
            }
        });
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Tokens {
    fn mac(&self, ip: IpAddr, expires: u64) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(ip.to_string().as_bytes());
        mac.update(&expires.to_be_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn token(&self, ip: IpAddr, ttl: u64) -> String {
        let expires = now() + ttl;
        let mut bytes = expires.to_be_bytes().to_vec();
        bytes.extend(self.mac(ip, expires));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token_valid(&self, ip: IpAddr, token: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim())
        else {
            return false;
        };
        if bytes.len() != 8 + 32 {
            return false;
        }
        let expires = u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
        expires >= now() && {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
            mac.update(ip.to_string().as_bytes());
            mac.update(&expires.to_be_bytes());
            mac.verify_slice(&bytes[8..]).is_ok()
        }
    }
}

impl Service {
    /// The caller's instance, after checking its IMDSv2 token if it sent one.
    async fn caller(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<InstanceMetadata, Response> {
        if let Some(token) = headers.get(TOKEN_HEADER) {
            if !self
                .tokens
                .token_valid(peer.ip(), token.to_str().unwrap_or_default())
            {
                return Err(StatusCode::UNAUTHORIZED.into_response());
            }
        }
        match self
            .accounts
            .instance_metadata(self.vpc.as_deref(), &peer.ip().to_string())
            .await
        {
            Ok(Some(metadata)) => Ok(metadata),
            Ok(None) => {
                Err((StatusCode::NOT_FOUND, "no instance has this address\n").into_response())
            }
            Err(error) => {
                tracing::warn!(%error, peer = %peer.ip(), "metadata lookup failed");
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

async fn issue_token(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    // As on EC2, a forwarded request (one carrying X-Forwarded-For) gets no token.
    if headers.contains_key("x-forwarded-for") {
        return StatusCode::FORBIDDEN.into_response();
    }
    let ttl = headers
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ttl| (1..=MAX_TTL_SECS).contains(ttl));
    let Some(ttl) = ttl else {
        return (
            StatusCode::BAD_REQUEST,
            "missing or invalid X-aws-ec2-metadata-token-ttl-seconds\n",
        )
            .into_response();
    };
    (
        [(TTL_HEADER, ttl.to_string())],
        service.tokens.token(peer.ip(), ttl),
    )
        .into_response()
}

async fn latest() -> &'static str {
    "dynamic\nmeta-data\nuser-data"
}

async fn user_data(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let metadata = match service.caller(peer, &headers).await {
        Ok(metadata) => metadata,
        Err(response) => return response,
    };
    match metadata.user_data.and_then(|b64| {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
    }) {
        Some(bytes) => bytes.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn meta_data_root(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match service.caller(peer, &headers).await {
        Ok(metadata) => listing(&metadata).join("\n").into_response(),
        Err(response) => response,
    }
}

async fn meta_data(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let metadata = match service.caller(peer, &headers).await {
        Ok(metadata) => metadata,
        Err(response) => return response,
    };
    match value(&metadata, path.trim_end_matches('/')) {
        Some(text) => text.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The top-level keys, as EC2 lists them (directories end with `/`).
fn listing(metadata: &InstanceMetadata) -> Vec<&'static str> {
    let mut keys = vec![
        "ami-id",
        "ami-launch-index",
        "hostname",
        "instance-id",
        "instance-type",
        "local-hostname",
        "local-ipv4",
        "placement/",
        "reservation-id",
        "security-groups",
    ];
    if metadata.instance.public_ip.is_some() {
        keys.push("public-ipv4");
    }
    if metadata.public_key.is_some() {
        keys.push("public-keys/");
    }
    keys.sort_unstable();
    keys
}

/// One metadata value by path (`instance-id`, `placement/availability-zone`…).
fn value(metadata: &InstanceMetadata, path: &str) -> Option<String> {
    let instance = &metadata.instance;
    let hostname = || instance.private_dns.clone().unwrap_or_default();
    let zone = || instance.availability_zone.clone().unwrap_or_default();
    Some(match path {
        "ami-id" => instance.image_id.clone(),
        "ami-launch-index" => instance.launch_index.to_string(),
        "hostname" | "local-hostname" => hostname(),
        "instance-id" => instance.id.clone(),
        "instance-type" => instance.instance_type.clone(),
        "local-ipv4" => instance.private_ip.clone()?,
        "public-ipv4" => instance.public_ip.clone()?,
        "reservation-id" => instance.reservation_id.clone(),
        "security-groups" => metadata.security_groups.join("\n"),
        "placement" => "availability-zone\nregion".into(),
        "placement/availability-zone" => zone(),
        "placement/region" => {
            let zone = zone();
            zone.trim_end_matches(|c: char| c.is_ascii_lowercase())
                .to_string()
        }
        "public-keys" => format!("0={}", instance.key_name.clone()?),
        "public-keys/0" => {
            metadata.public_key.as_ref()?;
            "openssh-key".into()
        }
        "public-keys/0/openssh-key" => format!("{}\n", metadata.public_key.clone()?.trim_end()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use super::*;

    /// busybox `nc` (the test guests' IMDSv2 client) shuts its side down
    /// as soon as the request is sent: the answer must still come.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_a_client_that_half_closes_after_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        config.compute.enabled = false;
        config.network.enabled = false;
        let site = crate::bootstrap::open(&config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, site.accounts.clone(), None));
        for (attempt, request) in [
            "GET /latest/meta-data/instance-id HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n",
            "PUT /latest/api/token HTTP/1.0\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 300\r\nContent-Length: 0\r\n\r\n",
        ]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
        {
            let answer = tokio::task::spawn_blocking(move || {
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                stream.write_all(request.as_bytes()).unwrap();
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                text
            })
            .await
            .unwrap();
            let status = if request.starts_with("GET") { "404" } else { "200" };
            assert!(
                answer.starts_with(&format!("HTTP/1.0 {status}"))
                    || answer.starts_with(&format!("HTTP/1.1 {status}")),
                "attempt {attempt}: {answer:?}"
            );
        }
    }

    #[test]
    fn tokens_are_bound_to_the_address_and_expire() {
        let service = Tokens { key: [7; 32] };
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "10.0.0.3".parse().unwrap();
        let token = service.token(a, 60);
        assert!(service.token_valid(a, &token));
        assert!(!service.token_valid(b, &token));
        assert!(!service.token_valid(a, "garbage"));
        let expired = {
            let expires = now() - 1;
            let mut bytes = expires.to_be_bytes().to_vec();
            bytes.extend(service.mac(a, expires));
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        assert!(!service.token_valid(a, &expired));
    }
}
