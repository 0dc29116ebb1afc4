"""A site configured with relative paths, as the default `./skyport-data` is:
every path reaches helper processes absolute. dnsmasq changes to `/` when it
daemonizes, so a relative pid or lease file made every subnet's DHCP server
fail (and RunInstances answer InternalError)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import AdminCli, Creds, make_client, skyport_bin, start_server
from test_compute import import_test_image

CONFIG = (
    'data_dir = "./from-config"\n'  # overridden by --data-dir below; resolved all the same
    "[network]\n"
    "segment_range = [2400, 2409]\n"
    'public_pool = "198.18.40.0/24"\n'
    "[compute]\n"
    'network = "skyport-e2e-rel"\n'
    'bridge = "skye2e4"\n'
    'cidr = "10.252.40.0/24"\n'
    "nat = false\n"
    "metadata_port = 18779\n"
)


def dnsmasq_of(pid_file: Path) -> list[str]:
    pid = pid_file.read_text().strip()
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.mark.skipif(os.geteuid() != 0, reason="tenant networks need root")
def test_relative_data_dir_reaches_dnsmasq_absolute(tmp_path, db_factory):
    site = tmp_path / "site"
    site.mkdir()
    (site / "skyport.toml").write_text(CONFIG)
    srv = start_server(Path("data"), db_factory.new_url(), db_factory.kind,
                       config=Path("skyport.toml"), compute=True, cwd=site)
    try:
        assert "tenant networks: vxlan segments" in srv.stdout_text, srv.logs()
        ec2 = make_client(srv, "ec2", Creds(srv.admin_access_key, srv.admin_secret_key))
        vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.1.0/24")["Subnet"]["SubnetId"]
        # A launch builds the subnet's plumbing, its DHCP server first (it answered
        # InternalError when dnsmasq got relative paths).
        image = import_test_image(AdminCli(srv), "--public")
        instance = ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                     SubnetId=subnet)["Instances"][0]["InstanceId"]
        state = site / "data" / "network"
        deadline = time.monotonic() + 30
        while not list(state.glob("*.pid")):
            assert time.monotonic() < deadline, f"no DHCP server started in {state}\n{srv.logs()}"
            time.sleep(0.2)
        # The subnet's DHCP server runs, and every file it was handed is absolute.
        args = []
        while time.monotonic() < deadline:
            try:
                args = dnsmasq_of(next(state.glob("*.pid")))
                break
            except (FileNotFoundError, ValueError):
                time.sleep(0.2)
        assert args and "dnsmasq" in args[0], args
        conf = next(a.split("=", 1)[1] for a in args if a.startswith("--conf-file="))
        assert conf.startswith(str(state.resolve())), (conf, state)
        paths = [line.split("=", 1)[1] for line in Path(conf).read_text().splitlines()
                 if "=" in line and line.split("=", 1)[0].endswith(("file", "dir", "hosts"))]
        assert paths and all(p.startswith("/") for p in paths), Path(conf).read_text()
        # The data directory is the relative one, inside the start directory.
        assert (site / "data" / "skyport.db").exists() or srv.database_url
        assert not (site / "from-config").exists()
        ec2.terminate_instances(InstanceIds=[instance])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance],
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)
    finally:
        srv.stop()
        subprocess.run([str(skyport_bin()), "site", "teardown", "--force",
                        "--config", "skyport.toml", "--data-dir", "data"],
                       cwd=site, capture_output=True, timeout=120)
