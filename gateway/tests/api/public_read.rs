//! Anonymous reads follow S3's ACL model: a bucket's public-read grant lets
//! anyone list its keys, never read its objects; an object is readable by
//! anyone only when its own ACL says so. Both paths that answer anonymous
//! reads (the short read path and s3s) and every form of a read (GET, HEAD,
//! ranged GET, a version, a virtual-host URL) agree.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketVersioningStatus, ObjectCannedAcl, VersioningConfiguration,
};

use crate::common::{Database, Server};

/// Status and body of an anonymous request.
async fn anonymous(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    range: Option<&str>,
) -> (u16, String) {
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn check(database: Database) {
    let config = "s3_base_domain = \"s3.skyport.test\"\n";
    let server = Server::start(database, Some(config)).await;
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket()
        .bucket("open")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    for (key, acl) in [
        ("private.txt", None),
        ("shared.txt", Some(ObjectCannedAcl::PublicRead)),
    ] {
        s3.put_object()
            .bucket("open")
            .key(key)
            .body(ByteStream::from_static(b"0123456789"))
            .set_acl(acl)
            .send()
            .await
            .unwrap();
    }
    // GetObjectAcl says owner-only for the object put without an ACL.
    let acl = s3
        .get_object_acl()
        .bucket("open")
        .key("private.txt")
        .send()
        .await
        .unwrap();
    assert!(!acl
        .grants()
        .iter()
        .any(|g| g.grantee().and_then(|e| e.uri()).is_some()));

    let gateway = std::net::SocketAddr::from(([127, 0, 0, 1], server.port));
    let client = reqwest::Client::builder()
        .resolve("open.s3.skyport.test", gateway)
        .build()
        .unwrap();
    let path_style = format!("{}/open", server.endpoint);
    let vhost = format!("http://open.s3.skyport.test:{}", server.port);

    for base in [&path_style, &vhost] {
        // The bucket's grant: anyone may list.
        let (status, listing) =
            anonymous(&client, "GET", &format!("{base}/?list-type=2"), None).await;
        assert_eq!(status, 200, "{base}: {listing}");
        assert!(listing.contains("<Key>private.txt</Key>"), "{listing}");
        // Not read: every form of a read of the private object is refused.
        let url = format!("{base}/private.txt");
        for (method, range) in [("GET", None), ("HEAD", None), ("GET", Some("bytes=0-3"))] {
            let (status, body) = anonymous(&client, method, &url, range).await;
            assert_eq!(status, 403, "{method} {url} {range:?}");
            if method == "GET" {
                assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
            }
        }
        // The object's own public-read ACL allows it.
        let url = format!("{base}/shared.txt");
        assert_eq!(
            anonymous(&client, "GET", &url, None).await,
            (200, "0123456789".into())
        );
        assert_eq!(anonymous(&client, "HEAD", &url, None).await.0, 200);
        assert_eq!(
            anonymous(&client, "GET", &url, Some("bytes=0-3")).await,
            (206, "0123".into())
        );
        // A key the caller could list but that is not there: NoSuchKey.
        let (status, body) = anonymous(&client, "GET", &format!("{base}/missing"), None).await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("NoSuchKey"), "{body}");
    }

    // Making the object public later opens it; making it private closes it again.
    let url = format!("{path_style}/private.txt");
    for (acl, status) in [
        (ObjectCannedAcl::PublicRead, 200),
        (ObjectCannedAcl::Private, 403),
    ] {
        s3.put_object_acl()
            .bucket("open")
            .key("private.txt")
            .acl(acl)
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous(&client, "GET", &url, None).await.0, status);
    }

    // A version is read under its own ACL, not the newest version's.
    s3.put_bucket_versioning()
        .bucket("open")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let private_version = s3
        .put_object()
        .bucket("open")
        .key("v.txt")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let public_version = s3
        .put_object()
        .bucket("open")
        .key("v.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"public"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let version = |id: &str| format!("{path_style}/v.txt?versionId={id}");
    assert_eq!(
        anonymous(&client, "GET", &version(&public_version), None).await,
        (200, "public".into())
    );
    let (status, body) = anonymous(&client, "GET", &version(&private_version), None).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_public_bucket_lists_but_serves_only_public_objects_sqlite() {
    check(Database::Sqlite).await;
}

#[tokio::test]
async fn a_public_bucket_lists_but_serves_only_public_objects_postgres() {
    check(Database::Postgres).await;
}
