//! The HTTP server: one port, requests routed to the EC2 Query API, S3, the
//! admin API, or the health and metrics endpoints.
//!
//! How EC2 and S3 share a port: a request is EC2 when it is a GET with `Action`
//! in its query, or a form-encoded POST whose body has `Action`. Everything else
//! under `/` is S3; `/_skyport/admin/` is the admin API (bucket names cannot
//! start with `_`). Unsigned `GET /health` and `GET /metrics` are for operators.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use accounts::Accounts;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use rand::RngCore;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::Instrument;

use crate::auth::{self, SignedRequest};
use crate::connection_threads::{ConnectionThreads, Serve};
use crate::ec2::{self, params::Params, Action, Ec2Call};
use crate::error::Ec2Error;
use crate::http::{json_response, text_response};
pub use crate::http::{BoxError, ResponseBody};
use crate::query_call::QueryCall;
use crate::ratelimit::RateLimits;
use crate::s3::plain_read::{self, PlainRead};

/// The SigV4 service name admin requests are signed for.
pub const ADMIN_SERVICE: &str = "skyport-admin";

/// Largest EC2 Query or admin request body accepted (UserData is at most 16 KiB).
const MAX_FORM_BODY: usize = 1024 * 1024;

/// Everything the request handlers share.
pub struct Gateway {
    pub accounts: Accounts,
    pub s3: s3s::service::S3Service,
    pub admin: axum::Router,
    pub limits: Arc<RateLimits>,
    pub metrics: PrometheusHandle,
    pub zones: Vec<String>,
    /// Base domain of virtual-host-style buckets (empty: path style only).
    pub s3_base_domain: String,
}

fn new_request_id() -> String {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    // UUID layout: 8-4-4-4-12 hex digits.
    let mut id = String::with_capacity(36);
    for (i, byte) in raw.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Serves connections from `listener` on `threads` connection threads (0:
/// one per CPU) until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    threads: usize,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let serve: Serve = Arc::new(move |stream| Box::pin(serve_connection(gateway.clone(), stream)));
    let threads = ConnectionThreads::start(threads, serve)?;
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // Without this, small responses wait ~40 ms for a delayed ACK (Nagle).
        let _ = stream.set_nodelay(true);
        threads.serve(stream);
    }
}

