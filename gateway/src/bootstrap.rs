//! Opening a site: data directory, database, master key, object store, and on
//! first start the admin tenant, its key and a ready-to-use AWS client profile.

use std::collections::BTreeMap;
use std::sync::Arc;

use accounts::Placement;
use accounts::{Accounts, Db, Role, SecretBox};
use aws_backend::AwsTarget;
use local_backend::{Fabric, FsObjectStore, LibvirtCompute};

use crate::config::Config;
use local_backend::networking::TenantNetworks;

/// A failure to open the site, with what to fix in the message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BootstrapError(String);

fn fail(what: &str, error: impl std::fmt::Display) -> BootstrapError {
    BootstrapError(format!("{what}: {error}"))
}

/// An opened site: the account layer and the remote targets it places on.
pub struct Site {
    pub accounts: Accounts,
    /// Remote clouds by policy name; the S3 proxy streams remote buckets' objects through them.
    pub targets: BTreeMap<String, Arc<AwsTarget>>,
    /// This site's libvirt compute, or why there is none.
    pub compute: Result<LibvirtCompute, String>,
    /// This site's tenant networks' data plane, or why there is none.
    pub networks: Result<Arc<TenantNetworks>, String>,
    /// The site's claim on this machine, held while the gateway runs.
    pub claim: Option<local_backend::claim::HeldClaim>,
}

/// Opens the tenant networks' data plane where local instances can use it.
async fn open_networks(
    config: &Config,
    compute: &Result<LibvirtCompute, String>,
) -> Result<Arc<TenantNetworks>, String> {
    if !config.network.enabled {
        return Err("tenant networks' data plane is disabled ([network] enabled = false)".into());
    }
    if let Err(reason) = compute {
        return Err(format!(
            "no local compute to plug into tenant networks ({reason})"
        ));
    }
    let fabric = Fabric::open(&config.network, config.network_state_dir())
        .await
        .map_err(|e| format!("tenant networks unavailable: {e}"))?;
    Ok(Arc::new(TenantNetworks::new(fabric)))
}

/// Connects to the configured libvirt host; a failure is a reason, not a
/// fatal error: the site then serves storage and remote targets only.
async fn open_compute(config: &Config) -> Result<LibvirtCompute, String> {
    if !config.compute.enabled {
        return Err(
            "local compute is disabled in the configuration ([compute] enabled = false)".into(),
        );
    }
    let compute = config.compute();
    let region = config.region.clone();
    let uri = compute.uri.clone();
    tokio::task::spawn_blocking(move || LibvirtCompute::open(compute, &region))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!("local compute unavailable ({uri}): {e}; scripts/setup.sh installs and starts libvirt")
        })
}

