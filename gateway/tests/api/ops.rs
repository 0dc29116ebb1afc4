//! Health, metrics, rate limits, configuration and virtual-host S3.

use crate::common::{ec2_code, s3_code, Database, Server};

#[tokio::test]
async fn health_and_metrics() {
    let server = Server::start(Database::Sqlite, None).await;
    server
        .ec2(&server.admin_keys())
        .describe_regions()
        .send()
        .await
        .unwrap();
    let health = reqwest::get(format!("{}/health", server.endpoint))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = server.metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("skyport_requests_total") && l.contains("action=\"DescribeRegions\"")
        })
        .unwrap_or_else(|| panic!("no DescribeRegions counter in:\n{metrics}"));
    assert!(
        line.contains("protocol=\"ec2\"") && line.contains("status=\"200\""),
        "{line}"
    );
    assert!(metrics.contains("skyport_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn rate_limits_answer_with_throttling_codes() {
    let config = "[rate_limit]\nper_key_per_second = 1\nper_key_burst = 3\nper_tenant_per_second = 1\nper_tenant_burst = 100\n";
    let server = Server::start(Database::Sqlite, Some(config)).await;
    let ec2 = server.ec2(&server.admin_keys());
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(match ec2.describe_regions().send().await {
            Ok(_) => "ok".to_string(),
            Err(e) => ec2_code(&e),
        });
    }
    assert_eq!(codes.iter().filter(|c| *c == "ok").count(), 3, "{codes:?}");
    assert!(
        codes.iter().any(|c| c == "RequestLimitExceeded"),
        "{codes:?}"
    );

    let keys = server.tenant("burst");
    let s3 = server.s3(&keys);
    let mut s3_codes = Vec::new();
    for _ in 0..6 {
        s3_codes.push(match s3.list_buckets().send().await {
            Ok(_) => "ok".to_string(),
            Err(e) => s3_code(&e),
        });
    }
    assert!(s3_codes.iter().any(|c| c == "SlowDown"), "{s3_codes:?}");
}

#[tokio::test]
async fn region_from_config_and_virtual_host_buckets() {
    let config = "region = \"ap-northeast-1\"\ns3_base_domain = \"s3.skyport.test\"\n";
    let server = Server::start(Database::Sqlite, Some(config)).await;
    let ec2 = server.ec2(&server.admin_keys());
    let regions = ec2.describe_regions().send().await.unwrap();
    assert_eq!(regions.regions()[0].region_name(), Some("ap-northeast-1"));
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket()
        .bucket("vhost-bucket")
        .send()
        .await
        .unwrap();

    // A virtual-host-style HEAD: the bucket comes from the Host header.
    let admin = server.admin_keys();
    let key = gateway::auth::sigv4::ClientKey {
        access_key: &admin.access_key,
        secret: &admin.secret_key,
        region: "ap-northeast-1",
        service: "s3",
    };
    let head = |bucket: &'static str| {
        let host = format!("{bucket}.s3.skyport.test:{}", server.port);
        let headers = gateway::auth::sigv4::sign_request("HEAD", "/", &host, b"", &key);
        let mut request = reqwest::Client::new()
            .head(format!("{}/", server.endpoint))
            .header("host", host);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    assert_eq!(head("vhost-bucket").await.unwrap().status().as_u16(), 200);
    assert_eq!(head("no-such-bucket").await.unwrap().status().as_u16(), 404);
}

#[tokio::test]
async fn invalid_config_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skyport.toml");
    std::fs::write(&path, "bind = \"127.0.0.1:0\"\nunknown_key = true\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skyport"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("skyport.toml") && stderr.contains("unknown_key"),
        "{stderr}"
    );
}

#[test]
fn policy_cli_checks_files_and_explains_decisions() {
    let bin = env!("CARGO_BIN_EXE_skyport");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples/policies");
    let ok = std::process::Command::new(bin)
        .args([
            "policy",
            "check",
            &format!("{examples}/data-residency.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[target]]\nname = \"a\"\nkind = \"bogus\"\n").unwrap();
    let refused = std::process::Command::new(bin)
        .args(["policy", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bad.toml:3:"), "{stderr}");

    let explained = std::process::Command::new(bin)
        .args([
            "policy",
            "explain",
            "--file",
            &format!("{examples}/data-residency.toml"),
            "--tenant",
            "acme",
            "--action",
            "RunInstances",
        ])
        .args([
            "--tag",
            "data-class=personal",
            "--instance-type",
            "t3.small",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&explained.stdout);
    assert!(
        stdout.contains("target: local-tokyo") && stdout.contains("personal-data-stays-in-japan"),
        "{stdout}"
    );
}
