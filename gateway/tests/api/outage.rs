//! Errors clients act on when a cloud is down or an instance is gone: a
//! placement refused only because the targets the rules allow are down is a
//! 503 naming the rule and the target (also once the circuit breaker is
//! open: the steady state of an outage), and Start/Stop/Reboot of a
//! terminated instance is IncorrectInstanceState.

use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{InstanceType, ResourceType};

use crate::common::{ec2_code, s3_code, Database, Server};
use crate::moto::Moto;
use crate::placement::tag_spec;

const POLICIES: &str = r#"
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

[[rule]]
name = "japan-only"
match = { tags = { residency = "jp" } }
require = { country = ["JP"] }

[[rule]]
name = "personal-data-stays-in-japan"
match = { tags = { data-class = "personal" } }
require = { country = ["JP"] }
on_unhealthy = "fail"

[[rule]]
name = "cost-first"
rank = ["cheapest"]
"#;

/// Status, code and message of a failed EC2 call.
fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    error: aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
) -> (u16, String, String) {
    let status = error.raw_response().map_or(0, |r| r.status().as_u16());
    let message = error.message().unwrap_or_default().to_string();
    (status, ec2_code(&error), message)
}

/// Asserts that a failed EC2 call answered `want` (status, code) with a
/// message naming each of `named` (the rule, the target).
fn refused<E: ProvideErrorMetadata + std::fmt::Debug>(
    error: aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
    want: (u16, &str),
    named: &[&str],
) {
    let (status, code, message) = failure(error);
    assert_eq!((status, code.as_str()), want, "{message}");
    assert!(named.iter().all(|n| message.contains(n)), "{message}");
}

#[tokio::test]
async fn an_outage_is_a_503_naming_the_rule_and_the_target_also_with_the_breaker_open() {
    let mut tokyo = Moto::start("ap-northeast-1");
    let virginia = Moto::start("us-east-1");
    let image = virginia.image_shared_with(&tokyo).await;
    let policy_dir = tempfile::tempdir().unwrap();
    std::fs::write(policy_dir.path().join("policies.toml"), POLICIES).unwrap();
    // Once open, Tokyo's breaker stays open for the test: the steady state.
    let tokyo_toml = tokyo
        .target_toml("aws-tokyo")
        .replace("breaker_cooldown_secs = 2", "breaker_cooldown_secs = 600");
    let config = format!(
        "policy_dir = \"{}\"\ntarget_probe_secs = 0.3\n{tokyo_toml}{}",
        policy_dir.path().display(),
        virginia.target_toml("aws-virginia")
    );
    let server = Server::start(Database::Sqlite, Some(&config)).await;
    let ec2 = server.ec2(&server.admin_keys());
    let s3 = server.s3(&server.admin_keys());

    tokyo.stop();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets = server.admin(&["target", "list"]).unwrap();
        let open = targets
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "aws-tokyo" && t["healthy"] == false);
        if open {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Tokyo's breaker never opened: {targets}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for (key, value, rule) in [
        ("residency", "jp", "japan-only"),
        ("data-class", "personal", "personal-data-stays-in-japan"),
    ] {
        let launch = ec2
            .run_instances()
            .image_id(&image)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .tag_specifications(tag_spec(ResourceType::Instance, &[(key, value)]))
            .send()
            .await
            .unwrap_err();
        refused(
            launch,
            (503, "InsufficientInstanceCapacity"),
            &[rule, "aws-tokyo"],
        );

        let volume = ec2
            .create_volume()
            .availability_zone("ap-northeast-1a")
            .size(1)
            .tag_specifications(tag_spec(ResourceType::Volume, &[(key, value)]))
            .send()
            .await
            .unwrap_err();
        refused(volume, (503, "InsufficientVolumeCapacity"), &[]);

        let address = ec2
            .allocate_address()
            .tag_specifications(tag_spec(ResourceType::ElasticIp, &[(key, value)]))
            .send()
            .await
            .unwrap_err();
        refused(address, (503, "ServiceUnavailable"), &[rule, "aws-tokyo"]);

        let bucket = s3
            .create_bucket()
            .bucket(format!("outage-{value}"))
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .tags(
                        aws_sdk_s3::types::Tag::builder()
                            .key(key)
                            .value(value)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        let status = bucket.raw_response().map_or(0, |r| r.status().as_u16());
        assert_eq!(
            (status, s3_code(&bucket).as_str()),
            (503, "ServiceUnavailable"),
            "{bucket:?}"
        );
    }
    assert!(
        virginia.instance_ids().await.is_empty(),
        "nothing went elsewhere"
    );

    // A request the rules refuse outright stays a 400 policy answer.
    std::fs::write(
        policy_dir.path().join("policies.toml"),
        POLICIES.replace(
            "country = [\"JP\"] }\n\n[[rule]]\nname = \"personal",
            "country = [\"FR\"] }\n\n[[rule]]\nname = \"personal",
        ),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let launch = ec2
            .run_instances()
            .image_id(&image)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .tag_specifications(tag_spec(ResourceType::Instance, &[("residency", "jp")]))
            .send()
            .await
            .unwrap_err();
        let (status, code, message) = failure(launch);
        if (status, code.as_str()) == (400, "Unsupported") {
            assert!(message.contains("japan-only"), "{message}");
            break;
        }
        assert!(Instant::now() < deadline, "{status} {code} {message}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_terminated_instance_cannot_be_started_stopped_or_rebooted() {
    let virginia = Moto::start("us-east-1");
    let image = virginia.image_ids().await.into_iter().next().unwrap();
    let policy_dir = tempfile::tempdir().unwrap();
    let policies = r#"
[[target]]
name = "aws-virginia"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { instance_hour = { "t3.micro" = 0.0104 } }

[[rule]]
name = "cost-first"
rank = ["cheapest"]
"#;
    std::fs::write(policy_dir.path().join("policies.toml"), policies).unwrap();
    let config = format!(
        "policy_dir = \"{}\"\n{}",
        policy_dir.path().display(),
        virginia.target_toml("aws-virginia")
    );
    let server = Server::start(Database::Sqlite, Some(&config)).await;
    let ec2 = server.ec2(&server.admin_keys());
    let id = ec2
        .run_instances()
        .image_id(&image)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    ec2.terminate_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    let start = ec2
        .start_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap_err();
    let stop = ec2
        .stop_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap_err();
    let reboot = ec2
        .reboot_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap_err();
    for (status, code, message) in [failure(start), failure(stop), failure(reboot)] {
        assert_eq!(
            (status, code.as_str()),
            (400, "IncorrectInstanceState"),
            "{message}"
        );
        assert!(message.contains(&id), "{message}");
    }
    // Terminating again is fine, as on AWS.
    ec2.terminate_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
}
