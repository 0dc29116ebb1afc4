//! Skyport's shared vocabulary: typed resource IDs, the domain records tenants own,
//! the backend traits, and the one domain error every layer speaks.
//!
//! Both sides import this crate — `accounts` and the backends — so no backend
//! ever depends on the gateway, and the gateway maps [`Error`] to wire errors in
//! one place.

pub mod compute;
pub mod error;
pub mod ids;
pub mod image_files;
pub mod network;
pub mod network_plan;
pub mod object_store;
pub mod tags;
pub mod target;
pub mod tenancy;
pub mod types;
pub mod volumes;

pub use compute::{
    Compute, ImageView, InstanceState, InstanceView, Interface, LaunchSpec, NetworkAttachment,
    StateChange,
};
pub use error::{Error, Result};
pub use ids::ResourceKind;
pub use image_files::{CommittedImage, ImageFiles};
pub use object_store::{ByteStream, ObjectStore, StoredBlob};
pub use target::RemoteTarget;
pub use volumes::{AttachmentView, BlockStorage, SnapshotView, VolumeSpec, VolumeView};
