//! [`LibvirtCompute`]: the `Compute` facade over the site's libvirt hosts,
//! and the state its launch, lifecycle and console halves share (`Inner`).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

use async_trait::async_trait;
use cloud::types::{Rule, Tag};
use cloud::{
    Compute, Error, ImageView, InstanceState, InstanceView, LaunchSpec, Result, StateChange,
};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::network::Network;
use virt::sys;

use super::domain::{self, InstanceMeta, METADATA_URI};
use super::host::Host;
use super::scheduler::HostLoad;
use super::{
    default_instance_types, events, network, pool, ComputeConfig, ImageStore, InstanceType, Subnet,
};

pub(super) fn virt_error(what: &str, error: virt::error::Error) -> Error {
    Error::Unavailable(format!("libvirt: {what}: {}", error.message()))
}

/// Instances as libvirt domains on the site's compute hosts.
#[derive(Clone)]
pub struct LibvirtCompute {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: ComputeConfig,
    pub(super) subnet: Subnet,
    pub(super) region: String,
    pub(super) types: BTreeMap<String, InstanceType>,
    pub(super) images: ImageStore,
    pub(super) instances_dir: PathBuf,
    pub(super) hosts: Vec<Host>,
    /// Serialises launches: address allocation reads the leases, then adds one.
    pub(super) launch: Mutex<()>,
    /// Domains asked to shut down cleanly and not yet off.
    pub(super) stopping: Mutex<HashSet<String>>,
    /// Names of domains whose lifecycle changed, until someone takes them.
    pub(super) events: Mutex<Option<UnboundedReceiver<String>>>,
}

impl LibvirtCompute {
    /// Connects to the compute hosts and makes sure the site's network (on
    /// each) and metadata rule exist. `config`'s directories and zone must be
    /// resolved already. `Unavailable`, with the reason, when no host answers;
    /// a host that does not is retried at each use.
    pub fn open(config: ComputeConfig, region: &str) -> Result<LibvirtCompute> {
        // libvirt prints every error to stderr by default; ours are returned and logged.
        virt::error::clear_error_callback();
        let subnet = Subnet::parse(&config.cidr)?;
        let types = if config.instance_types.is_empty() {
            default_instance_types()
        } else {
            config.instance_types.clone()
        };
        let images = ImageStore::open(&config.images_dir)?;
        std::fs::create_dir_all(&config.instances_dir).map_err(|e| {
            Error::internal(format!("creating {}: {e}", config.instances_dir.display()))
        })?;
        // Before any connection opens, so that every one delivers events.
        events::start_event_loop();
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let hosts: Vec<Host> = config
            .host_list()
            .iter()
            .map(|host| Host::new(host, events_tx.clone()))
            .collect();
        let mut reachable = 0;
        let mut first_error = None;
        for host in &hosts {
            match host.with_conn(|conn| network::ensure_network(conn, &config, &subnet)) {
                Ok(_) => reachable += 1,
                Err(error) => {
                    tracing::warn!(host = %host.name, %error, "compute host unavailable");
                    first_error.get_or_insert(error);
                }
            }
        }
        if reachable == 0 {
            return Err(first_error
                .unwrap_or_else(|| Error::Unavailable("no compute host configured".into())));
        }
        if hosts.iter().any(Host::is_on_this_machine) {
            network::ensure_metadata_redirect(&config, &subnet)?;
        }
        let compute = LibvirtCompute {
            inner: Arc::new(Inner {
                instances_dir: config.instances_dir.clone(),
                config,
                subnet,
                region: region.to_string(),
                types,
                images,
                hosts,
                launch: Mutex::new(()),
                stopping: Mutex::new(HashSet::new()),
                events: Mutex::new(Some(events_rx)),
            }),
        };
        compute.inner.sweep_debris()?;
        Ok(compute)
    }

    /// The names of domains (instances' remote IDs) whose lifecycle changed
    /// on any host, as libvirt reports it; handed out once.
    pub fn take_lifecycle_events(&self) -> Option<UnboundedReceiver<String>> {
        self.inner.events.lock().expect("events lock").take()
    }

    /// The image store instances boot from.
    pub fn images(&self) -> &ImageStore {
        &self.inner.images
    }

    /// Where the metadata service must listen: the host's address on the
    /// instance network (guests' 169.254.169.254:80 is redirected there).
    pub fn metadata_addr(&self) -> SocketAddr {
        SocketAddr::from((self.inner.subnet.gateway(), self.inner.config.metadata_port))
    }

    /// The compute hosts, as `name (uri) in zone`.
    pub fn hosts(&self) -> Vec<String> {
        self.inner
            .hosts
            .iter()
            .map(|h| format!("{} ({}) in {}", h.name, h.uri, h.zone))
            .collect()
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(Error::internal)?
    }
}

