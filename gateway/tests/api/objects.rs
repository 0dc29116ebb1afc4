//! S3 objects with aws-sdk-s3: round trips, metadata, digests, ranges,
//! conditions, copies, listings and multipart uploads.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete,
    MetadataDirective, ObjectIdentifier,
};
use sha2::{Digest, Sha256};

use crate::common::{on_both_databases, s3_code};

async fn body_of(output: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    output.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn objects_round_trip_with_metadata_and_digests() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("things").send().await.unwrap();
        let keys = [
            "plain.txt",
            "dir/sub/ünïcødé file+%.bin",
            "trailing/",
            "zero",
        ];
        for (i, key) in keys.iter().enumerate() {
            let body = if *key == "zero" {
                Vec::new()
            } else {
                format!("body {i} of {key}").into_bytes()
            };
            let put = s3
                .put_object()
                .bucket("things")
                .key(*key)
                .content_type("text/x-skyport")
                .cache_control("max-age=60")
                .content_disposition("attachment")
                .metadata("Colour", "blue")
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap();
            assert_eq!(
                put.e_tag().unwrap(),
                format!("\"{}\"", hex::encode(md5::Md5::digest(&body)))
            );
            let got = s3
                .get_object()
                .bucket("things")
                .key(*key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            assert_eq!(got.content_type(), Some("text/x-skyport"));
            assert_eq!(got.cache_control(), Some("max-age=60"));
            assert_eq!(got.content_disposition(), Some("attachment"));
            assert_eq!(
                got.metadata().unwrap().get("colour").map(String::as_str),
                Some("blue")
            );
            let expected_sha = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                Sha256::digest(&body),
            );
            assert_eq!(got.checksum_sha256(), Some(expected_sha.as_str()));
            assert_eq!(got.content_length(), Some(body.len() as i64));
            assert_eq!(body_of(got).await, body);
        }

        // A wrong Content-MD5 is refused and replaces nothing.
        let err = s3
            .put_object()
            .bucket("things")
            .key("plain.txt")
            .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
            .body(ByteStream::from_static(b"evil"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "BadDigest");
        let still = s3
            .get_object()
            .bucket("things")
            .key("plain.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(still).await, b"body 0 of plain.txt");

        let missing = s3
            .get_object()
            .bucket("things")
            .key("nope")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&missing), "NoSuchKey");
        s3.delete_object()
            .bucket("things")
            .key("plain.txt")
            .send()
            .await
            .unwrap();
        s3.delete_object()
            .bucket("things")
            .key("plain.txt")
            .send()
            .await
            .unwrap();
        let gone = s3
            .head_object()
            .bucket("things")
            .key("plain.txt")
            .send()
            .await
            .unwrap_err();
        assert_eq!(gone.raw_response().map(|r| r.status().as_u16()), Some(404));
    })
    .await;
}

