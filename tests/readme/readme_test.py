"""Runs the README's Quick start as written and checks what it promises.

Every ```sh block of the Quick start runs verbatim with bash, in order, in
one shell (variables carry over, as in a terminal), from the root of a fresh
copy of the checkout (a clone of HEAD in a temporary directory, so
`./skyport-data` is the default relative data directory, inside it). The first
block's `scripts/run.sh` starts the gateway in the background — a human's
first terminal — and its `scripts/test.sh` is what `.ci/run` itself runs, so
this test (part of it) leaves it out. The Quick start's inline
`scripts/run.sh --database postgres://…` runs after, with the URL of a fresh
PostgreSQL database, the one substitution a human makes.

Each block's output is checked against what the README says it does (the
instance runs and prints its user data, the bucket is listed, the elastic IP
comes from the default pool, the second tenant sees nothing of the first),
and then the state behind it is checked through the API.

Environment: CARGO_TARGET_DIR (shared with the checkout under test),
SKYPORT_VENV (the AWS CLI and boto3), SKYPORT_TEST_IMAGE_DIR (a built test
guest, copied into the copy's .cache so it is not built twice),
SKYPORT_E2E_PG (PostgreSQL admin URL, default postgres://root@127.0.0.1:5432/test),
SKYPORT_README_KEEP=1 keeps the copy for a look after a failure.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
ENDPOINT = "http://127.0.0.1:8773"
PG_ADMIN_URL = os.environ.get("SKYPORT_E2E_PG", "postgres://root@127.0.0.1:5432/test")

# What each block after the first must print, in README order: (what, regex).
EXPECTED = [
    [
        ("the region", r'"RegionName": "us-east-1"'),
        ("the new key pair", r'"KeyName": "mine"[\s\S]*"KeyMaterial": "-----BEGIN'),
        ("the default security group", r'"GroupName": "default"'),
        ("the bucket made", r"make_bucket: my-bucket"),
        ("the bucket listed", r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d my-bucket$"),
    ],
    [
        ("the imported image", r'"Name": "test-guest"'),
        ("the user data's output on the console", r"(?m)^hello from skyport"),
        ("the stop", r'"InstanceId": "i-[0-9a-f]+"[\s\S]*"Name": "stopp(ing|ed)"'),
    ],
    [
        ("the elastic IP from the default pool, on the instance",
         r'"InstanceId": "i-[0-9a-f]+"[\s\S]*"PublicIp": "203\.0\.113\.\d+"'
         r'|"PublicIp": "203\.0\.113\.\d+"[\s\S]*"InstanceId": "i-[0-9a-f]+"'),
        ("the subnet's bridge", r"subnet subnet-[0-9a-f]+ 10\.30\.1\.0/24 segment \d+: bridge \S+ present"),
        ("the router namespace", r"router namespace \S+"),
    ],
    [
        ("the tenant", r'"name": "team-b"'),
        ("its key", r'"access_key_id": "[A-Z0-9]+"[\s\S]*"secret_access_key": "\S+"'),
    ],
]


def say(message: str) -> None:
    print(f"readme: {message}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def quick_start(readme: str) -> str:
    start = readme.index("## Quick start")
    return readme[start:readme.index("\n## ", start + 1)]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)


def fresh_checkout(root: Path) -> Path:
    """A clone of HEAD whose files are older than any build, so cargo (sharing
    CARGO_TARGET_DIR) reuses what the checkout under test built instead of
    building it again, and never leaves artifacts newer than that checkout's
    own files.

    Cargo judges a workspace crate fresh by the mtimes of the files its last
    build read, so an artifact the copy's build would reuse must come from
    these very sources: the checkout under test first runs the build
    scripts/setup.sh runs (an earlier copy's artifact for a crate that has
    since gained a file would otherwise look fresh). A dirty checkout's build
    is not HEAD's, so then the copy keeps its clone-time mtimes and builds
    everything it differs in itself."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        say("note: testing HEAD; uncommitted changes are not in the copy")
    else:
        build = next(line.strip() for line in (REPO / "scripts" / "setup.sh").read_text().splitlines()
                     if line.startswith("cargo build"))
        subprocess.run(build, shell=True, cwd=REPO, check=True)
    checkout = root / "skyport"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "checkout", "--quiet", "--detach", head], check=True)
    if not dirty:
        subprocess.run(["find", str(checkout), "-path", str(checkout / ".git"), "-prune", "-o",
                        "-exec", "touch", "-h", "-d", "@1", "{}", "+"], check=True)
    image = os.environ.get("SKYPORT_TEST_IMAGE_DIR")
    if image and Path(image, "vmlinuz").exists():
        # The test guest scripts/test.sh built: the README's build-test-image.sh then finds it done.
        shutil.copytree(image, checkout / ".cache" / "test-image")
    return checkout


