//! The S3 front door around s3s: what runs before it (the prechecks and
//! fix-ups of `precheck.rs`, CORS preflights) and after it (a ranged HEAD's
//! status, CORS headers), for every S3 request that is not a plain read.

use std::cell::RefCell;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::S3_OPERATION;
use crate::http::{text_response, BoxError, ResponseBody};
use crate::server::Gateway;

/// Serves one S3 request: the prechecks (refused in S3's words), CORS
/// preflights, s3s, then what s3s leaves to fix (a ranged HEAD is 206) and the
/// CORS headers of the bucket's rules.
pub(crate) async fn serve(
    gateway: &Gateway,
    mut parts: http::request::Parts,
    query: &[(String, String)],
    body: s3s::Body,
    request_id: &str,
) -> (&'static str, String, Response<ResponseBody>) {
    if let Err(refusal) =
        super::precheck::prepare(&mut parts, query, time::OffsetDateTime::now_utc())
    {
        tracing::info!(code = refusal.code, "s3 request refused");
        let xml = crate::error::s3_error_document(refusal.code, &refusal.message, request_id);
        return (
            "s3",
            "unknown".into(),
            text_response(refusal.status, "application/xml", xml),
        );
    }
    if parts.method == Method::OPTIONS {
        let bucket = super::cors::bucket_of(&parts, &gateway.s3_base_domain);
        let answer = super::cors::preflight(&gateway.accounts, bucket, &parts.headers).await;
        let body = answer.refusal.map_or_else(String::new, |(code, message)| {
            crate::error::s3_error_document(code, message, request_id)
        });
        let mut response = text_response(answer.status, "application/xml", body);
        response.headers_mut().extend(answer.headers);
        return ("s3", "PreflightCors".into(), response);
    }
    let origin = parts
        .headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bucket = super::cors::bucket_of(&parts, &gateway.s3_base_domain);
    let method = parts.method.to_string();
    let (action, mut response) = call(gateway, Request::from_parts(parts, body), request_id).await;
    // s3s answers 206 for a ranged GET but 200 for a ranged HEAD; S3 says 206.
    if action == "HeadObject"
        && response.status() == StatusCode::OK
        && response.headers().contains_key(http::header::CONTENT_RANGE)
    {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    if let (Some(origin), Some(bucket)) = (origin, bucket) {
        super::cors::decorate(
            &gateway.accounts,
            &bucket,
            &origin,
            &method,
            response.headers_mut(),
        )
        .await;
    }
    ("s3", action, response)
}

/// s3s's answer, and the operation it ran (for metrics).
async fn call(
    gateway: &Gateway,
    request: Request<s3s::Body>,
    request_id: &str,
) -> (String, Response<ResponseBody>) {
    let (result, operation) = S3_OPERATION
        .scope(RefCell::new(String::new()), async {
            let result = gateway.s3.call(request).await;
            (result, S3_OPERATION.with(|op| op.borrow().clone()))
        })
        .await;
    let operation = if operation.is_empty() {
        "unknown".to_string()
    } else {
        operation
    };
    match result {
        Ok(response) => (
            operation,
            response.map(|body| body.map_err(|e| e as BoxError).boxed_unsync()),
        ),
        Err(error) => {
            tracing::warn!(error = ?error, "s3 request failed");
            let xml = crate::error::s3_error_document(
                "InternalError",
                "We encountered an internal error. Please try again.",
                request_id,
            );
            (
                operation,
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "application/xml", xml),
            )
        }
    }
}
