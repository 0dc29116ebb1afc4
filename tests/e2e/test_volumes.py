"""Block volumes and snapshots on public clouds, with boto3 and the aws CLI.

Volumes are placed by the same policy files as instances (two moto_server
processes as "aws-tokyo" and "aws-virginia", see moto_clouds.py); snapshots
and volumes restored from them stay where their data is; a volume attaches
only to an instance on its own cloud.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import AdminCli, error_code, make_client
from moto_clouds import cli_env, clouds, image_of, placement, run  # noqa: F401 (clouds: fixture)

WAIT = {"Delay": 1, "MaxAttempts": 20}


def volume(ec2, zone: str, tags: dict | None = None, **kwargs) -> str:
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "volume",
                                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    out = ec2.create_volume(AvailabilityZone=zone, **kwargs)
    return out["VolumeId"]


def remote_volumes(moto) -> list[dict]:
    """Volumes Skyport made on a cloud (instances' root volumes left out)."""
    filters = [{"Name": "tag-key", "Values": ["skyport:id"]}]
    return moto.client("ec2").describe_volumes(Filters=filters)["Volumes"]


def zone_of(ec2, instance: str) -> str:
    out = ec2.describe_instances(InstanceIds=[instance])
    return out["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]


def test_boto3_volumes_follow_policy_attach_and_snapshot(clouds):
    ec2, tokyo, virginia, srv = clouds["ec2"], clouds["tokyo"], clouds["virginia"], clouds["server"]
    instance = run(ec2, image_of(tokyo, virginia), {"data-class": "personal"})
    zone = zone_of(ec2, instance)
    assert zone.startswith("ap-northeast-1")

    personal = volume(ec2, zone, {"data-class": "personal"}, Size=8, VolumeType="gp3")
    cheap = volume(ec2, "us-east-1a", Size=4)
    assert personal.startswith("vol-") and len(personal) == 4 + 17
    # Residency and cost-first (Virginia's storage is cheaper) decide as for instances.
    assert [v["Size"] for v in remote_volumes(tokyo)] == [8]
    assert [v["Size"] for v in remote_volumes(virginia)] == [4]
    assert "target: aws-tokyo" in placement(srv, personal)
    assert "target: aws-virginia" in placement(srv, cheap)
    # Each target's copy carries Skyport's ID, never the other way round.
    remote = remote_volumes(tokyo)[0]
    assert {"Key": "skyport:id", "Value": personal} in remote["Tags"]
    assert remote["VolumeId"] != personal

    # One merged listing, with filters and Skyport's placement tag.
    listed = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    assert set(listed) == {personal, cheap}
    assert listed[personal]["VolumeType"] == "gp3" and listed[personal]["AvailabilityZone"] == zone
    assert {"Key": "aws:skyport:placement", "Value": "aws-tokyo"} in listed[personal]["Tags"]
    only = ec2.describe_volumes(Filters=[{"Name": "tag:data-class", "Values": ["personal"]}])
    assert [v["VolumeId"] for v in only["Volumes"]] == [personal]
    only = ec2.describe_volumes(Filters=[{"Name": "size", "Values": ["4"]}])
    assert [v["VolumeId"] for v in only["Volumes"]] == [cheap]

    # Attach where both live; boto3's waiter sees the merged state.
    attached = ec2.attach_volume(VolumeId=personal, InstanceId=instance, Device="/dev/sdf")
    assert attached["InstanceId"] == instance and attached["Device"] == "/dev/sdf"
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[personal], WaiterConfig=WAIT)
    shown = ec2.describe_volumes(VolumeIds=[personal])["Volumes"][0]
    assert shown["State"] == "in-use"
    assert shown["Attachments"][0]["InstanceId"] == instance
    assert shown["Attachments"][0]["State"] == "attached"
    by_instance = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])["Volumes"]
    assert [v["VolumeId"] for v in by_instance] == [personal]

    # Across clouds, in use, and unknown IDs: AWS's codes, nothing changed.
    with pytest.raises(ClientError) as e:
        ec2.attach_volume(VolumeId=cheap, InstanceId=instance, Device="/dev/sdg")
    assert error_code(e.value) == "InvalidVolume.ZoneMismatch"
    with pytest.raises(ClientError) as e:
        ec2.delete_volume(VolumeId=personal)
    assert error_code(e.value) == "VolumeInUse"
    with pytest.raises(ClientError) as e:
        ec2.describe_volumes(VolumeIds=["vol-0123456789abcdef0"])
    assert error_code(e.value) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.detach_volume(VolumeId=cheap)
    assert error_code(e.value) == "IncorrectState"
    assert len(remote_volumes(tokyo)) == 1 and len(remote_volumes(virginia)) == 1

    # A snapshot stays with its volume's data, and so does a volume made from it
    # (even though cost-first alone would choose Virginia).
    snap = ec2.create_snapshot(VolumeId=personal, Description="nightly",
                               TagSpecifications=[{"ResourceType": "snapshot",
                                                   "Tags": [{"Key": "k", "Value": "v"}]}])
    snap_id = snap["SnapshotId"]
    assert snap_id.startswith("snap-") and snap["VolumeId"] == personal and snap["VolumeSize"] == 8
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap_id], WaiterConfig=WAIT)
    mine = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [(s["SnapshotId"], s["VolumeId"], s["Description"]) for s in mine] == [(snap_id, personal, "nightly")]
    assert {"Key": "k", "Value": "v"} in mine[0]["Tags"]
    assert ec2.describe_snapshots(OwnerIds=["amazon"])["Snapshots"] == []
    made = [{"Name": "tag-key", "Values": ["skyport:id"]}]
    assert len(tokyo.client("ec2").describe_snapshots(Filters=made)["Snapshots"]) == 1
    restored = volume(ec2, zone, SnapshotId=snap_id)
    shown = ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]
    assert shown["SnapshotId"] == snap_id and shown["Size"] == 8
    assert "restored from snapshot" in placement(srv, restored)
    assert len(remote_volumes(tokyo)) == 2

    # Detach, then everything goes away on the clouds too.
    detached = ec2.detach_volume(VolumeId=personal)
    assert detached["InstanceId"] == instance
    ec2.get_waiter("volume_available").wait(VolumeIds=[personal], WaiterConfig=WAIT)
    for vol in (personal, cheap, restored):
        ec2.delete_volume(VolumeId=vol)
    ec2.delete_snapshot(SnapshotId=snap_id)
    assert remote_volumes(tokyo) == [] and remote_volumes(virginia) == []
    assert ec2.describe_volumes()["Volumes"] == []
    assert ec2.describe_snapshots()["Snapshots"] == []
    with pytest.raises(ClientError) as e:
        ec2.delete_snapshot(SnapshotId=snap_id)
    assert error_code(e.value) == "InvalidSnapshot.NotFound"
    ec2.terminate_instances(InstanceIds=[instance])


