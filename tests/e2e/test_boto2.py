"""Legacy boto 2.49 clients (Signature Version 2) against the gateway."""

from __future__ import annotations

import pytest
import requests

import boto  # noqa: E402  (boto 2.49 needs Python <= 3.11)
import boto.auth  # noqa: E402
import boto.ec2.connection  # noqa: E402
import boto.exception  # noqa: E402
import boto.s3.connection  # noqa: E402
from boto.ec2.regioninfo import RegionInfo  # noqa: E402

from conftest import REGION, unique, unique_bucket  # noqa: E402
from helpers import created_rsa_fingerprint, load_private_key  # noqa: E402


class SigV2EC2Connection(boto.ec2.connection.EC2Connection):
    """boto 2.49 defaults EC2 to SigV4; force the classic query SignatureVersion=2."""

    def _required_auth_capability(self):
        return ["ec2"]


def ec2_conn(server, ak, sk, cls=SigV2EC2Connection):
    return cls(
        aws_access_key_id=ak,
        aws_secret_access_key=sk,
        is_secure=False,
        port=server.port,
        path="/",
        region=RegionInfo(name=REGION, endpoint="127.0.0.1"),
    )


@pytest.fixture
def conn(server, admin_creds):
    c = ec2_conn(server, admin_creds.access_key, admin_creds.secret_key)
    c.num_retries = 0
    return c


@pytest.fixture
def s3conn(server, admin_creds):
    c = boto.s3.connection.S3Connection(
        aws_access_key_id=admin_creds.access_key,
        aws_secret_access_key=admin_creds.secret_key,
        is_secure=False,
        host="127.0.0.1",
        port=server.port,
        calling_format=boto.s3.connection.OrdinaryCallingFormat(),
    )
    c.num_retries = 0
    return c


def test_connect_ec2_helper_uses_sigv2(server, admin_creds):
    """boto.connect_ec2 as documented; the auth handler is SigV2 (QuerySignatureV2)."""
    c = boto.connect_ec2(
        aws_access_key_id=admin_creds.access_key,
        aws_secret_access_key=admin_creds.secret_key,
        is_secure=False,
        port=server.port,
        path="/",
        region=RegionInfo(name=REGION, endpoint="127.0.0.1"),
    )
    c._auth_handler = boto.auth.QuerySignatureV2AuthHandler(c.host, boto.config, c.provider)
    c.num_retries = 0
    names = [r.name for r in c.get_all_regions()]
    assert REGION in names


def test_get_all_regions(conn):
    assert type(conn._auth_handler).__name__ == "QuerySignatureV2AuthHandler"
    regions = conn.get_all_regions()
    assert REGION in [r.name for r in regions]
    assert all(r.endpoint for r in regions)


def test_key_pairs(conn):
    name = unique("boto2-kp")
    kp = conn.create_key_pair(name)
    try:
        assert kp.name == name
        key = load_private_key(kp.material)
        assert kp.fingerprint == created_rsa_fingerprint(key)
        listed = {k.name: k for k in conn.get_all_key_pairs()}
        assert name in listed
        assert listed[name].fingerprint == kp.fingerprint
        only = conn.get_all_key_pairs(keynames=[name])
        assert [k.name for k in only] == [name]
        with pytest.raises(boto.exception.EC2ResponseError) as ei:
            conn.create_key_pair(name)
        assert ei.value.error_code == "InvalidKeyPair.Duplicate"
    finally:
        assert conn.delete_key_pair(name)
    with pytest.raises(boto.exception.EC2ResponseError) as ei:
        conn.get_all_key_pairs(keynames=[name])
    assert ei.value.error_code == "InvalidKeyPair.NotFound"


def test_security_groups(conn):
    groups = conn.get_all_security_groups(groupnames=["default"])
    assert [g.name for g in groups] == ["default"]
    name = unique("boto2-sg")
    sg = conn.create_security_group(name, "boto2 group")
    try:
        assert sg.id.startswith("sg-")
        assert conn.authorize_security_group(group_id=sg.id, ip_protocol="tcp", from_port=22,
                                             to_port=22, cidr_ip="10.0.0.0/8")
        got = conn.get_all_security_groups(group_ids=[sg.id])[0]
        assert [(r.ip_protocol, str(r.from_port), str(r.to_port), [str(g) for g in r.grants])
                for r in got.rules] == [("tcp", "22", "22", ["10.0.0.0/8"])]
    finally:
        conn.delete_security_group(group_id=sg.id)


def test_tags(conn):
    sg = conn.create_security_group(unique("boto2-tag"), "tags")
    try:
        conn.create_tags([sg.id], {"env": "boto2", "Name": "legacy"})
        got = conn.get_all_security_groups(filters={"tag:env": "boto2", "group-id": sg.id})
        assert [g.id for g in got] == [sg.id]
        assert got[0].tags == {"env": "boto2", "Name": "legacy"}
        tags = conn.get_all_tags(filters={"resource-id": sg.id})
        assert sorted((t.name, t.value) for t in tags) == [("Name", "legacy"), ("env", "boto2")]
    finally:
        conn.delete_security_group(group_id=sg.id)