#[tokio::test]
async fn ranges_conditions_and_copies() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("ranges").send().await.unwrap();
        let body: Vec<u8> = (0..100u8).collect();
        let put = s3
            .put_object()
            .bucket("ranges")
            .key("k")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let etag = put.e_tag().unwrap().to_string();

        for (range, expected) in [
            ("bytes=0-9", &body[0..10]),
            ("bytes=90-", &body[90..]),
            ("bytes=-5", &body[95..]),
        ] {
            let got = s3
                .get_object()
                .bucket("ranges")
                .key("k")
                .range(range)
                .send()
                .await
                .unwrap();
            assert!(
                got.content_range().unwrap().starts_with("bytes "),
                "{range}"
            );
            assert_eq!(body_of(got).await, expected, "{range}");
        }
        let err = s3
            .get_object()
            .bucket("ranges")
            .key("k")
            .range("bytes=200-300")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "InvalidRange");

        let err = s3
            .get_object()
            .bucket("ranges")
            .key("k")
            .if_none_match(&etag)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(304));
        let err = s3
            .get_object()
            .bucket("ranges")
            .key("k")
            .if_match("\"0000\"")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));
        s3.get_object()
            .bucket("ranges")
            .key("k")
            .if_match(&etag)
            .send()
            .await
            .unwrap();
        let err = s3
            .put_object()
            .bucket("ranges")
            .key("k")
            .if_none_match("*")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));

        let copy = s3
            .copy_object()
            .bucket("ranges")
            .key("copy")
            .copy_source("ranges/k")
            .send()
            .await
            .unwrap();
        assert_eq!(
            copy.copy_object_result().unwrap().e_tag(),
            Some(etag.as_str())
        );
        s3.copy_object()
            .bucket("ranges")
            .key("copy")
            .copy_source("ranges/copy")
            .metadata_directive(MetadataDirective::Replace)
            .content_type("image/png")
            .metadata("new", "yes")
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket("ranges")
            .key("copy")
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some("image/png"));
        assert_eq!(
            head.metadata().unwrap().get("new").map(String::as_str),
            Some("yes")
        );
        let err = s3
            .copy_object()
            .bucket("ranges")
            .key("copy")
            .copy_source("ranges/copy")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "InvalidRequest");
        let err = s3
            .copy_object()
            .bucket("ranges")
            .key("c2")
            .copy_source("ranges/k")
            .copy_source_if_match("\"bad\"")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "PreconditionFailed");

        let deleted = s3
            .delete_objects()
            .bucket("ranges")
            .delete(
                Delete::builder()
                    .objects(ObjectIdentifier::builder().key("k").build().unwrap())
                    .objects(ObjectIdentifier::builder().key("copy").build().unwrap())
                    .objects(
                        ObjectIdentifier::builder()
                            .key("never-existed")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.deleted().len(), 3);
        assert!(s3
            .list_objects_v2()
            .bucket("ranges")
            .send()
            .await
            .unwrap()
            .contents()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn listings_page_in_byte_order_with_prefixes() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("listing").send().await.unwrap();
        let mut keys: Vec<String> = Vec::new();
        for dir in ["a", "b", "c"] {
            for i in 0..7 {
                keys.push(format!("{dir}/{i:02}"));
            }
        }
        keys.extend(["top1", "top2", "Zed", "é-accent", "b-sibling"].map(String::from));
        for key in &keys {
            s3.put_object()
                .bucket("listing")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
        let mut expected = keys.clone();
        expected.sort(); // Rust sorts strings by UTF-8 bytes, as S3 does.

        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket("listing")
                .max_keys(4)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            assert!(page.contents().len() <= 4);
            seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, expected);

        let mut entries = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket("listing")
                .delimiter("/")
                .max_keys(2)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            entries.extend(
                page.common_prefixes()
                    .iter()
                    .map(|p| p.prefix().unwrap().to_string()),
            );
            entries.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        entries.sort();
        assert_eq!(
            entries,
            [
                "Zed",
                "a/",
                "b-sibling",
                "b/",
                "c/",
                "top1",
                "top2",
                "é-accent"
            ]
        );

        let under_b = s3
            .list_objects_v2()
            .bucket("listing")
            .prefix("b/")
            .start_after("b/03")
            .send()
            .await
            .unwrap();
        let under_b: Vec<_> = under_b
            .contents()
            .iter()
            .map(|o| o.key().unwrap())
            .collect();
        assert_eq!(under_b, ["b/04", "b/05", "b/06"]);

        let v1 = s3
            .list_objects()
            .bucket("listing")
            .delimiter("/")
            .max_keys(3)
            .send()
            .await
            .unwrap();
        assert!(v1.is_truncated().unwrap());
        let marker = v1.next_marker().unwrap().to_string();
        let v1_next = s3
            .list_objects()
            .bucket("listing")
            .delimiter("/")
            .marker(&marker)
            .send()
            .await
            .unwrap();
        let first: Vec<String> = v1
            .common_prefixes()
            .iter()
            .map(|p| p.prefix().unwrap().to_string())
            .chain(v1.contents().iter().map(|o| o.key().unwrap().to_string()))
            .collect();
        let rest: Vec<String> = v1_next
            .common_prefixes()
            .iter()
            .map(|p| p.prefix().unwrap().to_string())
            .chain(
                v1_next
                    .contents()
                    .iter()
                    .map(|o| o.key().unwrap().to_string()),
            )
            .collect();
        assert_eq!(first.len() + rest.len(), 8, "{first:?} {rest:?}");
        assert!(first.iter().all(|f| !rest.contains(f)));
    })
    .await;
}

