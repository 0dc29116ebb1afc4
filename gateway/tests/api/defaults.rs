//! Zero-configuration defaults that make the everyday flows work on one
//! machine: virtual-host-style S3 at `<bucket>.localhost:<port>`.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::{Database, Server};

#[tokio::test]
async fn buckets_answer_at_bucket_dot_localhost_by_default() {
    let server = Server::start(Database::Sqlite, None).await;
    let admin = server.admin_keys();
    let s3 = server.s3(&admin);
    s3.create_bucket().bucket("vhost").send().await.unwrap();
    s3.put_object()
        .bucket("vhost")
        .key("dir/hello.txt")
        .body(ByteStream::from_static(b"hello from a virtual host"))
        .send()
        .await
        .unwrap();
    let key = gateway::auth::sigv4::ClientKey {
        access_key: &admin.access_key,
        secret: &admin.secret_key,
        region: "us-east-1",
        service: "s3",
    };
    // *.localhost is loopback (RFC 6761); the client connects to 127.0.0.1
    // and names the bucket in Host, as a browser or SDK would.
    let get = |host: String, path: &'static str| {
        let headers = gateway::auth::sigv4::sign_request("GET", path, &host, b"", &key);
        let mut request = reqwest::Client::new()
            .get(format!("{}{path}", server.endpoint))
            .header("host", host);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let object = get(format!("vhost.localhost:{}", server.port), "/dir/hello.txt")
        .await
        .unwrap();
    assert_eq!(object.status().as_u16(), 200);
    assert_eq!(object.text().await.unwrap(), "hello from a virtual host");
    let listing = get(format!("vhost.localhost:{}", server.port), "/")
        .await
        .unwrap();
    assert_eq!(listing.status().as_u16(), 200);
    let listing = listing.text().await.unwrap();
    assert!(
        listing.contains("<Name>vhost</Name>") && listing.contains("<Key>dir/hello.txt</Key>"),
        "{listing}"
    );
    // localhost itself stays path style.
    let path_style = get(format!("localhost:{}", server.port), "/vhost/dir/hello.txt")
        .await
        .unwrap();
    assert_eq!(path_style.status().as_u16(), 200);
}
