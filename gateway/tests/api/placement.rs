//! Placement across two public clouds (two moto_server processes): instances and
//! buckets land where the policy files say, policy edits apply while running, a
//! broken edit is refused, and an unreachable cloud fails over or is refused as
//! the policy says.

use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use aws_sdk_s3::primitives::ByteStream;

use crate::common::{ec2_code, Database, Server};
use crate::moto::Moto;

const TARGETS: &str = r#"
[[target]]
name = "aws-tokyo"
kind = "aws"
jurisdiction = { country = "JP", region = "ap-northeast-1" }
price = { instance_hour = { "t3.micro" = 0.0136 }, storage_gb_month = 0.025 }

[[target]]
name = "aws-virginia"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { instance_hour = { "t3.micro" = 0.0104 }, storage_gb_month = 0.023 }
"#;

const RULES: &str = r#"
[[rule]]
name = "personal-data-stays-in-japan"
match = { tags = { data-class = "personal" } }
require = { country = ["JP"] }
on_unhealthy = "fail"

[[rule]]
name = "team-a-prefers-tokyo"
match = { tags = { team = "a" } }
rank = ["prefer"]
prefer = ["aws-tokyo"]

[[rule]]
name = "cost-first"
rank = ["cheapest"]
"#;

pub(crate) struct Site {
    pub(crate) server: Server,
    pub(crate) tokyo: Moto,
    pub(crate) virginia: Moto,
    policy_dir: tempfile::TempDir,
}

pub(crate) async fn site() -> Site {
    site_with("").await
}

pub(crate) async fn site_with(extra_config: &str) -> Site {
    let tokyo = Moto::start("ap-northeast-1");
    let virginia = Moto::start("us-east-1");
    let policy_dir = tempfile::tempdir().unwrap();
    std::fs::write(policy_dir.path().join("10-targets.toml"), TARGETS).unwrap();
    std::fs::write(policy_dir.path().join("20-rules.toml"), RULES).unwrap();
    let config = format!(
        "policy_dir = \"{}\"\npolicy_reload_secs = 0.2\ntarget_probe_secs = 0.5\n{extra_config}\n{}{}",
        policy_dir.path().display(),
        tokyo.target_toml("aws-tokyo"),
        virginia.target_toml("aws-virginia")
    );
    let server = Server::start(Database::Sqlite, Some(&config)).await;
    Site {
        server,
        tokyo,
        virginia,
        policy_dir,
    }
}

pub(crate) fn tag_spec(resource: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(resource);
    for (key, value) in tags {
        spec = spec.tags(Tag::builder().key(*key).value(*value).build());
    }
    spec.build()
}

pub(crate) async fn run(site: &Site, image: &str, tags: &[(&str, &str)]) -> Result<String, String> {
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let mut request = ec2
        .run_instances()
        .image_id(image)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1);
    if !tags.is_empty() {
        request = request.tag_specifications(tag_spec(ResourceType::Instance, tags));
    }
    match request.send().await {
        Ok(out) => Ok(out.instances()[0].instance_id().unwrap().to_string()),
        Err(error) => Err(format!(
            "{}: {:?}",
            ec2_code(&error),
            error.as_service_error().and_then(|e| e.message())
        )),
    }
}

async fn get_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    range: Option<&str>,
) -> Vec<u8> {
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(str::to_string))
        .send()
        .await
        .unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

