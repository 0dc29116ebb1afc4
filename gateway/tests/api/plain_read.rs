//! The short read path (`gateway/src/s3/plain_read.rs`) answers exactly as
//! s3s does. Each object is read twice: plainly (the short path, counted by
//! `skyport_s3_plain_reads_total`) and with a matching `If-Match`, which only
//! s3s handles; status, headers and body must be the same.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketVersioningStatus, CompletedMultipartUpload, CompletedPart,
    ObjectCannedAcl, VersioningConfiguration,
};

use aws_sdk_s3::config::{Credentials, Region};

use crate::common::{on_both_databases, Database, Server};

/// How many requests the short path has answered.
async fn plain_reads(server: &Server) -> u64 {
    server
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("skyport_s3_plain_reads_total "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Status, headers (but the per-response `date` and request id) and body.
type Answer = (u16, BTreeMap<String, String>, Vec<u8>);

async fn fetch(method: &str, url: &str, extra: &[(&str, &str)]) -> Answer {
    fetch_with(&reqwest::Client::new(), method, url, extra).await
}

async fn fetch_with(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let mut request = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-amz-request-id"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
        .collect();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

async fn presigned(s3: &aws_sdk_s3::Client, method: &str, bucket: &str, key: &str) -> String {
    let config = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let request = match method {
        "GET" => s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .unwrap(),
        _ => s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .unwrap(),
    };
    request.uri().to_string()
}

/// Objects of every shape the short path serves, and one it leaves to s3s.
async fn make_objects(s3: &aws_sdk_s3::Client) -> Vec<(&'static str, &'static str, bool)> {
    s3.create_bucket().bucket("plain").send().await.unwrap();
    s3.create_bucket().bucket("ver").send().await.unwrap();
    let small: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    s3.put_object()
        .bucket("plain")
        .key("small")
        .body(ByteStream::from(small))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("plain")
        .key("dir/ünï cödé+%.txt")
        .body(ByteStream::from_static(b"described"))
        .content_type("text/plain; charset=utf-8")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"a.txt\"")
        .content_encoding("identity")
        .content_language("de-CH")
        .expires(DateTime::from_secs(1_900_000_000))
        .metadata("color", "blue")
        .metadata("two-words", "x y")
        .tagging("k=v&k2=v2")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("plain")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("plain")
        .key("umlaut-meta")
        .body(ByteStream::from_static(b"z"))
        .metadata("city", "Zürich")
        .send()
        .await
        .unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket("plain")
        .key("multi")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, chunk) in [vec![7u8; 5 * 1024 * 1024], b"tail".to_vec()]
        .into_iter()
        .enumerate()
    {
        let number = n as i32 + 1;
        let part = s3
            .upload_part()
            .bucket("plain")
            .key("multi")
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(chunk))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("plain")
        .key("multi")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let enabled = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(enabled)
        .send()
        .await
        .unwrap();
    for body in [&b"first"[..], b"second"] {
        s3.put_object()
            .bucket("ver")
            .key("v")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }
    vec![
        ("plain", "small", true),
        ("plain", "dir/ünï cödé+%.txt", true),
        ("plain", "empty", true),
        // RFC 2047-encoded metadata is left to s3s.
        ("plain", "umlaut-meta", false),
        ("plain", "multi", true),
        ("ver", "v", true),
    ]
}

/// Reads every object plainly and with a matching `If-Match` (s3s), through
/// URLs `presigner` signs and `client` sends, and compares the answers
/// (`s3` looks the ETags up).
async fn compare_paths(
    server: &Server,
    s3: &aws_sdk_s3::Client,
    presigner: &aws_sdk_s3::Client,
    client: &reqwest::Client,
    objects: &[(&str, &str, bool)],
) {
    for &(bucket, key, short) in objects {
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let if_match = head.e_tag().unwrap().to_string();
        for method in ["GET", "HEAD"] {
            let url = presigned(presigner, method, bucket, key).await;
            for checksum_mode in [&[][..], &[("x-amz-checksum-mode", "ENABLED")][..]] {
                let before = plain_reads(server).await;
                let plain = fetch_with(client, method, &url, checksum_mode).await;
                let after = plain_reads(server).await;
                assert_eq!(after - before, u64::from(short), "{method} {url}");
                let mut conditional = checksum_mode.to_vec();
                conditional.push(("if-match", &if_match));
                let full = fetch_with(client, method, &url, &conditional).await;
                assert_eq!(plain_reads(server).await, after, "If-Match goes to s3s");
                assert_eq!(plain.0, 200, "{method} {url}");
                let what = format!("{method} {url} {checksum_mode:?}");
                assert_eq!((plain.0, &plain.1), (full.0, &full.1), "{what}");
                assert!(plain.2 == full.2, "{what}: the bodies differ");
            }
        }
    }
}

#[tokio::test]
async fn short_read_path_answers_as_s3s_does() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        let objects = make_objects(&s3).await;
        compare_paths(&server, &s3, &s3, &reqwest::Client::new(), &objects).await;
        let (_, headers, _) = fetch(
            "GET",
            &presigned(&s3, "GET", "plain", "dir/ünï cödé+%.txt").await,
            &[],
        )
        .await;
        assert_eq!(headers["x-amz-meta-two-words"], "x y");
        assert_eq!(headers["x-amz-tagging-count"], "2");
        assert_eq!(headers["expires"], "Sun, 17 Mar 2030 17:46:40 GMT");

        // The SDK's own GetObject (checksum mode on by default) takes the short path.
        let before = plain_reads(&server).await;
        let got = s3
            .get_object()
            .bucket("plain")
            .key("small")
            .send()
            .await
            .unwrap();
        assert_eq!(plain_reads(&server).await, before + 1);
        let etag = got.e_tag().unwrap().to_string();
        let crc = got.checksum_crc32().map(str::to_string);
        assert!(crc.is_some(), "the SDK stored and got back a CRC32");
        let body = got.body.collect().await.unwrap().into_bytes();
        let full = s3
            .get_object()
            .bucket("plain")
            .key("small")
            .if_match(&etag)
            .send()
            .await
            .unwrap();
        assert_eq!(full.checksum_crc32().map(str::to_string), crc);
        assert_eq!(full.body.collect().await.unwrap().into_bytes(), body);
        assert_eq!(body.len(), 4096);
    })
    .await;
}