def environment() -> dict:
    """A user's shell: no Skyport or AWS settings (the defaults are under
    test), the AWS CLI on PATH, the shared cargo target."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SKYPORT_", "AWS_", "BOTO"))}
    venv = os.environ.get("SKYPORT_VENV", str(REPO / ".venv"))
    env["PATH"] = f"{venv}/bin:{env.get('PATH', '/usr/bin:/bin')}"
    env["AWS_PAGER"] = ""
    return env


def port_free() -> bool:
    try:
        urllib.request.urlopen(ENDPOINT + "/health", timeout=2)
    except urllib.error.URLError as e:
        return isinstance(e.reason, ConnectionRefusedError)
    except Exception:
        return False
    return False


class Gateway:
    """`scripts/run.sh …` in the background, as in a first terminal."""

    def __init__(self, command: str, checkout: Path, env: dict, log: Path):
        self.command, self.log = command, log
        self.out = open(log, "wb")
        self.proc = subprocess.Popen(["bash", "-c", command], cwd=checkout, env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failed(f"`{self.command}` exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if urllib.request.urlopen(ENDPOINT + "/health", timeout=2).status == 200:
                    return
            except Exception:
                pass
            time.sleep(1)
        raise Failed(f"`{self.command}` did not answer on {ENDPOINT} in {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.out.close()


def run_blocks(blocks: list[str], checkout: Path, env: dict, work: Path) -> list[dict]:
    """Runs the blocks in one bash, each verbatim; returns each one's output and variables."""
    driver = ["set -e -o pipefail", f"cd {checkout}"]
    for n, block in enumerate(blocks):
        (work / f"block{n}.sh").write_text(block)
        driver += [
            f"exec 3>{work}/block{n}.trace",
            f"echo {n} > {work}/current",
            f"BASH_XTRACEFD=3; set -x; source {work}/block{n}.sh > {work}/block{n}.out 2>&1; set +x",
            f"(set -o posix; set) > {work}/block{n}.vars",
        ]
    (work / "driver.sh").write_text("\n".join(driver) + "\n")
    proc = subprocess.run(["bash", str(work / "driver.sh")], env=env, timeout=1800)
    if proc.returncode != 0:
        n = int((work / "current").read_text())
        out = (work / f"block{n}.out").read_text(errors="replace")
        trace = (work / f"block{n}.trace").read_text(errors="replace")
        raise Failed(f"README block {n + 2} failed (exit {proc.returncode}):\n{blocks[n]}\n"
                     f"--- trace ---\n{trace[-3000:]}\n--- output ---\n{out[-5000:]}")
    results = []
    for n in range(len(blocks)):
        variables = {}
        for line in (work / f"block{n}.vars").read_text(errors="replace").splitlines():
            name, _, value = line.partition("=")
            variables[name] = value.strip("'")
        results.append({"out": (work / f"block{n}.out").read_text(errors="replace"),
                        "vars": variables})
    return results


