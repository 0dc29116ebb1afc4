//! Image file uploads for `skyport admin image import`: `PUT
//! /_skyport/admin/image-uploads/{upload}/{kernel|initrd|disk}`, the body
//! streamed to the image store's staging area (signed as `UNSIGNED-PAYLOAD`:
//! a disk image is not hashed twice, nor held in memory). `POST
//! /_skyport/admin/images` then turns the upload into an image.

use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use local_backend::ImageStore;
use tokio::io::AsyncWriteExt;

use crate::http::{json_response, ResponseBody};

/// Path prefix of uploads.
pub const UPLOAD_PREFIX: &str = "/_skyport/admin/image-uploads/";

fn error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    json_response(
        status,
        serde_json::json!({ "error": code, "message": message }),
    )
}

/// Writes the request body to the upload file the path names.
pub async fn receive(
    images: Option<&ImageStore>,
    path: &str,
    mut body: Incoming,
) -> Response<ResponseBody> {
    let Some(images) = images else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TargetUnavailable",
            "this site has no local compute: images cannot be imported",
        );
    };
    let Some((upload, file)) = path
        .strip_prefix(UPLOAD_PREFIX)
        .and_then(|rest| rest.split_once('/'))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "expected image-uploads/{upload}/{file}",
        );
    };
    let target = match images.upload_path(upload, file) {
        Ok(target) => target,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidParameter", &e.to_string()),
    };
    let mut out = match tokio::fs::File::create(&target).await {
        Ok(out) => out,
        Err(e) => {
            tracing::warn!(path = %target.display(), error = %e, "creating an upload file failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "internal error",
            );
        }
    };
    let mut written: u64 = 0;
    let result: Result<(), String> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the upload ended early: {e}"))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data).await.map_err(|e| e.to_string())?;
                written += data.len() as u64;
            }
        }
        out.sync_all().await.map_err(|e| e.to_string())
    }
    .await;
    if let Err(message) = result {
        let _ = tokio::fs::remove_file(&target).await;
        return error(StatusCode::BAD_REQUEST, "IncompleteBody", &message);
    }
    json_response(
        StatusCode::OK,
        serde_json::json!({ "upload": upload, "file": file, "bytes": written }),
    )
}
