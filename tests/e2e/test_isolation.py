"""Tenant isolation: tenant B must neither see nor touch tenant A's resources."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, http_status, unique, unique_bucket
from helpers import tags_dict


def _names(ec2):
    return {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}


def test_tenant_b_credentials_work(ec2_b, s3_b, tenant_b):
    assert ec2_b.describe_regions()["Regions"]
    s3_b.list_buckets()
    assert tenant_b.access_key and tenant_b.secret_key


def test_default_groups_are_per_tenant(ec2, ec2_b):
    a = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    b = ec2_b.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert len(a) == len(b) == 1
    assert a[0]["GroupId"] != b[0]["GroupId"]
    assert a[0]["OwnerId"] != b[0]["OwnerId"]
    with pytest.raises(ClientError) as ei:
        ec2_b.describe_security_groups(GroupIds=[a[0]["GroupId"]])
    assert error_code(ei.value) == "InvalidGroup.NotFound"


def test_key_pairs_isolated(ec2, ec2_b):
    name = unique("iso-kp")
    created = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    try:
        assert name not in _names(ec2_b)
        with pytest.raises(ClientError) as ei:
            ec2_b.describe_key_pairs(KeyNames=[name])
        assert error_code(ei.value) == "InvalidKeyPair.NotFound"
        with pytest.raises(ClientError) as ei:
            ec2_b.describe_key_pairs(KeyPairIds=[created["KeyPairId"]])
        assert error_code(ei.value) == "InvalidKeyPair.NotFound"
        assert not ec2_b.describe_key_pairs(
            Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]

        # Deleting by name or id from B is a no-op or an error, never a deletion.
        for kw in ({"KeyName": name}, {"KeyPairId": created["KeyPairId"]}):
            try:
                ec2_b.delete_key_pair(**kw)
            except ClientError as e:
                assert 400 <= http_status(e) < 500
            kp = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]
            assert kp["KeyPairId"] == created["KeyPairId"]
            assert kp["KeyFingerprint"] == created["KeyFingerprint"]
    finally:
        ec2.delete_key_pair(KeyName=name)


def test_key_pair_names_are_per_tenant(ec2, ec2_b):
    name = unique("iso-same")
    a = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    try:
        b = ec2_b.create_key_pair(KeyName=name, KeyType="ed25519")
        try:
            assert a["KeyPairId"] != b["KeyPairId"]
            assert a["KeyFingerprint"] != b["KeyFingerprint"]
            assert ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]["KeyPairId"] == a["KeyPairId"]
            assert ec2_b.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]["KeyPairId"] == b["KeyPairId"]
        finally:
            ec2_b.delete_key_pair(KeyName=name)
        assert ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]["KeyPairId"] == a["KeyPairId"]
    finally:
        ec2.delete_key_pair(KeyName=name)


def test_security_groups_isolated(ec2, ec2_b):
    name = unique("iso-sg")
    gid = ec2.create_security_group(GroupName=name, Description="tenant A")["GroupId"]
    try:
        assert gid not in {g["GroupId"] for g in ec2_b.describe_security_groups()["SecurityGroups"]}
        for call, kw in [
            (ec2_b.describe_security_groups, {"GroupIds": [gid]}),
            (ec2_b.describe_security_groups, {"GroupNames": [name]}),
            (ec2_b.delete_security_group, {"GroupId": gid}),
            (ec2_b.authorize_security_group_ingress,
             {"GroupId": gid, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 65535,
                                                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}),
            (ec2_b.authorize_security_group_egress,
             {"GroupId": gid, "IpPermissions": [{"IpProtocol": "-1",
                                                 "IpRanges": [{"CidrIp": "6.6.6.0/24"}]}]}),
        ]:
            with pytest.raises(ClientError) as ei:
                call(**kw)
            assert error_code(ei.value) == "InvalidGroup.NotFound", (call, ei.value)
        assert not ec2_b.describe_security_groups(
            Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroups"]
        g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
        assert g["IpPermissions"] == []
        assert not any(r.get("CidrIp") == "6.6.6.0/24"
                       for p in g["IpPermissionsEgress"] for r in p.get("IpRanges", []))
    finally:
        ec2.delete_security_group(GroupId=gid)


def test_cross_tenant_group_reference_rejected(ec2, ec2_b):
    """B may not grant access from A's group by id (it does not exist for B)."""
    a_gid = ec2.create_security_group(GroupName=unique("iso-ref-a"), Description="a")["GroupId"]
    b_gid = ec2_b.create_security_group(GroupName=unique("iso-ref-b"), Description="b")["GroupId"]
    try:
        with pytest.raises(ClientError) as ei:
            ec2_b.authorize_security_group_ingress(GroupId=b_gid, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "UserIdGroupPairs": [{"GroupId": a_gid}]}])
        assert error_code(ei.value) == "InvalidGroup.NotFound", ei.value
        assert ec2_b.describe_security_groups(GroupIds=[b_gid])["SecurityGroups"][0]["IpPermissions"] == []
    finally:
        ec2_b.delete_security_group(GroupId=b_gid)
        ec2.delete_security_group(GroupId=a_gid)


