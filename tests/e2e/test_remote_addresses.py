"""Elastic IPs on public clouds, with boto3: AllocateAddress is placed by the
policies like any resource, and an address associates only with instances on
its own cloud."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from moto_clouds import clouds, image_of, placement, run  # noqa: F401 (clouds: fixture)


def addresses_on(moto) -> list[dict]:
    return moto.client("ec2").describe_addresses()["Addresses"]


def test_elastic_ips_live_on_a_cloud_and_follow_its_instances(clouds):
    ec2, tokyo, virginia, srv = clouds["ec2"], clouds["tokyo"], clouds["virginia"], clouds["server"]
    image = image_of(tokyo, virginia)
    in_tokyo = run(ec2, image, {"data-class": "personal"})
    in_virginia = run(ec2, image, {})

    personal = [{"ResourceType": "elastic-ip", "Tags": [{"Key": "data-class", "Value": "personal"}]}]
    allocated = ec2.allocate_address(Domain="vpc", TagSpecifications=personal)
    allocation = allocated["AllocationId"]
    assert allocation.startswith("eipalloc-")
    assert [a["PublicIp"] for a in addresses_on(tokyo)] == [allocated["PublicIp"]]
    assert addresses_on(virginia) == []
    assert "target: aws-tokyo" in placement(srv, allocation)

    # Only instances on the address's own cloud.
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=allocation, InstanceId=in_virginia)
    assert error_code(e.value) == "InvalidParameterValue"
    assert "aws-tokyo" in str(e.value)

    association = ec2.associate_address(AllocationId=allocation, InstanceId=in_tokyo)["AssociationId"]
    assert association.startswith("eipassoc-")
    [shown] = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"]
    assert (shown["InstanceId"], shown["AssociationId"]) == (in_tokyo, association)
    assert {"Key": "aws:skyport:placement", "Value": "aws-tokyo"} in shown["Tags"]
    [remote] = addresses_on(tokyo)
    assert remote["InstanceId"] == tokyo.instance_ids()[0]
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=allocation, InstanceId=in_tokyo, AllowReassociation=False)
    assert error_code(e.value) == "Resource.AlreadyAssociated"
    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId=allocation)
    assert error_code(e.value) == "InvalidIPAddress.InUse"

    ec2.disassociate_address(AssociationId=association)
    assert not addresses_on(tokyo)[0].get("InstanceId")
    assert "InstanceId" not in ec2.describe_addresses()["Addresses"][0]
    ec2.release_address(AllocationId=allocation)
    assert addresses_on(tokyo) == []
    assert ec2.describe_addresses()["Addresses"] == []

    # An untagged address is placed by the same rules (both clouds qualify).
    other = ec2.allocate_address(Domain="vpc")["AllocationId"]
    assert len(addresses_on(tokyo)) + len(addresses_on(virginia)) == 1
    ec2.release_address(AllocationId=other)
    assert addresses_on(tokyo) == [] and addresses_on(virginia) == []
    ec2.terminate_instances(InstanceIds=[in_tokyo, in_virginia])
