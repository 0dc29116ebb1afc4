//! The scheduler over several compute hosts. libvirt's `test:` driver stands
//! in for the extra hosts (each its own node file: its CPUs and memory, no
//! real guests); real boots are proven in libvirt_guest.rs.

use cloud::{Compute, Error, LaunchSpec};
use local_backend::{ComputeConfig, HostConfig, LibvirtCompute, Weigher};

/// A fake host with 2 CPUs and 4 GiB.
fn node_file(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(
        &path,
        "<node><cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>\
         <cores>2</cores><threads>1</threads></cpu><memory>4194304</memory></node>",
    )
    .unwrap();
    format!("test://{}", path.display())
}

async fn site(weigher: Weigher) -> (tempfile::TempDir, LibvirtCompute) {
    let dir = tempfile::tempdir().unwrap();
    let hosts = vec![
        HostConfig {
            name: "h1".into(),
            uri: node_file(dir.path(), "h1"),
            availability_zone: "test-1a".into(),
            storage_pool: None,
            storage_pool_path: "/unused".into(),
        },
        HostConfig {
            name: "h2".into(),
            uri: node_file(dir.path(), "h2"),
            availability_zone: "test-1b".into(),
            storage_pool: None,
            storage_pool_path: "/unused".into(),
        },
    ];
    let config = ComputeConfig {
        hosts,
        scheduler: weigher,
        cpu_allocation_ratio: 1.0,
        ram_allocation_ratio: 1.0,
        network: "skyport-schedtest".into(),
        bridge: "skysched0".into(),
        cidr: "10.252.8.0/24".into(),
        nat: false,
        instances_dir: dir.path().join("instances"),
        images_dir: dir.path().join("images"),
        availability_zone: "test-1a".into(),
        ..ComputeConfig::default()
    };
    let compute = tokio::task::spawn_blocking(move || LibvirtCompute::open(config, "test-1"))
        .await
        .unwrap()
        .expect("test hosts");
    let images = compute.images();
    std::fs::write(
        images.upload_path("u", "kernel").unwrap(),
        b"not a real kernel",
    )
    .unwrap();
    images
        .commit("u", "ami-0123456789abcdef0", None, "x86_64")
        .unwrap();
    (dir, compute)
}

fn spec(count: u32, zone: Option<&str>) -> LaunchSpec {
    LaunchSpec {
        image_id: "ami-0123456789abcdef0".into(),
        // 2 vCPUs, 2 GiB: one per fake host by vCPUs.
        instance_type: "t3.small".into(),
        count,
        availability_zone: zone.map(str::to_string),
        ..LaunchSpec::default()
    }
}

fn zones(views: &[cloud::InstanceView]) -> Vec<String> {
    let mut zones: Vec<String> = views
        .iter()
        .map(|v| v.availability_zone.clone().unwrap())
        .collect();
    zones.sort();
    zones
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_spread_over_hosts_until_capacity_runs_out() {
    let (_dir, compute) = site(Weigher::Spread).await;
    let both = compute.run_instances(&spec(2, None)).await.unwrap();
    assert_eq!(zones(&both), ["test-1a", "test-1b"], "one per host");
    let addresses: std::collections::HashSet<_> =
        both.iter().map(|v| v.private_ip.clone().unwrap()).collect();
    assert_eq!(addresses.len(), 2, "addresses are unique across hosts");

    // Full: nothing more fits, and a refused launch creates nothing.
    match compute.run_instances(&spec(1, None)).await {
        Err(Error::Unavailable(message)) => {
            assert!(message.contains("insufficient capacity"), "{message}")
        }
        other => panic!("expected insufficient capacity, got {other:?}"),
    }
    let ids: Vec<String> = both.iter().map(|v| v.remote_id.clone()).collect();
    assert_eq!(compute.describe_instances(&ids).await.unwrap().len(), 2);
    // Tenant subnets reach only hosts on this machine; these are not.
    let on_subnet = LaunchSpec {
        network: Some(cloud::NetworkAttachment {
            bridge: "skb1000".into(),
            mtu: Some(1450),
            interfaces: vec![cloud::Interface {
                mac: "02:00:0a:00:00:05".into(),
                ip: "10.0.0.5".into(),
            }],
        }),
        ..spec(1, None)
    };
    match compute.run_instances(&on_subnet).await {
        Err(Error::Unavailable(message)) => {
            assert!(
                message.contains("tenant subnets") && message.contains("h1, h2"),
                "{message}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Room again once one is gone; an instance is found on whichever host has it.
    compute.terminate_instances(&ids[..1]).await.unwrap();
    let again = compute.run_instances(&spec(1, None)).await.unwrap();
    assert_eq!(zones(&again), zones(&both[..1]));
    let mut all = ids[1..].to_vec();
    all.push(again[0].remote_id.clone());
    assert_eq!(compute.terminate_instances(&all).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn zones_choose_hosts_and_pack_fills_one_first() {
    let (_dir, compute) = site(Weigher::Pack).await;
    let in_b = compute
        .run_instances(&spec(1, Some("test-1b")))
        .await
        .unwrap();
    assert_eq!(zones(&in_b), ["test-1b"]);
    // test-1b is full: a second there is refused, even though test-1a has room.
    assert!(matches!(
        compute.run_instances(&spec(1, Some("test-1b"))).await,
        Err(Error::Unavailable(_))
    ));
    assert!(matches!(
        compute.run_instances(&spec(1, Some("mars-1a"))).await,
        Err(Error::InvalidParameter { .. })
    ));
    // MaxCount 2 with one host left: all or nothing.
    assert!(compute.run_instances(&spec(2, None)).await.is_err());
    let small = LaunchSpec {
        instance_type: "t2.micro".into(), // 1 vCPU, 1 GiB
        ..spec(2, None)
    };
    let packed = compute.run_instances(&small).await.unwrap();
    assert_eq!(
        zones(&packed),
        ["test-1a", "test-1a"],
        "pack fills one host first"
    );
}
