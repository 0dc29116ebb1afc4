#!/usr/bin/env python3
"""DescribeInstances through Skyport to moto_server versus straight to moto_server.

Skyport adds a hop: it authenticates the caller, reads its instance records,
asks the target (the same moto_server) for their live state and merges the
answer. This measures the latency Skyport adds at p50 (target: under 1 ms),
with both paths timed interleaved in the same run, over raw signed HTTP
requests so that client overhead is the same on both sides.

Usage: bench/describe_instances.py [--instances 10] [--rounds 400]
Env:   SKYPORT_BIN (default target/release/skyport, else target/debug/skyport),
       run it with the tool venv's python (scripts/lib/venv.sh: boto3, moto).
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parents[1]


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


def signed_get(session, url, creds, region):
    body = "Action=DescribeInstances&Version=2016-11-15"
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(creds, "ec2", region).add_auth(request)
    start = time.perf_counter()
    response = session.post(url + "/", data=body, headers=dict(request.headers.items()))
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed, response.text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=400)
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
        config.write_text(f'policy_dir = "{policies}"\n[targets.cloud]\nendpoint = "{moto_url}"\n'
                          'region = "us-east-1"\naccess_key_id = "testing"\nsecret_access_key = "testing"\n')
        skyport = subprocess.Popen([binary(), "serve", "--bind", "127.0.0.1:0", "--data-dir", f"{tmp}/data",
                                    "--config", str(config), "--log", "warn,s3s=off"],
                                   stdout=subprocess.PIPE, text=True)
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
                           aws_access_key_id=lines["ak"], aws_secret_access_key=lines["sk"])
        image = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                             aws_secret_access_key="testing").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=args.instances, MaxCount=args.instances)
        session = requests.Session()
        direct, through = [], []
        for round_ in range(args.rounds + 20):
            d, text_d = signed_get(session, moto_url, theirs, "us-east-1")
            t, text_t = signed_get(session, lines["url"], ours, "us-east-1")
            if round_ >= 20:  # warm-up
                direct.append(d)
                through.append(t)
        assert text_t.count("<instanceId>") == args.instances, text_t[:500]
        p50_d, p50_t = statistics.median(direct), statistics.median(through)
        added_ms = (p50_t - p50_d) * 1000
        print(f"DescribeInstances, {args.instances} instances, {args.rounds} rounds (p50)")
        print(f"  moto_server directly : {p50_d * 1000:8.2f} ms")
        print(f"  through Skyport      : {p50_t * 1000:8.2f} ms")
        print(f"  added by Skyport     : {added_ms:8.2f} ms  (ratio {p50_t / p50_d:.2f}x; target < 1 ms added)")
    finally:
        for proc in (skyport, moto):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
