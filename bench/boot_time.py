#!/usr/bin/env python3
"""Time from RunInstances to the guest's boot marker, against plain libvirt.

Boots the test guest (scripts/build-test-image.sh) N times through Skyport
(boto3 RunInstances, then GetConsoleOutput polled every 50 ms until
SKYPORT-GUEST-BOOTED) and N times straight through libvirt (`virsh create` of
an equivalent domain — same size, kernel, NIC on the same network — its serial
log polled the same way), interleaved in the same run. Prints each path's median and the ratio; issue #5's goal is under 5 s
with the test image. Needs root and a running libvirtd (scripts/lib/libvirt.sh).

Usage: bench/boot_time.py [--rounds 5]
Env:   SKYPORT_BIN (default target/release/skyport, else target/debug/skyport),
       SKYPORT_TEST_IMAGE_DIR (default .cache/test-image); run it with the tool
       venv's python (scripts/lib/venv.sh: boto3).
"""

import argparse
import base64
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
MARKER = "SKYPORT-GUEST-BOOTED"


def binary():
    if os.environ.get("SKYPORT_BIN"):
        return os.environ["SKYPORT_BIN"]
    for profile in ("release", "debug"):
        for root in (os.environ.get("CARGO_TARGET_DIR"), REPO / "target"):
            if root and (Path(root) / profile / "skyport").exists():
                return str(Path(root) / profile / "skyport")
    raise SystemExit("no skyport binary: cargo build --release -p gateway")


def virsh(*args, check=True):
    return subprocess.run(["virsh", "-q", "-c", "qemu:///system", *args], capture_output=True,
                          text=True, check=check).stdout


def wait_for(read, deadline_s=60):
    start = time.perf_counter()
    while MARKER not in read():
        if time.perf_counter() - start > deadline_s:
            raise SystemExit("the guest never printed its boot marker")
        time.sleep(0.05)


def through_skyport(ec2, image_id):
    start = time.perf_counter()
    instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]

    def console():
        out = ec2.get_console_output(InstanceId=instance_id).get("Output", "")
        try:
            return base64.b64decode(out).decode(errors="replace")
        except ValueError:
            return out
    wait_for(console)
    elapsed = time.perf_counter() - start
    ec2.terminate_instances(InstanceIds=[instance_id])
    return elapsed


def through_libvirt(images, tmp, round_):
    log = Path(tmp) / f"plain-{round_}.log"
    name = f"skyport-bench-plain-{os.getpid()}-{round_}"
    xml = Path(tmp) / f"{name}.xml"
    xml.write_text(f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>512</memory><vcpu>2</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{images}/vmlinuz</kernel><initrd>{images}/initrd.cpio.gz</initrd>
<cmdline>console=ttyS0 quiet panic=-1</cmdline></os><features><acpi/></features>
<devices><interface type='network'><source network='skyport-bench'/><model type='virtio'/></interface>
<serial type='pty'><log file='{log}' append='off'/><target port='0'/></serial>
<console type='pty'><target type='serial' port='0'/></console><memballoon model='none'/></devices></domain>""")
    start = time.perf_counter()
    virsh("create", str(xml))
    wait_for(lambda: log.read_text(errors="replace") if log.exists() else "")
    elapsed = time.perf_counter() - start
    virsh("destroy", name, check=False)
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    images = Path(os.environ.get("SKYPORT_TEST_IMAGE_DIR", REPO / ".cache/test-image")).resolve()
    tmp = tempfile.mkdtemp(prefix="skyport-boot-bench-")
    config = Path(tmp) / "skyport.toml"
    config.write_text('[compute]\nnetwork = "skyport-bench"\nbridge = "skybench0"\ncidr = "10.252.11.0/24"\n'
                      'nat = false\nmetadata_port = 18777\n')
    skyport = subprocess.Popen([binary(), "serve", "--bind", "127.0.0.1:0", "--data-dir", f"{tmp}/data",
                                "--config", str(config), "--log", "warn,s3s=off"],
                               stdout=subprocess.PIPE, text=True)
    try:
        found = {}
        for line in skyport.stdout:
            for key, pattern in (("ak", r"admin access key id: (\S+)"), ("sk", r"admin secret access key: (\S+)"),
                                 ("url", r"skyport listening on (\S+)")):
                m = re.search(pattern, line)
                if m:
                    found[key] = m.group(1)
            if "url" in found:
                break
        admin = [binary(), "admin", "--endpoint", found["url"], "--data-dir", f"{tmp}/data"]
        out = subprocess.run(admin + ["image", "import", "--name", "bench", "--kernel", f"{images}/vmlinuz",
                                      "--initrd", f"{images}/initrd.cpio.gz"],
                             capture_output=True, text=True, check=True).stdout
        image_id = re.search(r'"id": "(ami-[0-9a-f]+)"', out).group(1)
        ec2 = boto3.client("ec2", endpoint_url=found["url"], region_name="us-east-1",
                           aws_access_key_id=found["ak"], aws_secret_access_key=found["sk"])
        ours, plain = [], []
        for round_ in range(args.rounds):
            ours.append(through_skyport(ec2, image_id))
            plain.append(through_libvirt(images, tmp, round_))
        p_ours, p_plain = statistics.median(ours), statistics.median(plain)
        print(f"Boot to {MARKER}, test image under QEMU/TCG, {args.rounds} rounds (median)")
        print(f"  plain libvirt (virsh create) : {p_plain:6.2f} s")
        print(f"  Skyport RunInstances         : {p_ours:6.2f} s   (all: {', '.join(f'{t:.2f}' for t in ours)})")
        print(f"  ratio Skyport / libvirt      : {p_ours / p_plain:6.2f}x   (goal: under 5 s)")
    finally:
        skyport.kill()
        skyport.wait()
        virsh("net-destroy", "skyport-bench", check=False)
        virsh("net-undefine", "skyport-bench", check=False)


if __name__ == "__main__":
    main()
