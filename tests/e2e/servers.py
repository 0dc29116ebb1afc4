"""The gateway processes the end-to-end tests run, and their databases:
fresh PostgreSQL databases per server (or SQLite in the data directory), a
`skyport serve` started and waited for (its endpoint, its admin profile, its
health), and stopped — at the latest when the test process exits."""

from __future__ import annotations

import atexit
import configparser
import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "skyport"
STARTUP_TIMEOUT = float(os.environ.get("SKYPORT_E2E_STARTUP_TIMEOUT", "90"))
LISTEN_RE = re.compile(r"skyport listening on (http://127\.0\.0\.1:(\d+))")
ADMIN_AK_RE = re.compile(r"admin access key id:\s*(\S+)")
ADMIN_SK_RE = re.compile(r"admin secret access key:\s*(\S+)")
PG_ADMIN_URL = os.environ.get("SKYPORT_E2E_PG", "postgres://root@127.0.0.1:5432/test")


def skyport_bin() -> Path:
    return Path(os.environ.get("SKYPORT_BIN", str(DEFAULT_BIN)))


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
