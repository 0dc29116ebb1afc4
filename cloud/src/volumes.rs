//! Block storage as a backend sees it: the [`BlockStorage`] trait, EBS-style
//! volumes and their snapshots.
//!
//! As with compute, IDs here are the *target's* (`remote_id`); accounts maps
//! them to the `vol-`/`snap-` IDs tenants see.

use async_trait::async_trait;

use crate::error::Result;
use crate::types::Tag;

/// What CreateVolume asks a target for.
#[derive(Debug, Clone, Default)]
pub struct VolumeSpec {
    pub availability_zone: String,
    /// GiB; `None` = the snapshot's size.
    pub size_gib: Option<i64>,
    /// The target's snapshot ID to restore from.
    pub snapshot_id: Option<String>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub encrypted: bool,
    /// Tags the target's copy carries (Skyport's own keys included).
    pub tags: Vec<Tag>,
}

/// A volume as its target reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeView {
    pub remote_id: String,
    pub size_gib: i64,
    pub availability_zone: String,
    /// `creating`, `available`, `in-use`, `deleting`, `deleted`, `error`.
    pub state: String,
    pub volume_type: String,
    pub iops: Option<i64>,
    pub encrypted: bool,
    /// The target's snapshot ID it was made from.
    pub snapshot_id: Option<String>,
    /// RFC 3339, as the target reported it.
    pub create_time: Option<String>,
    pub attachment: Option<AttachmentView>,
    /// The tags the target holds for it.
    pub tags: Vec<Tag>,
}

/// A volume's attachment to an instance, in the target's IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentView {
    pub instance_remote_id: String,
    pub device: String,
    /// `attaching`, `attached`, `detaching`, `detached`.
    pub state: String,
    /// RFC 3339.
    pub attach_time: Option<String>,
}

/// A snapshot as its target reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotView {
    pub remote_id: String,
    /// The target's ID of the volume it was taken from.
    pub volume_remote_id: Option<String>,
    pub volume_size_gib: i64,
    /// `pending`, `completed`, `error`.
    pub state: String,
    /// `0%` … `100%`.
    pub progress: String,
    pub description: Option<String>,
    pub encrypted: bool,
    /// RFC 3339.
    pub start_time: Option<String>,
}

/// Volumes and snapshots on one target. Describes take the target's IDs and
/// leave out those the target no longer knows.
#[async_trait]
pub trait BlockStorage: Send + Sync {
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeView>;
    async fn describe_volumes(&self, remote_ids: &[String]) -> Result<Vec<VolumeView>>;
    /// Every volume carrying tag `key`.
    async fn volumes_tagged(&self, key: &str) -> Result<Vec<VolumeView>>;
    /// Deletes a volume; one the target no longer knows is fine.
    async fn delete_volume(&self, remote_id: &str) -> Result<()>;
    async fn attach_volume(
        &self,
        remote_id: &str,
        instance_remote_id: &str,
        device: &str,
    ) -> Result<AttachmentView>;
    async fn detach_volume(
        &self,
        remote_id: &str,
        instance_remote_id: &str,
        device: Option<&str>,
        force: bool,
    ) -> Result<AttachmentView>;
    async fn create_snapshot(
        &self,
        volume_remote_id: &str,
        description: Option<&str>,
        tags: &[Tag],
    ) -> Result<SnapshotView>;
    async fn describe_snapshots(&self, remote_ids: &[String]) -> Result<Vec<SnapshotView>>;
    /// Deletes a snapshot; one the target no longer knows is fine.
    async fn delete_snapshot(&self, remote_id: &str) -> Result<()>;
}
