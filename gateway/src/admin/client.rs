//! `skyport admin …`: a small client of the admin API that signs with SigV4.

use std::path::Path;

use serde_json::{json, Value};

use crate::auth::sigv4;
use crate::cli::{
    AdminArgs, AdminCommand, AdminPolicyCommand, ImageCommand, KeyCommand, PlacementCommand,
    QuotaCommand, TargetCommand, TenantCommand, UserCommand,
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

/// Runs one admin command and prints its JSON result. Returns the process exit code.
pub async fn run(args: AdminArgs) -> i32 {
    let as_text = matches!(args.command, AdminCommand::Placement(_));
    match execute(args).await {
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
    let (key, secret) = match (args.access_key_id.clone(), args.secret_access_key.clone()) {
        (Some(k), Some(s)) => (k, s),
        _ => {
            let path = args.data_dir.join("aws/credentials");
            read_profile(&path).ok_or_else(|| {
                format!(
                    "no admin key given and no [skyport] profile in {}",
                    path.display()
                )
            })?
        }
    };
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
            // The gateway reads the files: send absolute paths.
            let absolute = |p: Option<std::path::PathBuf>| -> Result<Option<String>, String> {
                p.map(|p| {
                    std::path::absolute(&p)
                        .map(|p| p.display().to_string())
                        .map_err(|e| format!("{}: {e}", p.display()))
                })
                .transpose()
            };
            (
                "POST",
                "/images".into(),
                Some(json!({
                    "name": name, "kernel": absolute(kernel)?, "initrd": absolute(initrd)?,
                    "disk": absolute(disk)?, "cmdline": cmdline, "description": description,
                    "tenant": tenant, "public": public, "architecture": architecture,
                })),
            )
        }
    };
    let url = format!(
        "{}{}{}",
        args.endpoint.trim_end_matches('/'),
        super::PREFIX,
        path
    );
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("bad endpoint {url}: {e}"))?;
    let host = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_string(),
    };
    let client_key = sigv4::ClientKey {
        access_key: &key,
        secret: &secret,
        region: "us-east-1",
        service: crate::server::ADMIN_SERVICE,
    };
    let signed = sigv4::sign_request(method, parsed.path(), &host, body.as_bytes(), &client_key);
    let mut request = reqwest::Client::new()
        .request(
            method.parse().map_err(|_| "bad method".to_string())?,
            parsed,
        )
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in signed {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", args.endpoint))?;
    let status = response.status();
    let value: Value = response
        .json()
        .await
        .map_err(|e| format!("unreadable answer ({status}): {e}"))?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!("{status}: {}", value))
    }
}
