//! The admin API and CLI: tenants, users, keys, quotas.

use crate::common::{ec2_code, on_both_databases};

#[tokio::test]
async fn admin_cli_manages_tenants_users_and_keys() {
    on_both_databases(|server| async move {
        let tenant = server.admin(&["tenant", "create", "acme"]).unwrap();
        assert_eq!(tenant["name"], "acme");
        assert_eq!(tenant["account_id"].as_str().unwrap().len(), 12);
        let err = server.admin(&["tenant", "create", "acme"]).unwrap_err();
        assert!(err.contains("AlreadyExists"), "{err}");
        let err = server
            .admin(&["tenant", "create", "Not Valid"])
            .unwrap_err();
        assert!(err.contains("InvalidParameter"), "{err}");

        let tenants = server.admin(&["tenant", "list"]).unwrap();
        let names: Vec<_> = tenants
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["acme", "admin"]);

        server
            .admin(&["user", "create", "--tenant", "acme", "ops"])
            .unwrap();
        let key = server
            .admin(&["key", "create", "--tenant", "acme", "--user", "ops"])
            .unwrap();
        let access = key["access_key_id"].as_str().unwrap().to_string();
        assert!(access.starts_with("AKIA") && access.len() == 20);
        assert_eq!(key["secret_access_key"].as_str().unwrap().len(), 40);
        let keys = server.admin(&["key", "list", "--tenant", "acme"]).unwrap();
        assert_eq!(keys[0]["access_key_id"], access.as_str());
        assert!(
            keys[0].get("secret_access_key").is_none(),
            "listings never show secrets"
        );

        let creds = crate::common::Keys {
            access_key: access.clone(),
            secret_key: key["secret_access_key"].as_str().unwrap().into(),
        };
        let ec2 = server.ec2(&creds);
        ec2.describe_regions().send().await.unwrap();
        server.admin(&["key", "revoke", &access]).unwrap();
        let err = ec2.describe_regions().send().await.unwrap_err();
        assert_eq!(ec2_code(&err), "AuthFailure");

        let quotas = server
            .admin(&[
                "quota",
                "set",
                "--tenant",
                "acme",
                "--instances",
                "4",
                "--vcpus",
                "8",
            ])
            .unwrap();
        assert_eq!(quotas["quotas"]["instances"], 4);
        assert_eq!(quotas["quotas"]["buckets"], serde_json::Value::Null);

        let users = server.admin(&["user", "list", "--tenant", "acme"]).unwrap();
        assert_eq!(users.as_array().unwrap().len(), 1);
        server
            .admin(&["user", "delete", "--tenant", "acme", "ops"])
            .unwrap();
        server.admin(&["tenant", "delete", "acme"]).unwrap();
        let err = server.admin(&["tenant", "delete", "acme"]).unwrap_err();
        assert!(err.contains("NotFound"), "{err}");

        // Secrets are sealed at rest: the database file never holds the plain secret.
        if server.database == crate::common::Database::Sqlite {
            let db = std::fs::read(server.data_dir.join("skyport.db")).unwrap();
            let wal = std::fs::read(server.data_dir.join("skyport.db-wal")).unwrap_or_default();
            let secret = server.secret_key.as_bytes();
            let contains = |hay: &[u8]| hay.windows(secret.len()).any(|w| w == secret);
            assert!(
                !contains(&db) && !contains(&wal),
                "plain secret found in the database"
            );
        }
    })
    .await;
}

/// `skyport admin` reads the site's configuration as `skyport serve` does:
/// its (relative) data_dir holds the key, and the gateway's own
/// `aws/config` names the endpoint, so no flag is needed.
#[tokio::test]
async fn admin_cli_follows_the_configuration_file() {
    let server = crate::common::Server::start(crate::common::Database::Sqlite, None).await;
    let site = server.data_dir.parent().unwrap();
    std::fs::write(site.join("site.toml"), "data_dir = \"data\"\n").unwrap();
    let admin = |dir: &std::path::Path, args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_skyport"));
        for (name, _) in std::env::vars() {
            if name.starts_with("SKYPORT_") {
                command.env_remove(name);
            }
        }
        command
            .current_dir(dir)
            .arg("admin")
            .args(args)
            .output()
            .unwrap()
    };
    let listed = admin(site, &["--config", "site.toml", "tenant", "list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let tenants: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(tenants[0]["name"], "admin");
    // ./skyport.toml is read when no --config is given, as serve reads it.
    std::fs::rename(site.join("site.toml"), site.join("skyport.toml")).unwrap();
    assert!(admin(site, &["tenant", "list"]).status.success());
    // Elsewhere, the default ./skyport-data holds no key: the error says where it looked.
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = admin(elsewhere.path(), &["tenant", "list"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    let looked = std::fs::canonicalize(elsewhere.path())
        .unwrap()
        .join("skyport-data/aws/credentials");
    assert!(stderr.contains(&looked.display().to_string()), "{stderr}");
}
