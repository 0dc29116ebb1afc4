"""Images as Ansible's ec2_ami and Terraform's aws_ami_launch_permission use
them: tags (TagSpecification on RegisterImage, CreateTags/DeleteTags on
ami- IDs, the owner's own), and DescribeImageAttribute / ModifyImageAttribute
launch permissions shared with another tenant's account ID or with everyone
(group `all`), and the description. Needs local compute (an image store)."""

import subprocess

import pytest

from conftest import AdminCli, error_code, make_client, unique
from test_compute import compute_server  # noqa: F401  (the fixture)


def account_of(server, creds) -> str:
    return make_client(server, "sts", creds).get_caller_identity()["Account"]


def visible(ec2, image_id) -> bool:
    return any(i["ImageId"] == image_id for i in ec2.describe_images()["Images"])


def test_image_tags_and_launch_permissions(compute_server, tmp_path):  # noqa: F811
    admin = AdminCli(compute_server)
    owner_creds = admin.new_tenant_with_key("owner")
    other_creds = admin.new_tenant_with_key("friend")
    ec2 = make_client(compute_server, "ec2", owner_creds)
    s3 = make_client(compute_server, "s3", owner_creds)
    other = make_client(compute_server, "ec2", other_creds)
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    bucket = unique("images")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(disk), bucket, "root.qcow2")
    image_id = ec2.register_image(
        Name="tagged", ImageLocation=f"{bucket}/root.qcow2", Description="first",
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )["ImageId"]
    try:
        [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
        tags = {t["Key"]: t["Value"] for t in image["Tags"]}
        assert tags == {"Name": "web", "aws:skyport:placement": "local"}
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "role", "Value": "base"}])
        assert ec2.describe_images(Filters=[{"Name": "tag:role", "Values": ["base"]}])["Images"][0]["ImageId"] == image_id
        ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "Name"}])
        [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
        assert {t["Key"] for t in image["Tags"]} == {"role", "aws:skyport:placement"}

        # Private: the other tenant sees nothing, may neither tag nor share it.
        assert not visible(other, image_id)
        for call in (lambda: other.create_tags(Resources=[image_id], Tags=[{"Key": "x", "Value": "y"}]),
                     lambda: other.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")):
            with pytest.raises(Exception) as e:
                call()
            assert error_code(e.value) == "InvalidAMIID.NotFound"
        attribute = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
        assert attribute["ImageId"] == image_id and attribute["LaunchPermissions"] == []

        # Shared with the other tenant's account: it sees the image (not the owner's tags).
        friend = account_of(compute_server, other_creds)
        assert len(friend) == 12 and friend.isdigit()
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": friend}]})
        assert ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")[
            "LaunchPermissions"] == [{"UserId": friend}]
        [shared] = other.describe_images(ImageIds=[image_id])["Images"]
        assert shared["Public"] is False
        assert {t["Key"] for t in shared["Tags"]} == {"aws:skyport:placement"}
        # Only the owner reads or changes the attributes.
        with pytest.raises(Exception) as e:
            other.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
        assert error_code(e.value) == "UnauthorizedOperation"

        # Public (group all), then private again; the older form works too.
        ec2.modify_image_attribute(ImageId=image_id, Attribute="launchPermission",
                                   OperationType="add", UserGroups=["all"])
        permissions = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
        assert {"Group": "all"} in permissions["LaunchPermissions"]
        assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["Public"] is True
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={
            "Remove": [{"Group": "all"}, {"UserId": friend}]})
        assert not visible(other, image_id)
        for bad in ({"Add": [{"UserId": "not-an-account"}]}, {"Add": [{"Group": "friends"}]}):
            with pytest.raises(Exception) as e:
                ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=bad)
            assert error_code(e.value) == "InvalidAMIAttributeItemValue", bad

        ec2.modify_image_attribute(ImageId=image_id, Description={"Value": "second"})
        assert ec2.describe_image_attribute(ImageId=image_id, Attribute="description")[
            "Description"] == {"Value": "second"}
        with pytest.raises(Exception) as e:
            ec2.describe_image_attribute(ImageId=image_id, Attribute="colour")
        assert error_code(e.value) == "InvalidParameterValue"
    finally:
        ec2.deregister_image(ImageId=image_id)
    with pytest.raises(Exception) as e:
        ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    assert error_code(e.value) == "InvalidAMIID.NotFound"