def check_outputs(results: list[dict], blocks: list[str]) -> None:
    for n, (result, expected) in enumerate(zip(results, EXPECTED)):
        for what, pattern in expected:
            if not re.search(pattern, result["out"]):
                raise Failed(f"README block {n + 2} did not show {what} (/{pattern}/):\n"
                             f"{blocks[n]}\n--- output ---\n{result['out'][-5000:]}")
        say(f"block {n + 2}: " + ", ".join(what for what, _ in expected))


def clients(checkout: Path, keys=None):
    import boto3
    if keys is None:
        profile = configparser.ConfigParser()
        profile.read(checkout / "skyport-data" / "aws" / "credentials")
        keys = (profile["skyport"]["aws_access_key_id"], profile["skyport"]["aws_secret_access_key"])
    session = boto3.session.Session(aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                                    region_name="us-east-1")
    return (session.client("ec2", endpoint_url=ENDPOINT), session.client("s3", endpoint_url=ENDPOINT))


def json_documents(text: str) -> list:
    """The JSON objects printed one after another in `text`."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        try:
            doc, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        docs.append(doc)
        at = end
    return docs


def wait_for(what: str, probe, timeout: float = 240):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(2)
    raise Failed(f"{what} did not happen within {timeout:.0f} s (last: {last!r})")


def check_state(results: list[dict], checkout: Path) -> list[str]:
    """What the blocks made, seen through the API; returns the instances to clean up."""
    ec2, s3 = clients(checkout)
    first, vpc_block, tenant_block = results[1]["vars"], results[2]["vars"], results[3]
    i, j = first["i"], vpc_block["j"]

    def state(instance):
        return ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]

    wait_for(f"{i} stopped", lambda: state(i)["State"]["Name"] == "stopped")
    described = state(j)
    if described["State"]["Name"] != "running" or described["SubnetId"] != vpc_block["subnet"]:
        raise Failed(f"{j} is not running in {vpc_block['subnet']}: {described}")
    if not described.get("PublicIpAddress", "").startswith("203.0.113."):
        raise Failed(f"{j} has no elastic IP from 203.0.113.0/24: {described}")
    # The subnet's DHCP server (dnsmasq in the VPC's router) handed out the lease.
    console = wait_for(f"{j}'s DHCP lease on its console", lambda: (
        lambda text: text if f"SKYPORT-GUEST-IP {described['PrivateIpAddress']}" in text else None)(
        ec2.get_console_output(InstanceId=j).get("Output", "")))
    say(f"{i} stopped; {j} running at {described['PrivateIpAddress']} with "
        f"{described['PublicIpAddress']}, leased by the subnet's DHCP server")
    del console
    # The second tenant sees none of the first tenant's resources.
    key = next(doc for doc in json_documents(tenant_block["out"]) if "access_key_id" in doc)
    other_ec2, other_s3 = clients(checkout, (key["access_key_id"], key["secret_access_key"]))
    seen = [x["InstanceId"] for r in other_ec2.describe_instances()["Reservations"] for x in r["Instances"]]
    buckets = [b["Name"] for b in other_s3.list_buckets()["Buckets"]]
    if seen or buckets:
        raise Failed(f"team-b sees instances {seen} and buckets {buckets}")
    if "my-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        raise Failed("my-bucket is not the admin tenant's")
    say("team-b sees no instance and no bucket of the admin tenant")
    return [i, j]


def terminate(checkout: Path, instances: list[str]) -> None:
    ec2, _ = clients(checkout)
    ec2.terminate_instances(InstanceIds=instances)
    wait_for("termination", lambda: all(
        x["State"]["Name"] == "terminated"
        for r in ec2.describe_instances(InstanceIds=instances)["Reservations"] for x in r["Instances"]))


def postgres_line(quick: str, checkout: Path, env: dict, work: Path) -> None:
    """`scripts/run.sh --database postgres://…` with a fresh database for the URL."""
    import psycopg
    line = re.search(r"`(scripts/run\.sh --database postgres://\S+)`", quick)
    if not line:
        raise Failed("the Quick start no longer shows `scripts/run.sh --database postgres://…`")
    name = "skyport_readme_" + uuid.uuid4().hex[:12]
    parts = urlsplit(PG_ADMIN_URL)
    url = f"{parts.scheme}://{parts.netloc}/{name}"
    command = re.sub(r"postgres://\S+", url, line.group(1))
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    gateway = None
    try:
        say(f"running `{command}`")
        gateway = Gateway(command, checkout, env, work / "gateway-postgres.log")
        gateway.wait_ready(600)
        wait_for("the new admin key", lambda: "admin access key id:" in gateway.tail(), 30)
        ec2, s3 = clients(checkout)
        if ec2.describe_regions()["Regions"][0]["RegionName"] != "us-east-1":
            raise Failed("DescribeRegions on PostgreSQL")
        if s3.list_buckets()["Buckets"]:
            raise Failed("a fresh PostgreSQL database shows buckets")
        s3.create_bucket(Bucket="on-postgres")
        s3.put_object(Bucket="on-postgres", Key="k", Body=b"kept in PostgreSQL's records")
        if s3.get_object(Bucket="on-postgres", Key="k")["Body"].read() != b"kept in PostgreSQL's records":
            raise Failed("object read back on PostgreSQL")
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT name FROM buckets").fetchall()
        if rows != [("on-postgres",)]:
            raise Failed(f"PostgreSQL's buckets table holds {rows}")
        say("the PostgreSQL line: the gateway runs on the fresh database and records there")
    finally:
        if gateway:
            gateway.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    readme = (REPO / "README.md").read_text()
    quick = quick_start(readme)
    blocks = sh_blocks(quick)
    top = [line.split("#")[0].strip() for line in blocks[0].strip().splitlines()]
    if top != ["scripts/run.sh", "scripts/test.sh"]:
        raise Failed(f"the Quick start must open with scripts/run.sh and scripts/test.sh, not {top}")
    rest = blocks[1:]
    if len(rest) != len(EXPECTED):
        raise Failed(f"the Quick start has {len(rest)} command blocks after the first; "
                     f"tests/readme/readme_test.py checks {len(EXPECTED)}: give each one its checks")
    if not port_free():
        raise Failed(f"something already answers on {ENDPOINT}: the README's gateway needs that port")
    root = Path(tempfile.mkdtemp(prefix="skyport-readme-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    work = root / "work"
    work.mkdir()
    env = environment()
    checkout = fresh_checkout(root)
    say(f"fresh checkout of HEAD in {checkout}")
    gateway = None
    instances: list[str] = []
    ok = False
    try:
        say("running `scripts/run.sh` (block 1; `scripts/test.sh` is what .ci/run runs)")
        gateway = Gateway(top[0], checkout, env, work / "gateway.log")
        gateway.wait_ready(2400)
        if not (checkout / "skyport-data" / "skyport.db").exists():
            raise Failed("the default data directory ./skyport-data was not used")
        results = run_blocks(rest, checkout, env, work)
        check_outputs(results, rest)
        instances = check_state(results, checkout)
        terminate(checkout, instances)
        instances = []
        gateway.stop()
        gateway = None
        postgres_line(quick, checkout, env, work)
        ok = True
    except Failed:
        if gateway:
            print(f"--- scripts/run.sh log ---\n{gateway.tail()}", file=sys.stderr)
        raise
    finally:
        if gateway and instances:
            try:
                terminate(checkout, instances)
            except Exception as e:  # noqa: BLE001 - best effort; teardown --force follows
                say(f"terminating {instances} failed: {e}")
        if gateway:
            gateway.stop()
        # What the site made on this machine: routers, bridges, the libvirt network.
        subprocess.run(["scripts/skyport", "site", "teardown", "--force"], cwd=checkout, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if ok or not os.environ.get("SKYPORT_README_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"kept {root}")
    say("the Quick start works as written")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print(f"readme: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
