//! Skyport's account layer: tenants, users, access keys and quotas; the
//! records tenants own (key pairs, security groups, tags, buckets and this
//! site's object index, images, VPCs and the network plan); and the
//! placement that routes instances, volumes, snapshots, buckets and
//! addresses to this site or a remote target under Skyport's own IDs. State
//! lives in SQLite or PostgreSQL. (The crate's name predates the federation
//! feature; the restructure renames and splits it.)
//!
//! Errors are the domain's [`cloud::Error`]: this crate adds no error enum of its
//! own, it only folds database failures into `Error::Internal` (see [`db`]).

pub mod access_keys;
pub mod addresses;
pub mod attachments;
pub mod bucket_settings;
pub mod buckets;
pub mod cache;
pub mod db;
pub mod image_attributes;
pub mod images;
pub mod instance_attributes;
mod instance_sync;
mod instance_view;
pub mod instances;
pub mod internet_gateways;
pub mod key_material;
pub mod key_pairs;
mod launching;
pub mod listing;
mod mapped;
pub mod metadata;
pub mod multipart;
pub mod network_interfaces;
pub mod network_plan;
pub mod networks;
pub mod object_tags;
pub mod objects;
pub mod placement;
mod remote_groups;
pub mod remote_images;
pub mod route_tables;
pub mod sealing;
pub mod security_group_rules;
pub mod security_groups;
pub mod snapshots;
pub mod store_identity;
pub mod subnets;
pub mod tags;
pub mod tenants;
pub mod versions;
pub mod volume_sweep;
pub mod volumes;
pub mod vpc_attributes;
pub mod vpcs;

use std::sync::Arc;

use cloud::ObjectStore;

pub use db::Db;
pub use sealing::SecretBox;
pub use tenants::{Principal, Quotas, Role, Tenant};

/// The account layer: one database, the key that seals secrets, and the object store.
#[derive(Clone)]
pub struct Federation {
    db: Db,
    secrets: Arc<SecretBox>,
    objects: Arc<dyn ObjectStore>,
    region: String,
    keys: Arc<access_keys::KeyCache>,
    /// Bucket name → (owner tenant ID, bucket).
    bucket_cache: Arc<cache::RecordCache<String, (String, cloud::types::Bucket)>>,
    /// (bucket, key) → current object.
    object_cache: Arc<cache::RecordCache<(String, String), cloud::types::ObjectInfo>>,
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
    /// Which remote targets hold which images, as recently asked.
    image_presence: Arc<remote_images::ImagePresence>,
}

impl Federation {
    /// Wires the account layer. `region` is the region this site reports (e.g. `us-east-1`).
    pub fn new(
        db: Db,
        secrets: SecretBox,
        objects: Arc<dyn ObjectStore>,
        region: impl Into<String>,
    ) -> Self {
        // Records are cached only where this process is the database's one writer.
        let cache_records = db.is_sqlite();
        Federation {
            db,
            secrets: Arc::new(secrets),
            objects,
            region: region.into(),
            keys: Arc::default(),
            bucket_cache: Arc::new(cache::RecordCache::new(cache_records)),
            object_cache: Arc::new(cache::RecordCache::new(cache_records)),
            instance_view: Arc::new(instance_view::InstanceView::new(cache_records)),
            placement: Arc::new(placement::Placement::local_only("local")),
            network: Arc::default(),
            data_plane: None,
            launching: Arc::default(),
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

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The region this site reports.
    pub fn region(&self) -> &str {
        &self.region
    }
}
