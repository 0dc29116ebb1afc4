//! Skyport's on-site backend. Today: the object store on the local filesystem.
//! Later issues add libvirt compute, tenant networks and volumes here.

pub mod object_store;

pub use object_store::FsObjectStore;
