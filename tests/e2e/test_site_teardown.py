"""A site's footprint on its machine, end to end (vlan driver, so Open
vSwitch too): what a running site makes, what a plain stop leaves (guests
keep running, by design), and `skyport site teardown`, after which the
machine's links, namespaces, nftables tables, libvirt networks and domains
and OVS bridges are exactly what they were before the site's first start.
Also: a second site whose segment range overlaps is refused while the first
runs, with the clash named."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import AdminCli, make_client
from sites import teardown
from test_compute import GUEST_TIMEOUT, import_test_image
from test_tenant_networks import build_vpc

NETWORK = "skyport-e2e-td"
SITE_CONFIG = (
    "[network]\n"
    'driver = "vlan"\n'
    "segment_range = [2300, 2399]\n"
    'public_pool = "203.0.113.0/24"\n'
    "[compute]\n"
    f'network = "{NETWORK}"\n'
    'bridge = "skye2etd"\n'
    'cidr = "10.252.13.0/24"\n'
    "nat = false\n"
    "metadata_port = 18778\n"
    "stop_timeout_secs = 10\n"
)
# Named after the first id of the segment range.
EDGE_NS = "skyport-edge2300"
OVS_BRIDGE = "skovs2300h0"
SG_TABLE = "table ip skyport_sg_2300"
MD_TABLE = "table ip skyport_md_skyport_e2e_td"


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=check).stdout


def snapshot() -> dict[str, list[str]]:
    """What the machine has of everything a site may make."""
    links = [line.split(":")[1].strip().split("@")[0] for line in sh("ip", "-o", "link", "show").splitlines()]
    virsh = ("virsh", "-q", "-c", "qemu:///system")
    return {
        "links": sorted(links),
        "namespaces": sorted(line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line),
        "nftables tables": sorted(sh("nft", "list", "tables").splitlines()),
        "libvirt networks": sorted(sh(*virsh, "net-list", "--all", "--name").split()),
        "libvirt domains": sorted(sh(*virsh, "list", "--all", "--name").split()),
        "ovs bridges": sorted(sh("ovs-vsctl", "list-br").split()),
    }


@pytest.fixture
def site_config(tmp_path):
    """The site's configuration; what an earlier, interrupted run of this
    test left under the site's names (its segment range, its libvirt
    network) is taken away first, by the tool itself, and so is what this
    run leaves if it fails half-way."""
    config = tmp_path / "site.toml"
    config.write_text(SITE_CONFIG)
    cleared = teardown(config, tmp_path / "earlier-run", "--force")
    assert cleared.returncode == 0, cleared
    yield config
    teardown(config, tmp_path / "site-data", "--force")


def test_a_teardown_leaves_the_machine_as_before_the_first_start(site_config, server_factory, tmp_path):
    before = snapshot()
    data_dir = tmp_path / "site-data"
    server = server_factory(data_dir=data_dir, config=site_config, compute=True)
    assert "tenant networks: vlan segments" in server.stdout_text, server.logs()

    # A second site on this machine with an overlapping segment range does not start.
    clashing = tmp_path / "clash.toml"
    clashing.write_text(SITE_CONFIG.replace("[2300, 2399]", "[2350, 2450]")
                        .replace(NETWORK, "skyport-e2e-td2").replace("skye2etd", "skye2etd2"))
    with pytest.raises(RuntimeError) as refused:
        server_factory(data_dir=tmp_path / "clash-data", config=clashing, compute=True)
    assert "segment_range [2350, 2450] overlaps its [2300, 2399]" in str(refused.value), refused.value
    assert str(data_dir) in str(refused.value)

    admin = AdminCli(server)
    image_id = import_test_image(admin, "--cmdline", "console=ttyS0 quiet panic=-1", "--public")
    tenant = admin.new_tenant_with_key("td")
    ec2 = make_client(server, "ec2", tenant)
    vpc, subnet = build_vpc(server, tenant, with_gateway=True)
    instance = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                 SubnetId=subnet)["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": GUEST_TIMEOUT})

    # Not while the gateway runs: it would build everything again.
    running = teardown(site_config, data_dir)
    assert running.returncode == 1 and "stop it first" in running.stderr, running

    # A plain stop leaves the plumbing, and the guest keeps running.
    server.stop()
    stopped = snapshot()
    new = {kind: sorted(set(stopped[kind]) - set(before[kind])) for kind in before}
    assert any(link.startswith("skb23") for link in new["links"]), new
    assert f"skyport-{vpc}" in new["namespaces"] and EDGE_NS in new["namespaces"], new
    assert SG_TABLE in new["nftables tables"] and MD_TABLE in new["nftables tables"], new
    assert new["libvirt networks"] == [NETWORK] and new["ovs bridges"] == [OVS_BRIDGE], new
    [domain] = new["libvirt domains"]
    assert sh("virsh", "-c", "qemu:///system", "domstate", domain).strip() == "running"
    assert str(data_dir) in sh("ps", "-eww", "-o", "args"), "the subnet's dnsmasq runs on"

    # Refused while the site has instances here, unless forced.
    refused_td = teardown(site_config, data_dir)
    assert refused_td.returncode == 1 and domain in refused_td.stderr, refused_td
    assert snapshot() == stopped
    done = teardown(site_config, data_dir, "--force")
    assert done.returncode == 0, done
    assert f"removed instance domain {domain}" in done.stdout, done.stdout
    assert f"removed router namespace skyport-{vpc}" in done.stdout, done.stdout

    after = snapshot()
    for kind in before:
        assert after[kind] == before[kind], (
            f"{kind}: left {sorted(set(after[kind]) - set(before[kind]))}, "
            f"lost {sorted(set(before[kind]) - set(after[kind]))}")
    deadline = time.monotonic() + 10
    while str(data_dir) in sh("ps", "-eww", "-o", "args"):
        assert time.monotonic() < deadline, "a process of the site still runs"
        time.sleep(0.2)
    # Nothing left to do the second time.
    again = teardown(site_config, data_dir)
    assert again.returncode == 0 and "nothing of this site was left" in again.stdout, again
