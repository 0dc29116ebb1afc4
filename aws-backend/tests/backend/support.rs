//! Shared fixtures: target configs for local endpoints, hand-written EC2 response
//! bodies (AWS's shapes), and a moto_server process.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_backend::TargetConfig;

/// A config for `endpoint` with short backoffs, so retries do not slow the tests.
pub fn config(endpoint: &str) -> TargetConfig {
    let mut config = TargetConfig::new(
        Some(endpoint.to_owned()),
        "us-east-1",
        "AKIDSKYPORTTEST",
        "skyport-test-secret",
    );
    config.initial_backoff = Duration::from_millis(10);
    config
}

/// A DescribeInstances answer holding one running instance.
pub fn describe_instances_body(instance_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-1234567890abcdef0</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>{instance_id}</instanceId>
                    <imageId>ami-0abcdef1234567890</imageId>
                    <instanceState><code>16</code><name>running</name></instanceState>
                    <privateDnsName>ip-10-0-0-157.ec2.internal</privateDnsName>
                    <keyName>my-key</keyName>
                    <instanceType>t3.micro</instanceType>
                    <launchTime>2024-05-01T10:00:00.000Z</launchTime>
                    <placement><availabilityZone>us-east-1a</availabilityZone><tenancy>default</tenancy></placement>
                    <privateIpAddress>10.0.0.157</privateIpAddress>
                    <architecture>x86_64</architecture>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
</DescribeInstancesResponse>"#
    )
}

/// A DescribeAvailabilityZones answer (what `probe()` calls).
pub fn describe_availability_zones_body() -> &'static str {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>e23c7d6b-a55a-4c60-example</requestId>
    <availabilityZoneInfo>
        <item>
            <zoneName>us-east-1a</zoneName>
            <zoneState>available</zoneState>
            <regionName>us-east-1</regionName>
            <zoneId>use1-az1</zoneId>
        </item>
    </availabilityZoneInfo>
</DescribeAvailabilityZonesResponse>"#
}

/// An EC2 error document.
pub fn ec2_error_body(code: &str, message: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"#
    )
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto_server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Option<Child>,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto_server from the tool venv and waits until it accepts connections.
    pub fn start() -> Moto {
        let executable = std::env::var_os("SKYPORT_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
            });
        assert!(
            executable.exists(),
            "moto_server not found at {}: run scripts/test.sh (it creates the tool venv with moto[server]) \
             or point SKYPORT_MOTO_SERVER at a moto_server executable",
            executable.display()
        );
        let port = free_port();
        let child = Command::new(&executable)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", executable.display()));
        let mut moto = Moto {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(status) = moto.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("moto_server exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {address} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Kills the server (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
