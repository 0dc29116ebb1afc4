//! Skyport's account layer: tenants, users, access keys and quotas; the EC2
//! records tenants own (key pairs, security groups, tags, images, VPCs and
//! the network plan); and the placement that routes instances, volumes,
//! snapshots, buckets and addresses to this site or a remote target under
//! Skyport's own IDs. Buckets and objects are recorded in the
//! [`ObjectIndex`] it holds ([`Accounts::objects`]); state lives in the
//! [`datastore`] (SQLite or PostgreSQL).
//!
//! Errors are the domain's [`cloud::Error`]: this crate adds no error enum of its
//! own; database failures fold into `Error::Internal` in [`datastore::db_err`].

mod access_keys;
mod addresses;
mod attachments;
mod buckets;
mod image_attributes;
mod image_files;
mod images;
mod instance_attributes;
mod instance_sync;
mod instance_view;
mod instances;
mod internet_gateways;
mod key_material;
mod key_pairs;
mod launching;
mod mapped;
mod metadata;
mod network_interfaces;
mod network_plan;
mod networks;
mod placement;
mod remote_groups;
mod remote_images;
mod route_tables;
mod sealing;
mod security_group_rules;
mod security_groups;
mod snapshots;
mod subnets;
mod tags;
mod tenants;
mod volume_sweep;
mod volumes;
mod vpc_attributes;
mod vpcs;

use std::sync::Arc;

use cloud::ObjectStore;

pub use datastore::Db;
pub use object_index::ObjectIndex;

// The surface the gateway and the CLIs use, by room.
pub use access_keys::{AccessKeyInfo, NewAccessKey};
pub use buckets::BucketPlacing;
pub use image_attributes::LaunchPermissionChange;
pub use images::{Image, NewImage};
pub use instances::{Instance, InstanceStateChange, LaunchRequest};
pub use metadata::InstanceMetadata;
pub use network_interfaces::interface_id;
pub use networks::NetworkSettings;
pub use placement::{Placement, PlacementRecord, PolicyStatus, PLACEMENT_TAG};
pub use remote_images::RemoteImageShare;
pub use sealing::{write_private_file, SecretBox};
pub use security_group_rules::{GroupRule, RuleChange};
pub use security_groups::{GroupRef, RuleSpec};
pub use snapshots::Snapshot;
pub use tags::TagRemoval;
pub use tenants::{Principal, Quotas, Role, Tenant, User};
pub use volumes::{Attachment, Volume, VolumeRequest};
pub use vpc_attributes::VpcAttribute;

/// The account layer: one database, the key that seals secrets, and the object store.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    secrets: Arc<SecretBox>,
    /// The S3 object index, bucket registry included.
    index: ObjectIndex,
    region: String,
    keys: Arc<access_keys::KeyCache>,
    /// Tenants' instances as describes return them.
    instance_view: Arc<instance_view::InstanceView>,
    /// Policies and targets: where new resources go.
    placement: Arc<placement::Placement>,
    /// Segment ids, public addresses and zones of tenant networks.
    network: Arc<networks::NetworkSettings>,
    /// The hosts' side of tenant networks, when this site has one.
    data_plane: Option<Arc<dyn cloud::network_plan::DataPlane>>,
    /// Launches into tenant subnets not yet recorded (their ports are planned already).
    launching: Arc<launching::Launching>,
    /// This site's image files, when it has local compute.
    image_files: Option<Arc<dyn cloud::ImageFiles>>,
    /// Which remote targets hold which images, as recently asked.
    image_presence: Arc<remote_images::ImagePresence>,
}

impl Accounts {
    /// Wires the account layer. `region` is the region this site reports (e.g. `us-east-1`).
    pub fn new(
        db: Db,
        secrets: SecretBox,
        objects: Arc<dyn ObjectStore>,
        region: impl Into<String>,
    ) -> Self {
        // Records are cached only where this process is the database's one writer.
        let cache_records = db.is_sqlite();
        Accounts {
            index: ObjectIndex::new(db.clone(), objects),
            db,
            secrets: Arc::new(secrets),
            region: region.into(),
            keys: Arc::default(),
            instance_view: Arc::new(instance_view::InstanceView::new(cache_records)),
            placement: Arc::new(placement::Placement::local_only("local")),
            network: Arc::default(),
            data_plane: None,
            launching: Arc::default(),
            image_files: None,
            image_presence: Arc::default(),
        }
    }

    /// Places new resources with `placement` (policies and remote targets)
    /// instead of keeping everything on this site.
    pub fn with_placement(mut self, placement: placement::Placement) -> Self {
        self.placement = Arc::new(placement);
        self
    }

    /// Uses `settings` for tenant networks instead of the defaults, and
    /// `data_plane` (if any) to build them on the hosts.
    pub fn with_network(
        mut self,
        settings: networks::NetworkSettings,
        data_plane: Option<Arc<dyn cloud::network_plan::DataPlane>>,
    ) -> Self {
        self.network = Arc::new(settings);
        self.data_plane = data_plane;
        self
    }

    /// The S3 object index: buckets, objects, versions, uploads and bucket settings.
    pub fn objects(&self) -> &ObjectIndex {
        &self.index
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The region this site reports.
    pub fn region(&self) -> &str {
        &self.region
    }
}
