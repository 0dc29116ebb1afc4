//! A gateway never answers 200 and then sends nothing: a body whose blob
//! cannot be opened is an error document before any header (on the short
//! read path and through s3s alike), and a gateway that cannot see the blob
//! store its database refers to refuses to start, saying why; two gateways on
//! one database and store serve the same objects.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::{on_both_databases, s3_code, Database, Server};

/// The blob files of a bucket, with their sizes.
fn blobs(server: &Server, bucket: &str) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    let dir = server.data_dir.join("objects").join(bucket);
    for shard in std::fs::read_dir(dir).unwrap().flatten() {
        if shard.file_name() == "tmp" {
            continue;
        }
        for blob in std::fs::read_dir(shard.path()).unwrap().flatten() {
            found.push((blob.path(), blob.metadata().unwrap().len()));
        }
    }
    found
}

/// GET answers 500 InternalError, never a 200 that breaks off.
async fn assert_internal_error(client: &aws_sdk_s3::Client, key: &str, range: Option<&str>) {
    let result = client
        .get_object()
        .bucket("gone")
        .key(key)
        .set_range(range.map(str::to_string))
        .send()
        .await;
    match result {
        Ok(output) => {
            let got = output.body.collect().await.map(|b| b.into_bytes().len());
            panic!("{key} (range {range:?}): 200, then body {got:?}");
        }
        Err(error) => {
            assert_eq!(s3_code(&error), "InternalError", "{key}: {error:?}");
            let status = error.raw_response().map(|r| r.status().as_u16());
            assert_eq!(status, Some(500), "{key}");
        }
    }
}

#[tokio::test]
async fn an_unreadable_blob_is_an_error_document_on_both_read_paths() {
    on_both_databases(|mut server| async move {
        let client = server.s3(&server.admin_keys());
        client.create_bucket().bucket("gone").send().await.unwrap();
        // Small (cached on read), large (streamed), and multipart (the second blob lost).
        for (key, len) in [("small", 100usize), ("large", 3 << 20)] {
            client
                .put_object()
                .bucket("gone")
                .key(key)
                .body(ByteStream::from(vec![7u8; len]))
                .send()
                .await
                .unwrap();
        }
        let upload = client
            .create_multipart_upload()
            .bucket("gone")
            .key("parts")
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap();
        let mut parts = aws_sdk_s3::types::CompletedMultipartUpload::builder();
        for (number, len) in [(1, 5 << 20), (2, 1234usize)] {
            let part = client
                .upload_part()
                .bucket("gone")
                .key("parts")
                .upload_id(id)
                .part_number(number)
                .body(ByteStream::from(vec![number as u8; len]))
                .send()
                .await
                .unwrap();
            parts = parts.parts(
                aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(number)
                    .e_tag(part.e_tag().unwrap())
                    .build(),
            );
        }
        client
            .complete_multipart_upload()
            .bucket("gone")
            .key("parts")
            .upload_id(id)
            .multipart_upload(parts.build())
            .send()
            .await
            .unwrap();
        // The blobs vanish under the records (the restart empties the read cache).
        server.kill();
        for (path, len) in blobs(&server, "gone") {
            if len != 5 << 20 {
                std::fs::remove_file(path).unwrap();
            }
        }
        server.restart();
        let client = server.s3(&server.admin_keys());
        // A whole-object GET takes the short path; a ranged one goes through s3s.
        let across_parts = format!("bytes={}-{}", (5 << 20) - 10, (5 << 20) + 9);
        for (key, range) in [
            ("small", "bytes=0-9"),
            ("large", "bytes=0-9"),
            ("parts", across_parts.as_str()),
        ] {
            assert_internal_error(&client, key, None).await;
            assert_internal_error(&client, key, Some(range)).await;
        }
        // The first part's blob is still there: a range inside it is served.
        let first = client
            .get_object()
            .bucket("gone")
            .key("parts")
            .range("bytes=0-9")
            .send()
            .await
            .unwrap();
        let bytes = first.body.collect().await.unwrap().into_bytes();
        assert_eq!(&bytes[..], &[1u8; 10]);
        // Copying from it fails the same way, and writes nothing.
        let copied = client
            .copy_object()
            .bucket("gone")
            .key("copy")
            .copy_source("gone/large")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&copied), "InternalError");
        let head = client.head_object().bucket("gone").key("copy").send().await;
        assert!(head.is_err(), "no copy was made");
    })
    .await;
}

#[tokio::test]
async fn a_second_gateway_with_another_blob_store_refuses_to_start() {
    let first = Server::start(Database::Postgres, None).await;
    let url = first.database_url().unwrap().to_string();
    let other = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skyport"))
        .env("SKYPORT_COMPUTE", "false")
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database",
            &url,
            "--data-dir",
        ])
        .arg(other.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the second gateway started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("skyport listening on"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the database's objects live in blob store")
            && stderr.contains("no store-id")
            && stderr.contains("not supported yet"),
        "{stderr}"
    );
    // The first gateway's own data directory is its store: a second gateway
    // on it starts, and the two serve one set of buckets and objects, each
    // reading what the other wrote (the README's several gateways).
    let second = first.peer();
    let keys = first.admin_keys();
    let (one, two) = (first.s3(&keys), second.s3(&keys));
    one.create_bucket().bucket("shared").send().await.unwrap();
    for (writer, reader, key) in [(&one, &two, "from-one"), (&two, &one, "from-two")] {
        let body = format!("written as {key}").repeat(40_000);
        writer
            .put_object()
            .bucket("shared")
            .key(key)
            .body(body.clone().into_bytes().into())
            .send()
            .await
            .unwrap();
        let read = reader
            .get_object()
            .bucket("shared")
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = read.body.collect().await.unwrap().into_bytes();
        assert!(bytes == body.as_bytes(), "{key}: {} bytes", bytes.len());
    }
    let listed = two.list_objects_v2().bucket("shared").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["from-one", "from-two"]);
}
