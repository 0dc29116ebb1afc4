//! Volumes and snapshots on two public clouds (moto_server) through aws-sdk-ec2:
//! placed by the policies, mapped to Skyport's IDs, attached only where they
//! live, snapshots and restores kept with their data.

use aws_sdk_ec2::types::{Filter, ResourceType, VolumeState, VolumeType};

use crate::common::ec2_code;
use crate::placement::{placement_of, run, site, tag_spec};

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

    let personal = ec2
        .create_volume()
        .availability_zone(&zone)
        .size(8)
        .volume_type(VolumeType::Gp3)
        .tag_specifications(tag_spec(
            ResourceType::Volume,
            &[("data-class", "personal")],
        ))
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
