"""The stock `aws` CLI, configured only by the profile files the server writes."""

from __future__ import annotations

import configparser
import json
import subprocess

import pytest

from conftest import REGION, unique, unique_bucket
from helpers import created_rsa_fingerprint, load_private_key


def test_profile_files_written(server):
    creds = configparser.ConfigParser()
    creds.read(server.credentials_file)
    assert creds["skyport"]["aws_access_key_id"] == server.admin_access_key
    assert creds["skyport"]["aws_secret_access_key"] == server.admin_secret_key
    config = configparser.ConfigParser()
    config.read(server.config_file)
    assert "profile skyport" in config, config.sections()
    prof = config["profile skyport"]
    assert prof["region"] == REGION
    assert prof["endpoint_url"].rstrip("/") == server.url


def test_credentials_file_not_world_readable(server):
    mode = server.credentials_file.stat().st_mode & 0o777
    assert mode & 0o077 == 0, oct(mode)


def test_describe_regions(aws):
    out = json.loads(aws("ec2", "describe-regions", "--output", "json").stdout)
    assert REGION in [r["RegionName"] for r in out["Regions"]]


def test_endpoint_from_profile(aws):
    """No --endpoint-url: the endpoint_url in the written config is used."""
    out = json.loads(aws("ec2", "describe-regions", "--output", "json", endpoint=False).stdout)
    assert REGION in [r["RegionName"] for r in out["Regions"]]


def test_create_key_pair(aws, ec2):
    name = unique("cli-kp")
    out = json.loads(aws("ec2", "create-key-pair", "--key-name", name, "--output", "json").stdout)
    try:
        assert out["KeyName"] == name
        key = load_private_key(out["KeyMaterial"])
        assert out["KeyFingerprint"] == created_rsa_fingerprint(key)
        text = aws("ec2", "describe-key-pairs", "--key-names", name, "--query",
                   "KeyPairs[0].KeyFingerprint", "--output", "text").stdout.strip()
        assert text == out["KeyFingerprint"]
    finally:
        aws("ec2", "delete-key-pair", "--key-name", name)
    cp = aws("ec2", "describe-key-pairs", "--key-names", name, check=False)
    assert cp.returncode != 0
    assert "InvalidKeyPair.NotFound" in cp.stderr


def test_describe_security_groups(aws, ec2):
    out = json.loads(aws("ec2", "describe-security-groups", "--group-names", "default",
                         "--output", "json").stdout)
    groups = out["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    expected = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    assert groups[0]["GroupId"] == expected


def test_security_group_rules_via_cli(aws, ec2):
    name = unique("cli-sg")
    gid = json.loads(aws("ec2", "create-security-group", "--group-name", name,
                         "--description", "from the cli", "--output", "json").stdout)["GroupId"]
    try:
        aws("ec2", "authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp",
            "--port", "22", "--cidr", "10.20.0.0/16")
        cp = aws("ec2", "authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp",
                 "--port", "22", "--cidr", "10.20.0.0/16", check=False)
        assert cp.returncode != 0 and "InvalidPermission.Duplicate" in cp.stderr, cp.stderr
        perms = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"]
        assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [r["CidrIp"] for r in p["IpRanges"]])
                for p in perms] == [("tcp", 22, 22, ["10.20.0.0/16"])]
    finally:
        aws("ec2", "delete-security-group", "--group-id", gid)


def test_s3_mb_ls_rb(aws, s3):
    name = unique_bucket("cli")
    mb = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in mb.stdout
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    ls = aws("s3", "ls")
    assert any(line.split()[-1] == name for line in ls.stdout.splitlines() if line.strip()), ls.stdout
    rb = aws("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in rb.stdout
    ls = aws("s3", "ls")
    assert name not in ls.stdout
    cp = aws("s3", "rb", f"s3://{name}", check=False)
    assert cp.returncode != 0 and "NoSuchBucket" in cp.stderr, cp.stderr


def test_s3api_head_and_location(aws, s3):
    name = unique_bucket("cliapi")
    aws("s3api", "create-bucket", "--bucket", name)
    try:
        aws("s3api", "head-bucket", "--bucket", name)
        loc = json.loads(aws("s3api", "get-bucket-location", "--bucket", name,
                             "--output", "json").stdout)
        assert loc.get("LocationConstraint") is None
    finally:
        aws("s3api", "delete-bucket", "--bucket", name)


def test_cli_reports_auth_errors(aws_cli_path, aws_env, server, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[skyport]\naws_access_key_id = AKIDOESNOTEXIST00000\n"
                     "aws_secret_access_key = nope\n")
    env = dict(aws_env, AWS_SHARED_CREDENTIALS_FILE=str(creds))
    cp = subprocess.run([aws_cli_path, "--profile", "skyport", "--endpoint-url", server.url,
                         "s3", "ls"], env=env, capture_output=True, text=True, timeout=120)
    assert cp.returncode != 0
    assert "InvalidAccessKeyId" in cp.stderr, cp.stderr
