//! A real guest on the local libvirt: launch from the test image, see its boot
//! and DHCP markers on the console, stop, start, terminate. Needs root, a
//! running libvirtd and the test image: `scripts/test.sh` provides all three
//! (SKYPORT_TEST_IMAGE_DIR points at scripts/build-test-image.sh's output).

use std::time::{Duration, Instant};

use cloud::{Compute, InstanceState, LaunchSpec};
use local_backend::{ComputeConfig, LibvirtCompute};

fn image_dir() -> std::path::PathBuf {
    std::env::var_os("SKYPORT_TEST_IMAGE_DIR")
        .expect("SKYPORT_TEST_IMAGE_DIR is not set: run the tests through scripts/test.sh, which starts libvirtd and builds the test image")
        .into()
}

async fn wait_for_console(
    compute: &LibvirtCompute,
    id: &str,
    marker: &str,
    count: usize,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (bytes, _) = compute.console_output(id).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.matches(marker).count() >= count {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {marker} (x{count}) on the console:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_state(compute: &LibvirtCompute, id: &str, state: InstanceState) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let views = compute.describe_instances(&[id.to_string()]).await.unwrap();
        if views.first().map(|v| v.state) == Some(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {state:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Puts the test image's kernel and initrd (and an empty qcow2 disk of
/// `disk_size`) in upload `upload`.
fn stage_test_image(compute: &LibvirtCompute, upload: &str, disk_size: Option<&str>) {
    let images = compute.images();
    for (file, role) in [("vmlinuz", "kernel"), ("initrd.cpio.gz", "initrd")] {
        std::fs::copy(
            image_dir().join(file),
            images.upload_path(upload, role).unwrap(),
        )
        .unwrap();
    }
    if let Some(size) = disk_size {
        let made = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(images.upload_path(upload, "disk").unwrap())
            .arg(size)
            .status()
            .unwrap();
        assert!(made.success());
    }
}

fn commit_test_image(compute: &LibvirtCompute, upload: &str, image_id: &str) {
    compute
        .images()
        .commit(
            upload,
            image_id,
            Some("console=ttyS0 quiet panic=-1".into()),
            "x86_64",
        )
        .unwrap();
}

/// Removes a domain even when the test fails half-way.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        virsh(&["destroy", &self.0]);
        virsh(&["undefine", &self.0]);
    }
}

fn virsh(args: &[&str]) {
    let _ = std::process::Command::new("virsh")
        .args(["-q", "-c", "qemu:///system"])
        .args(args)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_boots_stops_starts_and_terminates() {
    // This test's network starts fresh: dnsmasq offers an address only to its
    // last holder, and may remember one from an earlier run.
    virsh(&["net-destroy", "skyport-lbtest"]);
    virsh(&["net-undefine", "skyport-lbtest"]);
    let _ = std::fs::remove_file("/var/lib/libvirt/dnsmasq/skylbtest0.status");
    let dir = tempfile::tempdir().unwrap();
    let config = ComputeConfig {
        network: "skyport-lbtest".into(),
        bridge: "skylbtest0".into(),
        cidr: "10.252.7.0/24".into(),
        nat: false,
        metadata_port: 18775,
        instances_dir: dir.path().join("instances"),
        images_dir: dir.path().join("images"),
        availability_zone: "test-1a".into(),
        stop_timeout_secs: 30.0,
        ..ComputeConfig::default()
    };
    let compute = tokio::task::spawn_blocking(move || LibvirtCompute::open(config, "test-1"))
        .await
        .unwrap()
        .expect("libvirt");
    stage_test_image(&compute, "u1", None);
    commit_test_image(&compute, "u1", "ami-0123456789abcdef0");

    let views = compute
        .run_instances(&LaunchSpec {
            image_id: "ami-0123456789abcdef0".into(),
            instance_type: "t3.nano".into(),
            count: 1,
            ..LaunchSpec::default()
        })
        .await
        .unwrap();
    let id = views[0].remote_id.clone();
    let _cleanup = Cleanup(id.clone());
    let ip = views[0].private_ip.clone().unwrap();
    assert!(ip.starts_with("10.252.7."), "{ip}");
    assert_eq!(views[0].availability_zone.as_deref(), Some("test-1a"));

    let console = wait_for_console(&compute, &id, "SKYPORT-GUEST-DONE", 1).await;
    assert!(
        console.contains(&format!("SKYPORT-GUEST-IP {ip}")),
        "the guest got another address:\n{console}"
    );
    // No metadata service listens in this test, but the route to it exists.
    assert!(
        console.contains("SKYPORT-METADATA-UNREACHABLE"),
        "{console}"
    );
    assert!(!console.contains("Network is unreachable"), "{console}");
    wait_for_state(&compute, &id, InstanceState::Running).await;

    // Stop is a clean ACPI shutdown: the guest sees the power button.
    let changes = compute
        .stop_instances(std::slice::from_ref(&id), false)
        .await
        .unwrap();
    assert_eq!(changes[0].previous, InstanceState::Running);
    assert_eq!(changes[0].current, InstanceState::Stopping);
    wait_for_state(&compute, &id, InstanceState::Stopped).await;
    wait_for_console(&compute, &id, "SKYPORT-GUEST-POWEROFF", 1).await;

    let changes = compute
        .start_instances(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(changes[0].current, InstanceState::Pending);
    wait_for_console(&compute, &id, "SKYPORT-GUEST-IP", 2).await;

    // Reboot: shut down cleanly, then up again in place.
    compute
        .reboot_instances(std::slice::from_ref(&id))
        .await
        .unwrap();
    wait_for_console(&compute, &id, "SKYPORT-GUEST-BOOTED", 3).await;
    wait_for_state(&compute, &id, InstanceState::Running).await;

    // Force: off at once, no shutdown seen by the guest.
    let changes = compute
        .stop_instances(std::slice::from_ref(&id), true)
        .await
        .unwrap();
    assert_eq!(changes[0].current, InstanceState::Stopped);
    let (console, _) = compute.console_output(&id).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&console)
            .matches("SKYPORT-GUEST-POWEROFF")
            .count(),
        2
    );

    let changes = compute
        .terminate_instances(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(changes[0].current, InstanceState::Terminated);
    assert!(compute
        .describe_instances(std::slice::from_ref(&id))
        .await
        .unwrap()
        .is_empty());
    let out = std::process::Command::new("virsh")
        .args(["-c", "qemu:///system", "dominfo", &id])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the domain is still defined");
}

/// A host that does not see this machine's files (as `qemu+ssh://` hosts do
/// not): the image reaches it through a libvirt storage pool, the instance's
/// disk is an overlay volume libvirt makes there, and its console is read
/// back through libvirt. (The host is this machine's libvirtd; the pool's
/// directory is one the gateway's own directories do not contain.)
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_on_a_host_without_shared_files_boots_from_its_storage_pool() {
    virsh(&["net-destroy", "skyport-lbpool"]);
    virsh(&["net-undefine", "skyport-lbpool"]);
    virsh(&["pool-destroy", "skyport-lbtest"]);
    virsh(&["pool-undefine", "skyport-lbtest"]);
    let _ = std::fs::remove_file("/var/lib/libvirt/dnsmasq/skylbpool0.status");
    let dir = tempfile::tempdir().unwrap();
    let pool_dir = dir.path().join("host-pool");
    let config = ComputeConfig {
        network: "skyport-lbpool".into(),
        bridge: "skylbpool0".into(),
        cidr: "10.252.11.0/24".into(),
        nat: false,
        metadata_port: 18776,
        instances_dir: dir.path().join("instances"),
        images_dir: dir.path().join("images"),
        availability_zone: "test-1a".into(),
        hosts: vec![local_backend::HostConfig {
            name: "far".into(),
            uri: "qemu:///system".into(),
            availability_zone: "test-1a".into(),
            storage_pool: Some("skyport-lbtest".into()),
            storage_pool_path: pool_dir.clone(),
        }],
        ..ComputeConfig::default()
    };
    let compute = tokio::task::spawn_blocking(move || LibvirtCompute::open(config, "test-1"))
        .await
        .unwrap()
        .expect("libvirt");
    // A data disk too, to show instance disks are made on the host from the image's.
    stage_test_image(&compute, "u2", Some("64M"));
    commit_test_image(&compute, "u2", "ami-0fedcba9876543210");
    let launch = LaunchSpec {
        image_id: "ami-0fedcba9876543210".into(),
        instance_type: "t3.nano".into(),
        count: 1,
        ..LaunchSpec::default()
    };
    let views = compute.run_instances(&launch).await.unwrap();
    let id = views[0].remote_id.clone();
    let _cleanup = Cleanup(id.clone());
    let ip = views[0].private_ip.clone().unwrap();

    let console = wait_for_console(&compute, &id, "SKYPORT-GUEST-DONE", 1).await;
    assert!(
        console.contains(&format!("SKYPORT-GUEST-IP {ip}")),
        "{console}"
    );
    // The domain boots from the pool's copies, not from the gateway's files.
    let xml = std::process::Command::new("virsh")
        .args(["-c", "qemu:///system", "dumpxml", &id])
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&xml.stdout);
    let pool_path = pool_dir.to_string_lossy();
    for file in [
        "image-ami-0fedcba9876543210-kernel".to_string(),
        "image-ami-0fedcba9876543210-initrd".to_string(),
        format!("{id}-root.qcow2"),
        format!("{id}.console.log"),
    ] {
        assert!(
            xml.contains(&format!("{pool_path}/{file}")),
            "{file} not in:\n{xml}"
        );
    }
    assert!(
        !xml.contains(&*dir.path().join("images").to_string_lossy()),
        "{xml}"
    );

    // A second instance reuses the uploaded image.
    let second = compute.run_instances(&launch).await.unwrap();
    let _cleanup_second = Cleanup(second[0].remote_id.clone());
    compute
        .terminate_instances(&[second[0].remote_id.clone()])
        .await
        .unwrap();

    compute
        .stop_instances(std::slice::from_ref(&id), false)
        .await
        .unwrap();
    wait_for_state(&compute, &id, InstanceState::Stopped).await;
    wait_for_console(&compute, &id, "SKYPORT-GUEST-POWEROFF", 1).await;
    compute
        .terminate_instances(std::slice::from_ref(&id))
        .await
        .unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&pool_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "image-ami-0fedcba9876543210-disk",
            "image-ami-0fedcba9876543210-disk.done",
            "image-ami-0fedcba9876543210-initrd",
            "image-ami-0fedcba9876543210-initrd.done",
            "image-ami-0fedcba9876543210-kernel",
            "image-ami-0fedcba9876543210-kernel.done",
        ]
    );
    virsh(&["pool-destroy", "skyport-lbtest"]);
    virsh(&["pool-undefine", "skyport-lbtest"]);
}
