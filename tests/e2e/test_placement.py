"""Placement across two public clouds with boto3 and the aws CLI.

Two moto_server processes stand in for "aws-tokyo" (JP) and "aws-virginia"
(US); the policies are the ones a user would write following docs/policies.md.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, unique_bucket
from moto_clouds import RULES, TARGETS, cli_env, clouds, image_of, placement, run  # noqa: F401 (clouds: fixture)


def test_boto3_instances_follow_residency_and_cost(clouds):
    ec2, tokyo, virginia = clouds["ec2"], clouds["tokyo"], clouds["virginia"]
    image = image_of(tokyo, virginia)
    personal = run(ec2, image, {"data-class": "personal"})
    cheap = run(ec2, image, {})
    assert len(tokyo.instance_ids()) == 1 and len(virginia.instance_ids()) == 1
    assert "target: aws-tokyo" in placement(clouds["server"], personal)
    assert "target: aws-virginia" in placement(clouds["server"], cheap)
    # boto3's waiter works over the merged view.
    ec2.get_waiter("instance_running").wait(InstanceIds=[personal, cheap],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    out = ec2.describe_instances(Filters=[{"Name": "tag:data-class", "Values": ["personal"]}])
    ids = [i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]]
    assert ids == [personal]
    ec2.terminate_instances(InstanceIds=[personal, cheap])
    assert tokyo.instance_ids() == [] and virginia.instance_ids() == []
    with pytest.raises(ClientError) as e:
        ec2.stop_instances(InstanceIds=["i-0000000000000000f"])
    assert error_code(e.value) == "InvalidInstanceID.NotFound"


def test_whole_listings_follow_every_change(clouds):
    """A whole DescribeInstances is served from memory on SQLite: every change
    made through Skyport shows in the next listing, as when read from the database."""
    ec2, tokyo, virginia = clouds["ec2"], clouds["tokyo"], clouds["virginia"]
    image = image_of(tokyo, virginia)

    def listing(**kwargs):
        out = ec2.describe_instances(**kwargs)
        return {i["InstanceId"]: i for r in out["Reservations"] for i in r["Instances"]}

    first = run(ec2, image, {"role": "web"})
    assert set(listing()) == {first}
    second = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=2, MaxCount=2)
    second_ids = {i["InstanceId"] for i in second["Instances"]}
    assert set(listing()) == {first} | second_ids
    ec2.get_waiter("instance_running").wait(InstanceIds=[first, *second_ids],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    # Tags added and removed.
    ec2.create_tags(Resources=[first], Tags=[{"Key": "role", "Value": "db"}, {"Key": "tier", "Value": "1"}])
    tags = {t["Key"]: t["Value"] for t in listing()[first]["Tags"]}
    assert tags["role"] == "db" and tags["tier"] == "1"
    ec2.delete_tags(Resources=[first], Tags=[{"Key": "tier"}])
    assert "tier" not in {t["Key"] for t in listing()[first]["Tags"]}
    # State changes; reservations stay grouped.
    ec2.stop_instances(InstanceIds=[first])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[first], WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    assert listing()[first]["State"]["Name"] == "stopped"
    assert listing()[first]["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    out = ec2.describe_instances()
    groups = {r["ReservationId"]: {i["InstanceId"] for i in r["Instances"]} for r in out["Reservations"]}
    assert second_ids in groups.values() and {first} in groups.values()
    victim = sorted(second_ids)[0]
    ec2.terminate_instances(InstanceIds=[victim])
    assert listing()[victim]["State"]["Name"] in ("shutting-down", "terminated")
    # Filters and pages over the same records.
    running = listing(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert set(running) == second_ids - {victim}
    paged = ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5})
    assert {i["InstanceId"] for page in paged for r in page["Reservations"] for i in r["Instances"]} \
        == {first} | second_ids


def test_boto3_buckets_follow_residency(clouds):
    s3, tokyo, virginia = clouds["s3"], clouds["tokyo"], clouds["virginia"]
    personal, public = unique_bucket("pii"), unique_bucket("pub")
    s3.create_bucket(Bucket=personal, CreateBucketConfiguration={
        "Tags": [{"Key": "data-class", "Value": "personal"}]})
    s3.create_bucket(Bucket=public)
    assert tokyo.bucket_names() == [personal]
    assert virginia.bucket_names() == [public]
    s3.put_object(Bucket=personal, Key="record.json", Body=b'{"name": "Yamada"}')
    assert tokyo.client("s3").get_object(Bucket=personal, Key="record.json")["Body"].read() == b'{"name": "Yamada"}'
    assert s3.get_object(Bucket=personal, Key="record.json")["Body"].read() == b'{"name": "Yamada"}'
    s3.delete_object(Bucket=personal, Key="record.json")
    s3.delete_bucket(Bucket=personal)
    assert tokyo.bucket_names() == []


def test_awscli_and_policy_edits_while_running(clouds, tmp_path):
    srv, tokyo, virginia = clouds["server"], clouds["tokyo"], clouds["virginia"]
    env = cli_env(srv, tmp_path)

    def aws(*args):
        cp = subprocess.run(["aws", "--profile", "skyport", "--endpoint-url", srv.url, *args],
                            capture_output=True, text=True, env=env, timeout=120)
        return cp

    from conftest import skyport_bin

    def explain(*tags):
        args = [str(skyport_bin()), "policy", "explain", "--dir", str(clouds["policy_dir"]), "--tenant", "admin",
                "--action", "RunInstances", "--instance-type", "t3.micro"]
        for tag in tags:
            args += ["--tag", tag]
        cp = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp.stderr
        return cp.stdout

    # `skyport policy explain` predicts what the gateway then does.
    assert "target: aws-virginia" in explain()
    assert "target: aws-tokyo" in explain("data-class=personal")
    image = image_of(tokyo, virginia)
    cp = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro",
             "--count", "1", "--output", "json")
    assert cp.returncode == 0, cp.stderr
    first = json.loads(cp.stdout)["Instances"][0]["InstanceId"]
    assert "target: aws-virginia" in placement(srv, first)
    bucket = unique_bucket("cli")
    cp = aws("s3", "mb", f"s3://{bucket}")
    assert cp.returncode == 0, cp.stderr
    assert bucket in virginia.bucket_names()

    # The admin makes Tokyo cheaper; no restart.
    (clouds["policy_dir"] / "10-targets.toml").write_text(TARGETS.replace("0.0136", "0.0050"))
    deadline = time.monotonic() + 10
    while True:
        cp = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--output", "json")
        assert cp.returncode == 0, cp.stderr
        if "target: aws-tokyo" in placement(srv, json.loads(cp.stdout)["Instances"][0]["InstanceId"]):
            break
        assert time.monotonic() < deadline, "edited policy never took effect"
        time.sleep(0.3)

    # A broken edit is refused; the policy in force keeps routing.
    (clouds["policy_dir"] / "20-rules.toml").write_text(RULES + '\n[[rule]]\nname = "x"\nrequire = { country = "JP" }\n')
    time.sleep(1.0)
    cp = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--output", "json",
             "--tag-specifications", "ResourceType=instance,Tags=[{Key=data-class,Value=personal}]")
    assert cp.returncode == 0, cp.stderr
    assert "target: aws-tokyo" in placement(srv, json.loads(cp.stdout)["Instances"][0]["InstanceId"])
    assert "20-rules.toml" in srv.logs()


def test_unreachable_cloud_is_refused_for_personal_data(clouds):
    ec2, tokyo, virginia = clouds["ec2"], clouds["tokyo"], clouds["virginia"]
    image = image_of(tokyo, virginia)
    tokyo.stop()
    with pytest.raises(ClientError) as e:
        run(ec2, image, {"data-class": "personal"})
    assert error_code(e.value) == "InsufficientInstanceCapacity"
    assert "personal-data-stays-in-japan" in str(e.value)
    assert virginia.instance_ids() == []
    # Everything else still places (Virginia was the cheaper anyway; Tokyo is down).
    other = run(ec2, image, {})
    assert "target: aws-virginia" in placement(clouds["server"], other)


def test_browsers_get_cors_answers_for_buckets_on_clouds(clouds):
    """Browsers talk to Skyport, so Skyport keeps a remote bucket's CORS rules
    and answers preflights itself."""
    import urllib3

    s3, tokyo, srv = clouds["s3"], clouds["tokyo"], clouds["server"]
    bucket = unique_bucket("web")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={
        "Tags": [{"Key": "data-class", "Value": "personal"}]})
    assert tokyo.bucket_names() == [bucket]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"]}]})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"] == ["https://app.example"]
    http = urllib3.PoolManager()
    allowed = http.request("OPTIONS", f"{srv.url}/{bucket}/photo.jpg", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT"})
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    refused = http.request("OPTIONS", f"{srv.url}/{bucket}/photo.jpg", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"})
    assert refused.status == 403
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_code(e.value) == "NoSuchCORSConfiguration"
    s3.delete_bucket(Bucket=bucket)
