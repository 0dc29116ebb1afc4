"""EC2 Query API behaviour through boto3 (SigV4)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from conftest import REGION, error_code, http_status, signed_request, unique, xml_error_code
from helpers import (
    created_rsa_fingerprint,
    ed25519_fingerprint,
    imported_rsa_fingerprint,
    load_private_key,
    new_ed25519_key,
    new_rsa_key,
    normalize_permissions,
    openssh_public_line,
    tags_dict,
)


def expect_error(code, fn, *args, **kwargs):
    with pytest.raises(ClientError) as ei:
        fn(*args, **kwargs)
    got = error_code(ei.value)
    if isinstance(code, (set, tuple, list)):
        assert got in code, f"expected one of {code}, got {got}: {ei.value}"
    else:
        assert got == code, f"expected {code}, got {got}: {ei.value}"
    return ei.value


# --------------------------------------------------------------------------
# Regions, zones, account attributes
# --------------------------------------------------------------------------


def test_describe_regions(ec2):
    resp = ec2.describe_regions()
    names = [r["RegionName"] for r in resp["Regions"]]
    assert REGION in names
    assert len(names) == len(set(names))
    for r in resp["Regions"]:
        assert r.get("Endpoint"), r


def test_describe_regions_filter_by_name(ec2):
    resp = ec2.describe_regions(RegionNames=[REGION])
    assert [r["RegionName"] for r in resp["Regions"]] == [REGION]
    resp = ec2.describe_regions(Filters=[{"Name": "region-name", "Values": [REGION]}])
    assert [r["RegionName"] for r in resp["Regions"]] == [REGION]


def test_describe_availability_zones(ec2):
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert zones, "at least one availability zone"
    for z in zones:
        assert z["RegionName"] == REGION
        assert z["ZoneName"].startswith(REGION), z
        assert z["State"] == "available", z
    names = [z["ZoneName"] for z in zones]
    assert len(names) == len(set(names))
    one = ec2.describe_availability_zones(ZoneNames=[names[0]])["AvailabilityZones"]
    assert [z["ZoneName"] for z in one] == [names[0]]


def test_describe_account_attributes(ec2):
    attrs = ec2.describe_account_attributes()["AccountAttributes"]
    assert attrs
    by_name = {a["AttributeName"]: a for a in attrs}
    assert "supported-platforms" in by_name, sorted(by_name)
    for a in attrs:
        assert a["AttributeValues"], a
        for v in a["AttributeValues"]:
            assert "AttributeValue" in v
    only = ec2.describe_account_attributes(AttributeNames=["supported-platforms"])["AccountAttributes"]
    assert [a["AttributeName"] for a in only] == ["supported-platforms"]


# --------------------------------------------------------------------------
# Key pairs
# --------------------------------------------------------------------------


def _describe_key(ec2, name):
    kps = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert len(kps) == 1
    return kps[0]


def test_create_rsa_key_pair_fingerprint(ec2, cleanup_ec2):
    name = unique("kp-rsa")
    resp = ec2.create_key_pair(KeyName=name, KeyType="rsa")
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert resp["KeyName"] == name
    assert resp["KeyPairId"].startswith("key-")
    key = load_private_key(resp["KeyMaterial"])
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size >= 2048
    assert resp["KeyFingerprint"] == created_rsa_fingerprint(key)

    desc = _describe_key(ec2, name)
    assert desc["KeyPairId"] == resp["KeyPairId"]
    assert desc["KeyFingerprint"] == resp["KeyFingerprint"]
    assert desc["KeyType"] == "rsa"
    assert "KeyMaterial" not in desc


def test_create_key_pair_defaults_to_rsa(ec2, cleanup_ec2):
    name = unique("kp-default")
    resp = ec2.create_key_pair(KeyName=name)
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    key = load_private_key(resp["KeyMaterial"])
    assert isinstance(key, rsa.RSAPrivateKey)
    assert resp["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----"), \
        "AWS returns RSA private keys as PKCS#1 PEM"
    assert _describe_key(ec2, name)["KeyType"] == "rsa"


def test_create_ed25519_key_pair_fingerprint(ec2, cleanup_ec2):
    name = unique("kp-ed")
    resp = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert "OPENSSH PRIVATE KEY" in resp["KeyMaterial"]
    key = load_private_key(resp["KeyMaterial"])
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert resp["KeyFingerprint"] == ed25519_fingerprint(key.public_key())
    desc = _describe_key(ec2, name)
    assert desc["KeyType"] == "ed25519"
    assert desc["KeyFingerprint"] == resp["KeyFingerprint"]


def test_created_keys_are_unique(ec2, cleanup_ec2):
    names = [unique("kp-uniq") for _ in range(2)]
    mats = []
    for n in names:
        mats.append(ec2.create_key_pair(KeyName=n, KeyType="ed25519"))
        cleanup_ec2(lambda n=n: ec2.delete_key_pair(KeyName=n))
    assert mats[0]["KeyMaterial"] != mats[1]["KeyMaterial"]
    assert mats[0]["KeyFingerprint"] != mats[1]["KeyFingerprint"]
    assert mats[0]["KeyPairId"] != mats[1]["KeyPairId"]


def test_import_rsa_key_pair_fingerprint(ec2, cleanup_ec2):
    name = unique("kp-imp-rsa")
    priv = new_rsa_key()
    resp = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=openssh_public_line(priv))
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert resp["KeyName"] == name
    assert resp["KeyPairId"].startswith("key-")
    assert "KeyMaterial" not in resp
    assert resp["KeyFingerprint"] == imported_rsa_fingerprint(priv.public_key())
    desc = _describe_key(ec2, name)
    assert desc["KeyType"] == "rsa"
    assert desc["KeyFingerprint"] == resp["KeyFingerprint"]


def test_import_ed25519_key_pair_fingerprint(ec2, cleanup_ec2):
    name = unique("kp-imp-ed")
    priv = new_ed25519_key()
    resp = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=openssh_public_line(priv))
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert resp["KeyFingerprint"] == ed25519_fingerprint(priv.public_key())
    desc = _describe_key(ec2, name)
    assert desc["KeyType"] == "ed25519"
    assert desc["KeyFingerprint"] == resp["KeyFingerprint"]


def test_import_key_pair_public_key_round_trip(ec2, cleanup_ec2):
    name = unique("kp-imp-pub")
    priv = new_ed25519_key()
    line = openssh_public_line(priv)
    ec2.import_key_pair(KeyName=name, PublicKeyMaterial=line)
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    desc = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"][0]
    pub = desc.get("PublicKey", "")
    assert pub.split()[:2] == line.decode().split()[:2], desc


def test_import_invalid_key_material(ec2):
    name = unique("kp-bad")
    # AWS answers "InvalidKey.Format: Key is not in valid OpenSSH public key format".
    err = expect_error({"InvalidKey.Format", "InvalidKeyPair.Format"}, ec2.import_key_pair, KeyName=name,
                       PublicKeyMaterial=b"ssh-rsa not-a-valid-key")
    assert http_status(err) == 400
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=[name])


def test_duplicate_key_pair(ec2, cleanup_ec2):
    name = unique("kp-dup")
    ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    err = expect_error("InvalidKeyPair.Duplicate", ec2.create_key_pair, KeyName=name)
    assert http_status(err) == 400
    expect_error("InvalidKeyPair.Duplicate", ec2.import_key_pair, KeyName=name,
                 PublicKeyMaterial=openssh_public_line(new_ed25519_key()))


def test_delete_key_pair_by_name_and_id(ec2):
    a, b = unique("kp-del"), unique("kp-del")
    ec2.create_key_pair(KeyName=a, KeyType="ed25519")
    kb = ec2.create_key_pair(KeyName=b, KeyType="ed25519")
    ec2.delete_key_pair(KeyName=a)
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=[a])
    ec2.delete_key_pair(KeyPairId=kb["KeyPairId"])
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=[b])
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyPairIds=[kb["KeyPairId"]])
    names = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert a not in names and b not in names


def test_describe_missing_key_pair(ec2):
    err = expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs,
                       KeyNames=[unique("kp-missing")])
    assert http_status(err) == 400


def test_describe_key_pairs_filters(ec2, cleanup_ec2):
    prefix = unique("kpf")
    names = [f"{prefix}-web-1", f"{prefix}-web-2", f"{prefix}-db-1"]
    for n in names:
        ec2.create_key_pair(KeyName=n, KeyType="ed25519")
        cleanup_ec2(lambda n=n: ec2.delete_key_pair(KeyName=n))

    def listed(filters):
        return sorted(k["KeyName"] for k in ec2.describe_key_pairs(Filters=filters)["KeyPairs"])

    assert listed([{"Name": "key-name", "Values": [f"{prefix}-*"]}]) == sorted(names)
    assert listed([{"Name": "key-name", "Values": [f"{prefix}-web-*"]}]) == sorted(names[:2])
    assert listed([{"Name": "key-name", "Values": [f"{prefix}-web-?"]}]) == sorted(names[:2])
    assert listed([{"Name": "key-name", "Values": [f"{prefix}-db-1", f"{prefix}-web-2"]}]) == \
        sorted([names[1], names[2]])
    assert listed([{"Name": "key-name", "Values": [f"{prefix}-nothing*"]}]) == []

    kid = ec2.describe_key_pairs(KeyNames=[names[2]])["KeyPairs"][0]["KeyPairId"]
    ec2.create_tags(Resources=[kid], Tags=[{"Key": "role", "Value": "database"}])
    assert listed([{"Name": "key-name", "Values": [f"{prefix}-*"]},
                   {"Name": "tag:role", "Values": ["database"]}]) == [names[2]]
    kp = ec2.describe_key_pairs(KeyNames=[names[2]])["KeyPairs"][0]
    assert tags_dict(kp.get("Tags")) == {"role": "database"}


def test_key_pair_dry_run(ec2):
    name = unique("kp-dry")
    err = expect_error("DryRunOperation", ec2.create_key_pair, KeyName=name, DryRun=True)
    assert http_status(err) == 412
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=[name])


# --------------------------------------------------------------------------
# Security groups
# --------------------------------------------------------------------------


@pytest.fixture
def new_group(ec2):
    created = []

    def make(name=None, description="e2e test group", **kw):
        name = name or unique("grp")
        gid = ec2.create_security_group(GroupName=name, Description=description, **kw)["GroupId"]
        created.append(gid)
        return gid, name

    yield make
    for gid in reversed(created):
        try:
            ec2.delete_security_group(GroupId=gid)
        except ClientError:
            pass


def _group(ec2, gid):
    groups = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert len(groups) == 1
    return groups[0]


def test_default_security_group_exists(ec2):
    groups = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert len(groups) == 1
    g = groups[0]
    assert g["GroupName"] == "default"
    assert g["GroupId"].startswith("sg-")
    assert g.get("OwnerId")
    by_filter = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert [x["GroupId"] for x in by_filter] == [g["GroupId"]]


def test_default_security_group_cannot_be_deleted(ec2):
    gid = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    with pytest.raises(ClientError) as ei:
        ec2.delete_security_group(GroupId=gid)
    assert 400 <= http_status(ei.value) < 500
    assert _group(ec2, gid)["GroupName"] == "default"


def test_create_describe_delete_security_group(ec2):
    name = unique("grp-life")
    gid = ec2.create_security_group(GroupName=name, Description="life cycle")["GroupId"]
    assert gid.startswith("sg-")
    g = _group(ec2, gid)
    assert g["GroupName"] == name
    assert g["Description"] == "life cycle"
    assert g["IpPermissions"] == []
    by_name = ec2.describe_security_groups(GroupNames=[name])["SecurityGroups"]
    assert [x["GroupId"] for x in by_name] == [gid]
    all_ids = {x["GroupId"] for x in ec2.describe_security_groups()["SecurityGroups"]}
    assert gid in all_ids

    ec2.delete_security_group(GroupId=gid)
    err = expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=[gid])
    assert http_status(err) == 400
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupNames=[name])
    expect_error("InvalidGroup.NotFound", ec2.delete_security_group, GroupId=gid)


def test_delete_security_group_by_name(ec2):
    name = unique("grp-byname")
    gid = ec2.create_security_group(GroupName=name, Description="x")["GroupId"]
    ec2.delete_security_group(GroupName=name)
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=[gid])


def test_duplicate_security_group(ec2, new_group):
    gid, name = new_group()
    err = expect_error("InvalidGroup.Duplicate", ec2.create_security_group,
                       GroupName=name, Description="again")
    assert http_status(err) == 400
    assert _group(ec2, gid)["Description"] == "e2e test group"


def test_group_name_may_not_look_like_an_id(ec2):
    name = "sg-" + unique("x")
    expect_error("InvalidParameterValue", ec2.create_security_group, GroupName=name, Description="x")
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupNames=[name])


def test_describe_unknown_group_id(ec2):
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups,
                 GroupIds=["sg-0123456789abcdef0"])


def test_ingress_rules_round_trip(ec2, new_group):
    gid, _ = new_group()
    perms = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh from lan"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "192.168.1.0/24"}]},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "172.16.0.0/12"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
    got = normalize_permissions(_group(ec2, gid)["IpPermissions"])
    assert got == normalize_permissions(perms)

    # Duplicate of one already-present rule.
    err = expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress,
                       GroupId=gid, IpPermissions=[perms[2]])
    assert http_status(err) == 400
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == normalize_permissions(perms)

    # Revoke one CIDR out of a multi-CIDR permission.
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443,
         "IpRanges": [{"CidrIp": "192.168.1.0/24"}]}])
    expected = normalize_permissions(perms) - {("tcp", 80, 443, "cidr", "192.168.1.0/24", None)}
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == expected

    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=perms[:1] + perms[2:])
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == {
        ("tcp", 80, 443, "cidr", "0.0.0.0/0", None)}


def test_ingress_legacy_flat_parameters(ec2, new_group):
    gid, name = new_group()
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=8080,
                                         ToPort=8081, CidrIp="203.0.113.0/24")
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == {
        ("tcp", 8080, 8081, "cidr", "203.0.113.0/24", None)}
    expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress,
                 GroupId=gid, IpProtocol="tcp", FromPort=8080, ToPort=8081,
                 CidrIp="203.0.113.0/24")
    # Addressing the group by name works too.
    ec2.revoke_security_group_ingress(GroupName=name, IpProtocol="tcp", FromPort=8080,
                                      ToPort=8081, CidrIp="203.0.113.0/24")
    assert _group(ec2, gid)["IpPermissions"] == []


def test_ingress_all_protocols_and_group_reference(ec2, new_group):
    gid, _ = new_group()
    src, _ = new_group()
    perms = [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.1.0.0/16"}]},
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"GroupId": src, "Description": "from app tier"}]},
    ]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
    g = _group(ec2, gid)
    assert normalize_permissions(g["IpPermissions"]) == normalize_permissions(perms)
    allp = [p for p in g["IpPermissions"] if p["IpProtocol"] == "-1"]
    assert len(allp) == 1
    pairs = [pair for p in g["IpPermissions"] for pair in p.get("UserIdGroupPairs", [])]
    assert pairs and pairs[0].get("UserId") == g["OwnerId"]
    expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress,
                 GroupId=gid, IpPermissions=[perms[1]])
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=perms)
    assert _group(ec2, gid)["IpPermissions"] == []


def test_ipv6_ingress_rule(ec2, new_group):
    gid, _ = new_group()
    perms = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
              "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "https v6"}]}]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == normalize_permissions(perms)
    expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress,
                 GroupId=gid, IpPermissions=perms)


def test_egress_rules_round_trip(ec2, new_group):
    gid, _ = new_group()
    before = normalize_permissions(_group(ec2, gid)["IpPermissionsEgress"])
    perm = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "api"}]}
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[perm])
    g = _group(ec2, gid)
    assert normalize_permissions(g["IpPermissionsEgress"]) == before | normalize_permissions([perm])
    assert g["IpPermissions"] == [], "egress rule must not show up as ingress"
    err = expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_egress,
                       GroupId=gid, IpPermissions=[perm])
    assert http_status(err) == 400
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[perm])
    assert normalize_permissions(_group(ec2, gid)["IpPermissionsEgress"]) == before


def test_same_rule_allowed_in_both_directions(ec2, new_group):
    gid, _ = new_group()
    perm = {"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000,
            "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[perm])
    g = _group(ec2, gid)
    assert normalize_permissions([perm]) <= normalize_permissions(g["IpPermissions"])
    assert normalize_permissions([perm]) <= normalize_permissions(g["IpPermissionsEgress"])


@pytest.mark.parametrize("perm", [
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/33"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "not-a-cidr"}]},
    {"IpProtocol": "tcp", "FromPort": 100, "ToPort": 10, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 70000, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "bogus", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
], ids=["prefix-too-long", "garbage-cidr", "inverted-ports", "port-out-of-range", "bad-protocol"])
def test_invalid_rules_rejected(ec2, new_group, perm):
    gid, _ = new_group()
    with pytest.raises(ClientError) as ei:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    assert http_status(ei.value) == 400, ei.value.response
    assert _group(ec2, gid)["IpPermissions"] == []


def test_authorize_unknown_group(ec2):
    expect_error("InvalidGroup.NotFound", ec2.authorize_security_group_ingress,
                 GroupId="sg-0000000000000dead", IpPermissions=[
                     {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
                      "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])


def test_security_group_dry_run(ec2):
    name = unique("grp-dry")
    err = expect_error("DryRunOperation", ec2.create_security_group, GroupName=name,
                       Description="x", DryRun=True)
    assert http_status(err) == 412
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupNames=[name])
    expect_error("DryRunOperation", ec2.describe_security_groups, DryRun=True)
    expect_error("DryRunOperation", ec2.describe_regions, DryRun=True)


def test_security_group_filters(ec2, new_group):
    prefix = unique("sgf")
    g1, n1 = new_group(f"{prefix}-web", description="web tier")
    g2, n2 = new_group(f"{prefix}-web2", description="web tier too")
    g3, n3 = new_group(f"{prefix}-db", description="database")

    def ids(filters):
        return {g["GroupId"] for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]}

    assert ids([{"Name": "group-name", "Values": [f"{prefix}-*"]}]) == {g1, g2, g3}
    assert ids([{"Name": "group-name", "Values": [f"{prefix}-web*"]}]) == {g1, g2}
    assert ids([{"Name": "group-name", "Values": [f"{prefix}-we?"]}]) == {g1}
    assert ids([{"Name": "group-id", "Values": [g2, g3]}]) == {g2, g3}
    assert ids([{"Name": "group-name", "Values": [f"{prefix}-*"]},
                {"Name": "description", "Values": ["web tier*"]}]) == {g1, g2}
    assert ids([{"Name": "group-name", "Values": [f"{prefix}-*"]},
                {"Name": "description", "Values": ["database"]}]) == {g3}


# --------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------


def test_tags_round_trip_and_filters(ec2, new_group):
    prefix = unique("tagt")
    g1, _ = new_group(f"{prefix}-1")
    g2, _ = new_group(f"{prefix}-2")
    key = unique("Team")
    ec2.create_tags(Resources=[g1, g2], Tags=[{"Key": key, "Value": "blue"}])
    ec2.create_tags(Resources=[g1], Tags=[{"Key": "Name", "Value": f"{prefix}-web-a"},
                                          {"Key": "empty", "Value": ""}])
    ec2.create_tags(Resources=[g2], Tags=[{"Key": "Name", "Value": f"{prefix}-db-a"}])

    assert tags_dict(_group(ec2, g1).get("Tags")) == {
        key: "blue", "Name": f"{prefix}-web-a", "empty": ""}

    def ids(filters):
        return {g["GroupId"] for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]}

    assert ids([{"Name": f"tag:{key}", "Values": ["blue"]}]) == {g1, g2}
    assert ids([{"Name": f"tag:{key}", "Values": ["red"]}]) == set()
    assert ids([{"Name": "tag-key", "Values": [key]}]) == {g1, g2}
    assert ids([{"Name": "tag:Name", "Values": [f"{prefix}-web-*"]}]) == {g1}
    assert ids([{"Name": "tag:Name", "Values": [f"{prefix}-??-a"]}]) == {g2}
    assert ids([{"Name": f"tag:{key}", "Values": ["blue"]},
                {"Name": "tag:Name", "Values": [f"{prefix}-db-*"]}]) == {g2}
    assert ids([{"Name": "tag-key", "Values": [key]},
                {"Name": "tag:empty", "Values": [""]}]) == {g1}

    # DescribeTags
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": [key]}])["Tags"]
    assert {(t["ResourceId"], t["ResourceType"], t["Value"]) for t in tags} == {
        (g1, "security-group", "blue"), (g2, "security-group", "blue")}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [g1]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {key: "blue", "Name": f"{prefix}-web-a", "empty": ""}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [g1, g2]},
                                      {"Name": "value", "Values": [f"{prefix}-*-a"]}])["Tags"]
    assert {(t["ResourceId"], t["Key"]) for t in tags} == {(g1, "Name"), (g2, "Name")}
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": [key]},
                                      {"Name": "resource-type", "Values": ["key-pair"]}])["Tags"]
    assert tags == []


def test_create_tags_overwrites_value(ec2, new_group):
    gid, _ = new_group()
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "env", "Value": "dev"}])
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "env", "Value": "prod"}])
    assert tags_dict(_group(ec2, gid).get("Tags")) == {"env": "prod"}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [gid]}])["Tags"]
    assert [(t["Key"], t["Value"]) for t in tags] == [("env", "prod")]


def test_delete_tags_semantics(ec2, new_group):
    gid, _ = new_group()
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"},
                                           {"Key": "c", "Value": "3"}])
    # Value given but different: nothing is deleted.
    ec2.delete_tags(Resources=[gid], Tags=[{"Key": "a", "Value": "not-1"}])
    assert tags_dict(_group(ec2, gid).get("Tags")) == {"a": "1", "b": "2", "c": "3"}
    # Value matches: deleted.
    ec2.delete_tags(Resources=[gid], Tags=[{"Key": "a", "Value": "1"}])
    # Key only: deleted whatever the value.
    ec2.delete_tags(Resources=[gid], Tags=[{"Key": "b"}])
    assert tags_dict(_group(ec2, gid).get("Tags")) == {"c": "3"}
    assert [t["Key"] for t in ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": [gid]}])["Tags"]] == ["c"]


def test_tags_on_key_pairs(ec2, cleanup_ec2):
    name = unique("kp-tag")
    kid = ec2.create_key_pair(KeyName=name, KeyType="ed25519")["KeyPairId"]
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    ec2.create_tags(Resources=[kid], Tags=[{"Key": "owner", "Value": "alice"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kid]}])["Tags"]
    assert [(t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in tags] == [
        (kid, "key-pair", "owner", "alice")]
    ec2.delete_key_pair(KeyName=name)
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [kid]}])["Tags"]
    assert tags == [], "tags must disappear with their resource"


def test_tags_removed_with_security_group(ec2):
    gid = ec2.create_security_group(GroupName=unique("grp-tagdel"), Description="x")["GroupId"]
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "k", "Value": "v"}])
    ec2.delete_security_group(GroupId=gid)
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [gid]}])["Tags"] == []


def test_create_tags_on_unknown_resource(ec2):
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=["sg-0000000000000beef"], Tags=[{"Key": "k", "Value": "v"}])
    assert http_status(ei.value) == 400
    assert ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": ["sg-0000000000000beef"]}])["Tags"] == []


def test_create_tags_dry_run(ec2, new_group):
    gid, _ = new_group()
    expect_error("DryRunOperation", ec2.create_tags, Resources=[gid],
                 Tags=[{"Key": "k", "Value": "v"}], DryRun=True)
    assert not _group(ec2, gid).get("Tags")


# --------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------


@pytest.fixture
def seven_tagged_groups(ec2, new_group):
    key = unique("page")
    gids = set()
    for i in range(7):
        gid, _ = new_group(f"{key}-{i}")
        gids.add(gid)
    ec2.create_tags(Resources=sorted(gids), Tags=[{"Key": key, "Value": "x"}])
    return key, gids


def test_describe_security_groups_pagination(ec2, seven_tagged_groups):
    key, gids = seven_tagged_groups
    filters = [{"Name": "tag-key", "Values": [key]}]
    first = ec2.describe_security_groups(Filters=filters, MaxResults=5)
    assert len(first["SecurityGroups"]) == 5
    assert first.get("NextToken")
    second = ec2.describe_security_groups(Filters=filters, MaxResults=5,
                                          NextToken=first["NextToken"])
    assert len(second["SecurityGroups"]) == 2
    assert not second.get("NextToken")
    seen = [g["GroupId"] for g in first["SecurityGroups"] + second["SecurityGroups"]]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == gids
    # The boto3 paginator arrives at the same set.
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=filters, PaginationConfig={"PageSize": 5})
    assert {g["GroupId"] for p in pages for g in p["SecurityGroups"]} == gids
    # Without MaxResults everything comes back in one page.
    everything = ec2.describe_security_groups(Filters=filters)
    assert {g["GroupId"] for g in everything["SecurityGroups"]} == gids
    assert not everything.get("NextToken")


def test_describe_tags_pagination(ec2, seven_tagged_groups):
    key, gids = seven_tagged_groups
    filters = [{"Name": "key", "Values": [key]}]
    seen = []
    token = None
    pages = 0
    while True:
        kw = {"Filters": filters, "MaxResults": 5}
        if token:
            kw["NextToken"] = token
        resp = ec2.describe_tags(**kw)
        pages += 1
        assert len(resp["Tags"]) <= 5
        seen += [t["ResourceId"] for t in resp["Tags"]]
        token = resp.get("NextToken")
        if not token:
            break
        assert pages < 10, "pagination does not terminate"
    assert pages == 2
    assert sorted(seen) == sorted(gids)


def test_invalid_next_token(ec2):
    with pytest.raises(ClientError) as ei:
        ec2.describe_security_groups(MaxResults=5, NextToken="definitely-not-a-token")
    assert http_status(ei.value) == 400


# --------------------------------------------------------------------------
# Protocol-level errors (raw signed requests)
# --------------------------------------------------------------------------


def _raw(server, admin_creds, body: str):
    return signed_request(server, admin_creds, "POST", "/", service="ec2", data=body)


def test_unknown_action_is_invalid_action(server, admin_creds):
    r = _raw(server, admin_creds, "Action=FrobnicateInstances&Version=2016-11-15")
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) == "InvalidAction", r.text
    assert b"<RequestID>" in r.content or b"<RequestId>" in r.content, r.text


def test_missing_parameter(server, admin_creds):
    r = _raw(server, admin_creds, "Action=CreateKeyPair&Version=2016-11-15")
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) == "MissingParameter", r.text
    r = _raw(server, admin_creds, "Action=CreateSecurityGroup&Version=2016-11-15&GroupName=x")
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) == "MissingParameter", r.text


def test_query_api_via_get(server, admin_creds):
    r = signed_request(server, admin_creds, "GET", "/", service="ec2",
                       params={"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert r.status_code == 200, r.text
    assert b"DescribeRegionsResponse" in r.content
    assert REGION.encode() in r.content



# --------------------------------------------------------------------------
# Validation, special characters, dependencies, concurrency
# --------------------------------------------------------------------------


@pytest.mark.parametrize("describe", ["describe_security_groups", "describe_key_pairs", "describe_tags"])
def test_unknown_filter_name_rejected(ec2, describe):
    err = expect_error("InvalidParameterValue", getattr(ec2, describe),
                       Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert http_status(err) == 400


def test_escaped_wildcard_matches_literally(ec2, new_group):
    prefix = unique("esc")
    literal, _ = new_group(f"{prefix}-a*b")
    other, _ = new_group(f"{prefix}-axxb")

    def ids(value):
        return {g["GroupId"] for g in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [value]}])["SecurityGroups"]}

    assert ids(f"{prefix}-a*b") == {literal, other}
    assert ids(f"{prefix}-a\\*b") == {literal}, "AWS filters treat \\* as a literal asterisk"


def test_tag_special_characters_round_trip(ec2, new_group):
    gid, _ = new_group()
    value = "a+b c&d=e%f/\u00e9\u2713\"<x>'; 100%"
    key = "k " + value[:20]
    ec2.create_tags(Resources=[gid], Tags=[{"Key": key, "Value": value}])
    assert tags_dict(_group(ec2, gid).get("Tags")) == {key: value}
    got = ec2.describe_security_groups(
        Filters=[{"Name": f"tag:{key}", "Values": [value]}])["SecurityGroups"]
    assert [g["GroupId"] for g in got] == [gid]
    ec2.delete_tags(Resources=[gid], Tags=[{"Key": key, "Value": value}])
    assert not _group(ec2, gid).get("Tags")


@pytest.mark.parametrize("tags", [
    [{"Key": "aws:reserved", "Value": "x"}],
    [{"Key": "k" * 129, "Value": "x"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": f"k{i}", "Value": "x"} for i in range(51)],
], ids=["aws-prefix", "long-key", "long-value", "too-many"])
def test_tag_validation(ec2, new_group, tags):
    gid, _ = new_group()
    err = expect_error("InvalidParameterValue", ec2.create_tags, Resources=[gid], Tags=tags)
    assert http_status(err) == 400
    assert not _group(ec2, gid).get("Tags"), "a rejected CreateTags must not apply partially"


def test_name_validation(ec2):
    expect_error("InvalidParameterValue", ec2.create_security_group,
                 GroupName="n" * 256, Description="x")
    expect_error("InvalidParameterValue", ec2.create_security_group,
                 GroupName=unique("grp"), Description="d" * 256)
    expect_error("InvalidParameterValue", ec2.create_key_pair, KeyName="k" * 256)
    expect_error("InvalidParameterValue", ec2.create_key_pair, KeyName=unique("kp"), KeyType="dsa")


def test_delete_group_referenced_by_rule(ec2, new_group):
    src, _ = new_group()
    dst, _ = new_group()
    ec2.authorize_security_group_ingress(GroupId=dst, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": src}]}])
    expect_error("DependencyViolation", ec2.delete_security_group, GroupId=src)
    assert _group(ec2, src)["GroupId"] == src
    ec2.revoke_security_group_ingress(GroupId=dst, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": src}]}])
    ec2.delete_security_group(GroupId=src)
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=[src])


def _race(n, fn):
    import concurrent.futures

    def attempt(_):
        try:
            fn()
            return "ok"
        except ClientError as e:
            return error_code(e)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return sorted(pool.map(attempt, range(n)))


def test_concurrent_create_same_group(ec2):
    name = unique("race")
    results = _race(6, lambda: ec2.create_security_group(GroupName=name, Description="race"))
    try:
        assert results.count("ok") == 1, results
        assert set(results) - {"ok"} <= {"InvalidGroup.Duplicate"}, results
        assert len(ec2.describe_security_groups(GroupNames=[name])["SecurityGroups"]) == 1
    finally:
        ec2.delete_security_group(GroupName=name)


def test_concurrent_same_rule(ec2, new_group):
    gid, _ = new_group()
    perm = {"IpProtocol": "tcp", "FromPort": 7, "ToPort": 7, "IpRanges": [{"CidrIp": "10.7.0.0/16"}]}
    results = _race(6, lambda: ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[perm]))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"InvalidPermission.Duplicate"}, results
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == normalize_permissions([perm])


def test_concurrent_create_same_key_pair(ec2, cleanup_ec2):
    name = unique("racekp")
    results = _race(6, lambda: ec2.create_key_pair(KeyName=name, KeyType="ed25519"))
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"InvalidKeyPair.Duplicate"}, results


# --------------------------------------------------------------------------
# Atomicity and more AWS semantics
# --------------------------------------------------------------------------

SSH22 = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
HTTP80 = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}


def test_authorize_is_all_or_nothing(ec2, new_group):
    gid, _ = new_group()
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[SSH22])
    expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress,
                 GroupId=gid, IpPermissions=[HTTP80, SSH22])
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == normalize_permissions([SSH22])


def test_revoke_missing_rule(ec2, new_group):
    gid, _ = new_group()
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[SSH22])
    expect_error("InvalidPermission.NotFound", ec2.revoke_security_group_ingress,
                 GroupId=gid, IpPermissions=[HTTP80])
    # A revoke naming one present and one absent rule changes nothing.
    expect_error("InvalidPermission.NotFound", ec2.revoke_security_group_ingress,
                 GroupId=gid, IpPermissions=[SSH22, HTTP80])
    assert normalize_permissions(_group(ec2, gid)["IpPermissions"]) == normalize_permissions([SSH22])


def test_create_tags_is_all_or_nothing(ec2, new_group):
    gid, _ = new_group()
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=[gid, "sg-0000000000000dead"], Tags=[{"Key": "x", "Value": "y"}])
    assert http_status(ei.value) == 400
    assert not _group(ec2, gid).get("Tags")


def test_delete_missing_key_pair_is_idempotent(ec2):
    # AWS answers DeleteKeyPair for an unknown name with success.
    resp = ec2.delete_key_pair(KeyName=unique("kp-never"))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_import_unsupported_key_type(ec2):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec as ecdsa

    pub = ecdsa.generate_private_key(ecdsa.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    name = unique("kp-ecdsa")
    expect_error({"InvalidKey.Format", "InvalidKeyPair.Format"}, ec2.import_key_pair,
                 KeyName=name, PublicKeyMaterial=pub)
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=[name])


def test_import_rfc4716_public_key(ec2, cleanup_ec2):
    import base64

    from helpers import openssh_blob

    priv = new_rsa_key()
    b64 = base64.b64encode(openssh_blob(priv.public_key()))
    body = b"\n".join(b64[i:i + 70] for i in range(0, len(b64), 70))
    material = (b"---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"e2e\"\n" + body +
                b"\n---- END SSH2 PUBLIC KEY ----\n")
    name = unique("kp-rfc")
    resp = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=material)
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert resp["KeyFingerprint"] == imported_rsa_fingerprint(priv.public_key())


def test_import_base64_der_public_key(ec2, cleanup_ec2):
    """AWS also accepts a base64-encoded DER (SubjectPublicKeyInfo) RSA public key."""
    import base64

    from cryptography.hazmat.primitives import serialization

    priv = new_rsa_key()
    der = priv.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    name = unique("kp-der")
    resp = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=base64.b64encode(der))
    cleanup_ec2(lambda: ec2.delete_key_pair(KeyName=name))
    assert resp["KeyFingerprint"] == imported_rsa_fingerprint(priv.public_key())


@pytest.mark.parametrize("max_results", ["0", "4", "1001", "-1", "ten"])
def test_max_results_bounds(server, admin_creds, max_results):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2",
                       data=f"Action=DescribeSecurityGroups&Version=2016-11-15&MaxResults={max_results}")
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) == "InvalidParameterValue", r.text


def test_permission_filters(ec2, new_group):
    gid, name = new_group()
    other, _ = new_group()
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[SSH22])

    def ids(*filters):
        return {g["GroupId"] for g in ec2.describe_security_groups(
            Filters=[{"Name": "group-id", "Values": [gid, other]}, *filters])["SecurityGroups"]}

    assert ids({"Name": "ip-permission.cidr", "Values": ["10.0.0.0/8"]}) == {gid}
    assert ids({"Name": "ip-permission.from-port", "Values": ["22"]}) == {gid}
    assert ids({"Name": "ip-permission.to-port", "Values": ["22"]}) == {gid}
    assert ids({"Name": "ip-permission.protocol", "Values": ["tcp"]}) == {gid}
    assert ids({"Name": "ip-permission.from-port", "Values": ["23"]}) == set()
    owner = _group(ec2, gid)["OwnerId"]
    assert ids({"Name": "owner-id", "Values": [owner]}) == {gid, other}
    assert ids({"Name": "owner-id", "Values": ["000000000000"]}) == set()
