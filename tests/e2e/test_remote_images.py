"""Images of public clouds through Skyport, with boto3: DescribeImages shows
the clouds' catalogues (tagged with the clouds holding each image), and a
launch goes only to a cloud that holds its image."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from moto_clouds import clouds, image_of, placement, run  # noqa: F401 (clouds: fixture)


def amazon_images(moto) -> set[str]:
    return {i["ImageId"] for i in moto.client("ec2").describe_images(Owners=["amazon"])["Images"]}


def test_describe_images_merges_the_clouds_catalogues(clouds):
    ec2, tokyo, virginia = clouds["ec2"], clouds["tokyo"], clouds["virginia"]
    shared = image_of(tokyo, virginia)
    [image] = ec2.describe_images(ImageIds=[shared])["Images"]
    assert image["ImageId"] == shared and image["State"] == "available"
    assert {"Key": "aws:skyport:placement", "Value": "aws-tokyo,aws-virginia"} in image["Tags"]

    listed = ec2.describe_images(Owners=["amazon"])["Images"]
    in_tokyo, in_virginia = amazon_images(tokyo), amazon_images(virginia)
    assert {i["ImageId"] for i in listed} == in_tokyo | in_virginia
    assert len(listed) == len(in_tokyo | in_virginia), "an image two clouds hold is listed once"
    only_tokyo = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "tag:aws:skyport:placement", "Values": ["aws-tokyo"]}])["Images"]
    assert {i["ImageId"] for i in only_tokyo} == in_tokyo - in_virginia
    # Without owners or IDs, a tenant sees its own and public images of this site (none here).
    assert ec2.describe_images()["Images"] == []
    with pytest.raises(ClientError) as e:
        ec2.describe_images(ImageIds=["ami-0000000000000000f"])
    assert error_code(e.value) == "InvalidAMIID.NotFound"


def published(moto, name: str) -> str:
    """An image the cloud's account registers and publishes (tenants see a
    target's public images, and private ones only when an admin shares them)."""
    client = moto.client("ec2")
    image = client.register_image(Name=name, RootDeviceName="/dev/sda1")["ImageId"]
    client.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    return image


def test_launches_go_only_where_their_image_is(clouds):
    ec2, tokyo, virginia, srv = clouds["ec2"], clouds["tokyo"], clouds["virginia"], clouds["server"]
    # Cost-first alone would choose Virginia; Tokyo is the only cloud with this image.
    golden = published(tokyo, "golden-jp")
    instance = run(ec2, golden, {})
    shown = placement(srv, instance)
    assert "target: aws-tokyo" in shown
    assert f"image {golden} is not there" in shown
    assert len(tokyo.instance_ids()) == 1 and virginia.instance_ids() == []

    # Personal data must stay in Japan, but the image is only in Virginia: refused,
    # naming the rule and why Tokyo could not take it; nothing launched.
    us_only = published(virginia, "golden-us")
    with pytest.raises(ClientError) as e:
        run(ec2, us_only, {"data-class": "personal"})
    assert error_code(e.value) == "Unsupported"
    assert "personal-data-stays-in-japan" in str(e.value)
    assert f"aws-tokyo: image {us_only} is not there" in str(e.value)

    # An image no cloud holds is AWS's not-found, and nothing is launched.
    with pytest.raises(ClientError) as e:
        run(ec2, "ami-0000000000000000f", {})
    assert error_code(e.value) == "InvalidAMIID.NotFound"
    assert len(tokyo.instance_ids()) == 1 and virginia.instance_ids() == []
    ec2.terminate_instances(InstanceIds=[instance])
