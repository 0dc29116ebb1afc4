//! Local compute (the nova-compute of Skyport): one libvirt domain per
//! instance on the site's libvirt host, booted from an image in the local
//! image store, plugged into the site's network with a fixed DHCP lease, its
//! serial console logged to a file.
//!
//! libvirt's API is blocking; every call runs on tokio's blocking pool. A
//! domain carries Skyport's metadata (image, type, address, tags, which site
//! launched it), so the domain list alone is enough to answer describes and
//! to find orphans.

mod config;
mod domain;
mod events;
mod host;
mod images;
mod network;
mod pool;
mod scheduler;
mod subnet;
mod teardown;

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

use async_trait::async_trait;
use cloud::types::{Rule, Tag};
use cloud::{
    Compute, Error, ImageView, InstanceState, InstanceView, LaunchSpec, ResourceKind, Result,
    StateChange,
};
use rand::Rng;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::network::Network;
use virt::sys;

pub use config::{default_instance_types, ComputeConfig, HostConfig, InstanceType};
pub use images::{ImageManifest, ImageStore, StoredImage, UPLOAD_FILES};
pub use scheduler::Weigher;
pub use subnet::Subnet;
pub use teardown::teardown;

use domain::{Boot, DomainSpec, InstanceMeta, Plug, METADATA_URI};
use host::Host;
use network::Lease;
use scheduler::{HostLoad, Ratios};

/// GetConsoleOutput returns at most the latest 64 KiB, as EC2 does.
const CONSOLE_TAIL: u64 = 64 * 1024;

/// The kernel command line when an image names none.
const DEFAULT_CMDLINE: &str = "console=ttyS0 quiet panic=-1";

pub(crate) fn virt_error(what: &str, error: virt::error::Error) -> Error {
    Error::Unavailable(format!("libvirt: {what}: {}", error.message()))
}

/// Instances as libvirt domains on the site's compute hosts.
#[derive(Clone)]
pub struct LibvirtCompute {
    inner: Arc<Inner>,
}