#[tokio::test]
async fn refusals_are_left_to_s3s() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("mine").send().await.unwrap();
        s3.put_object()
            .bucket("mine")
            .key("k")
            .body(ByteStream::from_static(b"secret"))
            .send()
            .await
            .unwrap();
        let other = server.s3(&server.tenant("other"));
        let before = plain_reads(&server).await;

        let url = presigned(&s3, "GET", "mine", "k").await;
        let (signed, signature) = url.split_once("X-Amz-Signature=").unwrap();
        let forged = format!("{signed}X-Amz-Signature={}", "0".repeat(signature.len()));
        let (status, _, body) = fetch("GET", &forged, &[]).await;
        assert_eq!(status, 403);
        assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));

        let missing = presigned(&s3, "GET", "mine", "nope").await;
        let (status, _, body) = fetch("GET", &missing, &[]).await;
        assert_eq!(status, 404);
        assert!(String::from_utf8_lossy(&body).contains("NoSuchKey"));

        let foreign = presigned(&other, "GET", "mine", "k").await;
        let (status, _, body) = fetch("GET", &foreign, &[]).await;
        assert_eq!(status, 403);
        assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));

        let stale = PresigningConfig::builder()
            .start_time(SystemTime::now() - Duration::from_secs(3600))
            .expires_in(Duration::from_secs(60))
            .build()
            .unwrap();
        let expired = s3
            .get_object()
            .bucket("mine")
            .key("k")
            .presigned(stale)
            .await
            .unwrap();
        let (status, _, body) = fetch("GET", expired.uri(), &[]).await;
        assert_eq!(status, 403);
        assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));

        assert_eq!(
            plain_reads(&server).await,
            before,
            "none took the short path"
        );
        // And a good one does, with the bytes.
        let (status, _, body) = fetch("GET", &url, &[]).await;
        assert_eq!((status, body.as_slice()), (200, &b"secret"[..]));
        assert_eq!(plain_reads(&server).await, before + 1);
    })
    .await;
}

#[tokio::test]
async fn virtual_host_reads_take_the_short_path_too() {
    let config = "s3_base_domain = \"s3.skyport.test\"\n";
    let server = Server::start(Database::Sqlite, Some(config)).await;
    let keys = server.admin_keys();
    let objects = make_objects(&server.s3(&keys)).await;
    let credentials = Credentials::new(&keys.access_key, &keys.secret_key, None, None, "test");
    let vhost = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(format!("http://s3.skyport.test:{}", server.port))
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .build(),
    );
    let url = presigned(&vhost, "GET", "plain", "small").await;
    assert!(url.starts_with("http://plain.s3.skyport.test:"), "{url}");
    // The bucket names resolve to the gateway on loopback, as a wildcard DNS entry would.
    let gateway = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    let client = reqwest::Client::builder()
        .resolve("plain.s3.skyport.test", gateway)
        .resolve("ver.s3.skyport.test", gateway)
        .build()
        .unwrap();
    compare_paths(&server, &server.s3(&keys), &vhost, &client, &objects).await;
}

#[tokio::test]
async fn anonymous_reads_of_public_objects_take_the_short_path() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket()
            .bucket("open")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
        s3.create_bucket().bucket("closed").send().await.unwrap();
        for (bucket, key, acl) in [
            ("open", "site/index.html", Some(ObjectCannedAcl::PublicRead)),
            ("open", "site/private.html", None),
            ("closed", "shared.txt", Some(ObjectCannedAcl::PublicRead)),
            ("closed", "private.txt", None),
        ] {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .content_type("text/html")
                .body(ByteStream::from_static(b"<p>hello</p>"))
                .set_acl(acl)
                .send()
                .await
                .unwrap();
        }
        for (bucket, key) in [("open", "site/index.html"), ("closed", "shared.txt")] {
            let url = format!("{}/{bucket}/{key}", server.endpoint);
            let etag = s3
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .e_tag()
                .unwrap()
                .to_string();
            for method in ["GET", "HEAD"] {
                let before = plain_reads(&server).await;
                let plain = fetch(method, &url, &[]).await;
                assert_eq!(plain_reads(&server).await, before + 1, "{method} {url}");
                let full = fetch(method, &url, &[("if-match", &etag)]).await;
                assert_eq!(plain_reads(&server).await, before + 1);
                assert_eq!(plain.0, 200, "{method} {url}");
                assert_eq!(plain, full, "{method} {url}");
            }
        }
        // Refusals are s3s's, and not counted.
        let before = plain_reads(&server).await;
        for (path, status, code) in [
            ("closed/private.txt", 403, "AccessDenied"),
            ("open/site/private.html", 403, "AccessDenied"),
            ("open/site/missing.html", 404, "NoSuchKey"),
        ] {
            let (got, _, body) = fetch("GET", &format!("{}/{path}", server.endpoint), &[]).await;
            assert_eq!(got, status, "{path}");
            assert!(String::from_utf8_lossy(&body).contains(code), "{path}");
        }
        assert_eq!(plain_reads(&server).await, before);
    })
    .await;
}
