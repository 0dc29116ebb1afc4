"""The `skyport admin` CLI, first-start bootstrap, quotas and persistence."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import AdminCli, Creds, error_code, make_client, read_profile_credentials, unique, unique_bucket


def test_first_start_prints_admin_credentials(server):
    assert server.printed_admin_key, f"no 'admin access key id:' line:\n{server.stdout_text}"
    assert server.printed_admin_key == server.admin_access_key
    assert server.printed_admin_secret == server.admin_secret_key
    assert server.admin_access_key.startswith("AK")


def test_tenant_create_and_list(admin_cli):
    name = unique("tn")
    created = admin_cli.create_tenant(name)
    assert isinstance(created, dict)
    assert name in json.dumps(created)
    tenants = admin_cli.json("tenant", "list")
    assert isinstance(tenants, list)
    names = [t.get("name") if isinstance(t, dict) else t for t in tenants]
    assert "admin" in names and name in names


def test_tenant_create_duplicate_fails(admin_cli):
    name = unique("tn-dup")
    admin_cli.create_tenant(name)
    cp = admin_cli.run("tenant", "create", name, check=False)
    assert cp.returncode != 0


def test_key_create_list_revoke(server, admin_cli):
    tenant = unique("tn-keys")
    admin_cli.create_tenant(tenant)
    out = admin_cli.json("key", "create", "--tenant", tenant)
    assert set(out) >= {"access_key_id", "secret_access_key", "tenant", "user"}
    assert out["tenant"] == tenant
    creds = Creds(out["access_key_id"], out["secret_access_key"], tenant)
    ec2 = make_client(server, "ec2", creds)
    s3 = make_client(server, "s3", creds)
    assert ec2.describe_regions()["Regions"]
    s3.list_buckets()

    listed = admin_cli.json("key", "list", "--tenant", tenant)
    assert isinstance(listed, list)
    ids = [k.get("access_key_id") for k in listed]
    assert creds.access_key in ids
    assert all(creds.secret_key not in json.dumps(k) for k in listed), "key list must not leak secrets"

    admin_cli.run("key", "revoke", creds.access_key)
    with pytest.raises(ClientError) as ei:
        ec2.describe_regions()
    assert error_code(ei.value) == "AuthFailure"
    with pytest.raises(ClientError) as ei:
        s3.list_buckets()
    assert error_code(ei.value) == "InvalidAccessKeyId"


def test_key_create_for_unknown_tenant_fails(admin_cli):
    cp = admin_cli.run("key", "create", "--tenant", unique("no-such-tenant"), check=False)
    assert cp.returncode != 0


def test_two_keys_one_tenant_share_resources(server, admin_cli):
    tenant = unique("tn-two")
    admin_cli.create_tenant(tenant)
    k1, k2 = admin_cli.create_key(tenant), admin_cli.create_key(tenant)
    assert k1.access_key != k2.access_key
    e1, e2 = make_client(server, "ec2", k1), make_client(server, "ec2", k2)
    name = unique("shared")
    e1.create_key_pair(KeyName=name, KeyType="ed25519")
    assert [k["KeyName"] for k in e2.describe_key_pairs(KeyNames=[name])["KeyPairs"]] == [name]
    e2.delete_key_pair(KeyName=name)


def test_tenant_delete(server, admin_cli):
    tenant = unique("tn-del")
    admin_cli.create_tenant(tenant)
    creds = admin_cli.create_key(tenant)
    ec2 = make_client(server, "ec2", creds)
    assert ec2.describe_regions()["Regions"]
    admin_cli.run("tenant", "delete", tenant)
    names = [t.get("name") if isinstance(t, dict) else t for t in admin_cli.json("tenant", "list")]
    assert tenant not in names
    with pytest.raises(ClientError) as ei:
        ec2.describe_regions()
    assert error_code(ei.value) == "AuthFailure"


def test_tenant_delete_unknown_fails(admin_cli):
    cp = admin_cli.run("tenant", "delete", unique("never-existed"), check=False)
    assert cp.returncode != 0


def test_bucket_quota(server, admin_cli):
    tenant = unique("tn-quota")
    admin_cli.create_tenant(tenant)
    creds = admin_cli.create_key(tenant)
    admin_cli.run("quota", "set", "--tenant", tenant, "--buckets", "1")
    s3 = make_client(server, "s3", creds)
    first, second = unique_bucket("q1"), unique_bucket("q2")
    s3.create_bucket(Bucket=first)
    try:
        with pytest.raises(ClientError) as ei:
            s3.create_bucket(Bucket=second)
        assert error_code(ei.value) == "TooManyBuckets"
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [first]
    finally:
        s3.delete_bucket(Bucket=first)
    # Freed capacity can be used again.
    s3.create_bucket(Bucket=second)
    s3.delete_bucket(Bucket=second)


def test_admin_cli_rejects_bad_credentials(server, tmp_path):
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "credentials").write_text(
        "[skyport]\naws_access_key_id = AKIDOESNOTEXIST00000\naws_secret_access_key = nope\n")
    fake = type(server)(**{**server.__dict__, "data_dir": tmp_path})
    cp = AdminCli(fake).run("tenant", "list", check=False)
    assert cp.returncode != 0


def test_admin_cli_requires_admin_tenant(server, admin_cli, tenant_b, tmp_path):
    """A non-admin tenant's key cannot drive the admin API."""
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "credentials").write_text(
        f"[skyport]\naws_access_key_id = {tenant_b.access_key}\n"
        f"aws_secret_access_key = {tenant_b.secret_key}\n")
    fake = type(server)(**{**server.__dict__, "data_dir": tmp_path})
    cp = AdminCli(fake).run("tenant", "create", unique("evil"), check=False)
    assert cp.returncode != 0