struct Inner {
    config: ComputeConfig,
    subnet: Subnet,
    region: String,
    types: BTreeMap<String, InstanceType>,
    images: ImageStore,
    instances_dir: PathBuf,
    hosts: Vec<Host>,
    /// Serialises launches: address allocation reads the leases, then adds one.
    launch: Mutex<()>,
    /// Domains asked to shut down cleanly and not yet off.
    stopping: Mutex<HashSet<String>>,
    /// Names of domains whose lifecycle changed, until someone takes them.
    events: Mutex<Option<UnboundedReceiver<String>>>,
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
    fn sweep_debris(&self) -> Result<()> {
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
    fn find(&self, name: &str) -> Result<Option<(&Host, Domain, InstanceMeta)>> {
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
    fn loads(&self) -> Vec<HostLoad> {
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

    fn network(&self, conn: &Connect) -> Result<Network> {
        network::ensure_network(conn, &self.config, &self.subnet)
    }

    /// The domain `name` with its metadata, if it is one of this site's.
    fn ours(&self, conn: &Connect, name: &str) -> Result<Option<(Domain, InstanceMeta)>> {
        let domain = match Domain::lookup_by_name(conn, name) {
            Ok(domain) => domain,
            Err(e) if e.code() == virt::error::ErrorNumber::NoDomain => return Ok(None),
            Err(e) => return Err(virt_error("looking up a domain", e)),
        };
        Ok(self.meta_of(&domain).map(|meta| (domain, meta)))
    }

    fn meta_of(&self, domain: &Domain) -> Option<InstanceMeta> {
        let element = domain
            .get_metadata(
                sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                Some(METADATA_URI),
                0,
            )
            .ok()?;
        domain::parse_meta(&element).filter(|meta| meta.site == self.config.network)
    }

    fn state_of(&self, name: &str, domain: &Domain) -> InstanceState {
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

    fn view(&self, name: &str, meta: InstanceMeta, state: InstanceState) -> InstanceView {
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

    fn size_of(&self, instance_type: &str) -> Result<InstanceType> {
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

    fn run(&self, spec: &LaunchSpec) -> Result<Vec<InstanceView>> {
        let image = self.images.get(&spec.image_id)?;
        // The scheduler's architecture filter: every host here is x86_64.
        if image.manifest.architecture != "x86_64" {
            return Err(Error::invalid(
                "ImageId",
                format!(
                    "the image is {}; this site's compute hosts are x86_64",
                    image.manifest.architecture
                ),
            ));
        }
        let size = self.size_of(&spec.instance_type)?;
        if let Some(zone) = &spec.availability_zone {
            if !self.hosts.iter().any(|h| h.zone == *zone) {
                let zones: HashSet<&str> = self.hosts.iter().map(|h| h.zone.as_str()).collect();
                return Err(Error::invalid(
                    "Placement.AvailabilityZone",
                    format!(
                        "Invalid availability zone: [{zone}] (this site's compute is in {})",
                        zones.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let _launching = self.launch.lock().expect("launch lock");
        let ratios = Ratios {
            cpu: self.config.cpu_allocation_ratio,
            ram: self.config.ram_allocation_ratio,
        };
        let mut loads = self.loads();
        if spec.network.is_some() {
            // Tenant subnets' bridges exist where the fabric runs (this
            // machine and its namespaces); hosts on other machines need a
            // network agent that does not exist yet.
            let mut left_out = Vec::new();
            for (load, host) in loads.iter_mut().zip(&self.hosts) {
                if !host.is_on_this_machine() {
                    (load.vcpus, load.memory_mib) = (0, 0);
                    left_out.push(host.name.as_str());
                }
            }
            if left_out.len() == self.hosts.len() {
                return Err(Error::Unavailable(format!(
                    "insufficient capacity: instances on tenant subnets run only on compute hosts on \
                     this machine, and {} are not (or launch with [network] enabled = false)",
                    left_out.join(", ")
                )));
            }
        }
        let chosen = scheduler::place(
            &loads,
            size,
            spec.count,
            spec.availability_zone.as_deref(),
            self.config.scheduler,
            ratios,
        )?;
        // Addresses are unique across hosts: the metadata service knows a
        // guest by its address.
        let mut used = HashSet::new();
        for host in &self.hosts {
            let leases = host.with_conn(|conn| network::leases(&self.network(conn)?))?;
            used.extend(leases.iter().map(|l| l.ip));
        }
        let interfaces = match &spec.network {
            Some(attachment) if attachment.interfaces.len() < chosen.len() => {
                return Err(Error::internal(format!(
                    "{} addresses for {} instances",
                    attachment.interfaces.len(),
                    chosen.len()
                )))
            }
            Some(attachment) => attachment.interfaces.iter().map(Some).collect(),
            None => vec![None; chosen.len()],
        };
        let mut launched: Vec<InstanceView> = Vec::with_capacity(chosen.len());
        for (index, interface) in chosen.into_iter().zip(interfaces) {
            let host = &self.hosts[index];
            let result = host.with_conn(|conn| {
                let network = self.network(conn)?;
                let address = match (interface, &spec.network) {
                    (Some(interface), Some(attachment)) => Address::Subnet {
                        interface,
                        bridge: &attachment.bridge,
                        mtu: attachment.mtu,
                    },
                    _ => Address::Site(&mut used),
                };
                self.launch_one(conn, &network, host, spec, &image, size, address)
            });
            match result {
                Ok(view) => launched.push(view),
                Err(error) => {
                    // All or nothing, as RunInstances is.
                    for view in &launched {
                        self.terminate_one(&view.remote_id);
                    }
                    return Err(error);
                }
            }
        }
        Ok(launched)
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_one(
        &self,
        conn: &Connect,
        network: &Network,
        host: &Host,
        spec: &LaunchSpec,
        image: &StoredImage,
        size: InstanceType,
        address: Address<'_>,
    ) -> Result<InstanceView> {
        let name = format!("skyport-{:016x}", rand::thread_rng().gen::<u64>());
        let (ip, mac, plug) = match address {
            Address::Site(used) => {
                let ip = self
                    .subnet
                    .hosts()
                    .find(|ip| !used.contains(ip))
                    .ok_or_else(|| {
                        Error::Unavailable(format!(
                            "no free address left on network {} ({})",
                            self.config.network, self.config.cidr
                        ))
                    })?;
                used.insert(ip);
                // The MAC follows from the address: dnsmasq keeps a lease for the last
                // holder of an address, and only hands it to the same MAC again.
                let [_, b, c, d] = ip.octets();
                let mac = format!("52:54:00:{b:02x}:{c:02x}:{d:02x}");
                (ip, mac, Plug::Network(self.config.network.clone()))
            }
            Address::Subnet {
                interface,
                bridge,
                mtu,
            } => {
                let ip: Ipv4Addr = interface.ip.parse().map_err(|_| {
                    Error::internal(format!("'{}' is not an IPv4 address", interface.ip))
                })?;
                let plug = Plug::Bridge {
                    bridge: bridge.to_string(),
                    mtu,
                };
                (ip, interface.mac.clone(), plug)
            }
        };
        let result = self.create_domain(
            conn, network, host, spec, image, size, &name, &mac, ip, plug,
        );
        if result.is_err() {
            self.remove_instance(conn, host, network, &name);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn create_domain(
        &self,
        conn: &Connect,
        network: &Network,
        host: &Host,
        spec: &LaunchSpec,
        image: &StoredImage,
        size: InstanceType,
        name: &str,
        mac: &str,
        ip: Ipv4Addr,
        plug: Plug,
    ) -> Result<InstanceView> {
        let files = match &host.pool {
            None => self.local_files(image, name)?,
            Some((pool, path)) => self.pooled_files(conn, pool, path, spec, image, name)?,
        };
        let boot = match files.kernel {
            Some(kernel) => {
                let cmdline = image
                    .manifest
                    .cmdline
                    .clone()
                    .unwrap_or_else(|| DEFAULT_CMDLINE.to_string());
                let cmdline = if cmdline.contains("console=") {
                    cmdline
                } else {
                    format!("console=ttyS0 {cmdline}")
                };
                Boot::Kernel {
                    kernel,
                    initrd: files.initrd,
                    cmdline,
                }
            }
            None => Boot::Disk,
        };
        let meta = InstanceMeta {
            site: self.config.network.clone(),
            image_id: spec.image_id.clone(),
            instance_type: spec.instance_type.clone(),
            availability_zone: host.zone.clone(),
            private_ip: ip.to_string(),
            mac: mac.to_string(),
            bridge: match &plug {
                Plug::Bridge { bridge, .. } => Some(bridge.clone()),
                Plug::Network(_) => None,
            },
            launch_time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(Error::internal)?,
            tags: spec
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
        };
        let xml = domain::domain_xml(&DomainSpec {
            name: name.to_string(),
            domain_type: self.config.domain_type.clone(),
            vcpus: size.vcpus,
            memory_mib: size.memory_mib,
            boot,
            disk: files.disk,
            plug: plug.clone(),
            console_log: files.console_log,
            meta: meta.clone(),
        });
        // On a tenant subnet, the subnet's own DHCP server holds the lease.
        if let Plug::Network(_) = plug {
            network::add_lease(
                network,
                &Lease {
                    mac: mac.to_string(),
                    ip,
                    name: name.to_string(),
                },
            )?;
        }
        let domain =
            Domain::define_xml(conn, &xml).map_err(|e| virt_error("defining the domain", e))?;
        domain
            .create()
            .map_err(|e| virt_error("starting the domain", e))?;
        tracing::info!(host = %host.name, domain = %name, %ip, image = %spec.image_id, "instance started");
        Ok(self.view(name, meta, InstanceState::Pending))
    }

    /// The instance's files on this machine (the host sees them): a
    /// directory with its disk's overlay and its console log.
    fn local_files(&self, image: &StoredImage, name: &str) -> Result<InstanceFiles> {
        let dir = self.instances_dir.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        let disk = match image.disk() {
            Some(_) => {
                let overlay = dir.join("root.qcow2");
                images::clone_disk(image, &overlay)?;
                Some(overlay)
            }
            None => None,
        };
        Ok(InstanceFiles {
            kernel: image.kernel(),
            initrd: image.initrd(),
            disk,
            console_log: dir.join("console.log"),
        })
    }

    /// The instance's files on a host that does not see this machine's: the
    /// image's files uploaded into the host's pool (once per image), an
    /// overlay volume of its disk, the console log in the pool's directory.
    fn pooled_files(
        &self,
        conn: &Connect,
        pool_name: &str,
        pool_path: &std::path::Path,
        spec: &LaunchSpec,
        image: &StoredImage,
        name: &str,
    ) -> Result<InstanceFiles> {
        let pool = pool::ensure(conn, pool_name, pool_path)?;
        let upload = |role: &str, local: PathBuf| {
            pool::upload(
                conn,
                &pool,
                &format!("image-{}-{role}", spec.image_id),
                &local,
            )
        };
        let kernel = image.kernel().map(|k| upload("kernel", k)).transpose()?;
        let initrd = image.initrd().map(|i| upload("initrd", i)).transpose()?;
        let disk = match (image.disk(), image.manifest.disk_format.as_deref()) {
            (Some(local), Some(format)) => {
                let backing = upload("disk", local.clone())?;
                let size = images::disk_virtual_size(&local)?;
                Some(pool::overlay(
                    &pool,
                    &format!("{name}-root.qcow2"),
                    &backing,
                    format,
                    size,
                )?)
            }
            _ => None,
        };
        let directory = PathBuf::from(pool::directory(&pool)?);
        Ok(InstanceFiles {
            kernel: kernel.map(PathBuf::from),
            initrd: initrd.map(PathBuf::from),
            disk: disk.map(PathBuf::from),
            console_log: directory.join(console_log_name(name)),
        })
    }

    /// Removes every trace of an instance: domain, lease, files. Tolerates
    /// any of them being gone already.
    fn remove_instance(&self, conn: &Connect, host: &Host, network: &Network, name: &str) {
        if let Ok(domain) = Domain::lookup_by_name(conn, name) {
            if domain.is_active().unwrap_or(false) {
                let _ = domain.destroy();
            }
            if let Err(e) = domain.undefine() {
                tracing::warn!(domain = %name, error = %e, "undefining the domain failed");
            }
        }
        if let Ok(leases) = network::leases(network) {
            for lease in leases.iter().filter(|l| l.name == name) {
                if let Err(error) = network::remove_lease(network, lease) {
                    tracing::warn!(domain = %name, %error, "removing the lease failed");
                }
            }
        }
        if let Some((pool, _)) = &host.pool {
            if let Ok(pool) = virt::storage_pool::StoragePool::lookup_by_name(conn, pool) {
                pool::remove(
                    &pool,
                    &[format!("{name}-root.qcow2"), console_log_name(name)],
                );
            }
        }
        let _ = std::fs::remove_dir_all(self.instances_dir.join(name));
        self.stopping.lock().expect("stopping lock").remove(name);
    }

    fn describe(&self, names: &[String]) -> Result<Vec<InstanceView>> {
        let mut views = Vec::with_capacity(names.len());
        for name in names {
            if let Some((_, domain, meta)) = self.find(name)? {
                let state = self.state_of(name, &domain);
                views.push(self.view(name, meta, state));
            }
        }
        Ok(views)
    }

    fn tagged(&self, key: &str) -> Result<Vec<InstanceView>> {
        let mut views = Vec::new();
        for host in &self.hosts {
            let domains = host.with_conn(|conn| {
                conn.list_all_domains(0)
                    .map_err(|e| virt_error("listing domains", e))
            })?;
            for domain in domains {
                let (Ok(name), Some(meta)) = (domain.get_name(), self.meta_of(&domain)) else {
                    continue;
                };
                if meta.tags.iter().any(|(k, _)| k == key) {
                    let state = self.state_of(&name, &domain);
                    views.push(self.view(&name, meta, state));
                }
            }
        }
        Ok(views)
    }

    /// Applies `action` to each of this site's domains among `names` and
    /// reports (previous, current); names that are not ours are skipped.
    fn each_domain(
        &self,
        names: &[String],
        mut action: impl FnMut(&str, &Domain, InstanceState) -> Result<InstanceState>,
    ) -> Result<Vec<StateChange>> {
        let mut changes = Vec::with_capacity(names.len());
        for name in names {
            let Some((_, domain, _)) = self.find(name)? else {
                continue;
            };
            let previous = self.state_of(name, &domain);
            let current = action(name, &domain, previous)?;
            changes.push(StateChange {
                remote_id: name.clone(),
                previous,
                current,
            });
        }
        Ok(changes)
    }

    fn start(&self, names: &[String]) -> Result<Vec<StateChange>> {
        self.each_domain(names, |name, domain, previous| {
            if previous != InstanceState::Stopped {
                return Ok(previous);
            }
            domain
                .create()
                .map_err(|e| virt_error("starting the domain", e))?;
            self.stopping.lock().expect("stopping lock").remove(name);
            Ok(InstanceState::Pending)
        })
    }

    fn stop(&self, names: &[String], force: bool) -> Result<Vec<StateChange>> {
        self.each_domain(names, |name, domain, previous| {
            if previous == InstanceState::Stopped {
                return Ok(previous);
            }
            if force {
                domain
                    .destroy()
                    .map_err(|e| virt_error("powering the domain off", e))?;
                self.stopping.lock().expect("stopping lock").remove(name);
                return Ok(InstanceState::Stopped);
            }
            domain
                .shutdown()
                .map_err(|e| virt_error("shutting the domain down", e))?;
            self.stopping
                .lock()
                .expect("stopping lock")
                .insert(name.to_string());
            Ok(InstanceState::Stopping)
        })
    }

    /// Powers off a domain still shutting down after the stop timeout.
    fn force_off_if_stopping(&self, name: &str) {
        if !self.stopping.lock().expect("stopping lock").contains(name) {
            return;
        }
        let result = self.find(name).and_then(|found| {
            if let Some((_, domain, _)) = found {
                if domain.is_active().unwrap_or(false) {
                    tracing::info!(domain = %name, "clean shutdown timed out; powering off");
                    domain
                        .destroy()
                        .map_err(|e| virt_error("powering the domain off", e))?;
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            tracing::warn!(domain = %name, %error, "forced stop failed");
        }
        self.stopping.lock().expect("stopping lock").remove(name);
    }

    fn reboot(&self, names: &[String]) -> Result<()> {
        self.each_domain(names, |_, domain, previous| {
            if previous == InstanceState::Running {
                // ACPI: the guest shuts down cleanly and libvirt starts it again.
                domain
                    .reboot(0)
                    .map_err(|e| virt_error("rebooting the domain", e))?;
            }
            Ok(previous)
        })?;
        Ok(())
    }

    fn terminate(&self, names: &[String]) -> Result<Vec<StateChange>> {
        let mut changes = Vec::with_capacity(names.len());
        for name in names {
            let Some((host, domain, _)) = self.find(name)? else {
                continue;
            };
            let previous = self.state_of(name, &domain);
            drop(domain);
            host.with_conn(|conn| {
                self.remove_instance(conn, host, &self.network(conn)?, name);
                Ok(())
            })?;
            tracing::info!(host = %host.name, domain = %name, "instance terminated");
            changes.push(StateChange {
                remote_id: name.clone(),
                previous,
                current: InstanceState::Terminated,
            });
        }
        Ok(changes)
    }

    /// Removes an instance wherever it is, logging what fails (rollback path).
    fn terminate_one(&self, name: &str) {
        if let Err(error) = self.terminate(&[name.to_string()]) {
            tracing::warn!(domain = %name, %error, "rolling back a launch failed");
        }
    }

    /// Resizes a stopped domain (its persistent definition) and records the type.
    fn set_type(&self, name: &str, instance_type: &str) -> Result<()> {
        let size = self.size_of(instance_type)?;
        {
            let (_, domain, mut meta) = self
                .find(name)?
                .ok_or_else(|| Error::not_found(ResourceKind::Instance, name))?;
            if self.state_of(name, &domain) != InstanceState::Stopped {
                return Err(Error::IncorrectState(
                    "The instance must be stopped to change its instance type".into(),
                ));
            }
            let fail = |e| virt_error("resizing the domain", e);
            let kib = size.memory_mib * 1024;
            domain.set_max_memory(kib).map_err(fail)?;
            domain
                .set_memory_flags(kib, sys::VIR_DOMAIN_MEM_CONFIG)
                .map_err(fail)?;
            // Raise the maximum before the count, or lower the count first.
            let config = sys::VIR_DOMAIN_AFFECT_CONFIG;
            let maximum = config | sys::VIR_DOMAIN_VCPU_MAXIMUM;
            if domain.set_vcpus_flags(size.vcpus, maximum).is_ok() {
                domain.set_vcpus_flags(size.vcpus, config).map_err(fail)?;
            } else {
                domain.set_vcpus_flags(size.vcpus, config).map_err(fail)?;
                domain.set_vcpus_flags(size.vcpus, maximum).map_err(fail)?;
            }
            meta.instance_type = instance_type.to_string();
            domain
                .set_metadata(
                    sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                    Some(&domain::meta_element(&meta)),
                    Some("skyport"),
                    Some(METADATA_URI),
                    config,
                )
                .map_err(|e| virt_error("recording the instance type", e))?;
            Ok(())
        }
    }

    fn console(&self, name: &str) -> Result<(Vec<u8>, Option<String>)> {
        use std::io::{Read, Seek, SeekFrom};
        let Some((host, _, _)) = self.find(name)? else {
            return Err(Error::not_found(ResourceKind::Instance, name));
        };
        if let Some((pool, path)) = &host.pool {
            let bytes = host.with_conn(|conn| {
                let pool = pool::ensure(conn, pool, path)?;
                pool::read_tail(conn, &pool, &console_log_name(name), CONSOLE_TAIL)
            })?;
            return Ok((bytes, None));
        }
        let path = self.instances_dir.join(name).join("console.log");
        let Ok(mut file) = std::fs::File::open(&path) else {
            return Ok((Vec::new(), None));
        };
        let metadata = file.metadata().map_err(Error::internal)?;
        let start = metadata.len().saturating_sub(CONSOLE_TAIL);
        file.seek(SeekFrom::Start(start)).map_err(Error::internal)?;
        let mut bytes = Vec::with_capacity((metadata.len() - start) as usize);
        file.read_to_end(&mut bytes).map_err(Error::internal)?;
        let captured = metadata.modified().ok().and_then(|t| {
            time::OffsetDateTime::from(t)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        Ok((bytes, captured))
    }
}

/// Where an instance's files are, as its host sees them.
struct InstanceFiles {
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    disk: Option<PathBuf>,
    console_log: PathBuf,
}

/// An instance's console log in its host's pool.
fn console_log_name(name: &str) -> String {
    format!("{name}.console.log")
}

/// Where a new instance's address comes from.
enum Address<'a> {
    /// The site's libvirt network: the lowest address no lease holds.
    Site(&'a mut HashSet<Ipv4Addr>),
    /// A tenant subnet: the account layer chose it.
    Subnet {
        interface: &'a cloud::Interface,
        bridge: &'a str,
        mtu: Option<u32>,
    },
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
