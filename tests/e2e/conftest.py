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

import atexit
import configparser
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from unittest import mock
from urllib.parse import urlsplit

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

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "skyport"
REGION = "us-east-1"
ALL_DATABASES = ("sqlite", "postgres")
STARTUP_TIMEOUT = float(os.environ.get("SKYPORT_E2E_STARTUP_TIMEOUT", "90"))
LISTEN_RE = re.compile(r"skyport listening on (http://127\.0\.0\.1:(\d+))")
ADMIN_AK_RE = re.compile(r"admin access key id:\s*(\S+)")
ADMIN_SK_RE = re.compile(r"admin secret access key:\s*(\S+)")
PG_ADMIN_URL = os.environ.get("SKYPORT_E2E_PG", "postgres://root@127.0.0.1:5432/test")


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


def skyport_bin() -> Path:
    return Path(os.environ.get("SKYPORT_BIN", str(DEFAULT_BIN)))


def pytest_sessionstart(session):
    binary = skyport_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.exit(
            f"skyport binary not found at {binary} (build it with `cargo build -p gateway` "
            "or set SKYPORT_BIN)",
            returncode=2,
        )


# --------------------------------------------------------------------------
# Database helpers
# --------------------------------------------------------------------------


def _pg_connect(autocommit=True):
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=autocommit, connect_timeout=10)


def create_pg_database() -> tuple[str, str]:
    """Create a fresh PostgreSQL database; returns (name, url)."""
    name = "skyport_e2e_" + uuid.uuid4().hex[:16]
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_ADMIN_URL)
    url = f"{parts.scheme}://{parts.netloc}/{name}"
    return name, url


def drop_pg_database(name: str) -> None:
    with contextlib.suppress(Exception):
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class DatabaseFactory:
    """Hands out fresh databases of one kind and cleans them up."""

    def __init__(self, kind: str):
        self.kind = kind
        self._pg_names: list[str] = []

    def new_url(self) -> Optional[str]:
        """URL for --database, or None to use the default (SQLite in the data dir)."""
        if self.kind == "sqlite":
            return None
        name, url = create_pg_database()
        self._pg_names.append(name)
        return url

    def cleanup(self):
        for name in self._pg_names:
            drop_pg_database(name)
        self._pg_names.clear()


# --------------------------------------------------------------------------
# Server process management
# --------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen
    data_dir: Path
    database_url: Optional[str]
    db_kind: str
    url: str
    port: int
    admin_access_key: str
    admin_secret_key: str
    stdout_path: Path
    stderr_path: Path
    stdout_text: str
    printed_admin_key: Optional[str] = None
    printed_admin_secret: Optional[str] = None
    _logs: list = field(default_factory=list)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "aws" / "credentials"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "aws" / "config"

    def logs(self) -> str:
        out = self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-8000:]}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout=15) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def read_profile_credentials(data_dir: Path) -> tuple[str, str]:
    cp = configparser.ConfigParser()
    cp.read(data_dir / "aws" / "credentials")
    sec = cp["skyport"]
    return sec["aws_access_key_id"].strip(), sec["aws_secret_access_key"].strip()


_STARTED: list[subprocess.Popen] = []


@atexit.register
def _kill_leftover_servers():
    """Last resort (e.g. on an interrupted run): end every server this process started."""
    for proc in _STARTED:
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(timeout=5)


def start_server(data_dir: Path, database_url: Optional[str], db_kind: str,
                 log_prefix: str = "server", config: Optional[Path] = None,
                 compute: bool = False, cwd: Optional[Path] = None) -> Server:
    """``cwd``: start the gateway there, with ``data_dir`` and ``config`` as given
    (relative paths stay relative on its command line)."""
    given_data_dir = data_dir
    if cwd is not None:
        data_dir = cwd / data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = data_dir.parent / f"{data_dir.name}-{log_prefix}-{uuid.uuid4().hex[:6]}.stdout"
    stderr_path = stdout_path.with_suffix(".stderr")
    cmd = [str(skyport_bin()), "serve", "--bind", "127.0.0.1:0", "--data-dir", str(given_data_dir)]
    if database_url:
        cmd += ["--database", database_url]
    if config:
        cmd += ["--config", str(config)]
    env = dict(os.environ)
    env.setdefault("RUST_BACKTRACE", "1")
    # Local compute (libvirt) only where a test asks for it: gateways sharing
    # one libvirt host would otherwise share its instance network.
    if not compute:
        env["SKYPORT_COMPUTE"] = "false"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd)
    _STARTED.append(proc)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    url = port = None
    text = ""
    while time.monotonic() < deadline:
        text = stdout_path.read_text(errors="replace")
        m = LISTEN_RE.search(text)
        if m:
            url, port = m.group(1), int(m.group(2))
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if url is None:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        err = stderr_path.read_text(errors="replace")
        raise RuntimeError(
            f"skyport did not report 'skyport listening on ...' (exit={proc.returncode});\n"
            f"cmd: {cmd}\nstdout:\n{text[-4000:]}\nstderr:\n{err[-8000:]}"
        )
    # Wait until the admin credential lines (printed on first start) and the
    # profile files have been written.
    ak = sk = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            ak, sk = read_profile_credentials(data_dir)
            break
        except Exception:
            time.sleep(0.05)
    if ak is None:
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError(f"{data_dir}/aws/credentials has no [skyport] profile")
    # Health must come up promptly after the listening line.
    for _ in range(100):
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.05)
    time.sleep(0.05)
    text = stdout_path.read_text(errors="replace")
    pak = ADMIN_AK_RE.search(text)
    psk = ADMIN_SK_RE.search(text)
    return Server(
        proc=proc, data_dir=data_dir, database_url=database_url, db_kind=db_kind,
        url=url, port=port, admin_access_key=ak, admin_secret_key=sk,
        stdout_path=stdout_path, stderr_path=stderr_path, stdout_text=text,
        printed_admin_key=pak.group(1) if pak else None,
        printed_admin_secret=psk.group(1) if psk else None,
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
