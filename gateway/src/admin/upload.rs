//! Image file uploads for `skyport admin image import`: `PUT
//! /_skyport/admin/image-uploads/{upload}/{kernel|initrd|disk}`, the body
//! streamed to the image store's staging area (signed as `UNSIGNED-PAYLOAD`:
//! a disk image is not hashed twice, nor held in memory). `POST
//! /_skyport/admin/images` then turns the upload into an image.

use accounts::Accounts;
use http::{Response, StatusCode};
use http_body_util::{BodyDataStream, BodyExt};
use hyper::body::Incoming;

use crate::http::{json_response, ResponseBody};

/// Path prefix of uploads.
pub const UPLOAD_PREFIX: &str = "/_skyport/admin/image-uploads/";

/// Streams the request body into the upload file the path names.
pub async fn receive(accounts: &Accounts, path: &str, body: Incoming) -> Response<ResponseBody> {
    let Some((upload, file)) = path
        .strip_prefix(UPLOAD_PREFIX)
        .and_then(|rest| rest.split_once('/'))
    else {
        let refusal = cloud::Error::invalid("upload", "expected image-uploads/{upload}/{file}");
        return crate::admin::api::error_response(&refusal);
    };
    let stream = BodyDataStream::new(body.map_err(std::io::Error::other));
    match accounts
        .write_image_upload(upload, file, Box::pin(stream))
        .await
    {
        Ok(written) => json_response(
            StatusCode::OK,
            serde_json::json!({ "upload": upload, "file": file, "bytes": written }),
        ),
        Err(error) => crate::admin::api::error_response(&error),
    }
}
