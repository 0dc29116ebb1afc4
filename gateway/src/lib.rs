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
pub mod metadata;
pub mod metrics;
pub mod policy_cli;
#[cfg(test)]
mod properties;
mod query_call;
pub mod ratelimit;
pub mod s3;
pub mod server;
pub mod site_cli;
pub mod sts;
pub mod tenant_networks;

use std::sync::Arc;

use s3s::service::S3ServiceBuilder;

use crate::config::Config;
use crate::ratelimit::RateLimits;
use crate::server::Gateway;

/// Builds the shared state of a gateway over an opened site.
pub fn build_gateway(site: &bootstrap::Site, config: &Config) -> Gateway {
    let federation = site.federation.clone();
    let limits = Arc::new(RateLimits::new(&config.rate_limit));
    let mut builder =
        S3ServiceBuilder::new(s3::routed::RoutedS3::new(federation.clone(), &site.targets));
    builder.set_auth(s3::auth::KeyLookup {
        federation: federation.clone(),
        limits: limits.clone(),
    });
    builder.set_access(s3::auth::RequireSignature);
    if !config.s3_base_domain.is_empty() {
        builder.set_host(s3::host::BaseDomain::new(&config.s3_base_domain));
    }
    Gateway {
        admin: admin::api::router(
            federation.clone(),
            site.compute.as_ref().ok().map(|c| c.images().clone()),
            site.networks.as_ref().ok().cloned(),
        ),
        federation,
        s3: builder.build(),
        limits,
        metrics: metrics::install(),
        zones: config.zones(),
        s3_base_domain: config
            .s3_base_domain
            .trim_end_matches('.')
            .to_ascii_lowercase(),
        images: site.compute.as_ref().ok().map(|c| c.images().clone()),
    }
}

/// Hourly: aborts multipart uploads left unfinished for longer than `hours`
/// and forgets instances terminated over an hour ago.
async fn hourly_sweeps(federation: federation::Federation, hours: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = federation::db::now_ms() - (hours as i64) * 3_600_000;
        match federation.expire_multipart_uploads(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(aborted = n, "aborted abandoned multipart uploads"),
            Err(e) => tracing::warn!(error = %e, "expiring multipart uploads failed"),
        }
        if let Err(e) = federation.purge_terminated_instances().await {
            tracing::warn!(error = %e, "purging terminated instances failed");
        }
    }
}

/// Applies buckets' lifecycle rules every `interval_secs`.
async fn apply_lifecycle_rules(federation: federation::Federation, interval_secs: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval_secs.max(1)));
    loop {
        tick.tick().await;
        if let Err(e) = federation
            .apply_lifecycle(federation::bucket_settings::lifecycle_now(), 1000)
            .await
        {
            tracing::warn!(error = %e, "applying lifecycle rules failed");
        }
    }
}

/// Reloads the placement policies when their files change; a broken edit is
/// logged and refused, and the policies in force stay.
async fn watch_policies(federation: federation::Federation, interval_secs: f64) {
    let mut tick =
        tokio::time::interval(std::time::Duration::from_secs_f64(interval_secs.max(0.1)));
    loop {
        tick.tick().await;
        // Errors are logged and kept in the policy status by the placement itself.
        let _ = federation.placement().reload_if_changed();
    }
}

/// Probes the remote targets, so a target that came back is used again.
async fn probe_targets(federation: federation::Federation, interval_secs: f64) {
    let mut tick =
        tokio::time::interval(std::time::Duration::from_secs_f64(interval_secs.max(0.1)));
    loop {
        tick.tick().await;
        federation.placement().probe_all().await;
    }
}

