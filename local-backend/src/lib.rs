//! Skyport's on-site backend: the object store on the local filesystem and
//! compute on libvirt, and tenant networks. Volumes come later.

mod blob_cache;
pub mod claim;
pub mod compute;
pub mod networking;
pub mod object_store;

pub use compute::{ComputeConfig, HostConfig, ImageStore, LibvirtCompute, Weigher};
pub use networking::{Fabric, NetworkConfig, SegmentDriver};
pub use object_store::FsObjectStore;