#[tokio::test]
async fn multipart_uploads() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("parts").send().await.unwrap();
        let upload = s3
            .create_multipart_upload()
            .bucket("parts")
            .key("big")
            .content_type("video/mp4")
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap().to_string();
        let part_size = 5 * 1024 * 1024;
        let chunks: Vec<Vec<u8>> =
            vec![vec![1u8; part_size], vec![2u8; part_size], b"tail".to_vec()];
        let mut completed = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let part = s3
                .upload_part()
                .bucket("parts")
                .key("big")
                .upload_id(&id)
                .part_number(i as i32 + 1)
                .body(ByteStream::from(chunk.clone()))
                .send()
                .await
                .unwrap();
            completed.push(
                CompletedPart::builder()
                    .part_number(i as i32 + 1)
                    .e_tag(part.e_tag().unwrap())
                    .build(),
            );
        }
        let parts = s3
            .list_parts()
            .bucket("parts")
            .key("big")
            .upload_id(&id)
            .send()
            .await
            .unwrap();
        assert_eq!(parts.parts().len(), 3);
        let uploads = s3
            .list_multipart_uploads()
            .bucket("parts")
            .send()
            .await
            .unwrap();
        assert_eq!(uploads.uploads().len(), 1);

        let wrong_order = CompletedMultipartUpload::builder()
            .parts(completed[1].clone())
            .parts(completed[0].clone())
            .build();
        let err = s3
            .complete_multipart_upload()
            .bucket("parts")
            .key("big")
            .upload_id(&id)
            .multipart_upload(wrong_order)
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "InvalidPartOrder");
        let done = s3
            .complete_multipart_upload()
            .bucket("parts")
            .key("big")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed.clone()))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert!(
            done.e_tag().unwrap().ends_with("-3\""),
            "{:?}",
            done.e_tag()
        );
        let got = s3
            .get_object()
            .bucket("parts")
            .key("big")
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_type(), Some("video/mp4"));
        let bytes = body_of(got).await;
        assert_eq!(bytes, chunks.concat());
        let part2 = s3
            .get_object()
            .bucket("parts")
            .key("big")
            .part_number(2)
            .send()
            .await
            .unwrap();
        assert_eq!(part2.parts_count(), Some(3));
        assert_eq!(body_of(part2).await, chunks[1]);
        let err = s3
            .list_parts()
            .bucket("parts")
            .key("big")
            .upload_id(&id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "NoSuchUpload");

        // Too-small parts and aborts.
        let small = s3
            .create_multipart_upload()
            .bucket("parts")
            .key("small")
            .send()
            .await
            .unwrap();
        let small_id = small.upload_id().unwrap().to_string();
        let mut small_parts = Vec::new();
        for n in 1..=2 {
            let p = s3
                .upload_part()
                .bucket("parts")
                .key("small")
                .upload_id(&small_id)
                .part_number(n)
                .body(ByteStream::from_static(b"tiny"))
                .send()
                .await
                .unwrap();
            small_parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(p.e_tag().unwrap())
                    .build(),
            );
        }
        let err = s3
            .complete_multipart_upload()
            .bucket("parts")
            .key("small")
            .upload_id(&small_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(small_parts))
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "EntityTooSmall");
        s3.abort_multipart_upload()
            .bucket("parts")
            .key("small")
            .upload_id(&small_id)
            .send()
            .await
            .unwrap();
        let err = s3
            .abort_multipart_upload()
            .bucket("parts")
            .key("small")
            .upload_id(&small_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "NoSuchUpload");

        // Every blob on disk belongs to the one remaining object.
        let blobs = walkdir(&server.data_dir.join("objects/parts"));
        assert_eq!(blobs, 3, "three part blobs, no leftovers");
    })
    .await;
}

