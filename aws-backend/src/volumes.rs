//! `cloud::BlockStorage` over the target's EC2 API (EBS volumes and snapshots).

use async_trait::async_trait;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, ResourceType, Snapshot, Tag, TagSpecification, Volume, VolumeAttachment, VolumeType,
};
use cloud::{AttachmentView, BlockStorage, SnapshotView, VolumeSpec, VolumeView};

use crate::ec2::{missing, rfc3339, tags_of, MAX_FILTER_VALUES};
use crate::error::Error;
use crate::target::AwsTarget;

#[async_trait]
impl BlockStorage for AwsTarget {
    #[tracing::instrument(skip_all, fields(backend = %self.name()))]
    async fn create_volume(&self, spec: &VolumeSpec) -> cloud::Result<VolumeView> {
        let mut call = (self.clients.ec2.create_volume())
            .availability_zone(&spec.availability_zone)
            .set_size(spec.size_gib.map(clamp_i32))
            .set_snapshot_id(spec.snapshot_id.clone())
            .set_volume_type(spec.volume_type.as_deref().map(VolumeType::from))
            .set_iops(spec.iops.map(clamp_i32));
        if spec.encrypted {
            call = call.encrypted(true);
        }
        if !spec.tags.is_empty() {
            call = call.tag_specifications(tag_specification(ResourceType::Volume, &spec.tags));
        }
        let output = call.send().await.map_err(|error| self.fail(error))?;
        let volume = Volume::builder()
            .set_volume_id(output.volume_id)
            .set_size(output.size)
            .set_availability_zone(output.availability_zone)
            .set_state(output.state)
            .set_volume_type(output.volume_type)
            .set_iops(output.iops)
            .set_encrypted(output.encrypted)
            .set_snapshot_id(output.snapshot_id)
            .set_create_time(output.create_time)
            .build();
        Ok(volume_view(self.name(), &volume)?)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len()))]
    async fn describe_volumes(&self, remote_ids: &[String]) -> cloud::Result<Vec<VolumeView>> {
        // A filter, not VolumeIds: unknown IDs are then absent instead of an error.
        let mut views = Vec::new();
        for ids in remote_ids.chunks(MAX_FILTER_VALUES) {
            views.extend(self.volumes_matching(filter("volume-id", ids)).await?);
        }
        Ok(views)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), key))]
    async fn volumes_tagged(&self, key: &str) -> cloud::Result<Vec<VolumeView>> {
        self.volumes_matching(filter("tag-key", &[key.to_string()]))
            .await
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), remote_id))]
    async fn delete_volume(&self, remote_id: &str) -> cloud::Result<()> {
        match self
            .clients
            .ec2
            .delete_volume()
            .volume_id(remote_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("InvalidVolume.NotFound") => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), remote_id, instance_remote_id))]
    async fn attach_volume(
        &self,
        remote_id: &str,
        instance_remote_id: &str,
        device: &str,
    ) -> cloud::Result<AttachmentView> {
        let output = (self.clients.ec2.attach_volume())
            .volume_id(remote_id)
            .instance_id(instance_remote_id)
            .device(device)
            .send()
            .await
            .map_err(|error| self.fail(error))?;
        Ok(AttachmentView {
            instance_remote_id: instance_remote_id.to_owned(),
            device: output.device.unwrap_or_else(|| device.to_owned()),
            state: output
                .state
                .map_or_else(|| "attaching".to_owned(), |s| s.as_str().to_owned()),
            attach_time: output.attach_time.as_ref().and_then(rfc3339),
        })
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), remote_id, instance_remote_id))]
    async fn detach_volume(
        &self,
        remote_id: &str,
        instance_remote_id: &str,
        device: Option<&str>,
        force: bool,
    ) -> cloud::Result<AttachmentView> {
        let mut call = (self.clients.ec2.detach_volume())
            .volume_id(remote_id)
            .instance_id(instance_remote_id)
            .set_device(device.map(str::to_owned));
        if force {
            call = call.force(true);
        }
        let output = call.send().await.map_err(|error| self.fail(error))?;
        Ok(AttachmentView {
            instance_remote_id: instance_remote_id.to_owned(),
            device: output
                .device
                .or_else(|| device.map(str::to_owned))
                .unwrap_or_default(),
            state: output
                .state
                .map_or_else(|| "detaching".to_owned(), |s| s.as_str().to_owned()),
            attach_time: output.attach_time.as_ref().and_then(rfc3339),
        })
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), volume_remote_id))]
    async fn create_snapshot(
        &self,
        volume_remote_id: &str,
        description: Option<&str>,
        tags: &[cloud::types::Tag],
    ) -> cloud::Result<SnapshotView> {
        let mut call = (self.clients.ec2.create_snapshot())
            .volume_id(volume_remote_id)
            .set_description(description.map(str::to_owned));
        if !tags.is_empty() {
            call = call.tag_specifications(tag_specification(ResourceType::Snapshot, tags));
        }
        let output = call.send().await.map_err(|error| self.fail(error))?;
        let snapshot = Snapshot::builder()
            .set_snapshot_id(output.snapshot_id)
            .set_volume_id(output.volume_id)
            .set_volume_size(output.volume_size)
            .set_state(output.state)
            .set_progress(output.progress)
            .set_description(output.description)
            .set_encrypted(output.encrypted)
            .set_start_time(output.start_time)
            .build();
        Ok(snapshot_view(self.name(), &snapshot)?)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len()))]
    async fn describe_snapshots(&self, remote_ids: &[String]) -> cloud::Result<Vec<SnapshotView>> {
        let mut views = Vec::new();
        for ids in remote_ids.chunks(MAX_FILTER_VALUES) {
            let mut next_token = None;
            loop {
                let output = (self.clients.ec2.describe_snapshots())
                    .owner_ids("self")
                    .filters(filter("snapshot-id", ids))
                    .set_next_token(next_token)
                    .send()
                    .await
                    .map_err(|error| self.fail(error))?;
                for snapshot in output.snapshots() {
                    views.push(snapshot_view(self.name(), snapshot)?);
                }
                next_token = output.next_token.filter(|token| !token.is_empty());
                if next_token.is_none() {
                    break;
                }
            }
        }
        Ok(views)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), remote_id))]
    async fn delete_snapshot(&self, remote_id: &str) -> cloud::Result<()> {
        match (self.clients.ec2.delete_snapshot())
            .snapshot_id(remote_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("InvalidSnapshot.NotFound") => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }
}

