//! Launching: the image's files on the chosen host (local paths or the
//! host's storage pool), an address (the site network's next free one, or
//! the tenant subnet's the account layer chose), the domain's XML, its
//! lease, and the boot.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use cloud::{Error, InstanceState, InstanceView, LaunchSpec, Result};
use rand::Rng;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::network::Network;

use super::console::console_log_name;
use super::domain::{self, Boot, DomainSpec, InstanceMeta, Plug};
use super::host::Host;
use super::libvirt::{virt_error, Inner};
use super::network::{self, Lease};
use super::scheduler::{self, Ratios};
use super::{images, pool, InstanceType, StoredImage};

/// One launch on its chosen host: what every step of it reads.
#[derive(Clone, Copy)]
struct OnHost<'a> {
    conn: &'a Connect,
    network: &'a Network,
    host: &'a Host,
    spec: &'a LaunchSpec,
    image: &'a StoredImage,
    size: InstanceType,
}

/// The kernel command line when an image names none.
const DEFAULT_CMDLINE: &str = "console=ttyS0 quiet panic=-1";

impl Inner {
    pub(super) fn run(&self, spec: &LaunchSpec) -> Result<Vec<InstanceView>> {
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
                let on = OnHost {
                    conn,
                    network: &network,
                    host,
                    spec,
                    image: &image,
                    size,
                };
                self.launch_one(&on, address)
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

    fn launch_one(&self, on: &OnHost<'_>, address: Address<'_>) -> Result<InstanceView> {
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
        let result = self.create_domain(on, &name, &mac, ip, plug);
        if result.is_err() {
            self.remove_instance(on.conn, on.host, on.network, &name);
        }
        result
    }

    fn create_domain(
        &self,
        on: &OnHost<'_>,
        name: &str,
        mac: &str,
        ip: Ipv4Addr,
        plug: Plug,
    ) -> Result<InstanceView> {
        let OnHost {
            conn,
            network,
            host,
            spec,
            image,
            size,
        } = *on;
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
}

/// Where an instance's files are, as its host sees them.
struct InstanceFiles {
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    disk: Option<PathBuf>,
    console_log: PathBuf,
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