pub(crate) fn placement_of(server: &Server, id: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skyport"))
        .args(["admin", "--endpoint", &server.endpoint, "--data-dir"])
        .arg(&server.data_dir)
        .args(["placement", "show", id])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn instances_follow_the_policy_and_its_edits() {
    let site = site().await;
    let image = site.virginia.image_shared_with(&site.tokyo).await;
    let ec2 = site.server.ec2(&site.server.admin_keys());

    // Personal data: only Japan.
    let personal = run(&site, &image, &[("data-class", "personal")])
        .await
        .unwrap();
    assert!(
        personal.starts_with("i-") && personal.len() == 19,
        "{personal}"
    );
    assert_eq!(site.tokyo.instance_ids().await.len(), 1);
    assert!(site.virginia.instance_ids().await.is_empty());
    let shown = placement_of(&site.server, &personal);
    assert!(
        shown.contains("target: aws-tokyo") && shown.contains("personal-data-stays-in-japan"),
        "{shown}"
    );

    // Cost first: Virginia is cheaper. The tenant's key pair and security group
    // go with the instance, created there under Skyport's names.
    ec2.create_key_pair().key_name("ops").send().await.unwrap();
    let group = ec2
        .create_security_group()
        .group_name("web")
        .description("web servers")
        .send()
        .await
        .unwrap();
    let group_id = group.group_id().unwrap().to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&group_id)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("198.51.100.0/24")
        .send()
        .await
        .unwrap();
    let launched = ec2
        .run_instances()
        .image_id(&image)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .key_name("ops")
        .security_group_ids(&group_id)
        .send()
        .await
        .unwrap();
    let cheap = launched.instances()[0].instance_id().unwrap().to_string();
    assert_eq!(site.virginia.instance_ids().await.len(), 1);
    let remote = site
        .virginia
        .ec2()
        .describe_instances()
        .send()
        .await
        .unwrap();
    let remote = &remote.reservations()[0].instances()[0];
    assert!(
        remote.key_name().unwrap().starts_with("skyport-key-"),
        "{remote:?}"
    );
    let remote_group = remote
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some(&format!("skyport-{group_id}")))
        .unwrap();
    let remote_group_id = remote_group.group_id().unwrap().to_string();
    let groups = site
        .virginia
        .ec2()
        .describe_security_groups()
        .group_ids(&remote_group_id)
        .send()
        .await
        .unwrap();
    let permission = &groups.security_groups()[0].ip_permissions()[0];
    assert_eq!(
        (permission.from_port(), permission.ip_ranges()[0].cidr_ip()),
        (Some(22), Some("198.51.100.0/24"))
    );
    // Rule changes in Skyport reach the copy: SSH closed, HTTPS opened.
    ec2.revoke_security_group_ingress()
        .group_id(&group_id)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("198.51.100.0/24")
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&group_id)
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let copy = site
        .virginia
        .ec2()
        .describe_security_groups()
        .group_ids(remote_group_id)
        .send()
        .await
        .unwrap();
    let ports: Vec<(Option<i32>, Option<&str>)> = copy.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges()
                .iter()
                .map(move |r| (p.from_port(), r.cidr_ip()))
        })
        .collect();
    assert_eq!(ports, [(Some(443), Some("0.0.0.0/0"))]);

    // One merged view, with Skyport IDs, the placement tag and filters.
    let described = ec2.describe_instances().send().await.unwrap();
    let instances: Vec<_> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(instances.len(), 2);
    for instance in &instances {
        let placed = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some("aws:skyport:placement"))
            .and_then(|t| t.value())
            .unwrap();
        let expected = if instance.instance_id() == Some(personal.as_str()) {
            "aws-tokyo"
        } else {
            "aws-virginia"
        };
        assert_eq!(placed, expected);
        assert_eq!(
            instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
            Some("running")
        );
    }
    let filtered = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:aws:skyport:placement")
                .values("aws-tokyo")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = filtered
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id())
        .collect();
    assert_eq!(ids, [personal.as_str()]);
    let missing = ec2
        .describe_instances()
        .instance_ids("i-0123456789abcdef0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&missing), "InvalidInstanceID.NotFound");

    // Actions go where the instance lives.
    let stopped = ec2
        .stop_instances()
        .instance_ids(&cheap)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stopped.stopping_instances()[0].instance_id(),
        Some(cheap.as_str())
    );
    ec2.start_instances()
        .instance_ids(&cheap)
        .send()
        .await
        .unwrap();
    ec2.reboot_instances()
        .instance_ids(&personal)
        .send()
        .await
        .unwrap();
    ec2.get_console_output()
        .instance_id(&personal)
        .send()
        .await
        .unwrap();
    let terminated = ec2
        .terminate_instances()
        .instance_ids(&personal)
        .send()
        .await
        .unwrap();
    assert_eq!(
        terminated.terminating_instances()[0].instance_id(),
        Some(personal.as_str())
    );
    assert!(site.tokyo.instance_ids().await.is_empty());

    // Edit the policy while running: Tokyo becomes the cheaper one.
    std::fs::write(
        site.policy_dir.path().join("10-targets.toml"),
        TARGETS.replace("0.0136", "0.0050"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let id = run(&site, &image, &[]).await.unwrap();
        if placement_of(&site.server, &id).contains("target: aws-tokyo") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edited policy never took effect"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A broken edit is refused, reported with file:line:column, and the policy in force still routes.
    std::fs::write(
        site.policy_dir.path().join("20-rules.toml"),
        format!("{RULES}\n[[rule]]\nname = \"broken\"\nrank = [\"fastest\"]\n"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = site.server.admin(&["policy", "status"]).unwrap();
        if !status["last_error"].is_null() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the broken edit was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let error = status["last_error"].as_str().unwrap();
    assert!(
        error.contains("20-rules.toml:") && error.contains("fastest"),
        "{error}"
    );
    let personal = run(&site, &image, &[("data-class", "personal")])
        .await
        .unwrap();
    assert!(placement_of(&site.server, &personal).contains("target: aws-tokyo"));
}

#[tokio::test]
async fn an_unreachable_cloud_fails_over_only_where_policy_allows() {
    let mut site = site().await;
    let image = site.virginia.image_shared_with(&site.tokyo).await;
    site.tokyo.stop();

    // Team a prefers Tokyo; with Tokyo down it fails over to Virginia.
    let id = run(&site, &image, &[("team", "a")]).await.unwrap();
    let shown = placement_of(&site.server, &id);
    assert!(shown.contains("target: aws-virginia"), "{shown}");

    // Personal data may not leave Japan: a clear refusal naming the rule, nothing created.
    let before = site.virginia.instance_ids().await.len();
    let error = run(&site, &image, &[("data-class", "personal")])
        .await
        .unwrap_err();
    assert!(
        error.starts_with("InsufficientInstanceCapacity")
            && error.contains("personal-data-stays-in-japan"),
        "{error}"
    );
    assert_eq!(site.virginia.instance_ids().await.len(), before);

    // The same for buckets: personal data refused, others placed.
    let s3 = site.server.s3(&site.server.admin_keys());
    let personal = s3
        .create_bucket()
        .bucket("personal-records")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .tags(
                    aws_sdk_s3::types::Tag::builder()
                        .key("data-class")
                        .value("personal")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        personal.as_service_error().and_then(|e| e.meta().code()),
        Some("ServiceUnavailable"),
        "{personal:?}"
    );
    s3.create_bucket().bucket("open-data").send().await.unwrap();
    let listed = site.virginia.s3().list_buckets().send().await.unwrap();
    assert!(listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some("open-data")));
}

#[tokio::test]
async fn buckets_are_placed_and_objects_stream_through() {
    let site = site().await;
    let s3 = site.server.s3(&site.server.admin_keys());
    let personal_config = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .tags(
            aws_sdk_s3::types::Tag::builder()
                .key("data-class")
                .value("personal")
                .build()
                .unwrap(),
        )
        .build();
    s3.create_bucket()
        .bucket("customer-files")
        .create_bucket_configuration(personal_config)
        .send()
        .await
        .unwrap();
    // A LocationConstraint is a request fact for the policies (no rule uses it
    // here, so cost decides: Virginia); the target creates the bucket in its own region.
    s3.create_bucket()
        .bucket("public-assets")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::ApNortheast1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let names = |out: aws_sdk_s3::operation::list_buckets::ListBucketsOutput| -> Vec<String> {
        out.buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect()
    };
    assert_eq!(
        names(site.tokyo.s3().list_buckets().send().await.unwrap()),
        ["customer-files"]
    );
    assert_eq!(
        names(site.virginia.s3().list_buckets().send().await.unwrap()),
        ["public-assets"]
    );
    assert_eq!(
        names(s3.list_buckets().send().await.unwrap()),
        ["customer-files", "public-assets"]
    );
    assert!(placement_of(&site.server, "customer-files").contains("target: aws-tokyo"));
    let tagging = s3
        .get_bucket_tagging()
        .bucket("customer-files")
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tagging
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    // The user's tags only: where the bucket lives is not a tag a tool would compare.
    assert_eq!(tags, [("data-class", "personal")]);

    // Objects go to the bucket's cloud and come back byte for byte (8 MiB, streamed).
    let body: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    s3.put_object()
        .bucket("customer-files")
        .key("a/b c.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let direct = get_bytes(&site.tokyo.s3(), "customer-files", "a/b c.bin", None).await;
    assert_eq!(direct.len(), body.len());
    let got = get_bytes(&s3, "customer-files", "a/b c.bin", None).await;
    assert_eq!(got.as_slice(), body.as_slice());
    let ranged = get_bytes(&s3, "customer-files", "a/b c.bin", Some("bytes=10-19")).await;
    assert_eq!(ranged.as_slice(), &body[10..20]);
    let listed = s3
        .list_objects_v2()
        .bucket("customer-files")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.name(), Some("customer-files"));
    assert_eq!(listed.contents().len(), 1);
    let missing = s3
        .get_object()
        .bucket("customer-files")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        missing.as_service_error().and_then(|e| e.meta().code()),
        Some("NoSuchKey")
    );

    // Another tenant cannot reach the remote bucket.
    let other = site.server.tenant("other");
    let denied = site
        .server
        .s3(&other)
        .get_object()
        .bucket("customer-files")
        .key("a/b c.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        denied.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDenied")
    );

    // Delete: refused while not empty, then gone on the cloud too.
    let full = s3
        .delete_bucket()
        .bucket("customer-files")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        full.as_service_error().and_then(|e| e.meta().code()),
        Some("BucketNotEmpty")
    );
    s3.delete_object()
        .bucket("customer-files")
        .key("a/b c.bin")
        .send()
        .await
        .unwrap();
    s3.delete_bucket()
        .bucket("customer-files")
        .send()
        .await
        .unwrap();
    assert!(names(site.tokyo.s3().list_buckets().send().await.unwrap()).is_empty());
}

