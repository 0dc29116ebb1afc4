//! Canned ACLs with anonymous reads, CORS, and lifecycle expiration.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLifecycleConfiguration, CorsConfiguration, CorsRule, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectCannedAcl,
};
use sqlx::Connection;

use crate::common::{on_both_databases, s3_code, Database, Server};

#[tokio::test]
async fn public_read_allows_anonymous_reads_only() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("private-b").send().await.unwrap();
        s3.put_object()
            .bucket("private-b")
            .key("hidden")
            .body(ByteStream::from_static(b"h"))
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("private-b")
            .key("shared")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"s"))
            .send()
            .await
            .unwrap();
        s3.create_bucket()
            .bucket("public-b")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("public-b")
            .key("page.html")
            .body(ByteStream::from_static(b"<p>hi</p>"))
            .send()
            .await
            .unwrap();

        let get = |path: &str| reqwest::get(format!("{}/{path}", server.endpoint));
        assert_eq!(
            get("private-b/hidden").await.unwrap().status().as_u16(),
            403
        );
        let shared = get("private-b/shared").await.unwrap();
        assert_eq!(shared.status().as_u16(), 200);
        assert_eq!(shared.bytes().await.unwrap().as_ref(), b"s");
        assert_eq!(
            get("private-b?list-type=2")
                .await
                .unwrap()
                .status()
                .as_u16(),
            403
        );
        // The bucket's grant allows listing, not reading its objects (S3's model).
        assert_eq!(
            get("public-b/page.html").await.unwrap().status().as_u16(),
            403
        );
        assert_eq!(
            get("public-b/missing").await.unwrap().status().as_u16(),
            404
        );
        let listing = get("public-b?list-type=2")
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listing.contains("<Key>page.html</Key>"), "{listing}");
        // Anonymous writes are never allowed, public bucket or not.
        let put = reqwest::Client::new()
            .put(format!("{}/public-b/new", server.endpoint))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 403);

        let acl = s3.get_bucket_acl().bucket("public-b").send().await.unwrap();
        assert!(acl.grants().iter().any(|g| g
            .grantee()
            .and_then(|e| e.uri())
            .is_some_and(|u| u.ends_with("AllUsers"))));
        s3.put_bucket_acl()
            .bucket("public-b")
            .acl(BucketCannedAcl::Private)
            .send()
            .await
            .unwrap();
        assert_eq!(
            get("public-b?list-type=2").await.unwrap().status().as_u16(),
            403
        );
        s3.put_object_acl()
            .bucket("private-b")
            .key("shared")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await
            .unwrap();
        assert_eq!(
            get("private-b/shared").await.unwrap().status().as_u16(),
            403
        );
        let err = s3
            .put_object_acl()
            .bucket("private-b")
            .key("hidden")
            .acl(ObjectCannedAcl::PublicReadWrite)
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "NotImplemented");
    })
    .await;
}

#[tokio::test]
async fn cors_rules_answer_preflights() {
    let server = Server::start(Database::Sqlite, None).await;
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket().bucket("web").send().await.unwrap();
    let preflight = |origin: &'static str, method: &'static str| {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/web/file", server.endpoint),
            )
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    assert_eq!(
        preflight("https://app.example.com", "PUT")
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let err = s3.get_bucket_cors().bucket("web").send().await.unwrap_err();
    assert_eq!(s3_code(&err), "NoSuchCORSConfiguration");
    let rule = CorsRule::builder()
        .allowed_origins("https://*.example.com")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(300)
        .build()
        .unwrap();
    s3.put_bucket_cors()
        .bucket("web")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let ok = preflight("https://app.example.com", "PUT").await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(ok.headers()["access-control-max-age"], "300");
    assert_eq!(
        preflight("https://evil.test", "PUT")
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        preflight("https://app.example.com", "DELETE")
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );

    // Actual requests from an allowed origin carry the headers too.
    s3.put_object()
        .bucket("web")
        .key("file")
        .body(ByteStream::from_static(b"f"))
        .send()
        .await
        .unwrap();
    let url = s3
        .get_object()
        .bucket("web")
        .key("file")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap(),
        )
        .await
        .unwrap();
    let got = reqwest::Client::new()
        .get(url.uri())
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(got.headers()["access-control-expose-headers"], "ETag");

    let rules = s3.get_bucket_cors().bucket("web").send().await.unwrap();
    assert_eq!(rules.cors_rules()[0].allowed_methods(), ["GET", "PUT"]);
    s3.delete_bucket_cors().bucket("web").send().await.unwrap();
    assert_eq!(
        preflight("https://app.example.com", "PUT")
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
}

#[tokio::test]
async fn lifecycle_rules_expire_old_objects() {
    let server = Server::start(Database::Sqlite, Some("lifecycle_interval_secs = 1\n")).await;
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket().bucket("aging").send().await.unwrap();
    for key in ["logs/old-1", "logs/old-2", "keep/old-3"] {
        s3.put_object()
            .bucket("aging")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let rule = LifecycleRule::builder()
        .id("expire-logs")
        .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("aging")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stored = s3
        .get_bucket_lifecycle_configuration()
        .bucket("aging")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.rules()[0].expiration().and_then(|e| e.days()),
        Some(1)
    );

    // Nothing is a day old yet: the sweep keeps everything.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        s3.list_objects_v2()
            .bucket("aging")
            .send()
            .await
            .unwrap()
            .contents()
            .len(),
        3
    );

    // Age the objects by two days in the database, as time would.
    let url = format!("sqlite://{}", server.data_dir.join("skyport.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE objects SET last_modified = last_modified - 172800000")
        .execute(&mut db)
        .await
        .unwrap();
    let mut left = Vec::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let listed = s3.list_objects_v2().bucket("aging").send().await.unwrap();
        left = listed
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_string())
            .collect::<Vec<_>>();
        if left.len() == 1 {
            break;
        }
    }
    assert_eq!(left, ["keep/old-3"]);
    s3.delete_bucket_lifecycle()
        .bucket("aging")
        .send()
        .await
        .unwrap();
    let err = s3
        .get_bucket_lifecycle_configuration()
        .bucket("aging")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_code(&err), "NoSuchLifecycleConfiguration");
}

/// GetBucketTagging shows the user's tags alone: a new bucket has none
/// (NoSuchTagSet), so tools comparing tags converge; where the bucket was
/// placed stays in `skyport admin placement show`.
#[tokio::test]
async fn bucket_tagging_is_the_users_alone() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("tagless").send().await.unwrap();
        let none = s3
            .get_bucket_tagging()
            .bucket("tagless")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&none), "NoSuchTagSet");
        let placed = crate::placement::placement_of(&server, "tagless");
        assert!(placed.contains("target: local"), "{placed}");
    })
    .await;
}
