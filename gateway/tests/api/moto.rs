//! moto_server (the AWS API emulator from PyPI) as a remote cloud for placement
//! tests: one process per "cloud", on a free loopback port, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto_server.
pub struct Moto {
    child: Option<Child>,
    pub endpoint: String,
    pub region: String,
}

fn moto_server() -> std::path::PathBuf {
    let path = std::env::var_os("SKYPORT_MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
        });
    assert!(
        path.exists(),
        "moto_server not found at {} — run scripts/test.sh, which installs it into the tool venv",
        path.display()
    );
    path
}

impl Moto {
    /// Starts a moto_server for `region` and waits until it answers.
    pub fn start(region: &str) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child: Some(child),
            endpoint,
            region: region.to_string(),
        }
    }

    /// Kills the process: the cloud becomes unreachable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The `[targets.NAME]` table pointing at this cloud.
    pub fn target_toml(&self, name: &str) -> String {
        format!(
            "[targets.{name}]\nendpoint = \"{}\"\nregion = \"{}\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\n\
             attempt_timeout_secs = 20\nmax_attempts = 2\nbreaker_cooldown_secs = 2\n",
            self.endpoint, self.region
        )
    }

    /// An EC2 client talking to this cloud directly (to see what landed there).
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_ec2::config::Region::new(self.region.clone()))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    /// An S3 client talking to this cloud directly.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// IDs of the instances this cloud runs (not terminated).
    pub async fn instance_ids(&self) -> Vec<String> {
        let out = self.ec2().describe_instances().send().await.unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .is_some_and(|n| n.as_str() != "terminated")
            })
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect()
    }

    /// The public images of this cloud (moto ships a set per region).
    pub async fn image_ids(&self) -> std::collections::BTreeSet<String> {
        let out = self
            .ec2()
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .unwrap();
        out.images()
            .iter()
            .filter_map(|i| i.image_id().map(str::to_string))
            .collect()
    }

    /// A public image this cloud and `other` both hold (Skyport places a
    /// launch only where its image is).
    pub async fn image_shared_with(&self, other: &Moto) -> String {
        let mine = self.image_ids().await;
        let theirs = other.image_ids().await;
        mine.intersection(&theirs)
            .next()
            .expect("moto's regions share some images")
            .clone()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
