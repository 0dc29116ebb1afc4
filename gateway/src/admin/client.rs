//! `skyport admin …`: a small client of the admin API that signs with SigV4.

use std::path::Path;

use serde_json::{json, Value};

use crate::auth::sigv4;
use crate::cli::{
    AdminArgs, AdminCommand, AdminPolicyCommand, ImageCommand, KeyCommand, NetworkCommand,
    PlacementCommand, QuotaCommand, TargetCommand, TenantCommand, UserCommand,
};

/// Reads the `skyport` profile from an AWS-style credentials file.
pub fn read_profile(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_profile = false;
    let (mut key, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_profile = line == "[skyport]";
        } else if in_profile {
            if let Some((name, value)) = line.split_once('=') {
                match name.trim() {
                    "aws_access_key_id" => key = Some(value.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
    }
    Some((key?, secret?))
}

/// The gateway and admin key a command uses. Flags win; what they leave
/// open comes from the site's configuration, read as `skyport serve` reads
/// it (`--config`, else ./skyport.toml; `--data-dir` overrides its data_dir):
/// the key from `<data_dir>/aws/credentials`, the endpoint from the
/// `<data_dir>/aws/config` the running gateway wrote, else from `bind`.
fn session(args: &AdminArgs) -> Result<Session, String> {
    let given = (args.access_key_id.clone(), args.secret_access_key.clone());
    if let (Some(endpoint), (Some(key), Some(secret))) = (&args.endpoint, &given) {
        return Ok(Session {
            endpoint: endpoint.clone(),
            key: key.clone(),
            secret: secret.clone(),
        });
    }
    let config = crate::config_load::load(&crate::cli::ServeArgs {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        ..Default::default()
    })?;
    let endpoint = match &args.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => profile_endpoint(&config.data_dir.join("aws/config"))
            .unwrap_or_else(|| bind_endpoint(config.bind)),
    };
    let (key, secret) = match given {
        (Some(key), Some(secret)) => (key, secret),
        _ => {
            let path = config.data_dir.join("aws/credentials");
            read_profile(&path).ok_or_else(|| {
                format!(
                    "no admin key given and no [skyport] profile in {} (is this the data_dir \
                     of the gateway's configuration? see --config and --data-dir)",
                    path.display()
                )
            })?
        }
    };
    Ok(Session {
        endpoint,
        key,
        secret,
    })
}

/// `endpoint_url` of the `skyport` profile in an AWS config file.
fn profile_endpoint(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_profile = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_profile = line == "[profile skyport]";
        } else if in_profile {
            if let Some(("endpoint_url", value)) =
                line.split_once('=').map(|(k, v)| (k.trim(), v.trim()))
            {
                return Some(value.to_string());
            }
        }
    }
    None
}

/// The endpoint a client on this machine reaches a gateway bound to `bind` at.
fn bind_endpoint(bind: std::net::SocketAddr) -> String {
    let host = match bind.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", bind.port())
}

/// Runs one admin command and prints its JSON result. Returns the process exit code.
pub async fn run(args: AdminArgs) -> i32 {
    let as_text = matches!(args.command, AdminCommand::Placement(_));
    let plumbing = matches!(args.command, AdminCommand::Network(_));
    match execute(args).await {
        Ok(value) if plumbing => {
            print!("{}", value["plumbing"].as_str().unwrap_or_default());
            0
        }
        Ok(value) if as_text => {
            // The decision is multi-line text: print it as such.
            for field in ["resource_id", "tenant", "resource_kind", "target"] {
                println!("{field}: {}", value[field].as_str().unwrap_or_default());
            }
            print!("{}", value["decision"].as_str().unwrap_or_default());
            0
        }
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            0
        }
        Err(message) => {
            eprintln!("skyport admin: {message}");
            1
        }
    }
}

