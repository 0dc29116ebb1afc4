#!/usr/bin/env python3
"""DescribeInstances through Skyport to moto_server versus straight to moto_server.

Skyport authenticates the caller and answers settled instances from its own
records (a background sync keeps them fresh; only instances in a transitional
state are asked about at describe time). Both paths are timed interleaved in
the same run over raw signed HTTP requests, so client overhead is the same on
both sides. Two queries: the whole listing, and an instance-id filter that
matches one instance. With --instances 10000 this is issue #5's benchmark
(p99 under 50 ms and at least 10x faster than moto_server; gateway RSS under
100 MiB); with the default 10 it is issue #3's (under 1 ms added at p50).

Usage: bench/describe_instances.py [--instances 10] [--rounds 400] [--moto-rounds N]
Env:   SKYPORT_BIN (default target/release/skyport, else target/debug/skyport),
       run it with the tool venv's python (scripts/lib/venv.sh: boto3, moto).
"""

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parents[1]
# moto_server lists 10 000 instances in about 30 s.
SLOW = Config(read_timeout=600, retries={"max_attempts": 1})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listening on {port}")
            time.sleep(0.1)


def binary():
    if os.environ.get("SKYPORT_BIN"):
        return os.environ["SKYPORT_BIN"]
    for profile in ("release", "debug"):
        for root in (os.environ.get("CARGO_TARGET_DIR"), REPO / "target"):
            if root and (Path(root) / profile / "skyport").exists():
                return str(Path(root) / profile / "skyport")
    raise SystemExit("no skyport binary: cargo build --release -p gateway")


class Connections:
    """One kept-alive HTTP connection per endpoint. Bodies are read in one call:
    requests' default 10 KiB reads would dominate a 10 MB listing's time."""

    def __init__(self):
        self.open = {}

    def post(self, url, body, headers):
        parts = urllib.parse.urlsplit(url)
        conn = self.open.get(parts.netloc)
        if conn is None:
            conn = self.open[parts.netloc] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            del self.open[parts.netloc]
        return response.status, data


def signed_get(session, url, creds, region, extra=""):
    body = "Action=DescribeInstances&Version=2016-11-15" + extra
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(creds, "ec2", region).add_auth(request)
    start = time.perf_counter()
    status, data = session.post(url, body, dict(request.headers.items()))
    elapsed = time.perf_counter() - start
    text = data.decode()
    assert status == 200, text
    return elapsed, text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first, on each side")
    parser.add_argument("--moto-rounds", type=int, default=None,
                        help="rounds against moto_server directly (default: --rounds; moto lists 10 000 instances in ~30 s)")
    args = parser.parse_args()
    moto_bin = Path(sys.executable).parent / "moto_server"
    tmp = tempfile.mkdtemp(prefix="skyport-bench-")
    moto_port = free_port()
    moto = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    skyport = None
    try:
        wait_port(moto_port)
        moto_url = f"http://127.0.0.1:{moto_port}"
        policies = Path(tmp) / "policies.d"
        policies.mkdir()
        (policies / "targets.toml").write_text(
            '[[target]]\nname = "cloud"\nkind = "aws"\njurisdiction = { country = "US" }\n')
        config = Path(tmp) / "skyport.toml"
        # moto takes ~30 ms per instance launched and ~3 ms per instance listed:
        # generous timeouts, and the background sync and reconciler (each asks
        # moto about every instance) kept out of the run, so that moto serves
        # only the timed requests.
        config.write_text(f'policy_dir = "{policies}"\ninstance_sync_secs = 86400\n'
                          'reconcile_interval_secs = 86400\n'
                          f'[targets.cloud]\nendpoint = "{moto_url}"\n'
                          'region = "us-east-1"\naccess_key_id = "testing"\nsecret_access_key = "testing"\n'
                          'attempt_timeout_secs = 600\noperation_timeout_secs = 600\n')
        # Remote instances only: this site's own compute stays off.
        skyport = subprocess.Popen([binary(), "serve", "--bind", "127.0.0.1:0", "--data-dir", f"{tmp}/data",
                                    "--config", str(config), "--log", "warn,s3s=off"],
                                   stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "SKYPORT_COMPUTE": "false"})
        lines = {}
        for line in skyport.stdout:
            for key, pattern in (("ak", r"admin access key id: (\S+)"), ("sk", r"admin secret access key: (\S+)"),
                                 ("url", r"skyport listening on (\S+)")):
                m = re.search(pattern, line)
                if m:
                    lines[key] = m.group(1)
            if "url" in lines:
                break
        ours = Credentials(lines["ak"], lines["sk"])
        theirs = Credentials("testing", "testing")
        ec2 = boto3.client("ec2", endpoint_url=lines["url"], region_name="us-east-1",
                           aws_access_key_id=lines["ak"], aws_secret_access_key=lines["sk"], config=SLOW)
        image = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                             aws_secret_access_key="testing").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        launched = []
        left = args.instances
        while left > 0:
            batch = min(left, 500)
            reply = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=batch, MaxCount=batch)
            launched += [i["InstanceId"] for i in reply["Instances"]]
            left -= batch
        # The same instance as moto knows it: the one with the same launch position.
        direct_ids = [i["InstanceId"] for r in boto3.client(
            "ec2", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing", config=SLOW).describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
            for i in r["Instances"]]
        assert len(direct_ids) == args.instances, len(direct_ids)
        # Let the launch settle (pending -> running) so describes are steady-state.
        ec2.describe_instances()
        session = Connections()
        moto_rounds = args.moto_rounds or args.rounds
        warm = args.warmup
        print(f"DescribeInstances, {args.instances} instances (Skyport {args.rounds} rounds, "
              f"moto_server {moto_rounds} rounds, after {warm} warm-up rounds each)")
        for label, ours_extra, theirs_extra, expect in (
                ("whole listing", "", "", args.instances),
                ("one instance by instance-id filter",
                 f"&Filter.1.Name=instance-id&Filter.1.Value.1={launched[-1]}",
                 f"&Filter.1.Name=instance-id&Filter.1.Value.1={direct_ids[-1]}", 1)):
            direct, through = [], []
            for round_ in range(max(args.rounds, moto_rounds) + warm):
                if round_ < moto_rounds + warm:
                    d, text_d = signed_get(session, moto_url, theirs, "us-east-1", theirs_extra)
                    if round_ >= warm:
                        direct.append(d)
                if round_ < args.rounds + warm:
                    t, text_t = signed_get(session, lines["url"], ours, "us-east-1", ours_extra)
                    if round_ >= warm:
                        through.append(t)
            assert text_t.count("<instanceId>") == expect, text_t[:500]
            assert text_d.count("<instanceId>") == expect, text_d[:500]
            p50_d, p50_t = statistics.median(direct), statistics.median(through)
            p99_t = statistics.quantiles(through, n=100)[98] if len(through) >= 2 else through[0]
            print(f"  {label}:")
            print(f"    moto_server directly : p50 {p50_d * 1000:9.2f} ms")
            print(f"    through Skyport      : p50 {p50_t * 1000:9.2f} ms   p99 {p99_t * 1000:9.2f} ms")
            print(f"    Skyport vs moto      : {p50_d / p50_t:9.1f}x faster at p50 "
                  f"({(p50_t - p50_d) * 1000:+.2f} ms)")
        rss = next(line.split()[1] for line in Path(f"/proc/{skyport.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        print(f"  gateway RSS: {int(rss) / 1024:.1f} MiB")
    finally:
        for proc in (skyport, moto):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
