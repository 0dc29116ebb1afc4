//! `[compute]` in skyport.toml: which libvirt host, which network, which
//! instance types. Every key is documented in docs/configuration.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::scheduler::Weigher;

/// One compute host: a libvirt connection in an availability zone.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// A short name for logs and `skyport admin`.
    pub name: String,
    /// Its libvirt URI (`qemu:///system`, `qemu+ssh://host/system`, `qemu+tls://…`).
    pub uri: String,
    /// Its zone; empty means the site's first zone.
    #[serde(default)]
    pub availability_zone: String,
    /// A libvirt storage pool on the host that receives image files,
    /// instance disks and console logs through libvirt itself. Unset: none
    /// for hosts on this machine (`qemu:///…`, they read this machine's
    /// files), `skyport` for the others; `""` for a remote host that mounts
    /// the image and instance directories at the same paths.
    #[serde(default)]
    pub storage_pool: Option<String>,
    /// Where the pool's directory is made when the pool does not exist yet.
    #[serde(default = "default_pool_path")]
    pub storage_pool_path: PathBuf,
}

/// Whether a libvirt URI reaches libvirtd over the network (`qemu+ssh://h/…`,
/// `qemu+tls://…`, `qemu://h/…`) rather than on this machine (`qemu:///…`,
/// `qemu+unix:///…`, `test:///…`).
fn names_another_machine(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    !rest.starts_with('/') || (scheme.contains('+') && !scheme.ends_with("+unix"))
}

fn default_pool_path() -> PathBuf {
    PathBuf::from("/var/lib/skyport/pool")
}

/// An instance type's size.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    pub vcpus: u32,
    pub memory_mib: u64,
}

/// Local compute settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// Use libvirt for instances. When libvirt cannot be reached the gateway
    /// still starts and says why; instances then need a remote target.
    pub enabled: bool,
    /// The libvirt connection of the compute host (when `hosts` is empty).
    pub uri: String,
    /// Several compute hosts; empty means one, `uri` in `availability_zone`.
    pub hosts: Vec<HostConfig>,
    /// How the scheduler orders hosts with room: `spread` or `pack`.
    pub scheduler: Weigher,
    /// vCPUs offered per physical CPU of a host: 16, OpenStack's long-standing
    /// default, as idle guests leave their vCPUs mostly unused.
    pub cpu_allocation_ratio: f64,
    /// Memory offered per byte of a host's RAM.
    pub ram_allocation_ratio: f64,
    /// libvirt domain type: `qemu` (TCG) works everywhere; `kvm` where the host
    /// really has hardware virtualisation.
    pub domain_type: String,
    /// The libvirt network instances are plugged into (created if missing).
    pub network: String,
    /// Its bridge device.
    pub bridge: String,
    /// Its IPv4 subnet; the first address is the host's, instances get fixed
    /// DHCP leases from the rest.
    pub cidr: String,
    /// Whether instances reach beyond the host through NAT (libvirt's
    /// `forward mode='nat'`); false keeps them on an isolated network.
    pub nat: bool,
    /// Port of the instance metadata service on the host's network address;
    /// guests reach it as 169.254.169.254:80 through a DNAT rule.
    pub metadata_port: u16,
    /// Instance directories (disk overlays, console logs); empty means `<data_dir>/instances`.
    pub instances_dir: PathBuf,
    /// Image files; empty means `<data_dir>/images`.
    pub images_dir: PathBuf,
    /// The availability zone of this host; empty means the site's first zone.
    pub availability_zone: String,
    /// Seconds a StopInstances waits for a clean (ACPI) shutdown before
    /// forcing the instance off.
    pub stop_timeout_secs: f64,
    /// Instance types offered (name → vCPUs and memory); empty means the built-in table.
    pub instance_types: BTreeMap<String, InstanceType>,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            enabled: true,
            uri: "qemu:///system".into(),
            hosts: Vec::new(),
            scheduler: Weigher::Spread,
            cpu_allocation_ratio: 16.0,
            ram_allocation_ratio: 1.5,
            domain_type: "qemu".into(),
            network: "skyport-local".into(),
            bridge: "skyport0".into(),
            cidr: "10.251.0.0/24".into(),
            nat: true,
            metadata_port: 8775,
            instances_dir: PathBuf::new(),
            images_dir: PathBuf::new(),
            availability_zone: String::new(),
            stop_timeout_secs: 60.0,
            instance_types: BTreeMap::new(),
        }
    }
}

impl ComputeConfig {
    /// The compute hosts in force: `hosts`, or the one host `uri` names.
    pub fn host_list(&self) -> Vec<HostConfig> {
        let mut hosts = if self.hosts.is_empty() {
            vec![HostConfig {
                name: "local".into(),
                uri: self.uri.clone(),
                availability_zone: String::new(),
                storage_pool: None,
                storage_pool_path: default_pool_path(),
            }]
        } else {
            self.hosts.clone()
        };
        for host in &mut hosts {
            if host.availability_zone.is_empty() {
                host.availability_zone = self.availability_zone.clone();
            }
            if host.storage_pool.is_none() && names_another_machine(&host.uri) {
                host.storage_pool = Some("skyport".into());
            }
        }
        hosts
    }
}

/// The built-in instance types: AWS's names and sizes, plus the classic m1 family.
pub fn default_instance_types() -> BTreeMap<String, InstanceType> {
    [
        ("t2.nano", 1, 512),
        ("t3.nano", 2, 512),
        ("t3.micro", 2, 1024),
        ("t3.small", 2, 2048),
        ("t3.medium", 2, 4096),
        ("t3.large", 2, 8192),
        ("t2.micro", 1, 1024),
        ("m5.large", 2, 8192),
        ("m5.xlarge", 4, 16384),
        ("c5.large", 2, 4096),
        ("m1.small", 1, 1740),
        ("m1.medium", 1, 3840),
        ("m1.large", 2, 7680),
    ]
    .into_iter()
    .map(|(name, vcpus, memory_mib)| (name.to_string(), InstanceType { vcpus, memory_mib }))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_on_other_machines_get_a_storage_pool_by_default() {
        for (uri, remote) in [
            ("qemu:///system", false),
            ("qemu+unix:///system", false),
            ("test:///default", false),
            ("qemu+ssh://root@compute-2/system", true),
            ("qemu+tls://compute-2.example/system", true),
            ("qemu://compute-2/system", true),
        ] {
            assert_eq!(names_another_machine(uri), remote, "{uri}");
        }
        let config = ComputeConfig {
            hosts: vec![HostConfig {
                name: "far".into(),
                uri: "qemu+ssh://root@compute-2/system".into(),
                availability_zone: String::new(),
                storage_pool: None,
                storage_pool_path: default_pool_path(),
            }],
            ..ComputeConfig::default()
        };
        assert_eq!(
            config.host_list()[0].storage_pool.as_deref(),
            Some("skyport")
        );
    }
}
