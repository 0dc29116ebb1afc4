//! The site on this machine as a whole: the claim a starting gateway takes
//! (so a second site whose settings clash is refused), and `skyport site
//! teardown`, which removes everything the site made on this machine. It
//! runs with the gateway stopped (a running one rebuilds what it removes)
//! and reads the same configuration as `skyport serve`.

use std::path::{Path, PathBuf};

use local_backend::claim::{self, HeldClaim, SiteClaim, CLAIMS_DIR};

use crate::config::Config;

/// The site's data directory as its identity on the machine: absolute and,
/// where it exists, without symlinks.
fn identity(data_dir: &Path) -> PathBuf {
    std::fs::canonicalize(data_dir)
        .or_else(|_| std::path::absolute(data_dir))
        .unwrap_or_else(|_| data_dir.to_path_buf())
}

/// What the configured site uses on this machine; `None` when it uses
/// nothing (no local compute, so no networks either).
pub fn claim_of(config: &Config) -> Option<SiteClaim> {
    if !config.compute.enabled {
        return None;
    }
    let networks = config.network.enabled;
    Some(SiteClaim {
        data_dir: identity(&config.data_dir),
        segments: networks.then(|| config.network.segments().ok()).flatten(),
        public_pool: networks
            .then(|| config.network.pool().ok().flatten())
            .flatten(),
        libvirt_network: Some(config.compute.network.clone()),
        bridge: Some(config.compute.bridge.clone()),
    })
}

/// Takes the site's claim on this machine (kept until the process ends).
pub fn take_claim(config: &Config) -> Result<Option<HeldClaim>, String> {
    match claim_of(config) {
        Some(claim) => claim.take(Path::new(CLAIMS_DIR)).map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

/// `skyport site teardown`: removes the site's instances' domains (with
/// `force` only), its libvirt network and metadata rule, its tenant
/// networks' routers, DHCP servers, devices, tables and Open vSwitch
/// bridges, and its claim. The data directory (database, objects, images,
/// disks) stays. Returns the process exit code.
pub async fn teardown(config: &Config, force: bool) -> i32 {
    let data_dir = identity(&config.data_dir);
    match claim::running(Path::new(CLAIMS_DIR), &data_dir) {
        Ok(Some(pid)) => {
            eprintln!(
                "skyport: the gateway of this site runs (pid {pid}): stop it first, \
                 or it rebuilds what a teardown removes"
            );
            return 1;
        }
        Ok(None) => {}
        Err(error) => {
            eprintln!("skyport: {error}");
            return 1;
        }
    }
    let mut removed = Vec::new();
    if config.compute.enabled {
        let compute = config.compute();
        match tokio::task::spawn_blocking(move || local_backend::compute::teardown(&compute, force))
            .await
        {
            Ok(Ok(lines)) => removed.extend(lines),
            Ok(Err(error)) => {
                eprintln!("skyport: {error}");
                return 1;
            }
            Err(error) => {
                eprintln!("skyport: {error}");
                return 1;
            }
        }
        if config.network.enabled {
            match local_backend::networking::teardown(&config.network, &config.network_state_dir())
                .await
            {
                Ok(lines) => removed.extend(lines),
                Err(error) => {
                    eprintln!("skyport: tenant networks: {error}");
                    return 1;
                }
            }
        }
    }
    claim::forget(Path::new(CLAIMS_DIR), &data_dir);
    if removed.is_empty() {
        println!("nothing of this site was left on this machine");
    }
    for line in removed {
        println!("removed {line}");
    }
    0
}
