//! Termination protection: RunInstances and ModifyInstanceAttribute set
//! `disableApiTermination`, DescribeInstanceAttribute reports it, and
//! TerminateInstances refuses a protected instance (none of a batch goes).

use aws_sdk_ec2::types::{AttributeBooleanValue, InstanceAttributeName, InstanceType};

use crate::common::ec2_code;
use crate::placement::{run, site};

async fn protected(ec2: &aws_sdk_ec2::Client, id: &str) -> bool {
    ec2.describe_instance_attribute()
        .instance_id(id)
        .attribute(InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .unwrap()
        .disable_api_termination()
        .and_then(|v| v.value())
        .unwrap()
}

#[tokio::test]
async fn protected_instances_are_not_terminated() {
    let site = site().await;
    let image = site.virginia.image_shared_with(&site.tokyo).await;
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let guarded = ec2
        .run_instances()
        .image_id(&image)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .disable_api_termination(true)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let plain = run(&site, &image, &[]).await.unwrap();
    assert!(protected(&ec2, &guarded).await);
    assert!(!protected(&ec2, &plain).await);

    // One protected instance in the batch: nothing is terminated.
    let refused = ec2
        .terminate_instances()
        .instance_ids(&plain)
        .instance_ids(&guarded)
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&refused), "OperationNotPermitted");
    let running = ec2
        .describe_instances()
        .instance_ids(&plain)
        .instance_ids(&guarded)
        .send()
        .await
        .unwrap();
    for instance in running.reservations().iter().flat_map(|r| r.instances()) {
        assert_eq!(
            instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
            Some("running")
        );
    }

    // Another tenant can neither read nor lift the protection.
    let other = site.server.ec2(&site.server.tenant("team-b"));
    let unseen = other
        .describe_instance_attribute()
        .instance_id(&guarded)
        .attribute(InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&unseen), "InvalidInstanceID.NotFound");
    let untouched = other
        .modify_instance_attribute()
        .instance_id(&guarded)
        .disable_api_termination(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&untouched), "InvalidInstanceID.NotFound");
    assert!(protected(&ec2, &guarded).await);

    // Lifted by its owner (a running instance may change it), then it goes.
    ec2.modify_instance_attribute()
        .instance_id(&guarded)
        .disable_api_termination(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    assert!(!protected(&ec2, &guarded).await);
    ec2.modify_instance_attribute()
        .instance_id(&plain)
        .attribute(InstanceAttributeName::DisableApiTermination)
        .value("true")
        .send()
        .await
        .unwrap();
    assert!(protected(&ec2, &plain).await);
    let terminated = ec2
        .terminate_instances()
        .instance_ids(&guarded)
        .send()
        .await
        .unwrap();
    assert_eq!(terminated.terminating_instances().len(), 1);
}
