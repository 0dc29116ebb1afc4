"""Two public clouds for placement tests: moto_server processes standing in
for "aws-tokyo" (JP) and "aws-virginia" (US), a Skyport whose policies are the
ones a user would write following docs/policies.md, and small helpers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from conftest import Creds, client_config, make_client

TARGETS = """
[[target]]
name = "aws-tokyo"
kind = "aws"
jurisdiction = { country = "JP", region = "ap-northeast-1" }
price = { instance_hour = { "t3.micro" = 0.0136 }, storage_gb_month = 0.025 }

[[target]]
name = "aws-virginia"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { instance_hour = { "t3.micro" = 0.0104 }, storage_gb_month = 0.023 }
"""

RULES = """
[[rule]]
name = "personal-data-stays-in-japan"
match = { tags = { data-class = "personal" } }
require = { country = ["JP"] }
on_unhealthy = "fail"

[[rule]]
name = "cost-first"
rank = ["cheapest"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, region: str):
        self.region = region
        self.port = free_port()
        binary = Path(sys.executable).parent / "moto_server"
        assert binary.exists(), f"moto_server missing at {binary}: run scripts/test.sh"
        self.proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=client_config())

    def instance_ids(self) -> list[str]:
        out = self.client("ec2").describe_instances()
        return [i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] != "terminated"]

    def bucket_names(self) -> list[str]:
        return [b["Name"] for b in self.client("s3").list_buckets()["Buckets"]]

    def target_toml(self, name: str) -> str:
        return (f'[targets.{name}]\nendpoint = "{self.url}"\nregion = "{self.region}"\n'
                'access_key_id = "testing"\nsecret_access_key = "testing"\n'
                "attempt_timeout_secs = 20\nmax_attempts = 2\nbreaker_cooldown_secs = 2\n")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def clouds(server_factory, tmp_path):
    tokyo, virginia = Moto("ap-northeast-1"), Moto("us-east-1")
    policy_dir = tmp_path / "policies.d"
    policy_dir.mkdir()
    (policy_dir / "10-targets.toml").write_text(TARGETS)
    (policy_dir / "20-rules.toml").write_text(RULES)
    config = tmp_path / "skyport.toml"
    config.write_text(f'policy_dir = "{policy_dir}"\npolicy_reload_secs = 0.2\ntarget_probe_secs = 0.5\n'
                      + tokyo.target_toml("aws-tokyo") + virginia.target_toml("aws-virginia"))
    srv = server_factory(config=config)
    creds = Creds(srv.admin_access_key, srv.admin_secret_key, "admin")
    yield {"server": srv, "tokyo": tokyo, "virginia": virginia, "policy_dir": policy_dir,
           "ec2": make_client(srv, "ec2", creds), "s3": make_client(srv, "s3", creds)}
    tokyo.stop()
    virginia.stop()


def image_of(*clouds: Moto) -> str:
    """A public image every one of `clouds` holds (moto's catalogues differ
    per region, and Skyport places a launch only where its image is)."""
    held = [{i["ImageId"] for i in moto.client("ec2").describe_images(Owners=["amazon"])["Images"]}
            for moto in clouds]
    return min(set.intersection(*held))


def run(ec2, image: str, tags: dict) -> str:
    kwargs = dict(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "instance",
                                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]


def placement(server, resource_id: str) -> str:
    from conftest import skyport_bin
    cp = subprocess.run([str(skyport_bin()), "admin", "--endpoint", server.url, "--data-dir",
                         str(server.data_dir), "placement", "show", resource_id],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def cli_env(server, home: Path) -> dict:
    """Environment for the aws CLI of the tool venv, signed as the server's admin."""
    return {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "HOME": str(home), "AWS_SHARED_CREDENTIALS_FILE": str(server.credentials_file),
        "AWS_CONFIG_FILE": str(server.config_file), "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
    }
