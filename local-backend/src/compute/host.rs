//! One compute host: a libvirt connection in an availability zone, opened
//! lazily and reopened when libvirtd restarts or the host comes back.

use std::path::PathBuf;
use std::sync::RwLock;

use cloud::{Error, Result};
use tokio::sync::mpsc::UnboundedSender;
use virt::connect::Connect;

use super::config::HostConfig;
use super::events;

pub(crate) struct Host {
    pub name: String,
    pub uri: String,
    pub zone: String,
    /// The storage pool (name, directory if made here) through which this
    /// host gets files, when it does not see this machine's.
    pub pool: Option<(String, PathBuf)>,
    conn: RwLock<Option<Connect>>,
    /// Where each (re)opened connection reports its domains' lifecycle changes.
    events: UnboundedSender<String>,
}

impl Host {
    pub fn new(config: &HostConfig, events: UnboundedSender<String>) -> Host {
        Host {
            name: config.name.clone(),
            uri: config.uri.clone(),
            zone: config.availability_zone.clone(),
            pool: config
                .storage_pool
                .clone()
                .filter(|name| !name.is_empty())
                .map(|name| (name, config.storage_pool_path.clone())),
            conn: RwLock::new(None),
            events,
        }
    }

    /// Whether libvirt runs on this machine, where Skyport can install the
    /// metadata rule and find disks and console logs.
    pub fn is_on_this_machine(&self) -> bool {
        self.uri.starts_with("qemu:///")
    }

    /// Runs `f` on a live connection, (re)connecting first when needed.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connect) -> Result<T>) -> Result<T> {
        {
            let conn = self.conn.read().expect("libvirt connection lock");
            if let Some(conn) = conn.as_ref().filter(|c| c.is_alive().unwrap_or(false)) {
                return f(conn);
            }
        }
        let mut conn = self.conn.write().expect("libvirt connection lock");
        if !conn.as_ref().is_some_and(|c| c.is_alive().unwrap_or(false)) {
            let fresh = Connect::open(Some(&self.uri)).map_err(|e| {
                Error::Unavailable(format!(
                    "cannot connect to libvirt on host {} ({}): {}",
                    self.name,
                    self.uri,
                    e.message()
                ))
            })?;
            if let Some(mut old) = conn.take() {
                let _ = old.close();
                tracing::info!(host = %self.name, uri = %self.uri, "reconnected to libvirt");
            }
            if let Err(error) = events::subscribe(&fresh, &self.events) {
                tracing::warn!(host = %self.name, %error, "instance states on this host follow it by polling only");
            }
            *conn = Some(fresh);
        }
        f(conn.as_ref().expect("connected just above"))
    }
}