/// Opens the database, key, object store, remote targets and placement policies
/// of the configured site.
pub async fn open(config: &Config) -> Result<Site, BootstrapError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| fail(&format!("creating {}", config.data_dir.display()), e))?;
    let secrets = SecretBox::load_or_create(&config.master_key_path())
        .map_err(|e| fail("loading the master key", e))?;
    let mut targets = BTreeMap::new();
    for (name, target) in &config.targets {
        if *name == config.local_target {
            return Err(BootstrapError(format!(
                "targets.{name}: this name is the local target's (local_target)"
            )));
        }
        let target =
            AwsTarget::new(name, target).map_err(|e| fail(&format!("targets.{name}"), e))?;
        targets.insert(name.clone(), Arc::new(target));
    }
    let placement = if config.policy_dir.as_os_str().is_empty() {
        Placement::local_only(&config.local_target)
    } else {
        let remotes = targets
            .values()
            .map(|t| Arc::clone(t) as Arc<dyn cloud::RemoteTarget>)
            .collect();
        Placement::load(&config.local_target, &config.policy_dir, remotes).map_err(|e| {
            fail(
                &format!(
                    "loading placement policies from {}",
                    config.policy_dir.display()
                ),
                e,
            )
        })?
    };
    let db = Db::connect(&config.database_url())
        .await
        .map_err(|e| fail("opening the database", e))?;
    let store = FsObjectStore::open(config.data_dir.join("objects"))
        .map_err(|e| fail("opening the object store", e))?;
    // A database whose objects live in another store would answer reads it
    // cannot serve: refuse to start instead, saying why.
    object_index::store_identity::ensure(&db, store.root())
        .await
        .map_err(|e| BootstrapError(e.to_string()))?;
    // Before anything is made on this machine: no other site may clash.
    let claim = crate::site_cli::take_claim(config).map_err(BootstrapError)?;
    let compute = open_compute(config).await;
    let placement = placement.with_local_compute(
        compute
            .clone()
            .map(|c| Arc::new(c) as Arc<dyn cloud::Compute>),
    );
    let networks = open_networks(config, &compute).await;
    let data_plane =
        match &networks {
            // VXLAN between hosts takes 50 bytes of every frame.
            Ok(networks) => Ok((networks.fabric().hosts().len() > 1)
                .then_some(local_backend::networking::VXLAN_MTU)),
            Err(reason) => Err(reason.clone()),
        };
    let settings = config
        .network_settings(data_plane)
        .map_err(|e| fail("reading [network]", e))?;
    let mut accounts = Accounts::new(db, secrets, Arc::new(store), config.region.clone())
        .with_placement(placement)
        .with_network(
            settings,
            networks
                .as_ref()
                .ok()
                .map(|n| Arc::clone(n) as Arc<dyn cloud::network_plan::DataPlane>),
        );
    if let Ok(compute) = &compute {
        accounts = accounts.with_image_files(Arc::new(compute.images().clone()));
    }
    if let Ok(networks) = &networks {
        let answering = accounts.clone();
        networks.attach(Arc::new(move |listener, vpc| {
            Box::pin(crate::metadata::serve(
                listener,
                answering.clone(),
                Some(vpc),
            ))
        }));
    }
    Ok(Site {
        accounts,
        targets,
        compute,
        networks,
        claim,
    })
}

/// What first start produced, to be printed once.
pub struct AdminKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Creates the `admin` tenant and key when the database has no tenant yet.
pub async fn ensure_admin(
    accounts: &Accounts,
    config: &Config,
) -> Result<Option<AdminKey>, BootstrapError> {
    let tenants = accounts
        .list_tenants()
        .await
        .map_err(|e| fail("listing tenants", e))?;
    if !tenants.is_empty() {
        return Ok(None);
    }
    accounts
        .create_tenant("admin")
        .await
        .map_err(|e| fail("creating the admin tenant", e))?;
    let key = accounts
        .create_access_key("admin", "admin", Role::Admin)
        .await
        .map_err(|e| fail("creating the admin key", e))?;
    let credentials = format!(
        "[skyport]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.access_key_id, key.secret_access_key
    );
    let path = config.data_dir.join("aws/credentials");
    let _ = std::fs::remove_file(&path);
    accounts::write_private_file(&path, credentials.as_bytes())
        .map_err(|e| fail("writing the credentials file", e))?;
    Ok(Some(AdminKey {
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
    }))
}

/// Writes `<data_dir>/aws/config` with the `skyport` profile pointing at `endpoint`.
pub fn write_client_config(config: &Config, endpoint: &str) -> Result<(), BootstrapError> {
    let text = format!(
        "[profile skyport]\nregion = {}\nendpoint_url = {endpoint}\ns3 =\n    addressing_style = path\n",
        config.region
    );
    let path = config.data_dir.join("aws/config");
    std::fs::create_dir_all(config.data_dir.join("aws"))
        .map_err(|e| fail("creating the aws directory", e))?;
    std::fs::write(&path, text).map_err(|e| fail(&format!("writing {}", path.display()), e))
}