#[tokio::test]
async fn instances_launched_but_never_recorded_are_terminated() {
    let site = site_with("reconcile_interval_secs = 0.5\norphan_grace_secs = 2").await;
    let image = site.tokyo.image_shared_with(&site.virginia).await;
    let tenants = site.server.admin(&["tenant", "list"]).unwrap();
    let account = tenants[0]["account_id"].as_str().unwrap().to_string();
    // What a crash between the target's RunInstances and Skyport's record leaves
    // behind, next to an instance another site launched into the same account.
    let launch = |tenant: String| {
        let ec2 = site.tokyo.ec2();
        let image = image.clone();
        async move {
            let spec = TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("skyport:tenant").value(tenant).build())
                .tags(
                    Tag::builder()
                        .key("skyport:reservation")
                        .value("r-0123456789abcdef0")
                        .build(),
                )
                .build();
            let out = ec2
                .run_instances()
                .image_id(image)
                .min_count(1)
                .max_count(1)
                .tag_specifications(spec)
                .send()
                .await
                .unwrap();
            out.instances()[0].instance_id().unwrap().to_string()
        }
    };
    let orphan = launch(account).await;
    let foreign = launch("999999999999".into()).await;
    let recorded = run(&site, &image, &[("data-class", "personal")])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while site.tokyo.instance_ids().await.contains(&orphan) {
        assert!(Instant::now() < deadline, "the orphan was never terminated");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let left = site.tokyo.instance_ids().await;
    assert!(
        left.contains(&foreign),
        "another site's instance was touched"
    );
    assert_eq!(left.len(), 2, "the recorded instance must stay: {left:?}");
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let described = ec2
        .describe_instances()
        .instance_ids(&recorded)
        .send()
        .await
        .unwrap();
    let state = described.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string());
    assert_eq!(state.as_deref(), Some("running"));
}
