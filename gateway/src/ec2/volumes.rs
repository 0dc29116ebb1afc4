//! CreateVolume, DescribeVolumes, DeleteVolume, AttachVolume, DetachVolume.

use accounts::{Attachment, Volume, VolumeRequest};
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{absent, field, one, opt, FilterField, Filterable};
use super::page::describe;
use super::tags::tag_specifications;
use super::xml::{returned_true, timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

fn attachment_values(volume: &Volume, value: impl Fn(&Attachment) -> String) -> Vec<String> {
    volume.attachment.iter().map(value).collect()
}

impl Filterable for Volume {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["volume-id"], |v| one(&v.id)),
        field(&["status"], |v| one(&v.state)),
        field(&["size"], |v| one(v.size_gib.to_string())),
        field(&["availability-zone"], |v| one(&v.availability_zone)),
        field(&["volume-type"], |v| one(&v.volume_type)),
        field(&["snapshot-id"], |v| opt(&v.snapshot_id)),
        field(&["encrypted"], |v| one(v.encrypted.to_string())),
        field(&["create-time"], |v| one(timestamp(v.created_at))),
        field(&["multi-attach-enabled"], |_| one("false")),
        field(&["attachment.instance-id"], |v| {
            attachment_values(v, |a| a.instance_id.clone())
        }),
        field(&["attachment.device"], |v| {
            attachment_values(v, |a| a.device.clone())
        }),
        field(&["attachment.status"], |v| {
            attachment_values(v, |a| a.state.clone())
        }),
        field(&["attachment.attach-time"], |v| {
            attachment_values(v, |a| timestamp(a.attached_at))
        }),
        field(&["attachment.delete-on-termination"], |v| {
            attachment_values(v, |_| "false".to_string())
        }),
        absent(&[
            "availability-zone-id",
            "fast-restored",
            "operator.managed",
            "operator.principal",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// A volume's fields, as CreateVolume's response and DescribeVolumes' items
/// carry them.
fn write_volume(x: &mut XmlWriter, volume: &Volume) {
    x.leaf("volumeId", &volume.id)
        .leaf("size", volume.size_gib)
        .leaf("snapshotId", volume.snapshot_id.as_deref().unwrap_or(""))
        .leaf("availabilityZone", &volume.availability_zone)
        .leaf("status", &volume.state)
        .leaf("createTime", timestamp(volume.created_at))
        .start("attachmentSet");
    if let Some(attachment) = &volume.attachment {
        x.start("item");
        write_attachment(x, attachment);
        x.leaf("deleteOnTermination", "false").end();
    }
    x.end()
        .tag_set(&volume.tags)
        .leaf("volumeType", &volume.volume_type)
        .leaf_opt("iops", volume.iops)
        .leaf("encrypted", volume.encrypted)
        .leaf("multiAttachEnabled", "false");
}

fn write_attachment(x: &mut XmlWriter, attachment: &Attachment) {
    x.leaf("volumeId", &attachment.volume_id)
        .leaf("instanceId", &attachment.instance_id)
        .leaf("device", &attachment.device)
        .leaf("status", &attachment.state)
        .leaf("attachTime", timestamp(attachment.attached_at));
}

pub async fn create_volume(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "AvailabilityZone",
        "Size",
        "SnapshotId",
        "VolumeType",
        "Iops",
        "Encrypted",
        "ClientToken",
        "TagSpecification",
        "MultiAttachEnabled",
    ])?;
    let availability_zone = call.params.required("AvailabilityZone")?.to_string();
    if call.params.bool("MultiAttachEnabled")? {
        return Err(Ec2Error::bad_request(
            "UnsupportedOperation",
            "Multi-attach volumes are not offered",
        ));
    }
    let request = VolumeRequest {
        availability_zone,
        size_gib: call.params.int("Size")?,
        snapshot_id: call.params.get("SnapshotId").map(str::to_owned),
        volume_type: call.params.get("VolumeType").map(str::to_owned),
        iops: call.params.int("Iops")?,
        encrypted: call.params.bool("Encrypted")?,
        client_token: call.params.get("ClientToken").map(str::to_owned),
        tags: tag_specifications(&call.params, "volume")?,
    };
    call.dry_run()?;
    let volume = call
        .accounts
        .create_volume(&call.principal.tenant, &request)
        .await?;
    let mut x = XmlWriter::response("CreateVolume", call.request_id);
    write_volume(&mut x, &volume);
    Ok(x.finish("CreateVolume"))
}

pub async fn describe_volumes(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["VolumeId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let ids = call.params.list("VolumeId");
    let all = call
        .accounts
        .describe_volumes(&call.principal.tenant, &ids)
        .await?;
    let page = describe(&call.params, all, "VolumeId", ResourceKind::Volume, |v| {
        &v.id
    })?;
    let mut x = XmlWriter::response("DescribeVolumes", call.request_id);
    x.start("volumeSet");
    for volume in &page.items {
        x.start("item");
        write_volume(&mut x, volume);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeVolumes"))
}

pub async fn delete_volume(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["VolumeId"])?;
    let id = call.params.required("VolumeId")?;
    call.dry_run()?;
    call.accounts
        .delete_volume(&call.principal.tenant, id)
        .await?;
    Ok(returned_true("DeleteVolume", call.request_id))
}

pub async fn attach_volume(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["VolumeId", "InstanceId", "Device"])?;
    let volume = call.params.required("VolumeId")?;
    let instance = call.params.required("InstanceId")?;
    let device = call.params.required("Device")?;
    call.dry_run()?;
    let attachment = call
        .accounts
        .attach_volume(&call.principal.tenant, volume, instance, device)
        .await?;
    let mut x = XmlWriter::response("AttachVolume", call.request_id);
    write_attachment(&mut x, &attachment);
    Ok(x.finish("AttachVolume"))
}

pub async fn detach_volume(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["VolumeId", "InstanceId", "Device", "Force"])?;
    let volume = call.params.required("VolumeId")?;
    let force = call.params.bool("Force")?;
    call.dry_run()?;
    let attachment = call
        .accounts
        .detach_volume(
            &call.principal.tenant,
            volume,
            call.params.get("InstanceId"),
            call.params.get("Device"),
            force,
        )
        .await?;
    let mut x = XmlWriter::response("DetachVolume", call.request_id);
    write_attachment(&mut x, &attachment);
    Ok(x.finish("DetachVolume"))
}