impl AwsTarget {
    /// Every volume matching `filter`, all pages.
    async fn volumes_matching(&self, filter: Filter) -> cloud::Result<Vec<VolumeView>> {
        let mut views = Vec::new();
        let mut next_token = None;
        loop {
            let output = (self.clients.ec2.describe_volumes())
                .filters(filter.clone())
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|error| self.fail(error))?;
            for volume in output.volumes() {
                views.push(volume_view(self.name(), volume)?);
            }
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                return Ok(views);
            }
        }
    }
}

fn clamp_i32(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

fn tag_specification(kind: ResourceType, tags: &[cloud::types::Tag]) -> TagSpecification {
    let tags = tags
        .iter()
        .map(|tag| Tag::builder().key(&tag.key).value(&tag.value).build())
        .collect();
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags))
        .build()
}

fn volume_view(target: &str, volume: &Volume) -> Result<VolumeView, Error> {
    Ok(VolumeView {
        remote_id: volume
            .volume_id()
            .ok_or_else(|| missing(target, "volumeId"))?
            .to_owned(),
        size_gib: volume.size().map_or(0, i64::from),
        availability_zone: volume.availability_zone().unwrap_or_default().to_owned(),
        state: volume
            .state()
            .map_or_else(|| "creating".to_owned(), |s| s.as_str().to_owned()),
        volume_type: volume
            .volume_type()
            .map_or_else(|| "standard".to_owned(), |t| t.as_str().to_owned()),
        iops: volume.iops().map(i64::from),
        encrypted: volume.encrypted().unwrap_or(false),
        snapshot_id: volume
            .snapshot_id()
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        create_time: volume.create_time().and_then(rfc3339),
        // A volume attaches to one instance (multi-attach is not offered).
        attachment: volume.attachments().first().and_then(attachment_view),
        tags: tags_of(volume.tags()),
    })
}

fn attachment_view(attachment: &VolumeAttachment) -> Option<AttachmentView> {
    Some(AttachmentView {
        instance_remote_id: attachment.instance_id()?.to_owned(),
        device: attachment.device().unwrap_or_default().to_owned(),
        state: attachment
            .state()
            .map_or_else(|| "attached".to_owned(), |s| s.as_str().to_owned()),
        attach_time: attachment.attach_time().and_then(rfc3339),
    })
}

fn snapshot_view(target: &str, snapshot: &Snapshot) -> Result<SnapshotView, Error> {
    Ok(SnapshotView {
        remote_id: snapshot
            .snapshot_id()
            .ok_or_else(|| missing(target, "snapshotId"))?
            .to_owned(),
        volume_remote_id: snapshot.volume_id().map(str::to_owned),
        volume_size_gib: snapshot.volume_size().map_or(0, i64::from),
        state: snapshot
            .state()
            .map_or_else(|| "pending".to_owned(), |s| s.as_str().to_owned()),
        progress: snapshot.progress().unwrap_or_default().to_owned(),
        description: snapshot
            .description()
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        encrypted: snapshot.encrypted().unwrap_or(false),
        start_time: snapshot.start_time().and_then(rfc3339),
    })
}
