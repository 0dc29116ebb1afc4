"""End-to-end fixtures for Skyport.

The whole suite runs once per database backend (``sqlite`` and ``postgres``):
the session-scoped ``server`` fixture is parametrized, so every test that
uses it (directly or through a client fixture) runs against both.

Environment knobs:
  SKYPORT_BIN           path of the skyport binary
                        (default: <repo>/target/debug/skyport)
  SKYPORT_E2E_DATABASES comma-separated subset of "sqlite,postgres"
                        (the ``--db`` pytest option does the same)
  SKYPORT_E2E_PG        libpq URL of the PostgreSQL server used to create the
                        per-session database (default:
                        postgres://root@127.0.0.1:5432/test)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from unittest import mock

# Isolate every AWS client library in this process from the developer's own
# configuration *before* boto/boto3 are imported anywhere.
for _var in list(os.environ):
    if _var.startswith("AWS_") or _var.startswith("BOTO"):
        del os.environ[_var]
os.environ["AWS_CONFIG_FILE"] = "/nonexistent/skyport-e2e/config"
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/skyport-e2e/credentials"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["BOTO_CONFIG"] = "/dev/null"

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

REGION = "us-east-1"
ALL_DATABASES = ("sqlite", "postgres")

from servers import (  # noqa: E402
    DatabaseFactory,
    Server,
    read_profile_credentials,
    skyport_bin,
    start_server,
)


# --------------------------------------------------------------------------
# pytest configuration
# --------------------------------------------------------------------------


def pytest_addoption(parser):
    parser.addoption(
        "--db",
        action="append",
        choices=ALL_DATABASES,
        help="database backend(s) to run the suite against (default: both)",
    )


def _selected_databases(config) -> list[str]:
    chosen = config.getoption("--db")
    if not chosen:
        env = os.environ.get("SKYPORT_E2E_DATABASES", "")
        chosen = [d.strip() for d in env.split(",") if d.strip()] or list(ALL_DATABASES)
    for d in chosen:
        if d not in ALL_DATABASES:
            raise pytest.UsageError(f"unknown database {d!r}; expected one of {ALL_DATABASES}")
    return list(dict.fromkeys(chosen))


def pytest_generate_tests(metafunc):
    # Parametrize the session fixture ``db_kind`` (and thus ``server`` and
    # everything built on it) over the selected backends.
    if "db_kind" in metafunc.fixturenames:
        dbs = _selected_databases(metafunc.config)
        metafunc.parametrize("db_kind", dbs, ids=dbs, scope="session", indirect=True)


def pytest_sessionstart(session):
    binary = skyport_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.exit(
            f"skyport binary not found at {binary} (build it with `cargo build -p gateway` "
            "or set SKYPORT_BIN)",
            returncode=2,
        )


# --------------------------------------------------------------------------
# Client helpers
# --------------------------------------------------------------------------


@dataclass
class Creds:
    access_key: str
    secret_key: str
    tenant: str = ""
    user: str = ""


def client_config(**kw) -> Config:
    base = dict(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"},
    )
    base.update(kw)
    return Config(**base)


def make_client(server: Server, service: str, creds: Optional[Creds], **config_kw):
    session = boto3.session.Session(
        aws_access_key_id=creds.access_key if creds else "unused",
        aws_secret_access_key=creds.secret_key if creds else "unused",
        region_name=REGION,
    )
    if creds is None:
        config_kw.setdefault("signature_version", UNSIGNED)
    elif service == "s3":
        # botocore would presign S3 URLs with SigV2 for a custom endpoint otherwise.
        config_kw.setdefault("signature_version", "s3v4")
    return session.client(service, endpoint_url=server.url, config=client_config(**config_kw))


def error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def http_status(exc) -> int:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def xml_error_code(body: bytes) -> Optional[str]:
    """Code of an AWS XML error body (EC2 <Response><Errors><Error><Code> or S3 <Error><Code>)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.split("}")[-1] == "Code":
            return (el.text or "").strip()
    return None


