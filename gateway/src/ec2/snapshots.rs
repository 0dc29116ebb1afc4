//! CreateSnapshot, DescribeSnapshots, DeleteSnapshot.

use accounts::Snapshot;
use cloud::types::Tag;
use cloud::ResourceKind;

use super::filter::{absent, field, one, opt, FilterField, Filterable};
use super::page::describe;
use super::tags::tag_specifications;
use super::xml::{returned_true, timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// A snapshot with the account that owns it (the tenant's).
struct Owned {
    snapshot: Snapshot,
    owner: String,
}

impl Filterable for Owned {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["snapshot-id"], |o| one(&o.snapshot.id)),
        field(&["volume-id"], |o| one(&o.snapshot.volume_id)),
        field(&["status"], |o| one(&o.snapshot.state)),
        field(&["progress"], |o| one(&o.snapshot.progress)),
        field(&["owner-id"], |o| one(&o.owner)),
        field(&["description"], |o| opt(&o.snapshot.description)),
        field(&["volume-size"], |o| one(o.snapshot.size_gib.to_string())),
        field(&["encrypted"], |o| one(o.snapshot.encrypted.to_string())),
        field(&["start-time"], |o| one(timestamp(o.snapshot.started_at))),
        field(&["storage-tier"], |_| one("standard")),
        absent(&["owner-alias", "transfer-type"]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.snapshot.tags
    }
}

fn write_snapshot(x: &mut XmlWriter, snapshot: &Snapshot, owner: &str) {
    x.leaf("snapshotId", &snapshot.id)
        .leaf("volumeId", &snapshot.volume_id)
        .leaf("status", &snapshot.state)
        .leaf("startTime", timestamp(snapshot.started_at))
        .leaf("progress", &snapshot.progress)
        .leaf("ownerId", owner)
        .leaf("volumeSize", snapshot.size_gib)
        .leaf("description", snapshot.description.as_deref().unwrap_or(""))
        .leaf("encrypted", snapshot.encrypted)
        .leaf("storageTier", "standard")
        .tag_set(&snapshot.tags);
}

pub async fn create_snapshot(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["VolumeId", "Description", "TagSpecification"])?;
    let volume = call.params.required("VolumeId")?;
    let tags = tag_specifications(&call.params, "snapshot")?;
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    let snapshot = call
        .accounts
        .create_snapshot(tenant, volume, call.params.get("Description"), &tags)
        .await?;
    let mut x = XmlWriter::response("CreateSnapshot", call.request_id);
    write_snapshot(&mut x, &snapshot, &tenant.account_id);
    Ok(x.finish("CreateSnapshot"))
}

pub async fn describe_snapshots(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "SnapshotId",
        "Owner",
        "RestorableBy",
        "Filter",
        "MaxResults",
        "NextToken",
    ])?;
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    // Tenants see their own snapshots; no other owner (`amazon`, another
    // account) shares any with them.
    let owners = call.params.list("Owner");
    let own = owners.is_empty()
        || owners
            .iter()
            .any(|owner| owner == "self" || *owner == tenant.account_id);
    let ids = call.params.list("SnapshotId");
    let all = if own {
        call.accounts.describe_snapshots(tenant, &ids).await?
    } else {
        Vec::new()
    };
    let all = all
        .into_iter()
        .map(|snapshot| Owned {
            snapshot,
            owner: tenant.account_id.clone(),
        })
        .collect();
    let page = describe(
        &call.params,
        all,
        "SnapshotId",
        ResourceKind::Snapshot,
        |s| &s.snapshot.id,
    )?;
    let mut x = XmlWriter::response("DescribeSnapshots", call.request_id);
    x.start("snapshotSet");
    for item in &page.items {
        x.start("item");
        write_snapshot(&mut x, &item.snapshot, &item.owner);
        x.end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeSnapshots"))
}

pub async fn delete_snapshot(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["SnapshotId"])?;
    let id = call.params.required("SnapshotId")?;
    call.dry_run()?;
    call.accounts
        .delete_snapshot(&call.principal.tenant, id)
        .await?;
    Ok(returned_true("DeleteSnapshot", call.request_id))
}