/// Refreshes every live instance record from its target (see
/// `Federation::sync_instances`).
async fn sync_instances(federation: federation::Federation, interval_secs: f64) {
    let mut tick =
        tokio::time::interval(std::time::Duration::from_secs_f64(interval_secs.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = federation.sync_instances().await {
            tracing::warn!(error = %e, "syncing instance states failed");
        }
    }
}

/// Refreshes an instance's record whenever libvirt reports its domain's
/// lifecycle changed (a guest that powered itself off is stopped at once).
async fn follow_lifecycle_events(
    federation: federation::Federation,
    mut events: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    while let Some(domain) = events.recv().await {
        if let Err(e) = federation.local_instance_changed(&domain).await {
            tracing::warn!(error = %e, %domain, "following a lifecycle event failed");
        }
    }
}

/// Seconds between two full passes of the tenant networks' data plane: API
/// changes apply at once; this repairs what changed behind Skyport's back
/// (a host rebooted, a device removed) and retries failed passes.
const NETWORK_REPAIR_SECS: f64 = 30.0;

/// Makes the hosts match the records: at start, then every `interval_secs`.
async fn repair_networks(federation: federation::Federation, interval_secs: f64) {
    let mut ticker =
        tokio::time::interval(std::time::Duration::from_secs_f64(interval_secs.max(1.0)));
    loop {
        ticker.tick().await;
        if let Err(e) = federation.sync_network().await {
            tracing::warn!(error = %e, "tenant networks: pass failed");
        }
    }
}

/// Repairs drift between the instance and volume records and the clouds (see
/// `Federation::reconcile_instances`, `Federation::reconcile_volumes`): at
/// start, then every `interval_secs`.
async fn reconcile(federation: federation::Federation, interval_secs: f64, grace_secs: u64) {
    let mut tick =
        tokio::time::interval(std::time::Duration::from_secs_f64(interval_secs.max(0.1)));
    loop {
        tick.tick().await;
        match federation.reconcile_instances(grace_secs as i64).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                repaired = n,
                "reconcile: repaired instance records and orphans"
            ),
            Err(e) => tracing::warn!(error = %e, "reconcile: sweep failed"),
        }
        match federation.reconcile_volumes(grace_secs as i64).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(deleted = n, "reconcile: deleted orphaned volumes"),
            Err(e) => tracing::warn!(error = %e, "reconcile: volume sweep failed"),
        }
    }
}

/// Opens the site, binds, prints the endpoint (and first-start credentials), and serves until Ctrl-C.
pub async fn serve(config: Config) -> Result<(), String> {
    let site = bootstrap::open(&config).await.map_err(|e| e.to_string())?;
    let federation = site.federation.clone();
    let admin_key = bootstrap::ensure_admin(&federation, &config)
        .await
        .map_err(|e| e.to_string())?;
    // Before serving: drop what interrupted writes left behind.
    federation
        .recover_object_store()
        .await
        .map_err(|e| format!("recovering the object store: {e}"))?;
    tokio::spawn(hourly_sweeps(
        federation.clone(),
        config.multipart_expiry_hours,
    ));
    tokio::spawn(apply_lifecycle_rules(
        federation.clone(),
        config.lifecycle_interval_secs,
    ));
    tokio::spawn(watch_policies(
        federation.clone(),
        config.policy_reload_secs,
    ));
    if !site.targets.is_empty() {
        tokio::spawn(probe_targets(federation.clone(), config.target_probe_secs));
    }
    if !site.targets.is_empty() || site.compute.is_ok() {
        tokio::spawn(sync_instances(
            federation.clone(),
            config.instance_sync_secs,
        ));
        tokio::spawn(reconcile(
            federation.clone(),
            config.reconcile_interval_secs,
            config.orphan_grace_secs,
        ));
    }
    match &site.compute {
        Ok(compute) => {
            if let Some(events) = compute.take_lifecycle_events() {
                tokio::spawn(follow_lifecycle_events(federation.clone(), events));
            }
            let address = compute.metadata_addr();
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    tokio::spawn(metadata::serve(listener, federation.clone(), None));
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
            tokio::spawn(repair_networks(federation.clone(), NETWORK_REPAIR_SECS));
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
    server::run(listener, gateway, config.connection_threads, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    federation.db().close().await;
    Ok(())
}
