//! What an outsider can send: malformed signatures and dates, unknown
//! methods, oversized headers, bodies that lie about their hash — each gets
//! AWS's status and `<Code>`, never a closed connection. Also the clients
//! with their own dialects (SigV2 dates with numeric zones, euca2ools'
//! `/services/objectstorage`) and `skyport admin … | head`.

use base64::Engine;
use gateway::auth::sigv4::{sign_request_at, ClientKey};
use hmac::Mac;

use crate::common::{Database, Keys, Server};
use crate::raw::code_of;

fn s3_key(keys: &Keys) -> ClientKey<'_> {
    ClientKey {
        access_key: &keys.access_key,
        secret: &keys.secret_key,
        region: "us-east-1",
        service: "s3",
    }
}

/// Sends a SigV4-signed S3 request, letting `tamper` change the signed headers.
async fn s3_signed(
    server: &Server,
    method: &str,
    path: &str,
    body: &[u8],
    send_body: Vec<u8>,
    tamper: impl Fn(&mut Vec<(&'static str, String)>),
) -> (u16, String) {
    let keys = server.admin_keys();
    let host = format!("127.0.0.1:{}", server.port);
    let now = time::OffsetDateTime::now_utc();
    let mut headers = sign_request_at(method, path, &host, body, &s3_key(&keys), now);
    tamper(&mut headers);
    let mut request = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}{path}", server.endpoint),
        )
        .body(send_body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .expect("an answer, not a closed connection");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn set(headers: &mut [(&'static str, String)], name: &str, value: &str) {
    for (n, v) in headers.iter_mut() {
        if *n == name {
            *v = value.to_string();
        }
    }
}

async fn alive(server: &Server) {
    let health = reqwest::get(format!("{}/health", server.endpoint)).await;
    assert_eq!(health.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn malformed_sigv4_dates_are_refused_not_crashed_on() {
    let server = Server::start(Database::Sqlite, None).await;
    // The dashed ISO 8601 form, and the same squeezed to SigV4's 16 bytes,
    // which s3s 0.14 parses digit by digit (and overflows on '-').
    for date in ["2026-12-07T14:22:56Z", "2026-207T142256Z"] {
        for path in ["/", "/some-bucket/key"] {
            let (status, body) = s3_signed(&server, "GET", path, b"", Vec::new(), |h| {
                set(h, "x-amz-date", date)
            })
            .await;
            assert_eq!(
                (status, code_of(&body)),
                (403, "AccessDenied"),
                "{date} {path}: {body}"
            );
        }
    }
    let (status, body) = s3_signed(&server, "GET", "/", b"", Vec::new(), |h| {
        for (n, v) in h.iter_mut() {
            if *n == "authorization" {
                let date = v.split('/').nth(1).unwrap().to_string();
                *v = v.replacen(&date, "2026-1-7", 1);
            }
        }
    })
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (400, "AuthorizationHeaderMalformed"),
        "{body}"
    );
    // Presigned: the date, the scope's date and the algorithm.
    for (name, value) in [
        ("X-Amz-Date", "2026-207T142256Z"),
        ("X-Amz-Credential", "AK/2026-1-7/us-east-1/s3/aws4_request"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
    ] {
        let mut query = vec![
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "AK/20261207/us-east-1/s3/aws4_request"),
            ("X-Amz-Date", "20261207T142256Z"),
            ("X-Amz-Expires", "60"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", "00"),
        ];
        for pair in &mut query {
            if pair.0 == name {
                pair.1 = value;
            }
        }
        let url =
            reqwest::Url::parse_with_params(&format!("{}/b/k", server.endpoint), &query).unwrap();
        let response = reqwest::get(url).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(
            (status, code_of(&body)),
            (400, "AuthorizationQueryParametersError"),
            "{name}: {body}"
        );
    }
    // A browser POST upload carries its date as a form field, past the
    // guard's reach: s3s parses it itself.
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket().bucket("forms").send().await.unwrap();
    for date in ["2026-207T142256Z", "2026-12-07T14:22:56Z"] {
        let (status, body) = post_form(&server, "forms", date).await;
        assert!(
            (400..500).contains(&status) && !code_of(&body).is_empty(),
            "{date}: {status} {body}"
        );
    }
    alive(&server).await;
}

/// A browser POST upload to `bucket` whose form says `x-amz-date: date`.
async fn post_form(server: &Server, bucket: &str, date: &str) -> (u16, String) {
    let keys = server.admin_keys();
    let policy = base64::engine::general_purpose::STANDARD
        .encode(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"forms"}]}"#);
    let credential = format!("{}/20261207/us-east-1/s3/aws4_request", keys.access_key);
    let mut form = String::new();
    for (name, value) in [
        ("key", "uploaded"),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", credential.as_str()),
        ("x-amz-date", date),
        ("policy", policy.as_str()),
        ("x-amz-signature", "00"),
    ] {
        form.push_str(&format!(
            "--XX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    form.push_str("--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n");
    form.push_str("Content-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n");
    let response = reqwest::Client::new()
        .post(format!("{}/{bucket}", server.endpoint))
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(form)
        .send()
        .await
        .expect("an answer, not a closed connection");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn s3_errors_clients_act_on() {
    let server = Server::start(Database::Sqlite, None).await;
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket()
        .bucket("acl-bucket")
        .send()
        .await
        .unwrap();

    let garbage = s3
        .put_object()
        .bucket("acl-bucket")
        .key("k")
        .acl("foo".into())
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::common::s3_code(&garbage), "InvalidArgument");
    let bucket = s3
        .create_bucket()
        .bucket("acl-bucket-2")
        .acl("foo".into())
        .send()
        .await;
    assert_eq!(
        crate::common::s3_code(&bucket.unwrap_err()),
        "InvalidArgument"
    );
    let unsupported = s3
        .create_bucket()
        .bucket("acl-bucket-3")
        .acl("public-read-write".into())
        .send()
        .await;
    assert_eq!(
        crate::common::s3_code(&unsupported.unwrap_err()),
        "NotImplemented"
    );

    for method in ["PATCH", "FOO"] {
        let (status, body) =
            s3_signed(&server, method, "/acl-bucket/k", b"", Vec::new(), |_| {}).await;
        assert_eq!(
            (status, code_of(&body)),
            (405, "MethodNotAllowed"),
            "{method}: {body}"
        );
    }

    // The body is not the one whose hash was signed.
    let (status, body) = s3_signed(
        &server,
        "PUT",
        "/acl-bucket/lie",
        b"signed body",
        b"other body!".to_vec(),
        |_| {},
    )
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (400, "XAmzContentSHA256Mismatch"),
        "{body}"
    );
    let missing = s3
        .head_object()
        .bucket("acl-bucket")
        .key("lie")
        .send()
        .await;
    assert!(missing.is_err(), "nothing was stored");

    // Larger than AWS's 8 KiB header section, within what the HTTP layer reads.
    let (status, body) = s3_signed(&server, "GET", "/acl-bucket/k", b"", Vec::new(), |h| {
        h.push(("x-padding", "a".repeat(20 * 1024)));
    })
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (400, "RequestHeaderSectionTooLarge"),
        "{body}"
    );
    alive(&server).await;
}

/// s3cmd's SigV2 header auth: `x-amz-date` with a numeric zone.
fn sigv2_get(server: &Server, path: &str, sign_path: &str, date: &str) -> reqwest::RequestBuilder {
    let keys = server.admin_keys();
    let string_to_sign = format!("GET\n\n\n\nx-amz-date:{date}\n{sign_path}");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(keys.secret_key.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .get(format!("{}{path}", server.endpoint))
        .header("x-amz-date", date)
        .header(
            "authorization",
            format!("AWS {}:{signature}", keys.access_key),
        )
}

fn http_date(offset_hours: i8) -> String {
    let offset = time::UtcOffset::from_hms(offset_hours, 0, 0).unwrap();
    let now = time::OffsetDateTime::now_utc().to_offset(offset);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    now.format(format).unwrap()
}

#[tokio::test]
async fn sigv2_dates_with_numeric_zones_and_the_objectstorage_path() {
    let server = Server::start(Database::Sqlite, None).await;
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket()
        .bucket("euca-bucket")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("euca-bucket")
        .key("obj")
        .body(b"through the prefix".to_vec().into())
        .send()
        .await
        .unwrap();
    for offset in [0, 2, -5] {
        let response = sigv2_get(
            &server,
            "/euca-bucket/obj",
            "/euca-bucket/obj",
            &http_date(offset),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "{offset}: {}",
            response.text().await.unwrap()
        );
        assert_eq!(response.text().await.unwrap(), "through the prefix");
    }
    let stale = sigv2_get(&server, "/", "/", "Mon, 07 Dec 2026 14:22:56 +0900");
    let body = stale.send().await.unwrap().text().await.unwrap();
    assert_eq!(code_of(&body), "RequestTimeTooSkewed");

    // euca2ools signs the prefixed path.
    let prefixed = "/services/objectstorage/euca-bucket/obj";
    let response = sigv2_get(&server, prefixed, prefixed, &http_date(0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "through the prefix");
    let listing = "/services/objectstorage/euca-bucket/";
    let response = sigv2_get(&server, listing, listing, &http_date(0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("<Key>obj</Key>"));
    // A signature over another path still fails.
    let response = sigv2_get(&server, prefixed, "/euca-bucket/other", &http_date(0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        code_of(&response.text().await.unwrap()),
        "SignatureDoesNotMatch"
    );
}

#[tokio::test]
async fn admin_output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let server = Server::start(Database::Sqlite, None).await;
    for i in 0..3 {
        server
            .admin(&["tenant", "create", &format!("pipe-{i}")])
            .unwrap();
    }
    let mut fds = [0; 2];
    // SAFETY: pipe() fills two descriptors we own from here on.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the read end is ours and closed once: the reader is gone.
    unsafe { libc::close(fds[0]) };
    // SAFETY: the write end is handed over to the child's stdout, owned by Stdio.
    let stdout = unsafe { <std::process::Stdio as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(["admin", "--endpoint", &server.endpoint, "--data-dir"])
        .arg(&server.data_dir)
        .args(["tenant", "list"])
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "quiet: {stderr}");
    let quiet = output.status.success() || output.status.signal() == Some(libc::SIGPIPE);
    assert!(quiet, "{:?}", output.status);
}
