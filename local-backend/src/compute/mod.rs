//! Local compute (the nova-compute of Skyport): one libvirt domain per
//! instance on the site's libvirt host, booted from an image in the local
//! image store, plugged into the site's network with a fixed DHCP lease, its
//! serial console logged to a file.
//!
//! libvirt's API is blocking; every call runs on tokio's blocking pool. A
//! domain carries Skyport's metadata (image, type, address, tags, which site
//! launched it), so the domain list alone is enough to answer describes and
//! to find orphans.
//!
//! libvirt is the `libvirt` Cargo feature (on by default). Without it the
//! configuration, image store and scheduler remain, and opening compute
//! answers why there is none (`without_libvirt.rs`), so a storage-only
//! build needs no libvirt headers.

mod config;
// Disk cloning and host placement serve launches, which need libvirt.
#[cfg_attr(not(feature = "libvirt"), allow(dead_code))]
mod images;
#[cfg_attr(not(feature = "libvirt"), allow(dead_code))]
mod scheduler;
mod subnet;

#[cfg(feature = "libvirt")]
mod console;
#[cfg(feature = "libvirt")]
mod domain;
#[cfg(feature = "libvirt")]
mod events;
#[cfg(feature = "libvirt")]
mod host;
#[cfg(feature = "libvirt")]
mod launch;
#[cfg(feature = "libvirt")]
mod libvirt;
#[cfg(feature = "libvirt")]
mod lifecycle;
#[cfg(feature = "libvirt")]
mod network;
#[cfg(feature = "libvirt")]
mod pool;
#[cfg(feature = "libvirt")]
mod teardown;
#[cfg(not(feature = "libvirt"))]
mod without_libvirt;

pub use config::{default_instance_types, ComputeConfig, HostConfig, InstanceType};
pub use images::{ImageManifest, ImageStore, StoredImage, UPLOAD_FILES};
pub use scheduler::Weigher;
pub use subnet::Subnet;

#[cfg(feature = "libvirt")]
pub use libvirt::LibvirtCompute;
#[cfg(feature = "libvirt")]
pub use teardown::teardown;
#[cfg(not(feature = "libvirt"))]
pub use without_libvirt::{teardown, LibvirtCompute};
