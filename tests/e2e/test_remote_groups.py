"""Security groups on public clouds, with boto3: rules naming groups reach the
clouds' copies, and deleting a group deletes its copies (refused while an
instance still uses it)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from moto_clouds import clouds, image_of  # noqa: F401 (clouds: fixture)


def copy_of(moto, group_id: str) -> dict | None:
    groups = moto.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"skyport-{group_id}"]}])["SecurityGroups"]
    return groups[0] if groups else None


def group_peers(group: dict) -> list[tuple[int, str]]:
    return sorted((p.get("FromPort"), pair["GroupId"])
                  for p in group["IpPermissions"] for pair in p.get("UserIdGroupPairs", []))


def launch(ec2, image: str, groups: list[str]) -> str:
    out = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                            SecurityGroupIds=groups)
    return out["Instances"][0]["InstanceId"]


def test_group_rules_and_deletions_reach_the_clouds(clouds):
    ec2, tokyo, virginia = clouds["ec2"], clouds["tokyo"], clouds["virginia"]
    image = image_of(tokyo, virginia)
    web = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db")["GroupId"]
    # The database takes 5432 from web servers, and web servers talk among themselves.
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": web}]}])

    # Cost-first: both land in Virginia. The db copy comes first; its rule
    # naming web waits for web's copy, and is added when web's copy is made.
    db_instance = launch(ec2, image, [db])
    db_copy = copy_of(virginia, db)
    assert db_copy is not None and group_peers(db_copy) == []
    web_instance = launch(ec2, image, [web])
    web_copy = copy_of(virginia, web)
    assert group_peers(web_copy) == [(8080, web_copy["GroupId"])]
    assert group_peers(copy_of(virginia, db)) == [(5432, web_copy["GroupId"])]
    # Later changes carry group peers too.
    ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}])
    assert group_peers(copy_of(virginia, db)) == []

    # DescribeInstances shows each instance's groups.
    described = ec2.describe_instances(InstanceIds=[db_instance])["Reservations"][0]["Instances"][0]
    assert [g["GroupId"] for g in described["SecurityGroups"]] == [db]

    # A group an instance still uses stays, here and there.
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=db)
    assert error_code(e.value) == "DependencyViolation"
    assert copy_of(virginia, db) is not None
    ec2.terminate_instances(InstanceIds=[db_instance, web_instance])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[db_instance, web_instance],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    ec2.delete_security_group(GroupId=db)
    assert copy_of(virginia, db) is None
    # A rule naming the group itself does not hold it back.
    ec2.delete_security_group(GroupId=web)
    assert copy_of(virginia, web) is None
    with pytest.raises(ClientError) as e:
        ec2.describe_security_groups(GroupIds=[web])
    assert error_code(e.value) == "InvalidGroup.NotFound"