def signed_request(server: Server, creds: Creds, method: str = "POST", path: str = "/",
                   *, service: str = "ec2", params: Optional[dict] = None,
                   data=None, headers: Optional[dict] = None,
                   skew: Optional[datetime.timedelta] = None,
                   region: str = REGION, send_data=None, send_path: Optional[str] = None,
                   timeout: float = 30) -> requests.Response:
    """Sign a raw request with SigV4 (optionally with a skewed clock) and send it.

    ``send_data``/``send_path`` let a test tamper with the request after signing.
    """
    hdrs = dict(headers or {})
    if service == "ec2" and method == "POST" and data is not None and "Content-Type" not in hdrs:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    url = server.url + path
    req = AWSRequest(method=method, url=url, params=params or {}, data=data, headers=hdrs)
    signer_cls = botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth
    signer = signer_cls(Credentials(creds.access_key, creds.secret_key), service, region)
    if skew is not None:
        when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + skew
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: when):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    prepared = req.prepare()
    final_url = prepared.url
    if send_path is not None:
        final_url = server.url + send_path
    body = prepared.body if send_data is None else send_data
    return requests.request(method, final_url, data=body, headers=dict(prepared.headers),
                            timeout=timeout, allow_redirects=False)


def unique(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def unique_bucket(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


# --------------------------------------------------------------------------
# Admin CLI
# --------------------------------------------------------------------------


class AdminCli:
    def __init__(self, server: Server):
        self.server = server

    def run(self, *args, check=True, timeout=60) -> subprocess.CompletedProcess:
        cmd = [str(skyport_bin()), "admin", "--endpoint", self.server.url,
               "--data-dir", str(self.server.data_dir), *args]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
            )
        return cp

    def json(self, *args):
        cp = self.run(*args)
        try:
            return json.loads(cp.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"admin {' '.join(args)} did not print JSON: {cp.stdout!r}") from e

    def create_tenant(self, name: str) -> dict:
        return self.json("tenant", "create", name)

    def create_key(self, tenant: str) -> Creds:
        out = self.json("key", "create", "--tenant", tenant)
        return Creds(out["access_key_id"], out["secret_access_key"], out.get("tenant", ""),
                     out.get("user", ""))

    def new_tenant_with_key(self, prefix="tenant") -> Creds:
        name = unique(prefix)
        self.create_tenant(name)
        creds = self.create_key(name)
        return creds


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def db_kind(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def db_factory(db_kind):
    factory = DatabaseFactory(db_kind)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="session")
def server(db_kind, db_factory, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"skyport-{db_kind}")
    srv = start_server(root / "data", db_factory.new_url(), db_kind)
    yield srv
    srv.stop()
    if os.environ.get("SKYPORT_E2E_SHOW_LOGS"):
        sys.stderr.write(srv.logs())


@pytest.fixture
def server_factory(db_factory, tmp_path):
    """Start extra, test-private servers (each with a fresh database)."""
    started: list[Server] = []

    def start(data_dir: Optional[Path] = None, database_url: Optional[str] = "fresh",
              config: Optional[Path] = None, compute: bool = False) -> Server:
        if database_url == "fresh":
            database_url = db_factory.new_url()
        srv = start_server(data_dir or (tmp_path / unique("data")), database_url,
                           db_factory.kind, log_prefix=f"extra{len(started)}", config=config,
                           compute=compute)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        assert srv.alive(), f"skyport server died during the test\n{srv.logs()}"


@pytest.fixture(scope="session")
def admin_creds(server) -> Creds:
    return Creds(server.admin_access_key, server.admin_secret_key, "admin")


@pytest.fixture(scope="session")
def admin_cli(server) -> AdminCli:
    return AdminCli(server)


@pytest.fixture(scope="session")
def ec2(server, admin_creds):
    return make_client(server, "ec2", admin_creds)


@pytest.fixture(scope="session")
def s3(server, admin_creds):
    return make_client(server, "s3", admin_creds)


@pytest.fixture(scope="session")
def tenant_b(admin_cli) -> Creds:
    return admin_cli.new_tenant_with_key("tenantb")


@pytest.fixture(scope="session")
def ec2_b(server, tenant_b):
    return make_client(server, "ec2", tenant_b)


@pytest.fixture(scope="session")
def s3_b(server, tenant_b):
    return make_client(server, "s3", tenant_b)


@pytest.fixture(scope="session")
def aws_env(server, tmp_path_factory) -> dict:
    """Environment for `aws` CLI subprocesses using the server-written profile files."""
    home = tmp_path_factory.mktemp("awscli-home")
    env = {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_SHARED_CREDENTIALS_FILE": str(server.credentials_file),
        "AWS_CONFIG_FILE": str(server.config_file),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    return env


@pytest.fixture(scope="session")
def aws_cli_path() -> str:
    candidate = Path(sys.executable).parent / "aws"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("aws")
    assert found, "aws CLI not installed (pip install awscli)"
    return found


@pytest.fixture
def cleanup_ec2():
    """Register cleanup callables; run (best effort) after the test."""
    callbacks = []
    yield callbacks.append
    for cb in reversed(callbacks):
        with contextlib.suppress(Exception):
            cb()


# --------------------------------------------------------------------------
# S3 object fixtures
# --------------------------------------------------------------------------


def empty_bucket(client, name: str) -> None:
    """Best effort: abort multipart uploads and delete every object of a bucket."""
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for up in page.get("Uploads", []) or []:
                with contextlib.suppress(Exception):
                    client.abort_multipart_upload(Bucket=name, Key=up["Key"],
                                                  UploadId=up["UploadId"])
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", []) or []]
            if keys:
                with contextlib.suppress(Exception):
                    client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            for o in keys:  # in case DeleteObjects failed
                with contextlib.suppress(Exception):
                    client.delete_object(Bucket=name, Key=o["Key"])


def remove_bucket(client, name: str) -> None:
    empty_bucket(client, name)
    with contextlib.suppress(Exception):
        client.delete_bucket(Bucket=name)


@pytest.fixture
def bucket(s3):
    """A fresh bucket of the admin tenant; emptied (objects, uploads) and deleted afterwards."""
    name = unique_bucket("b")
    s3.create_bucket(Bucket=name)
    yield name
    remove_bucket(s3, name)


@pytest.fixture
def bucket_b(s3_b):
    """A fresh bucket of tenant B."""
    name = unique_bucket("bb")
    s3_b.create_bucket(Bucket=name)
    yield name
    remove_bucket(s3_b, name)


def force_trailing_checksums(client) -> None:
    """Make a botocore S3 client send flexible checksums as aws-chunked trailers.

    botocore only uses trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER, Content-Encoding:
    aws-chunked, x-amz-trailer) over https, which is what boto3 does by default against
    AWS; our endpoint is plain http, so flip the decision botocore made just before it
    builds the body.
    """

    def to_trailer(params, **_kw):
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict):
            algorithm["in"] = "trailer"

    for op in ("PutObject", "UploadPart"):
        client.meta.events.register(f"before-call.s3.{op}", to_trailer)


@pytest.fixture(scope="session")
def s3_trailer(server, admin_creds):
    client = make_client(server, "s3", admin_creds)
    force_trailing_checksums(client)
    return client


@pytest.fixture
def aws(aws_cli_path, aws_env, server):
    """Run the `aws` CLI with the server-written profile: aws("s3", "ls", timeout=...)."""

    def run(*args, endpoint=True, check=True, timeout=120, input=None):
        cmd = [aws_cli_path, "--profile", "skyport"]
        if endpoint:
            cmd += ["--endpoint-url", server.url]
        cmd += list(args)
        cp = subprocess.run(cmd, env=aws_env, capture_output=True, timeout=timeout,
                            input=input if input is not None else b"",
                            text=False)
        cp.stdout_bytes = cp.stdout
        cp.stdout = cp.stdout.decode("utf-8", "replace")
        cp.stderr = cp.stderr.decode("utf-8", "replace")
        if check:
            assert cp.returncode == 0, (
                f"aws {' '.join(args)} -> {cp.returncode}\n"
                f"stdout: {cp.stdout[-3000:]}\nstderr: {cp.stderr[-3000:]}")
        return cp

    return run
