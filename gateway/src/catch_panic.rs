//! A panic while a request is handled becomes a logged 500 `InternalError`
//! in the protocol's own error shape, instead of a connection closed with no
//! answer. Input is guarded so that nothing panics (`s3::guard`, the property
//! tests); this is the net under that, for every surface: S3 (s3s and the
//! short read path), EC2, STS and admin.
//!
//! A panic while a response body streams, after its headers went out, can
//! only end the connection; tokio contains it to that connection's task.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use http::{HeaderValue, Response, StatusCode};

use crate::error::Ec2Error;
use crate::http::{json_response, text_response, ResponseBody};

/// Which error shape a request's client reads, decided before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    S3,
    Ec2,
    Admin,
}

impl Shape {
    /// As `server::route` will decide: admin by path, EC2 (and STS, whose
    /// clients read the same `<Code>`) by `Action` or a form body, else S3.
    pub fn of<B>(request: &http::Request<B>) -> Shape {
        if request.uri().path().starts_with(crate::admin::PREFIX) {
            return Shape::Admin;
        }
        let has_action = request
            .uri()
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "Action"));
        let is_form = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if has_action || is_form {
            Shape::Ec2
        } else {
            Shape::S3
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// The answer to a request whose handler panicked.
pub fn internal_error(shape: Shape, request_id: &str) -> Response<ResponseBody> {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    let mut response = match shape {
        Shape::S3 => text_response(
            status,
            "application/xml",
            crate::error::s3_error_document(
                "InternalError",
                "We encountered an internal error. Please try again.",
                request_id,
            ),
        ),
        Shape::Ec2 => {
            let error = Ec2Error {
                status,
                code: "InternalError".into(),
                message: "An internal error has occurred.".into(),
            };
            text_response(
                status,
                "text/xml;charset=UTF-8",
                crate::ec2::xml::error_document(&error, request_id),
            )
        }
        Shape::Admin => json_response(
            status,
            serde_json::json!({ "error": "InternalError", "message": "internal error" }),
        ),
    };
    // Whatever the handler left unread of the body must not be taken for the next request.
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Runs a request's handler; a panic is logged and answered as `internal_error`.
pub async fn guard<F>(
    shape: Shape,
    request_id: &str,
    handler: F,
) -> (&'static str, String, Response<ResponseBody>)
where
    F: Future<Output = (&'static str, String, Response<ResponseBody>)>,
{
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(answer) => answer,
        Err(payload) => {
            tracing::error!(
                panic = panic_message(payload.as_ref()),
                "request handler panicked"
            );
            let protocol = match shape {
                Shape::S3 => "s3",
                Shape::Ec2 => "ec2",
                Shape::Admin => "admin",
            };
            (protocol, "panic".into(), internal_error(shape, request_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response<ResponseBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    async fn boom() -> (&'static str, String, Response<ResponseBody>) {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_its_protocols_internal_error() {
        let request = |uri: &str| http::Request::builder().uri(uri).body(()).unwrap();
        for (uri, shape, needle) in [
            (
                "/bucket/key",
                Shape::S3,
                "<Error><Code>InternalError</Code>",
            ),
            (
                "/?Action=DescribeRegions",
                Shape::Ec2,
                "<Errors><Error><Code>InternalError</Code>",
            ),
            ("/_skyport/admin/tenants", Shape::Admin, "\"InternalError\""),
        ] {
            assert_eq!(Shape::of(&request(uri)), shape);
            let (_, action, response) = guard(shape, "req-1", boom()).await;
            assert_eq!(action, "panic");
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(response.headers()["connection"], "close");
            let body = body_of(response).await;
            assert!(body.contains(needle), "{body}");
            assert!(!body.contains("boom"), "panic text is internal: {body}");
        }
        let form = http::Request::builder()
            .method("POST")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(())
            .unwrap();
        assert_eq!(Shape::of(&form), Shape::Ec2);
    }
}