def test_tags_isolated(ec2, ec2_b):
    gid = ec2.create_security_group(GroupName=unique("iso-tag"), Description="x")["GroupId"]
    key = unique("secret")
    try:
        ec2.create_tags(Resources=[gid], Tags=[{"Key": key, "Value": "a-only"}])
        assert ec2_b.describe_tags(Filters=[{"Name": "key", "Values": [key]}])["Tags"] == []
        assert ec2_b.describe_tags(Filters=[{"Name": "resource-id", "Values": [gid]}])["Tags"] == []
        assert all(t["ResourceId"] != gid for t in ec2_b.describe_tags()["Tags"])
        assert ec2_b.describe_security_groups(
            Filters=[{"Name": f"tag:{key}", "Values": ["a-only"]}])["SecurityGroups"] == []

        with pytest.raises(ClientError) as ei:
            ec2_b.create_tags(Resources=[gid], Tags=[{"Key": "pwned", "Value": "1"}])
        assert 400 <= http_status(ei.value) < 500
        try:
            ec2_b.delete_tags(Resources=[gid], Tags=[{"Key": key}])
        except ClientError as e:
            assert 400 <= http_status(e) < 500
        got = tags_dict(ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0].get("Tags"))
        assert got == {key: "a-only"}
    finally:
        ec2.delete_security_group(GroupId=gid)


def test_buckets_isolated(s3, s3_b):
    name = unique_bucket("iso")
    s3.create_bucket(Bucket=name)
    try:
        assert name not in [b["Name"] for b in s3_b.list_buckets()["Buckets"]]
        with pytest.raises(ClientError) as ei:
            s3_b.head_bucket(Bucket=name)
        assert http_status(ei.value) in (403, 404)
        with pytest.raises(ClientError) as ei:
            s3_b.get_bucket_location(Bucket=name)
        assert error_code(ei.value) in {"AccessDenied", "NoSuchBucket"}
        with pytest.raises(ClientError) as ei:
            s3_b.delete_bucket(Bucket=name)
        assert error_code(ei.value) in {"AccessDenied", "NoSuchBucket"}
        assert http_status(ei.value) in (403, 404)
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        s3.delete_bucket(Bucket=name)


def test_bucket_names_are_global(s3, s3_b):
    name = unique_bucket("global")
    s3.create_bucket(Bucket=name)
    try:
        with pytest.raises(ClientError) as ei:
            s3_b.create_bucket(Bucket=name)
        assert error_code(ei.value) == "BucketAlreadyExists"
        assert http_status(ei.value) == 409
        assert name not in [b["Name"] for b in s3_b.list_buckets()["Buckets"]]
    finally:
        s3.delete_bucket(Bucket=name)
    # Once A deleted it, B may take the name.
    s3_b.create_bucket(Bucket=name)
    try:
        assert name in [b["Name"] for b in s3_b.list_buckets()["Buckets"]]
        with pytest.raises(ClientError) as ei:
            s3.create_bucket(Bucket=name)
        assert error_code(ei.value) == "BucketAlreadyExists"
    finally:
        s3_b.delete_bucket(Bucket=name)


def test_s3_owner_differs(s3, s3_b):
    a = s3.list_buckets()["Owner"]["ID"]
    b = s3_b.list_buckets()["Owner"]["ID"]
    assert a and b and a != b


def test_key_pair_tags_isolated(ec2, ec2_b):
    name = unique("iso-kptag")
    kid = ec2.create_key_pair(KeyName=name, KeyType="ed25519")["KeyPairId"]
    try:
        ec2.create_tags(Resources=[kid], Tags=[{"Key": "owner", "Value": "a"}])
        assert ec2_b.describe_tags(Filters=[{"Name": "resource-id", "Values": [kid]}])["Tags"] == []
        with pytest.raises(ClientError) as ei:
            ec2_b.create_tags(Resources=[kid], Tags=[{"Key": "owner", "Value": "b"}])
        assert 400 <= http_status(ei.value) < 500
        try:
            ec2_b.delete_tags(Resources=[kid], Tags=[{"Key": "owner"}])
        except ClientError as e:
            assert 400 <= http_status(e) < 500
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kid]}])["Tags"]
        assert [(t["Key"], t["Value"]) for t in tags] == [("owner", "a")]
    finally:
        ec2.delete_key_pair(KeyName=name)


def test_owner_id_filter_does_not_cross_tenants(ec2, ec2_b):
    a_owner = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["OwnerId"]
    got = ec2_b.describe_security_groups(Filters=[{"Name": "owner-id", "Values": [a_owner]}])
    assert got["SecurityGroups"] == []


def test_presigned_url_of_other_tenant_bucket(s3, s3_b):
    import requests

    name = unique_bucket("iso-presign")
    s3.create_bucket(Bucket=name)
    try:
        url = s3_b.generate_presigned_url("head_bucket", Params={"Bucket": name}, ExpiresIn=300)
        assert requests.head(url, timeout=30).status_code in (403, 404)
        url = s3_b.generate_presigned_url("delete_bucket", Params={"Bucket": name}, ExpiresIn=300)
        assert requests.delete(url, timeout=30).status_code in (403, 404)
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        s3.delete_bucket(Bucket=name)