def test_sigv2_bad_secret(server, admin_creds):
    bad = ec2_conn(server, admin_creds.access_key, admin_creds.secret_key + "x")
    bad.num_retries = 0
    with pytest.raises(boto.exception.EC2ResponseError) as ei:
        bad.get_all_regions()
    assert ei.value.error_code in {"AuthFailure", "SignatureDoesNotMatch"}


def test_sigv4_via_boto2(server, admin_creds):
    """boto 2's default EC2 signer (hmac-v4) with an explicit region/service scope."""
    c = ec2_conn(server, admin_creds.access_key, admin_creds.secret_key,
                 cls=boto.ec2.connection.EC2Connection)
    c.num_retries = 0
    c._auth_handler = boto.auth.HmacAuthV4Handler(c.host, boto.config, c.provider,
                                                  service_name="ec2", region_name=REGION)
    assert REGION in [r.name for r in c.get_all_regions()]


def test_s3_buckets(s3conn, s3):
    name = unique_bucket("boto2")
    bucket = s3conn.create_bucket(name)
    try:
        assert bucket.name == name
        assert name in [b.name for b in s3conn.get_all_buckets()]
        assert s3conn.lookup(name) is not None
        assert s3conn.get_bucket(name, validate=True).get_location() == ""
        with pytest.raises(boto.exception.S3CreateError) as ei:
            s3conn.create_bucket(name)
        assert ei.value.error_code == "BucketAlreadyOwnedByYou"
        # boto3 sees the same bucket.
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        s3conn.delete_bucket(name)
    assert name not in [b.name for b in s3conn.get_all_buckets()]
    assert s3conn.lookup(name) is None
    with pytest.raises(boto.exception.S3ResponseError) as ei:
        s3conn.delete_bucket(name)
    assert ei.value.error_code == "NoSuchBucket"


def test_s3_sigv2_query_string_auth(s3conn):
    name = unique_bucket("boto2url")
    s3conn.create_bucket(name)
    try:
        url = s3conn.generate_url(300, "GET", query_auth=True)
        assert "Signature=" in url and "AWSAccessKeyId=" in url
        r = requests.get(url, timeout=30)
        assert r.status_code == 200, r.text
        assert name.encode() in r.content
    finally:
        s3conn.delete_bucket(name)


def test_s3_bad_secret(server, admin_creds):
    c = boto.s3.connection.S3Connection(
        aws_access_key_id=admin_creds.access_key,
        aws_secret_access_key="wrong",
        is_secure=False, host="127.0.0.1", port=server.port,
        calling_format=boto.s3.connection.OrdinaryCallingFormat(),
    )
    c.num_retries = 0
    with pytest.raises(boto.exception.S3ResponseError) as ei:
        c.get_all_buckets()
    assert ei.value.error_code == "SignatureDoesNotMatch"
    assert ei.value.status == 403


def test_euca2ools_compute_path(server, admin_creds):
    """euca2ools addresses EC2 at /services/compute."""
    ec2 = SigV2EC2Connection(
        aws_access_key_id=admin_creds.access_key,
        aws_secret_access_key=admin_creds.secret_key,
        is_secure=False,
        port=server.port,
        path="/services/compute",
        region=RegionInfo(name=REGION, endpoint="127.0.0.1"),
    )
    ec2.num_retries = 0
    assert [r.name for r in ec2.get_all_regions()] == [REGION]
    name = unique("euca-kp")
    ec2.create_key_pair(name)
    assert name in [k.name for k in ec2.get_all_key_pairs()]
    ec2.delete_key_pair(name)


def test_euca2ools_objectstorage_path(server, admin_creds, s3):
    """euca2ools addresses S3 at /services/objectstorage and signs (SigV2) the prefixed path."""
    c = boto.s3.connection.S3Connection(
        aws_access_key_id=admin_creds.access_key,
        aws_secret_access_key=admin_creds.secret_key,
        is_secure=False,
        host="127.0.0.1",
        port=server.port,
        path="/services/objectstorage",
        calling_format=boto.s3.connection.OrdinaryCallingFormat(),
    )
    c.num_retries = 0
    name = unique_bucket("euca-s3")
    bucket = c.create_bucket(name)
    try:
        assert name in [b.name for b in c.get_all_buckets()]
        key = bucket.new_key("dir/hello.txt")
        key.set_contents_from_string("through the euca path", headers={"Content-Type": "text/plain"})
        # The same object through boto3 at the root path, and back through the prefix.
        assert s3.get_object(Bucket=name, Key="dir/hello.txt")["Body"].read() == b"through the euca path"
        s3.put_object(Bucket=name, Key="from-boto3", Body=b"root path")
        assert sorted(k.name for k in bucket.list()) == ["dir/hello.txt", "from-boto3"]
        assert bucket.get_key("from-boto3").get_contents_as_string() == b"root path"
        # Query-string auth under the prefix.
        url = bucket.get_key("dir/hello.txt").generate_url(60)
        assert f"/services/objectstorage/{name}/" in url
        got = requests.get(url, timeout=10)
        assert got.content == b"through the euca path", (url, got.text)
        bucket.delete_key("dir/hello.txt")
        bucket.delete_key("from-boto3")
    finally:
        c.delete_bucket(name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
