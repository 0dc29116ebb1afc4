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
    let images = compute.images();
    std::fs::copy(
        image_dir().join("vmlinuz"),
        images.upload_path("u1", "kernel").unwrap(),
    )
    .unwrap();
    std::fs::copy(
        image_dir().join("initrd.cpio.gz"),
        images.upload_path("u1", "initrd").unwrap(),
    )
    .unwrap();
    images
        .commit(
            "u1",
            "ami-0123456789abcdef0",
            Some("console=ttyS0 quiet panic=-1".into()),
            "x86_64",
        )
        .unwrap();

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
