//! Block storage, elastic IPs and security groups with group peers, through
//! `cloud::BlockStorage` and the calls `cloud::RemoteTarget` forwards to,
//! against moto_server.

use aws_backend::AwsTarget;
use cloud::types::{Direction, Rule, RulePeer, Tag};
use cloud::{BlockStorage, Compute, LaunchSpec, VolumeSpec};

use crate::support::{config, Moto};

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

fn ingress(port: i32, peer: RulePeer) -> Rule {
    Rule {
        id: String::new(),
        direction: Direction::Ingress,
        protocol: "tcp".to_owned(),
        from_port: Some(port),
        to_port: Some(port),
        peer,
    }
}

#[tokio::test]
async fn volumes_snapshots_addresses_and_group_peers_against_moto() {
    let moto = Moto::start();
    let target = AwsTarget::new("moto", &config(&moto.endpoint)).unwrap();
    let image = target
        .images_owned_by(&["amazon".to_owned()])
        .await
        .unwrap()[0]
        .image_id
        .clone();
    let launched = target
        .run_instances(&LaunchSpec {
            image_id: image,
            instance_type: "t3.micro".to_owned(),
            count: 1,
            ..LaunchSpec::default()
        })
        .await
        .unwrap();
    let instance = &launched[0].remote_id;
    let zone = launched[0].availability_zone.clone().unwrap();

    // A volume, found by its tag, attached, snapshotted, restored, deleted.
    let volume = target
        .create_volume(&VolumeSpec {
            availability_zone: zone.clone(),
            size_gib: Some(3),
            volume_type: Some("gp3".to_owned()),
            tags: vec![tag("skyport:id", "vol-1")],
            ..VolumeSpec::default()
        })
        .await
        .unwrap();
    assert_eq!((volume.size_gib, volume.volume_type.as_str()), (3, "gp3"));
    let tagged = target.volumes_tagged("skyport:id").await.unwrap();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].remote_id, volume.remote_id);
    assert!(tagged[0].tags.contains(&tag("skyport:id", "vol-1")));
    let attached = target
        .attach_volume(&volume.remote_id, instance, "/dev/sdf")
        .await
        .unwrap();
    assert_eq!(attached.instance_remote_id, *instance);
    let seen = target
        .describe_volumes(&[volume.remote_id.clone(), "vol-00000000000000000".to_owned()])
        .await
        .unwrap();
    assert_eq!(seen.len(), 1, "unknown IDs are simply absent");
    assert_eq!(seen[0].state, "in-use");
    assert_eq!(seen[0].attachment.as_ref().unwrap().device, "/dev/sdf");
    let snapshot = target
        .create_snapshot(&volume.remote_id, Some("nightly"), &[tag("k", "v")])
        .await
        .unwrap();
    assert_eq!(snapshot.volume_size_gib, 3);
    let snapshots = target
        .describe_snapshots(std::slice::from_ref(&snapshot.remote_id))
        .await
        .unwrap();
    assert_eq!(snapshots[0].description.as_deref(), Some("nightly"));
    let restored = target
        .create_volume(&VolumeSpec {
            availability_zone: zone,
            snapshot_id: Some(snapshot.remote_id.clone()),
            ..VolumeSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(restored.size_gib, 3);
    target
        .detach_volume(&volume.remote_id, instance, None, false)
        .await
        .unwrap();
    for id in [&volume.remote_id, &restored.remote_id] {
        target.delete_volume(id).await.unwrap();
        target.delete_volume(id).await.unwrap();
    }
    target.delete_snapshot(&snapshot.remote_id).await.unwrap();
    target.delete_snapshot(&snapshot.remote_id).await.unwrap();
    assert!(target
        .volumes_tagged("skyport:id")
        .await
        .unwrap()
        .is_empty());

    // An elastic IP follows the instance; releasing twice is fine.
    let (public_ip, allocation) = target.allocate_address().await.unwrap();
    assert!(public_ip.parse::<std::net::Ipv4Addr>().is_ok());
    let association = target
        .associate_address(&allocation, instance, false)
        .await
        .unwrap();
    target.disassociate_address(&association).await.unwrap();
    target.release_address(&allocation).await.unwrap();
    target.release_address(&allocation).await.unwrap();

    // Rules naming groups, made to match exactly and pushed again idempotently.
    let web = target
        .ensure_security_group("skyport-web", "web", &[])
        .await
        .unwrap();
    let db_rules = [
        ingress(
            5432,
            RulePeer::Group {
                group_id: web.clone(),
                description: None,
            },
        ),
        ingress(
            22,
            RulePeer::Cidr4 {
                cidr: "198.51.100.0/24".to_owned(),
                description: None,
            },
        ),
    ];
    let db = target
        .ensure_security_group("skyport-db", "db", &db_rules)
        .await
        .unwrap();
    let again = target
        .ensure_security_group("skyport-db", "db", &db_rules[1..])
        .await
        .unwrap();
    assert_eq!(again, db);
    target.delete_security_group(&db).await.unwrap();
    target.delete_security_group(&db).await.unwrap();
    target.delete_security_group(&web).await.unwrap();
}
