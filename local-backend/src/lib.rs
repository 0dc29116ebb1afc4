//! Skyport's on-site backend: the object store on the local filesystem and
//! compute on libvirt. Tenant networks and volumes come later.

pub mod compute;
pub mod object_store;

pub use compute::{ComputeConfig, HostConfig, ImageStore, LibvirtCompute, Weigher};
pub use object_store::FsObjectStore;