async fn execute(args: AdminArgs) -> Result<Value, String> {
    let session = session(&args)?;
    let (method, path, body): (&str, String, Option<Value>) = match args.command {
        AdminCommand::Tenant(TenantCommand::Create { name }) => {
            ("POST", "/tenants".into(), Some(json!({ "name": name })))
        }
        AdminCommand::Tenant(TenantCommand::List) => ("GET", "/tenants".into(), None),
        AdminCommand::Tenant(TenantCommand::Delete { name }) => {
            ("DELETE", format!("/tenants/{name}"), None)
        }
        AdminCommand::User(UserCommand::Create {
            tenant,
            name,
            admin,
        }) => (
            "POST",
            format!("/tenants/{tenant}/users"),
            Some(json!({ "name": name, "admin": admin })),
        ),
        AdminCommand::User(UserCommand::List { tenant }) => {
            ("GET", format!("/tenants/{tenant}/users"), None)
        }
        AdminCommand::User(UserCommand::Delete { tenant, name }) => {
            ("DELETE", format!("/tenants/{tenant}/users/{name}"), None)
        }
        AdminCommand::Key(KeyCommand::Create { tenant, user }) => (
            "POST",
            format!("/tenants/{tenant}/keys"),
            Some(json!({ "user": user })),
        ),
        AdminCommand::Key(KeyCommand::List { tenant }) => {
            ("GET", format!("/tenants/{tenant}/keys"), None)
        }
        AdminCommand::Key(KeyCommand::Revoke { access_key_id }) => {
            ("DELETE", format!("/keys/{access_key_id}"), None)
        }
        AdminCommand::Quota(QuotaCommand::Show { tenant }) => {
            ("GET", format!("/tenants/{tenant}"), None)
        }
        AdminCommand::Quota(QuotaCommand::Set {
            tenant,
            instances,
            vcpus,
            volume_gib,
            buckets,
            stored_bytes,
        }) => (
            "PUT",
            format!("/tenants/{tenant}/quotas"),
            Some(
                json!({ "instances": instances, "vcpus": vcpus, "volume_gib": volume_gib, "buckets": buckets, "stored_bytes": stored_bytes }),
            ),
        ),
        AdminCommand::Placement(PlacementCommand::Show { id }) => {
            ("GET", format!("/placements/{id}"), None)
        }
        AdminCommand::Policy(AdminPolicyCommand::Status) => ("GET", "/policies".into(), None),
        AdminCommand::Target(TargetCommand::List) => ("GET", "/targets".into(), None),
        AdminCommand::Network(NetworkCommand::Show { vpc }) => {
            ("GET", format!("/networks/{vpc}"), None)
        }
        AdminCommand::Image(ImageCommand::Share {
            image,
            target,
            tenant,
        }) => (
            "PUT",
            format!("/image-shares/{target}/{image}/{tenant}"),
            None,
        ),
        AdminCommand::Image(ImageCommand::Unshare {
            image,
            target,
            tenant,
        }) => (
            "DELETE",
            format!("/image-shares/{target}/{image}/{tenant}"),
            None,
        ),
        AdminCommand::Image(ImageCommand::Shares) => ("GET", "/image-shares".into(), None),
        AdminCommand::Image(ImageCommand::Import {
            name,
            kernel,
            initrd,
            disk,
            cmdline,
            description,
            tenant,
            public,
            architecture,
        }) => {
            let upload = hex::encode(rand::random::<[u8; 8]>());
            for (file, source) in [("kernel", kernel), ("initrd", initrd), ("disk", disk)] {
                if let Some(source) = source {
                    session
                        .upload(&format!("/image-uploads/{upload}/{file}"), &source, file)
                        .await?;
                }
            }
            (
                "POST",
                "/images".into(),
                Some(json!({
                    "name": name, "upload": upload, "cmdline": cmdline, "description": description,
                    "tenant": tenant, "public": public, "architecture": architecture,
                })),
            )
        }
    };
    session.json(method, &path, body).await
}

/// Where admin requests go and the key that signs them.
struct Session {
    endpoint: String,
    key: String,
    secret: String,
}

impl Session {
    /// The URL of an admin path and the Host it is signed for.
    fn url(&self, path: &str) -> Result<(reqwest::Url, String), String> {
        let url = format!(
            "{}{}{}",
            self.endpoint.trim_end_matches('/'),
            super::PREFIX,
            path
        );
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("bad endpoint {url}: {e}"))?;
        let host = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        Ok((parsed, host))
    }

    fn client_key(&self) -> sigv4::ClientKey<'_> {
        sigv4::ClientKey {
            access_key: &self.key,
            secret: &self.secret,
            region: "us-east-1",
            service: crate::server::ADMIN_SERVICE,
        }
    }

    /// One JSON request.
    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (url, host) = self.url(path)?;
        let signed = sigv4::sign_request(
            method,
            url.path(),
            &host,
            body.as_bytes(),
            &self.client_key(),
        );
        let mut request = reqwest::Client::new()
            .request(method.parse().map_err(|_| "bad method".to_string())?, url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        self.answer(request.send().await).await
    }

    /// Streams a file as the body of a PUT, showing progress on stderr.
    async fn upload(
        &self,
        path: &str,
        file: &std::path::Path,
        label: &str,
    ) -> Result<Value, String> {
        use tokio::io::AsyncReadExt;
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let total = opened
            .metadata()
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?
            .len();
        let label = label.to_string();
        let progress = Progress::new(label.clone(), total);
        let chunks = futures::stream::try_unfold(
            (opened, progress),
            |(mut file, mut progress)| async move {
                let mut buffer = vec![0u8; 256 * 1024];
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    progress.finish();
                    return Ok::<_, std::io::Error>(None);
                }
                buffer.truncate(read);
                progress.advance(read as u64);
                Ok(Some((bytes::Bytes::from(buffer), (file, progress))))
            },
        );
        let (url, host) = self.url(path)?;
        let signed = sigv4::sign_unsigned_payload("PUT", url.path(), &host, &self.client_key());
        let mut request = reqwest::Client::new()
            .put(url)
            .header("content-length", total)
            .body(reqwest::Body::wrap_stream(chunks));
        for (name, value) in signed {
            request = request.header(name, value);
        }
        self.answer(request.send().await).await
    }

    async fn answer(&self, sent: reqwest::Result<reqwest::Response>) -> Result<Value, String> {
        let response = sent.map_err(|e| format!("cannot reach {}: {e}", self.endpoint))?;
        let status = response.status();
        let value: Value = response
            .json()
            .await
            .map_err(|e| format!("unreadable answer ({status}): {e}"))?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("{status}: {value}"))
        }
    }
}

/// A one-line progress bar on stderr, redrawn at most every 1 %.
struct Progress {
    label: String,
    total: u64,
    done: u64,
    shown: u64,
}

impl Progress {
    fn new(label: String, total: u64) -> Progress {
        Progress {
            label,
            total,
            done: 0,
            shown: u64::MAX,
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        if percent != self.shown {
            self.shown = percent;
            let width = 30;
            let filled = (percent as usize * width / 100).min(width);
            eprint!(
                "\r{:>7} [{}{}] {:3}% {:.1}/{:.1} MiB",
                self.label,
                "#".repeat(filled),
                " ".repeat(width - filled),
                percent,
                self.done as f64 / 1048576.0,
                self.total as f64 / 1048576.0
            );
        }
    }

    fn finish(&mut self) {
        eprintln!();
    }
}
