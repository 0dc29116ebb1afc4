//! Test fixtures: a real `skyport` process on a loopback port, per database,
//! and SDK clients pointed at it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_ec2::config::{Credentials, Region};
use sqlx::Connection;

/// Which database a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases in.
fn postgres_admin_url() -> String {
    std::env::var("SKYPORT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

/// A running gateway, killed on drop.
pub struct Server {
    child: Child,
    pub endpoint: String,
    pub port: u16,
    pub access_key: String,
    pub secret_key: String,
    pub data_dir: PathBuf,
    pub database: Database,
    database_url: Option<String>,
    config_path: Option<PathBuf>,
    _tmp: tempfile::TempDir,
    pg_database: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(name) = self.pg_database.take() {
            // Best effort: a leftover test database is harmless.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

async fn fresh_postgres_database() -> (String, String) {
    let admin_url = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed for these tests (scripts/test.sh starts it): {e}"));
    let name = format!("skyport_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    (format!("{base}/{name}"), name)
}

/// Spawns `skyport serve` and waits for its endpoint line; returns the child,
/// the endpoint and the first-start admin key, if printed.
fn spawn(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    config: Option<&std::path::Path>,
) -> (Child, String, Option<(String, String)>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_skyport"));
    // Local compute is proven by its own tests; these gateways share no libvirt network.
    command.env("SKYPORT_COMPUTE", "false");
    command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--log",
            "warn,s3s=off",
            "--data-dir",
        ])
        .arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database", url]);
    }
    if let Some(path) = config {
        command.arg("--config").arg(path);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn skyport");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut endpoint, mut access_key, mut secret_key) = (None, None, None);
    while endpoint.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("skyport did not print its endpoint");
        if let Some(v) = line.strip_prefix("skyport listening on ") {
            endpoint = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("admin access key id: ") {
            access_key = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("admin secret access key: ") {
            secret_key = Some(v.to_string());
        }
    }
    (child, endpoint.unwrap(), access_key.zip(secret_key))
}

impl Server {
    /// Starts a gateway on `database` with an optional TOML config.
    pub async fn start(database: Database, config_toml: Option<&str>) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut pg_database = None;
        let mut database_url = None;
        if database == Database::Postgres {
            let (url, name) = fresh_postgres_database().await;
            database_url = Some(url);
            pg_database = Some(name);
        }
        let config_path = config_toml.map(|toml| {
            let path = tmp.path().join("skyport.toml");
            std::fs::write(&path, toml).unwrap();
            path
        });
        let (child, endpoint, key) =
            spawn(&data_dir, database_url.as_deref(), config_path.as_deref());
        let (access_key, secret_key) = key.expect("first start prints the admin key");
        let port = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            endpoint,
            port,
            access_key,
            secret_key,
            data_dir,
            database,
            database_url,
            config_path,
            _tmp: tmp,
            pg_database,
        }
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the gateway again on the same data directory and database.
    pub fn restart(&mut self) {
        self.kill();
        let (child, endpoint, _) = spawn(
            &self.data_dir,
            self.database_url.as_deref(),
            self.config_path.as_deref(),
        );
        self.child = child;
        self.port = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        self.endpoint = endpoint;
    }

    /// A second gateway on the same database and data directory (the
    /// README's several gateways on PostgreSQL), with the same keys.
    pub fn peer(&self) -> Server {
        let (child, endpoint, _) = spawn(
            &self.data_dir,
            self.database_url.as_deref(),
            self.config_path.as_deref(),
        );
        Server {
            child,
            port: endpoint.rsplit(':').next().unwrap().parse().unwrap(),
            endpoint,
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            data_dir: self.data_dir.clone(),
            database: self.database,
            database_url: self.database_url.clone(),
            config_path: self.config_path.clone(),
            _tmp: tempfile::tempdir().unwrap(),
            // The first gateway owns the database.
            pg_database: None,
        }
    }

    /// The PostgreSQL URL it runs on (`None` on SQLite).
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Runs `skyport admin …` against this server and parses its JSON output.
    pub fn admin(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let output = Command::new(env!("CARGO_BIN_EXE_skyport"))
            .args(["admin", "--endpoint", &self.endpoint, "--data-dir"])
            .arg(&self.data_dir)
            .args(args)
            .output()
            .expect("run skyport admin");
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).expect("admin prints JSON"))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A new tenant with its own key.
    pub fn tenant(&self, name: &str) -> Keys {
        self.admin(&["tenant", "create", name])
            .expect("create tenant");
        let key = self
            .admin(&["key", "create", "--tenant", name])
            .expect("create key");
        Keys {
            access_key: key["access_key_id"].as_str().unwrap().to_string(),
            secret_key: key["secret_access_key"].as_str().unwrap().to_string(),
        }
    }

    /// The admin tenant's keys.
    pub fn admin_keys(&self) -> Keys {
        Keys {
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
        }
    }

    pub fn ec2(&self, keys: &Keys) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                &keys.access_key,
                &keys.secret_key,
                None,
                None,
                "test",
            ))
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    pub fn s3(&self, keys: &Keys) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &keys.access_key,
                &keys.secret_key,
                None,
                None,
                "test",
            ))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// An access key pair.
#[derive(Clone)]
pub struct Keys {
    pub access_key: String,
    pub secret_key: String,
}

/// Runs a test body against a server on SQLite, then one on PostgreSQL.
pub async fn on_both_databases<F, Fut>(body: F)
where
    F: Fn(Server) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for database in [Database::Sqlite, Database::Postgres] {
        body(Server::start(database, None).await).await;
    }
}

/// The EC2 error code of an SDK error.
pub fn ec2_code<E, R>(error: &aws_sdk_ec2::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
        .unwrap_or_else(|| format!("not a service error: {error:?}"))
}

/// The S3 error code of an SDK error.
pub fn s3_code<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
        .unwrap_or_else(|| format!("not a service error: {error:?}"))
}

/// TCP 22 from `cidr`, the rule most tests grant.
pub fn ssh_from(cidr: &str) -> aws_sdk_ec2::types::IpPermission {
    aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(cidr).build())
        .build()
}