def test_restart_keeps_state(server_factory):
    srv = server_factory()
    ak, sk = srv.admin_access_key, srv.admin_secret_key
    creds = Creds(ak, sk)
    ec2 = make_client(srv, "ec2", creds)
    s3 = make_client(srv, "s3", creds)
    kp = ec2.create_key_pair(KeyName="persist-kp", KeyType="ed25519")
    gid = ec2.create_security_group(GroupName="persist-sg", Description="p")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "k", "Value": "v"}])
    bucket = unique_bucket("persist")
    s3.create_bucket(Bucket=bucket)
    default_gid = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    tenant = unique("tn-persist")
    AdminCli(srv).create_tenant(tenant)
    tcreds = AdminCli(srv).create_key(tenant)

    assert srv.stop() is not None
    srv2 = server_factory(data_dir=srv.data_dir, database_url=srv.database_url)
    assert read_profile_credentials(srv2.data_dir) == (ak, sk), "admin credentials must be kept"
    assert srv2.printed_admin_secret is None, "secret must not be printed again on restart"

    ec2 = make_client(srv2, "ec2", creds)
    s3 = make_client(srv2, "s3", creds)
    got = ec2.describe_key_pairs(KeyNames=["persist-kp"])["KeyPairs"][0]
    assert got["KeyFingerprint"] == kp["KeyFingerprint"]
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert g["IpPermissions"][0]["IpRanges"][0]["CidrIp"] == "10.0.0.0/8"
    assert {t["Key"]: t["Value"] for t in g.get("Tags", [])} == {"k": "v"}
    assert ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"] == default_gid
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert make_client(srv2, "ec2", tcreds).describe_regions()["Regions"]


def test_graceful_shutdown(server_factory):
    srv = server_factory()
    t0 = time.monotonic()
    rc = srv.stop(timeout=10)
    assert time.monotonic() - t0 < 10
    assert rc == 0, f"exit code {rc} on SIGTERM\n{srv.logs()}"


