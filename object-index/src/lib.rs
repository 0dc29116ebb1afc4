//! The S3 object index: which tenant owns which bucket name and where it
//! lives (the bucket registry), the bucket's settings and tags, and — for
//! buckets of this site — the records of its objects, versions and multipart
//! uploads, whose bytes the blob store ([`cloud::ObjectStore`]) holds.
//!
//! Placing a bucket on this site or a remote cloud is the account layer's
//! decision; it registers the outcome here ([`ObjectIndex::insert_bucket`]).
//! Every read and write takes the calling tenant and answers the domain's
//! [`cloud::Error`] (AccessDenied for another tenant's bucket, NoSuchKey…).

mod access;
mod bucket_settings;
mod buckets;
mod cache;
mod listing;
mod multipart;
mod object_tags;
mod objects;
pub mod store_identity;
mod versions;

use std::sync::Arc;

use cloud::types::{Bucket, ObjectInfo};
use cloud::ObjectStore;
use datastore::Db;

pub use bucket_settings::lifecycle_now;
pub use buckets::{validate_bucket_name, RemoteHome};
pub use multipart::{Part, Upload, MAX_PART_NUMBER, MIN_PART_SIZE};
pub use object_tags::validate_object_tags;
pub use objects::{validate_key, WriteCondition, Written};
pub use store_identity::{StoreIdentityError, STORE_ID_FILE};
pub use versions::VersionListing;

/// The object index over one database and this site's blob store. Clones
/// share the caches.
#[derive(Clone)]
pub struct ObjectIndex {
    db: Db,
    blobs: Arc<dyn ObjectStore>,
    /// Bucket name → (owner tenant ID, bucket).
    bucket_cache: Arc<cache::RecordCache<String, (String, Bucket)>>,
    /// (bucket, key) → current object.
    object_cache: Arc<cache::RecordCache<(String, String), ObjectInfo>>,
}

impl ObjectIndex {
    /// The index of `db`'s objects, whose bytes `blobs` holds.
    pub fn new(db: Db, blobs: Arc<dyn ObjectStore>) -> Self {
        // Records are cached only where this process is the database's one writer.
        let cache_records = db.is_sqlite();
        ObjectIndex {
            db,
            blobs,
            bucket_cache: Arc::new(cache::RecordCache::new(cache_records)),
            object_cache: Arc::new(cache::RecordCache::new(cache_records)),
        }
    }
}
