//! Volumes and snapshots on two public clouds (moto_server) through aws-sdk-ec2:
//! placed by the policies, mapped to Skyport's IDs, attached only where they
//! live, snapshots and restores kept with their data.

use std::time::{Duration, Instant};

use aws_sdk_ec2::operation::create_volume::builders::CreateVolumeFluentBuilder;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification, VolumeState, VolumeType};

use crate::common::ec2_code;
use crate::placement::{placement_of, run, site, site_with, tag_spec};

/// The sizes of the volumes Skyport made on a cloud (not instances' root volumes).
async fn sizes_on(moto: &crate::moto::Moto) -> Vec<i32> {
    let made_by_skyport = Filter::builder()
        .name("tag-key")
        .values("skyport:id")
        .build();
    let out = moto
        .ec2()
        .describe_volumes()
        .filters(made_by_skyport)
        .send()
        .await
        .unwrap();
    out.volumes().iter().filter_map(|v| v.size()).collect()
}

/// A CreateVolume of personal data (the test policies keep it on aws-tokyo).
fn create_personal(ec2: &aws_sdk_ec2::Client, zone: &str, size: i32) -> CreateVolumeFluentBuilder {
    ec2.create_volume()
        .availability_zone(zone)
        .size(size)
        .tag_specifications(tag_spec(
            ResourceType::Volume,
            &[("data-class", "personal")],
        ))
}

#[tokio::test]
async fn volumes_follow_the_policy_and_attach_where_they_live() {
    let site = site().await;
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let image = site.tokyo.image_shared_with(&site.virginia).await;
    let instance = run(&site, &image, &[("data-class", "personal")])
        .await
        .unwrap();
    let zone = ec2
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .placement()
        .and_then(|p| p.availability_zone())
        .unwrap()
        .to_string();

    let personal = create_personal(&ec2, &zone, 8)
        .volume_type(VolumeType::Gp3)
        .send()
        .await
        .unwrap();
    let personal = personal.volume_id().unwrap().to_string();
    let cheap = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(4)
        .send()
        .await
        .unwrap();
    let cheap = cheap.volume_id().unwrap().to_string();
    assert!(
        personal.starts_with("vol-") && personal.len() == 21,
        "{personal}"
    );
    assert_eq!(sizes_on(&site.tokyo).await, [8]);
    assert_eq!(sizes_on(&site.virginia).await, [4]);
    assert!(placement_of(&site.server, &personal).contains("target: aws-tokyo"));
    assert!(placement_of(&site.server, &cheap).contains("target: aws-virginia"));

    let listed = ec2
        .describe_volumes()
        .filters(
            Filter::builder()
                .name("availability-zone")
                .values(&zone)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = listed
        .volumes()
        .iter()
        .filter_map(|v| v.volume_id())
        .collect();
    assert_eq!(ids, [personal.as_str()]);

    let error = ec2
        .attach_volume()
        .volume_id(&cheap)
        .instance_id(&instance)
        .device("/dev/sdg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&error), "InvalidVolume.ZoneMismatch");

    let attached = ec2
        .attach_volume()
        .volume_id(&personal)
        .instance_id(&instance)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.instance_id(), Some(instance.as_str()));
    let shown = ec2
        .describe_volumes()
        .volume_ids(&personal)
        .send()
        .await
        .unwrap();
    let shown = &shown.volumes()[0];
    assert_eq!(shown.state(), Some(&VolumeState::InUse));
    assert_eq!(
        shown.attachments()[0].instance_id(),
        Some(instance.as_str())
    );
    let error = ec2
        .delete_volume()
        .volume_id(&personal)
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&error), "VolumeInUse");

    let snapshot = ec2
        .create_snapshot()
        .volume_id(&personal)
        .description("before upgrade")
        .send()
        .await
        .unwrap();
    let snapshot = snapshot.snapshot_id().unwrap().to_string();
    assert!(snapshot.starts_with("snap-"));
    let restored = ec2
        .create_volume()
        .availability_zone(&zone)
        .snapshot_id(&snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(restored.size(), Some(8));
    assert_eq!(restored.snapshot_id(), Some(snapshot.as_str()));
    assert_eq!(sizes_on(&site.tokyo).await.len(), 2);

    ec2.detach_volume()
        .volume_id(&personal)
        .send()
        .await
        .unwrap();
    for id in [
        &personal,
        &cheap,
        &restored.volume_id().unwrap().to_string(),
    ] {
        ec2.delete_volume().volume_id(id).send().await.unwrap();
    }
    ec2.delete_snapshot()
        .snapshot_id(&snapshot)
        .send()
        .await
        .unwrap();
    assert!(sizes_on(&site.tokyo).await.is_empty());
    assert!(sizes_on(&site.virginia).await.is_empty());
    let error = ec2
        .describe_snapshots()
        .snapshot_ids(&snapshot)
        .send()
        .await
        .unwrap_err();
    assert_eq!(ec2_code(&error), "InvalidSnapshot.NotFound");
}

#[tokio::test]
async fn volumes_created_but_never_recorded_are_deleted() {
    let site = site_with("reconcile_interval_secs = 0.5\norphan_grace_secs = 2").await;
    let tenants = site.server.admin(&["tenant", "list"]).unwrap();
    let account = tenants[0]["account_id"].as_str().unwrap().to_string();
    // What a crash between the cloud's CreateVolume and Skyport's record leaves
    // behind, next to a volume another site made in the same account.
    let create = |tenant: String| {
        let ec2 = site.tokyo.ec2();
        async move {
            let spec = TagSpecification::builder()
                .resource_type(ResourceType::Volume)
                .tags(Tag::builder().key("skyport:tenant").value(tenant).build())
                .tags(
                    Tag::builder()
                        .key("skyport:id")
                        .value("vol-0123456789abcdef0")
                        .build(),
                )
                .build();
            let out = ec2
                .create_volume()
                .availability_zone("ap-northeast-1a")
                .size(1)
                .tag_specifications(spec)
                .send()
                .await
                .unwrap();
            out.volume_id().unwrap().to_string()
        }
    };
    let orphan = create(account).await;
    let foreign = create("999999999999".into()).await;
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let recorded = create_personal(&ec2, "ap-northeast-1a", 2)
        .send()
        .await
        .unwrap();
    let on_tokyo = || async {
        let out = site.tokyo.ec2().describe_volumes().send().await.unwrap();
        out.volumes()
            .iter()
            .filter_map(|v| v.volume_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while on_tokyo().await.contains(&orphan) {
        assert!(Instant::now() < deadline, "the orphan was never deleted");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let left = on_tokyo().await;
    assert!(left.contains(&foreign), "another site's volume was touched");
    assert_eq!(left.len(), 2, "the recorded volume must stay: {left:?}");
    let shown = ec2
        .describe_volumes()
        .volume_ids(recorded.volume_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(shown.volumes()[0].size(), Some(2));
}
