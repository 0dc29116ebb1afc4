//! The `skyport` gateway: one HTTP endpoint speaking the EC2 Query API and the
//! S3 REST API, with SigV4/SigV2 auth, rate limits, metrics, and the admin API.
//! `main.rs` only parses the command line and calls [`serve`] or the admin client.

pub mod admin;
pub mod auth;
pub mod bootstrap;
pub mod catch_panic;
pub mod cli;
pub mod config;
pub mod config_load;
pub mod connection_threads;
pub mod ec2;
pub mod error;
pub mod http;
pub mod metadata;
pub mod metrics;
mod page_token;
pub mod policy_cli;
#[cfg(test)]
mod properties;
mod query_call;
pub mod ratelimit;
pub mod s3;
pub mod server;
pub mod site_cli;
pub mod sts;
mod tasks;

use std::sync::Arc;

use s3s::service::S3ServiceBuilder;

use crate::config::Config;
use crate::ratelimit::RateLimits;
use crate::server::Gateway;

/// Builds the shared state of a gateway over an opened site.
pub fn build_gateway(site: &bootstrap::Site, config: &Config) -> Gateway {
    let accounts = site.accounts.clone();
    let limits = Arc::new(RateLimits::new(&config.rate_limit));
    let remotes = site
        .targets
        .iter()
        .map(|(name, target)| (name.clone(), target.s3_service()));
    let mut builder = S3ServiceBuilder::new(s3::routed::RoutedS3::new(accounts.clone(), remotes));
    builder.set_auth(s3::auth::KeyLookup {
        accounts: accounts.clone(),
        limits: limits.clone(),
    });
    builder.set_access(s3::auth::RequireSignature);
    if !config.s3_base_domain.is_empty() {
        builder.set_host(s3::host::BaseDomain::new(&config.s3_base_domain));
    }
    Gateway {
        admin: admin::api::router(accounts.clone(), site.networks.as_ref().ok().cloned()),
        accounts,
        s3: builder.build(),
        limits,
        metrics: metrics::install(),
        zones: config.zones(),
        s3_base_domain: config
            .s3_base_domain
            .trim_end_matches('.')
            .to_ascii_lowercase(),
    }
}

/// Opens the site, binds, prints the endpoint (and first-start credentials), and serves until Ctrl-C.
pub async fn serve(config: Config) -> Result<(), String> {
    let site = bootstrap::open(&config).await.map_err(|e| e.to_string())?;
    let accounts = site.accounts.clone();
    let admin_key = bootstrap::ensure_admin(&accounts, &config)
        .await
        .map_err(|e| e.to_string())?;
    // Before serving: drop what interrupted writes left behind.
    accounts
        .objects()
        .recover_object_store()
        .await
        .map_err(|e| format!("recovering the object store: {e}"))?;
    let mut background = tasks::Tasks::default();
    tasks::start(&site, &config, &mut background);
    tracing::info!(tasks = ?background.names(), "background tasks started");
    match &site.compute {
        Ok(compute) => {
            let address = compute.metadata_addr();
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    background.spawn(
                        "metadata service",
                        metadata::serve(listener, accounts.clone(), None),
                    );
                }
                Err(e) => {
                    tracing::error!(%address, error = %e, "cannot serve instance metadata: guests will not get their keys and user-data")
                }
            }
            println!(
                "local compute: libvirt host(s) {}; instances on network {} ({}), metadata at {address}",
                compute.hosts().join(", "),
                config.compute.network,
                config.compute.cidr
            );
        }
        Err(reason) => println!("{reason}"),
    }
    match &site.networks {
        Ok(networks) => {
            let hosts: Vec<&str> = networks
                .fabric()
                .hosts()
                .iter()
                .map(|h| h.name.as_str())
                .collect();
            println!(
                "tenant networks: {} segments on host(s) {}; instances join their VPC's subnets",
                config.network.driver.name(),
                hosts.join(", ")
            );
        }
        Err(reason) => println!("{reason}"),
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("binding {}: {e}", config.bind))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let endpoint = format!("http://{address}");
    bootstrap::write_client_config(&config, &endpoint).map_err(|e| e.to_string())?;
    let gateway = Arc::new(build_gateway(&site, &config));
    let aws_dir = config.data_dir.join("aws");
    if let Some(key) = admin_key {
        println!("created tenant 'admin' with an admin key:");
        println!("admin access key id: {}", key.access_key_id);
        println!("admin secret access key: {}", key.secret_access_key);
    }
    println!(
        "client profile: AWS_SHARED_CREDENTIALS_FILE={0}/credentials AWS_CONFIG_FILE={0}/config aws --profile skyport --endpoint-url {endpoint} ec2 describe-regions",
        aws_dir.display()
    );
    println!("skyport listening on {endpoint}");
    let shutdown = async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
        tracing::info!("shutting down");
    };
    let served = server::run(listener, gateway, config.connection_threads, shutdown).await;
    background.shutdown().await;
    served.map_err(|e| e.to_string())?;
    accounts.db().close().await;
    Ok(())
}