def test_volumes_are_private_to_their_tenant_and_paged(clouds):
    ec2, srv = clouds["ec2"], clouds["server"]
    ids = sorted(volume(ec2, "us-east-1a", Size=1) for _ in range(5))
    # A retried create with the same ClientToken is the same volume.
    token = volume(ec2, "us-east-1a", Size=1, ClientToken="retry-me")
    assert volume(ec2, "us-east-1a", Size=1, ClientToken="retry-me") == token
    ids = sorted(ids + [token])
    first = ec2.describe_volumes(MaxResults=5)
    second = ec2.describe_volumes(MaxResults=5, NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert sorted(v["VolumeId"] for v in first["Volumes"] + second["Volumes"]) == ids
    # Paginators work over the merged listing.
    pages = ec2.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 5})
    assert sorted(v["VolumeId"] for page in pages for v in page["Volumes"]) == ids

    admin = AdminCli(srv)
    other_creds = admin.new_tenant_with_key("vols")
    other = make_client(srv, "ec2", other_creds)
    assert other.describe_volumes()["Volumes"] == []
    for call in (lambda: other.describe_volumes(VolumeIds=[ids[0]]),
                 lambda: other.delete_volume(VolumeId=ids[0]),
                 lambda: other.create_snapshot(VolumeId=ids[0])):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e.value) == "InvalidVolume.NotFound"
    assert len(ec2.describe_volumes()["Volumes"]) == 6

    # The tenant's volume quota counts GiB across clouds.
    admin.run("quota", "set", "--tenant", other_creds.tenant, "--volume-gib", "5")
    volume(other, "us-east-1a", Size=4)
    with pytest.raises(ClientError) as e:
        volume(other, "ap-northeast-1a", Size=2)
    assert error_code(e.value) == "VolumeLimitExceeded"
    assert len(other.describe_volumes()["Volumes"]) == 1


def test_unreachable_cloud_refuses_personal_volumes_and_keeps_last_state(clouds):
    ec2, tokyo, virginia = clouds["ec2"], clouds["tokyo"], clouds["virginia"]
    kept = volume(ec2, "ap-northeast-1a", {"data-class": "personal"}, Size=2)
    tokyo.stop()
    with pytest.raises(ClientError) as e:
        volume(ec2, "ap-northeast-1a", {"data-class": "personal"}, Size=2)
    assert error_code(e.value) == "InsufficientVolumeCapacity"
    assert "personal-data-stays-in-japan" in str(e.value)
    assert remote_volumes(virginia) == []
    # Tokyo's volume is still listed, as last seen.
    listed = ec2.describe_volumes()["Volumes"]
    assert [(v["VolumeId"], v["State"]) for v in listed] == [(kept, "available")]


def test_awscli_volume_round_trip(clouds, tmp_path):
    srv, virginia = clouds["server"], clouds["virginia"]
    env = cli_env(srv, tmp_path)

    def aws(*args):
        cp = subprocess.run(["aws", "--profile", "skyport", "--endpoint-url", srv.url, "ec2", *args],
                            capture_output=True, text=True, timeout=60, env=env)
        assert cp.returncode == 0, cp.stderr
        return json.loads(cp.stdout) if cp.stdout.strip() else None

    made = aws("create-volume", "--availability-zone", "us-east-1b", "--size", "3",
               "--tag-specifications", "ResourceType=volume,Tags=[{Key=Name,Value=cli}]")
    vol = made["VolumeId"]
    assert made["State"] in ("creating", "available") and made["Size"] == 3
    assert [v["Size"] for v in remote_volumes(virginia)] == [3]
    listed = aws("describe-volumes", "--filters", "Name=tag:Name,Values=cli")["Volumes"]
    assert [v["VolumeId"] for v in listed] == [vol]
    aws("wait", "volume-available", "--volume-ids", vol)
    aws("delete-volume", "--volume-id", vol)
    assert remote_volumes(virginia) == []


def test_sites_without_remote_targets_say_volumes_need_one(ec2):
    with pytest.raises(ClientError) as e:
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    assert error_code(e.value) == "Unsupported"
    assert "volumes" in str(e.value)
    assert ec2.describe_volumes()["Volumes"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