/// Counts blob files (not temporaries) under a bucket directory.
pub fn walkdir(dir: &std::path::Path) -> usize {
    let mut count = 0;
    for shard in std::fs::read_dir(dir).unwrap().flatten() {
        if shard.file_name() == "tmp" {
            continue;
        }
        count += std::fs::read_dir(shard.path()).unwrap().count();
    }
    count
}

#[tokio::test]
async fn objects_are_isolated_between_tenants() {
    on_both_databases(|server| async move {
        let alice = server.s3(&server.tenant("obj-alice"));
        let bob = server.s3(&server.tenant("obj-bob"));
        alice
            .create_bucket()
            .bucket("alice-objects")
            .send()
            .await
            .unwrap();
        alice
            .put_object()
            .bucket("alice-objects")
            .key("secret")
            .body(ByteStream::from_static(b"s"))
            .send()
            .await
            .unwrap();
        for err in [
            s3_code(
                &bob.get_object()
                    .bucket("alice-objects")
                    .key("secret")
                    .send()
                    .await
                    .unwrap_err(),
            ),
            s3_code(
                &bob.put_object()
                    .bucket("alice-objects")
                    .key("x")
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
                    .unwrap_err(),
            ),
            s3_code(
                &bob.list_objects_v2()
                    .bucket("alice-objects")
                    .send()
                    .await
                    .unwrap_err(),
            ),
            s3_code(
                &bob.delete_object()
                    .bucket("alice-objects")
                    .key("secret")
                    .send()
                    .await
                    .unwrap_err(),
            ),
        ] {
            assert_eq!(err, "AccessDenied");
        }
        bob.create_bucket()
            .bucket("bob-objects")
            .send()
            .await
            .unwrap();
        let err = bob
            .copy_object()
            .bucket("bob-objects")
            .key("stolen")
            .copy_source("alice-objects/secret")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "AccessDenied");
        let still = alice
            .get_object()
            .bucket("alice-objects")
            .key("secret")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(still).await, b"s");
    })
    .await;
}

#[tokio::test]
async fn object_tags_follow_puts_copies_and_replacements() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("tagged").send().await.unwrap();
        s3.put_object()
            .bucket("tagged")
            .key("a")
            .tagging("env=prod&team=data%20eng")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        let tags = |key: &'static str| {
            let s3 = s3.clone();
            async move {
                let out = s3
                    .get_object_tagging()
                    .bucket("tagged")
                    .key(key)
                    .send()
                    .await
                    .unwrap();
                out.tag_set()
                    .iter()
                    .map(|t| format!("{}={}", t.key(), t.value()))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(tags("a").await, ["env=prod", "team=data eng"]);
        let got = s3
            .get_object()
            .bucket("tagged")
            .key("a")
            .send()
            .await
            .unwrap();
        assert_eq!(got.tag_count(), Some(2));
        s3.copy_object()
            .bucket("tagged")
            .key("b")
            .copy_source("tagged/a")
            .send()
            .await
            .unwrap();
        assert_eq!(tags("b").await, ["env=prod", "team=data eng"]);
        s3.put_object_tagging()
            .bucket("tagged")
            .key("b")
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("env")
                            .value("test")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(tags("b").await, ["env=test"]);
        assert_eq!(tags("a").await, ["env=prod", "team=data eng"]);
        let refused = s3
            .put_object()
            .bucket("tagged")
            .key("c")
            .tagging("k=1&k=2")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&refused), "InvalidTag");
        s3.delete_object_tagging()
            .bucket("tagged")
            .key("a")
            .send()
            .await
            .unwrap();
        assert!(tags("a").await.is_empty());
    })
    .await;
}