async fn serve_connection(gateway: Arc<Gateway>, stream: tokio::net::TcpStream) {
    let peer = stream.peer_addr().ok();
    let service = hyper::service::service_fn(move |request| {
        let gateway = gateway.clone();
        async move { Ok::<_, Infallible>(handle(gateway, request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = connection.await {
        tracing::debug!(?peer, error = %e, "connection ended with an error");
    }
}

async fn handle(gateway: Arc<Gateway>, request: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let request_id = new_request_id();
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        tenant = tracing::field::Empty
    );
    // An error answered before the body was read leaves the body on the wire
    // (and clients that sent `Expect: 100-continue` may send it late): such a
    // connection must not carry another request.
    let has_body = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || request
            .headers()
            .contains_key(http::header::TRANSFER_ENCODING);
    // botocore sends `Expect: 100-continue` even with an empty body, and then
    // misreads the connection after the final answer: don't reuse it.
    let empty_expecting_continue =
        !has_body && request.headers().contains_key(http::header::EXPECT);
    let shape = crate::catch_panic::Shape::of(&request);
    async move {
        let (protocol, action, mut response) =
            crate::catch_panic::guard(shape, &request_id, route(&gateway, request, &request_id))
                .await;
        let failed_early = has_body && (response.status().is_client_error() || response.status().is_server_error());
        if failed_early || empty_expecting_continue {
            response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        let status = response.status().as_u16();
        crate::metrics::record(protocol, &action, status, started.elapsed());
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().entry("x-amz-request-id").or_insert(value);
        }
        tracing::info!(protocol, action = %action, status, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "request");
        response
    }
    .instrument(span)
    .await
}

fn query_pairs(request: &http::request::Parts) -> Vec<(String, String)> {
    request
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn is_unsigned(parts: &http::request::Parts, query: &[(String, String)]) -> bool {
    !parts.headers.contains_key("authorization")
        && !query
            .iter()
            .any(|(k, _)| k == "X-Amz-Signature" || k == "Signature")
}

async fn route(
    gateway: &Gateway,
    request: Request<Incoming>,
    request_id: &str,
) -> (&'static str, String, Response<ResponseBody>) {
    let (parts, body) = request.into_parts();
    let query = query_pairs(&parts);
    let path = parts.uri.path().to_string();
    if parts.method == Method::GET && is_unsigned(&parts, &query) {
        if path == "/health" {
            return (
                "ops",
                "health".into(),
                text_response(StatusCode::OK, "text/plain", "ok\n".into()),
            );
        }
        if path == "/metrics" {
            let body = gateway.metrics.render();
            return (
                "ops",
                "metrics".into(),
                text_response(StatusCode::OK, "text/plain; version=0.0.4", body),
            );
        }
    }
    if path.starts_with(crate::admin::PREFIX) {
        // Label by method only: paths name tenants and keys, and would grow without bound.
        let method = parts.method.to_string();
        let response = admin(gateway, parts, body, query).await;
        return ("admin", method, response);
    }
    let has_action = query.iter().any(|(k, _)| k == "Action");
    let (mut parts, mut query) = (parts, query);
    if !has_action {
        crate::s3::services_path::unprefix(&gateway.accounts, &mut parts, &mut query).await;
    }
    let scope = credential_service(&parts, &query);
    if has_action && scope.as_deref() == Some("sts") && parts.method == Method::GET {
        let (action, response) =
            crate::sts::serve(gateway, &parts, query, Bytes::new(), Vec::new(), request_id).await;
        return ("sts", action, response);
    }
    if has_action && (parts.method == Method::GET || parts.method == Method::HEAD) {
        let (action, response) =
            ec2(gateway, &parts, query, Bytes::new(), Vec::new(), request_id).await;
        return ("ec2", action, response);
    }
    if !has_action && (parts.method == Method::GET || parts.method == Method::HEAD) {
        let plain = PlainRead {
            accounts: &gateway.accounts,
            limits: &gateway.limits,
            base_domain: &gateway.s3_base_domain,
        };
        if let Some((action, response)) = plain_read::serve(&plain, &parts, &query).await {
            return ("s3", action.into(), response);
        }
    }
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if parts.method == Method::POST && is_form {
        let bytes = match Limited::new(body, MAX_FORM_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                let error = Ec2Error {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "RequestEntityTooLarge".into(),
                    message: "The request body is too large or unreadable".into(),
                };
                return (
                    "ec2",
                    "unknown".into(),
                    ec2_error_response(&error, request_id),
                );
            }
        };
        let form: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        if scope.as_deref() == Some("sts") {
            let (action, response) =
                crate::sts::serve(gateway, &parts, query, bytes.clone(), form, request_id).await;
            return ("sts", action, response);
        }
        let names_ec2 = scope.as_deref() == Some("ec2");
        if form.iter().any(|(k, _)| k == "Action") || names_ec2 {
            let (action, response) =
                ec2(gateway, &parts, query, bytes.clone(), form, request_id).await;
            return ("ec2", action, response);
        }
        return crate::s3::front::serve(gateway, parts, &query, s3s::Body::from(bytes), request_id)
            .await;
    }
    let body =
        crate::s3::create_bucket_tags::extract(&mut parts, &query, &gateway.s3_base_domain, body)
            .await;
    crate::s3::front::serve(gateway, parts, &query, body, request_id).await
}

/// The service a SigV4 credential scope names (`AKID/DATE/REGION/SERVICE/aws4_request`),
/// from the Authorization header or a presigned query.
fn credential_service(parts: &http::request::Parts, query: &[(String, String)]) -> Option<String> {
    let credential = match parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        Some(header) => header
            .split("Credential=")
            .nth(1)?
            .split([',', ' '])
            .next()?
            .to_string(),
        None => query
            .iter()
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.clone())?,
    };
    credential.split('/').nth(3).map(str::to_string)
}

fn ec2_error_response(error: &Ec2Error, request_id: &str) -> Response<ResponseBody> {
    if error.status.is_server_error() {
        tracing::warn!(code = %error.code, "ec2 request failed");
    } else {
        tracing::info!(code = %error.code, message = %error.message, "ec2 request refused");
    }
    text_response(
        error.status,
        "text/xml;charset=UTF-8",
        ec2::xml::error_document(error, request_id),
    )
}

async fn ec2(
    gateway: &Gateway,
    parts: &http::request::Parts,
    query: Vec<(String, String)>,
    body: Bytes,
    form: Vec<(String, String)>,
    request_id: &str,
) -> (String, Response<ResponseBody>) {
    let request = QueryCall::new(&query, form);
    let (all, action_name) = (&request.all, &request.action);
    let parsed = Action::parse(action_name);
    let result = async {
        let Some(principal) = request.admit(gateway, parts, &query, &body, "ec2").await? else {
            return Err(Ec2Error {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "RequestLimitExceeded".into(),
                message: "Request limit exceeded.".into(),
            });
        };
        if action_name.is_empty() {
            return Err(Ec2Error::bad_request(
                "MissingAction",
                "The request must contain the parameter Action",
            ));
        }
        let action = parsed.ok_or_else(|| {
            if ec2::NOT_YET.contains(&action_name.as_str()) {
                Ec2Error::bad_request(
                    "UnsupportedOperation",
                    format!("{action_name} is not supported by this Skyport yet."),
                )
            } else {
                Ec2Error::bad_request(
                    "InvalidAction",
                    format!("The action {action_name} is not valid for this web service."),
                )
            }
        })?;
        let call = Ec2Call {
            accounts: &gateway.accounts,
            principal: &principal,
            params: Params::from_pairs(all),
            request_id,
            availability_zones: &gateway.zones,
            host: parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
        };
        ec2::ids::check(action.name(), &call.params)?;
        ec2::dispatch(action, call)
            .await
            .map_err(|error| crate::error::for_action(action.name(), error))
    }
    .await;
    let label = parsed.map_or("unknown", Action::name).to_string();
    match result {
        Ok(xml) => (
            label,
            text_response(StatusCode::OK, "text/xml;charset=UTF-8", xml),
        ),
        Err(error) => (label, ec2_error_response(&error, request_id)),
    }
}

fn admin_error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    json_response(
        status,
        serde_json::json!({ "error": code, "message": message }),
    )
}

/// Checks that the request is signed by the site admin's key.
async fn admin_auth(
    gateway: &Gateway,
    parts: &http::request::Parts,
    body: &[u8],
    query: &[(String, String)],
) -> Result<(), Response<ResponseBody>> {
    let signed = SignedRequest::of(parts, query, body);
    match auth::authenticate(&gateway.accounts, &signed, query, ADMIN_SERVICE).await {
        Ok(principal) if principal.is_site_admin() && principal.tenant.name == "admin" => Ok(()),
        Ok(_) => Err(admin_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "this key may not use the admin API",
        )),
        Err(error) => {
            let wire = Ec2Error::from(error);
            Err(admin_error(wire.status, &wire.code, &wire.message))
        }
    }
}

async fn admin(
    gateway: &Gateway,
    parts: http::request::Parts,
    body: Incoming,
    query: Vec<(String, String)>,
) -> Response<ResponseBody> {
    // Image uploads stream (signed UNSIGNED-PAYLOAD); everything else is small JSON.
    if parts.method == Method::PUT
        && parts
            .uri
            .path()
            .starts_with(crate::admin::upload::UPLOAD_PREFIX)
    {
        if let Err(response) = admin_auth(gateway, &parts, b"", &query).await {
            return response;
        }
        return crate::admin::upload::receive(&gateway.accounts, parts.uri.path(), body).await;
    }
    let Ok(collected) = Limited::new(body, MAX_FORM_BODY).collect().await else {
        return admin_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "request body too large",
        );
    };
    let bytes = collected.to_bytes();
    if let Err(response) = admin_auth(gateway, &parts, &bytes, &query).await {
        return response;
    }
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    match gateway.admin.clone().oneshot(request).await {
        Ok(response) => {
            response.map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed_unsync())
        }
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::new_request_id;

    #[test]
    fn request_ids_are_fresh_uuid_shaped_hex() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(a
            .bytes()
            .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    }
}
