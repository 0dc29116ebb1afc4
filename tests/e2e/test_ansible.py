"""Ansible's amazon.aws collection against Skyport: a playbook makes a VPC,
subnet, internet gateway, route table, security group, key pair and a tagged
bucket; a second run changes nothing; `state=absent` removes them all."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import make_client, unique
from helpers import new_rsa_key, openssh_public_line

PLAYBOOK = Path(__file__).parent / "ansible" / "network.yml"


def playbook(server, creds, tmp_path, **extra) -> tuple[dict, str]:
    """Runs the playbook; returns the play recap's counters and the output."""
    variables = dict(endpoint=server.url, access_key=creds.access_key,
                     secret_key=creds.secret_key, **extra)
    extra_file = tmp_path / "vars.json"
    extra_file.write_text(json.dumps(variables))
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               str(PLAYBOOK), "-e", f"@{extra_file}"]
    cp = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = cp.stdout + cp.stderr
    assert cp.returncode == 0, output
    recap = re.search(r"^localhost\s*:\s*(.*)$", output, re.MULTILINE)
    assert recap, output
    counters = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))}
    return counters, output


def tags_of(resource) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", resource.get("TagSet", []))}


def test_playbook_creates_converges_and_removes(server, admin_cli, tmp_path):
    creds = admin_cli.new_tenant_with_key("ansible")
    ec2 = make_client(server, "ec2", creds)
    s3 = make_client(server, "s3", creds)
    prefix = unique("play")
    public_key = openssh_public_line(new_rsa_key()).decode()
    run = dict(prefix=prefix, public_key=public_key)

    made, output = playbook(server, creds, tmp_path, state="present", **run)
    assert made["failed"] == 0 and made["changed"] >= 7, output

    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{prefix}-vpc"]}])["Vpcs"]
    assert vpc["CidrBlock"] == "10.61.0.0/16" and tags_of(vpc)["team"] == "ansible"
    vpc_id = vpc["VpcId"]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
        assert answer[attribute[0].upper() + attribute[1:]]["Value"] is True
    [subnet] = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    [igw] = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    [table] = ec2.describe_route_tables(
        Filters=[{"Name": "tag:Name", "Values": [f"{prefix}-public"]}])["RouteTables"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw["InternetGatewayId"]}.items() <= next(
        r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0").items()
    assert [a.get("SubnetId") for a in table["Associations"]] == [subnet["SubnetId"]]
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{prefix}-web"]},
                 {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    ports = sorted((p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"])
    assert ports == [(22, "10.0.0.0/8"), (443, "0.0.0.0/0")]
    [key] = ec2.describe_key_pairs(KeyNames=[f"{prefix}-key"])["KeyPairs"]
    assert tags_of(key)["team"] == "ansible"
    assert tags_of(s3.get_bucket_tagging(Bucket=f"{prefix}-bucket")) == {
        "team": "ansible", "stack": prefix}

    # Converged: a second run finds everything as it should be.
    again, output = playbook(server, creds, tmp_path, state="present", **run)
    assert again["changed"] == 0 and again["failed"] == 0, output

    gone, output = playbook(server, creds, tmp_path, state="absent", **run)
    assert gone["failed"] == 0 and gone["changed"] >= 7, output
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    assert not ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert not ec2.describe_internet_gateways(
        Filters=[{"Name": "internet-gateway-id", "Values": [igw["InternetGatewayId"]]}])["InternetGateways"]
    assert not ec2.describe_route_tables(
        Filters=[{"Name": "route-table-id", "Values": [table["RouteTableId"]]}])["RouteTables"]
    assert not ec2.describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroups"]
    assert not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"{prefix}-key"]}])["KeyPairs"]
    assert f"{prefix}-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
