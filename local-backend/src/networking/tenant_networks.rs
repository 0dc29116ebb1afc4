//! This site's tenant networks as the account layer drives them: the
//! fabric builds the hosts' side, and one instance metadata service listens
//! on 169.254.169.254:80 inside each VPC's router namespace, so it knows
//! which VPC a guest's (possibly repeated) address belongs to. What answers
//! there (the gateway's metadata service) is handed in as a function, so
//! this crate needs nothing of the account layer.

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use cloud::network_plan::{DataPlane, Plan};
use cloud::{Error, Result};
use futures::future::BoxFuture;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::{names, Fabric};

/// Serves instance metadata on a listener inside the router of a VPC (its ID).
pub type ServeMetadata =
    Arc<dyn Fn(tokio::net::TcpListener, String) -> BoxFuture<'static, ()> + Send + Sync>;

/// Where guests look for instance metadata.
const METADATA_ADDR: &str = "169.254.169.254:80";

pub struct TenantNetworks {
    fabric: Fabric,
    /// Set once the account layer that owns this data plane exists.
    metadata: OnceLock<ServeMetadata>,
    /// Metadata services by VPC.
    listeners: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl TenantNetworks {
    pub fn new(fabric: Fabric) -> TenantNetworks {
        TenantNetworks {
            fabric,
            metadata: OnceLock::new(),
            listeners: Mutex::new(HashMap::new()),
        }
    }

    /// Gives the data plane what its metadata listeners serve.
    pub fn attach(&self, metadata: ServeMetadata) {
        let _ = self.metadata.set(metadata);
    }

    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// Starts a metadata service in the router of every planned VPC that has
    /// none, and stops those of VPCs gone.
    async fn ensure_metadata(&self, plan: &Plan) {
        let Some(serve) = self.metadata.get() else {
            return;
        };
        let mut listeners = self.listeners.lock().await;
        listeners.retain(|vpc, task| {
            let keep = plan.vpcs.iter().any(|v| &v.id == vpc) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for vpc in &plan.vpcs {
            if listeners.contains_key(&vpc.id) {
                continue;
            }
            let namespace = names::router_ns(&vpc.id);
            match listen_in(&namespace).await {
                Ok(listener) => {
                    let task = tokio::spawn(serve(listener, vpc.id.clone()));
                    listeners.insert(vpc.id.clone(), task);
                }
                Err(error) => {
                    tracing::warn!(vpc = %vpc.id, %error, "no metadata service in this VPC yet; will retry")
                }
            }
        }
    }
}

#[async_trait]
impl DataPlane for TenantNetworks {
    async fn apply(&self, plan: &Plan) -> Result<()> {
        self.fabric.apply(plan).await?;
        self.ensure_metadata(plan).await;
        Ok(())
    }
}

/// A listener on the metadata address inside `namespace`: bound by a thread
/// that joins the namespace for that alone (a socket stays in the namespace
/// it was made in), then served by the runtime like any other.
async fn listen_in(namespace: &str) -> Result<tokio::net::TcpListener> {
    let path = format!("/run/netns/{namespace}");
    let bound = tokio::task::spawn_blocking(move || -> std::io::Result<std::net::TcpListener> {
        let handle = std::thread::spawn(move || {
            let file = File::open(&path)?;
            // SAFETY: setns only changes this short-lived thread's network
            // namespace; the descriptor is valid for the call.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let address: SocketAddr = METADATA_ADDR.parse().map_err(std::io::Error::other)?;
            let listener = std::net::TcpListener::bind(address)?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        });
        handle
            .join()
            .map_err(|_| std::io::Error::other("the binding thread panicked"))?
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::internal(format!("listening on {METADATA_ADDR} in {namespace}: {e}")))?;
    tokio::net::TcpListener::from_std(bound).map_err(Error::internal)
}