def test_admin_http_api_requires_admin(server, tenant_b):
    import requests

    from conftest import signed_request

    url = server.url + "/_skyport/admin/tenants"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401, r.text
    r = signed_request(server, tenant_b, "GET", "/_skyport/admin/tenants", service="skyport-admin")
    assert r.status_code == 403, r.text
    assert tenant_b.tenant not in r.text
    # A signature scoped to another service is refused before any key lookup.
    r = signed_request(server, tenant_b, "GET", "/_skyport/admin/tenants", service="ec2")
    assert r.status_code == 400, r.text


def test_tenant_with_buckets_cannot_be_deleted(server, admin_cli):
    tenant = unique("tn-busy")
    admin_cli.create_tenant(tenant)
    creds = admin_cli.create_key(tenant)
    s3 = make_client(server, "s3", creds)
    name = unique_bucket("busy")
    s3.create_bucket(Bucket=name)
    cp = admin_cli.run("tenant", "delete", tenant, check=False)
    assert cp.returncode != 0, cp.stdout
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.delete_bucket(Bucket=name)
    admin_cli.run("tenant", "delete", tenant)
    # The bucket name is free for others afterwards.
    admin_s3 = make_client(server, "s3", Creds(server.admin_access_key, server.admin_secret_key))
    admin_s3.create_bucket(Bucket=name)
    admin_s3.delete_bucket(Bucket=name)


def test_recreated_tenant_starts_empty(server, admin_cli):
    tenant = unique("tn-again")
    admin_cli.create_tenant(tenant)
    old = make_client(server, "ec2", admin_cli.create_key(tenant))
    old.create_key_pair(KeyName="leftover", KeyType="ed25519")
    gid = old.create_security_group(GroupName="leftover", Description="x")["GroupId"]
    old.create_tags(Resources=[gid], Tags=[{"Key": "k", "Value": "v"}])
    admin_cli.run("tenant", "delete", tenant)
    admin_cli.create_tenant(tenant)
    new = make_client(server, "ec2", admin_cli.create_key(tenant))
    assert new.describe_key_pairs()["KeyPairs"] == []
    assert [g["GroupName"] for g in new.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert new.describe_tags()["Tags"] == []


def test_quota_set_reports_quotas(admin_cli):
    tenant = unique("tn-q")
    admin_cli.create_tenant(tenant)
    out = admin_cli.json("quota", "set", "--tenant", tenant, "--buckets", "3", "--instances", "4",
                         "--vcpus", "8", "--volume-gib", "100", "--stored-bytes", "1048576")
    assert out["quotas"] == {"buckets": 3, "instances": 4, "vcpus": 8, "volume_gib": 100,
                             "stored_bytes": 1048576}, out
    listed = {t["name"]: t for t in admin_cli.json("tenant", "list")}
    assert listed[tenant]["quotas"]["buckets"] == 3


def _database_text(server) -> str:
    """Every row of every table, as text (to look for plaintext secrets)."""
    chunks = []
    if server.db_kind == "sqlite":
        import sqlite3

        db = server.data_dir / "skyport.db"
        assert db.exists(), sorted(p.name for p in server.data_dir.iterdir())
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in tables:
                for row in conn.execute(f'SELECT * FROM "{t}"'):
                    chunks.append(repr(row))
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(server.database_url, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            for t in tables:
                for row in conn.execute(f'SELECT * FROM "{t}"'):
                    chunks.append(repr(row))
    return "\n".join(chunks)


def test_secret_keys_not_stored_in_plaintext(server, admin_cli):
    creds = admin_cli.new_tenant_with_key("tn-secret")
    text = _database_text(server)
    assert creds.access_key in text, "sanity: the dump must contain the access key id"
    assert creds.secret_key not in text
    assert server.admin_secret_key not in text


def test_master_key_file_private(server):
    master = server.data_dir / "master.key"
    assert master.exists()
    assert master.stat().st_mode & 0o077 == 0, oct(master.stat().st_mode)
