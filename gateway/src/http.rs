//! The response side every protocol shares: one body type (boxed, so a
//! response may be a buffer or a stream), and the buffered responses the
//! handlers outside s3s build.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// Boxed error of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A buffered body.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON response (the admin API's errors and upload receipts).
pub fn json_response(status: StatusCode, value: serde_json::Value) -> Response<ResponseBody> {
    text_response(status, "application/json", value.to_string())
}

/// A buffered response of `content_type`.
pub fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}