impl Inner {
    /// Removes what a crash mid-launch can leave without a domain: leases and
    /// instance directories named after a domain that was never defined.
    /// (Defined domains nobody recorded are the reconciler's business.)
    pub(super) fn sweep_debris(&self) -> Result<()> {
        for host in &self.hosts {
            let swept = host.with_conn(|conn| {
                let network = self.network(conn)?;
                for lease in network::leases(&network)? {
                    if lease.name.starts_with("skyport-")
                        && Domain::lookup_by_name(conn, &lease.name).is_err()
                    {
                        tracing::info!(host = %host.name, domain = %lease.name, ip = %lease.ip, "removing a lease left by an interrupted launch");
                        network::remove_lease(&network, &lease)?;
                    }
                }
                if let Some((name, path)) = &host.pool {
                    let pool = pool::ensure(conn, name, path)?;
                    let _ = pool.refresh(0);
                    let volumes = pool.list_volumes().unwrap_or_default();
                    let debris: Vec<String> = volumes
                        .into_iter()
                        .filter(|volume| {
                            let domain = volume
                                .strip_suffix("-root.qcow2")
                                .or_else(|| volume.strip_suffix(".console.log"));
                            domain.is_some_and(|domain| {
                                domain.starts_with("skyport-")
                                    && Domain::lookup_by_name(conn, domain).is_err()
                            })
                        })
                        .collect();
                    if !debris.is_empty() {
                        tracing::info!(host = %host.name, volumes = ?debris, "removing volumes left by interrupted launches");
                        pool::remove(&pool, &debris);
                    }
                }
                Ok(())
            });
            if let Err(error) = swept {
                tracing::warn!(host = %host.name, %error, "sweeping interrupted launches failed");
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.instances_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("skyport-") && matches!(self.find(&name), Ok(None)) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(())
    }

    /// The host holding this site's domain `name`, with the domain and its
    /// metadata. A host that cannot be asked makes the answer unknown (Err).
    pub(super) fn find(&self, name: &str) -> Result<Option<(&Host, Domain, InstanceMeta)>> {
        let mut unreachable = None;
        for host in &self.hosts {
            match host.with_conn(|conn| self.ours(conn, name)) {
                Ok(Some((domain, meta))) => return Ok(Some((host, domain, meta))),
                Ok(None) => {}
                Err(error) => unreachable = Some(error),
            }
        }
        match unreachable {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }

    /// Every reachable host's capacity and what this site's domains use of it.
    pub(super) fn loads(&self) -> Vec<HostLoad> {
        self.hosts
            .iter()
            .map(|host| {
                let load = host.with_conn(|conn| {
                    let node = conn
                        .get_node_info()
                        .map_err(|e| virt_error("reading the host's capacity", e))?;
                    let domains = conn
                        .list_all_domains(0)
                        .map_err(|e| virt_error("listing domains", e))?;
                    let (mut vcpus, mut memory) = (0, 0);
                    for meta in domains.iter().filter_map(|d| self.meta_of(d)) {
                        if let Some(size) = self.types.get(&meta.instance_type) {
                            vcpus += size.vcpus;
                            memory += size.memory_mib;
                        }
                    }
                    Ok(HostLoad {
                        zone: host.zone.clone(),
                        vcpus: node.cpus,
                        memory_mib: node.memory / 1024,
                        used_vcpus: vcpus,
                        used_memory_mib: memory,
                    })
                });
                load.unwrap_or_else(|error| {
                    tracing::warn!(host = %host.name, %error, "compute host unavailable for scheduling");
                    HostLoad {
                        zone: host.zone.clone(),
                        vcpus: 0,
                        memory_mib: 0,
                        used_vcpus: 0,
                        used_memory_mib: 0,
                    }
                })
            })
            .collect()
    }

    pub(super) fn network(&self, conn: &Connect) -> Result<Network> {
        network::ensure_network(conn, &self.config, &self.subnet)
    }

    /// The domain `name` with its metadata, if it is one of this site's.
    pub(super) fn ours(
        &self,
        conn: &Connect,
        name: &str,
    ) -> Result<Option<(Domain, InstanceMeta)>> {
        let domain = match Domain::lookup_by_name(conn, name) {
            Ok(domain) => domain,
            Err(e) if e.code() == virt::error::ErrorNumber::NoDomain => return Ok(None),
            Err(e) => return Err(virt_error("looking up a domain", e)),
        };
        Ok(self.meta_of(&domain).map(|meta| (domain, meta)))
    }

    pub(super) fn meta_of(&self, domain: &Domain) -> Option<InstanceMeta> {
        let element = domain
            .get_metadata(
                sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                Some(METADATA_URI),
                0,
            )
            .ok()?;
        domain::parse_meta(&element).filter(|meta| meta.site == self.config.network)
    }

    pub(super) fn state_of(&self, name: &str, domain: &Domain) -> InstanceState {
        let (state, _reason) = domain.get_state().unwrap_or((sys::VIR_DOMAIN_NOSTATE, 0));
        let mut stopping = self.stopping.lock().expect("stopping lock");
        match state {
            sys::VIR_DOMAIN_SHUTOFF | sys::VIR_DOMAIN_CRASHED => {
                stopping.remove(name);
                InstanceState::Stopped
            }
            sys::VIR_DOMAIN_SHUTDOWN => InstanceState::Stopping,
            sys::VIR_DOMAIN_NOSTATE => InstanceState::Pending,
            _ if stopping.contains(name) => InstanceState::Stopping,
            _ => InstanceState::Running,
        }
    }

    pub(super) fn view(
        &self,
        name: &str,
        meta: InstanceMeta,
        state: InstanceState,
    ) -> InstanceView {
        InstanceView {
            remote_id: name.to_string(),
            state,
            instance_type: meta.instance_type,
            image_id: meta.image_id,
            availability_zone: Some(meta.availability_zone),
            private_dns: Some(format!(
                "ip-{}.{}.compute.internal",
                meta.private_ip.replace('.', "-"),
                self.region
            )),
            private_ip: Some(meta.private_ip),
            public_ip: None,
            key_name: None,
            launch_time: Some(meta.launch_time),
            architecture: Some("x86_64".into()),
            tags: meta
                .tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
        }
    }

    pub(super) fn size_of(&self, instance_type: &str) -> Result<InstanceType> {
        self.types.get(instance_type).copied().ok_or_else(|| {
            Error::invalid(
                "InstanceType",
                format!(
                    "The instance type '{instance_type}' is not offered on this site (one of: {})",
                    self.types.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

#[async_trait]
impl Compute for LibvirtCompute {
    async fn run_instances(&self, spec: &LaunchSpec) -> Result<Vec<InstanceView>> {
        let spec = spec.clone();
        self.blocking(move |inner| inner.run(&spec)).await
    }

    async fn describe_instances(&self, remote_ids: &[String]) -> Result<Vec<InstanceView>> {
        let names = remote_ids.to_vec();
        self.blocking(move |inner| inner.describe(&names)).await
    }

    async fn instances_tagged(&self, key: &str) -> Result<Vec<InstanceView>> {
        let key = key.to_string();
        self.blocking(move |inner| inner.tagged(&key)).await
    }

    async fn start_instances(&self, remote_ids: &[String]) -> Result<Vec<StateChange>> {
        let names = remote_ids.to_vec();
        self.blocking(move |inner| inner.start(&names)).await
    }

    async fn stop_instances(&self, remote_ids: &[String], force: bool) -> Result<Vec<StateChange>> {
        let names = remote_ids.to_vec();
        let changes = self
            .blocking(move |inner| inner.stop(&names, force))
            .await?;
        let timeout = Duration::from_secs_f64(self.inner.config.stop_timeout_secs.max(0.0));
        for change in changes
            .iter()
            .filter(|c| c.current == InstanceState::Stopping)
        {
            let this = self.clone();
            let name = change.remote_id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                let _ = this
                    .blocking(move |inner| {
                        inner.force_off_if_stopping(&name);
                        Ok(())
                    })
                    .await;
            });
        }
        Ok(changes)
    }

    async fn reboot_instances(&self, remote_ids: &[String]) -> Result<()> {
        let names = remote_ids.to_vec();
        self.blocking(move |inner| inner.reboot(&names)).await
    }

    async fn terminate_instances(&self, remote_ids: &[String]) -> Result<Vec<StateChange>> {
        let names = remote_ids.to_vec();
        self.blocking(move |inner| inner.terminate(&names)).await
    }

    async fn console_output(&self, remote_id: &str) -> Result<(Vec<u8>, Option<String>)> {
        let name = remote_id.to_string();
        self.blocking(move |inner| inner.console(&name)).await
    }

    async fn set_instance_type(&self, remote_id: &str, instance_type: &str) -> Result<()> {
        let (name, instance_type) = (remote_id.to_string(), instance_type.to_string());
        self.blocking(move |inner| inner.set_type(&name, &instance_type))
            .await
    }

    /// User data reaches local guests through the metadata service, which
    /// reads it from Skyport's records: nothing to change here.
    async fn set_user_data(&self, _remote_id: &str, _user_data: Option<&str>) -> Result<()> {
        Ok(())
    }

    /// Keys reach local guests through the metadata service, which reads them
    /// from Skyport's own records: nothing to import.
    async fn ensure_key_pair(&self, _name: &str, _public_key: &str) -> Result<()> {
        Ok(())
    }

    /// Security groups are enforced on tenant networks (not yet on the
    /// site's flat network): the group is accepted and named as is.
    async fn ensure_security_group(
        &self,
        name: &str,
        _description: &str,
        _rules: &[Rule],
    ) -> Result<String> {
        Ok(name.to_string())
    }

    async fn describe_images(&self, image_ids: &[String]) -> Result<Vec<ImageView>> {
        let ids = image_ids.to_vec();
        self.blocking(move |inner| {
            Ok(inner
                .images
                .list()
                .into_iter()
                .filter(|(id, _)| ids.is_empty() || ids.contains(id))
                .map(|(id, image)| ImageView {
                    image_id: id,
                    name: None,
                    description: None,
                    state: "available".into(),
                    architecture: Some(image.manifest.architecture),
                    owner_id: None,
                    public: false,
                    root_device_type: Some(if image.manifest.disk_format.is_some() {
                        "ebs".into()
                    } else {
                        "instance-store".into()
                    }),
                    virtualization_type: Some("hvm".into()),
                    creation_date: None,
                })
                .collect())
        })
        .await
    }
}
