"""Instances on tenant networks, end to end: real guests (QEMU under libvirt)
on VPC subnets that the aws CLI builds, with DHCP from each subnet's own
server, the metadata service inside each VPC's router, isolation between two
tenants that use the very same addresses, and an elastic IP reachable from
an "internet" namespace this test makes. The guests prove what they see by
running their user-data and printing the results on their console."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sites
from conftest import AdminCli, make_client
from test_compute import GUEST_TIMEOUT, import_test_image, wait_console

INTERNET_NS = "skye2e-inet"
INTERNET_IP = "203.0.113.254"
# The site's edge namespace and the public bridge in it: named after the
# first id of the segment range.
EDGE_NS = "skyport-edge2100"
PUBLIC_BRIDGE = "skpub2100"
# Beyond the machine, through the uplink docs/networking.md sets up.
BEYOND_IP = "198.51.100.10"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "networking.md"

NETWORK_CONFIG = (
    "[network]\n"
    "segment_range = [2100, 2199]\n"
    'public_pool = "203.0.113.0/24"\n'
    "[compute]\n"
    'network = "skyport-e2e-vpc"\n'
    'bridge = "skye2e1"\n'
    'cidr = "10.252.10.0/24"\n'
    "nat = false\n"
    "metadata_port = 18777\n"
    "stop_timeout_secs = 10\n"
)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def network_server(server_factory, tmp_path):
    config = tmp_path / "network.toml"
    config.write_text(NETWORK_CONFIG)
    for srv in sites.start_site(server_factory, config, tmp_path / "network-data"):
        assert "tenant networks: vxlan segments on host(s) local" in srv.stdout_text, srv.logs()
        yield srv


@pytest.fixture
def internet(network_server):
    """A namespace on the public bridge of the site's edge, answering TCP on
    8080 with the address each connection came from."""
    sh("ip", "netns", "del", INTERNET_NS, check=False)
    sh("ip", "netns", "add", INTERNET_NS)
    deadline = time.monotonic() + 30
    while sh("ip", "-n", EDGE_NS, "link", "show", PUBLIC_BRIDGE, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the site's edge never appeared"
        time.sleep(0.2)
    sh("ip", "-n", EDGE_NS, "link", "add", "skye2einet", "type", "veth", "peer", "name", "eth0",
       "netns", INTERNET_NS)
    sh("ip", "-n", EDGE_NS, "link", "set", "skye2einet", "master", PUBLIC_BRIDGE)
    sh("ip", "-n", EDGE_NS, "link", "set", "skye2einet", "up")
    sh("ip", "netns", "exec", INTERNET_NS, "ip", "addr", "add", f"{INTERNET_IP}/24", "dev", "eth0")
    sh("ip", "netns", "exec", INTERNET_NS, "ip", "link", "set", "eth0", "up")
    sh("ip", "netns", "exec", INTERNET_NS, "ip", "link", "set", "lo", "up")
    server = subprocess.Popen(["ip", "netns", "exec", INTERNET_NS, "python3", "-c", ANSWER_WITH_PEER])
    yield
    server.kill()
    server.wait()
    sh("ip", "netns", "del", INTERNET_NS, check=False)


@pytest.fixture
def uplink():
    """The worked example of docs/networking.md, run as written for this
    site (whose edge carries its own first segment id, where the example's
    default site has 1000): a namespace `uplink` standing for the upstream
    router, with 198.51.100.0/24 behind it, answering TCP on 8080 there with
    the address each connection came from."""
    text = DOCS.read_text()
    block = text.split("<!-- uplink-example -->", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert block.count("skyport-edge1000") >= 4, block
    block = block.replace("skyport-edge1000", EDGE_NS)
    sh("ip", "netns", "del", "uplink", check=False)
    # The example's addresses must be free on this machine (they are test networks).
    used = sh("ip", "-4", "-o", "addr").stdout + sh("ip", "-4", "route").stdout
    assert "198.18.0." not in used and "198.51.100." not in used, used
    subprocess.run(["bash", "-euxc", block], check=True, capture_output=True, text=True)
    server = subprocess.Popen(["ip", "netns", "exec", "uplink", "python3", "-c", ANSWER_WITH_PEER])
    yield
    server.kill()
    server.wait()
    sh("ip", "netns", "del", "uplink", check=False)


ANSWER_WITH_PEER = ("import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                    "s.bind(('0.0.0.0',8080))\ns.listen()\nwhile True:\n  c,a=s.accept()\n"
                    "  c.sendall(a[0].encode()+b'\\n')\n  c.close()\n")


def banner_from_internet(address: str, port: int, namespace: str = INTERNET_NS) -> str | None:
    """Connects from the internet namespace (or another); what the server said first, or None."""
    script = (f"import socket\ns=socket.create_connection(('{address}',{port}),timeout=3)\n"
              "print(s.recv(64).decode().strip())\n")
    out = sh("ip", "netns", "exec", namespace, "timeout", "6", "python3", "-c", script, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def ping_from_internet(address: str) -> bool:
    return sh("ip", "netns", "exec", INTERNET_NS, "timeout", "6", "busybox", "ping", "-c", "2", "-W", "2",
              address, check=False).returncode == 0


def aws(server, creds, *args):
    """The aws CLI (from the tool venv) as a tenant."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp",
        "AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
    }
    out = subprocess.run(["aws", "--endpoint-url", server.url, "--output", "json", "ec2", *args],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def build_vpc(server, creds, with_gateway: bool) -> tuple[str, str]:
    """VPC 10.30.0.0/16 with subnet 10.30.1.0/24 (and an internet gateway
    with a default route), made with the aws CLI; returns (vpc, subnet)."""
    vpc = aws(server, creds, "create-vpc", "--cidr-block", "10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = aws(server, creds, "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.30.1.0/24")["Subnet"]["SubnetId"]
    if with_gateway:
        igw = aws(server, creds, "create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
        aws(server, creds, "attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc)
        table = aws(server, creds, "describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc}")
        aws(server, creds, "create-route", "--route-table-id", table["RouteTables"][0]["RouteTableId"],
            "--destination-cidr-block", "0.0.0.0/0", "--gateway-id", igw)
    return vpc, subnet


def probe_script(reach: list[str], unreachable: list[str], ssh: bool = False) -> str:
    """User-data that pings each address (waiting up to 20 s for the ones
    that should answer) and asks the internet who it is; with `ssh`, it
    first serves a banner on TCP 22."""
    lines = ["#!/bin/sh"]
    if ssh:
        lines.append("nc -ll -p 22 -e echo SSH-2.0-skyport &")
    for address in reach:
        lines.append(f"i=0; while [ $i -lt 20 ] && ! ping -c 1 -W 1 {address} >/dev/null 2>&1; do i=$((i+1)); done")
        lines.append(f"[ $i -lt 20 ] && echo 'SKYPORT-PING-OK {address}' || echo 'SKYPORT-PING-FAIL {address}'")
    for address in unreachable:
        lines.append(f"ping -c 3 -W 1 {address} >/dev/null 2>&1 && echo 'SKYPORT-PING-OK {address}' "
                     f"|| echo 'SKYPORT-PING-FAIL {address}'")
    lines.append(f"echo \"SKYPORT-SEEN-AS $(echo hi | timeout 5 nc {INTERNET_IP} 8080)\"")
    lines.append(f"echo \"SKYPORT-BEYOND-SEEN-AS $(echo hi | timeout 5 nc {BEYOND_IP} 8080)\"")
    return "\n".join(lines) + "\n"


def run(ec2, image_id: str, subnet: str, user_data: str) -> dict:
    # One vCPU each (t2.nano): four TCG guests at once on a small host.
    return ec2.run_instances(ImageId=image_id, InstanceType="t2.nano", MinCount=1, MaxCount=1,
                             SubnetId=subnet, UserData=user_data)["Instances"][0]


def test_vpc_guests_get_dhcp_metadata_isolation_and_an_elastic_ip(network_server, internet, uplink):
    admin = AdminCli(network_server)
    image_id = import_test_image(admin, "--cmdline", "console=ttyS0 quiet panic=-1", "--public")
    tenant_a = admin.new_tenant_with_key("neta")
    tenant_b = admin.new_tenant_with_key("netb")
    ec2_a = make_client(network_server, "ec2", tenant_a)
    ec2_b = make_client(network_server, "ec2", tenant_b)
    vpc_a, subnet_a = build_vpc(network_server, tenant_a, with_gateway=True)
    vpc_b, subnet_b = build_vpc(network_server, tenant_b, with_gateway=False)
    launched = []
    try:
        # X: plain; the internet sees it as its VPC router's public address.
        x = run(ec2_a, image_id, subnet_a, probe_script(["10.30.1.1"], []))
        launched.append((ec2_a, x["InstanceId"]))
        assert x["SubnetId"] == subnet_a and x["VpcId"] == vpc_a
        assert x["PrivateIpAddress"] == "10.30.1.4"
        # Y: same subnet, given an elastic IP before it boots; pings X.
        y = run(ec2_a, image_id, subnet_a, probe_script(["10.30.1.1", x["PrivateIpAddress"]], [], ssh=True))
        launched.append((ec2_a, y["InstanceId"]))
        assert y["PrivateIpAddress"] == "10.30.1.5"
        eip = ec2_a.allocate_address(Domain="vpc")
        association = ec2_a.associate_address(AllocationId=eip["AllocationId"], InstanceId=y["InstanceId"])
        # B1: the other tenant, the same block (so the same first address as X),
        # no internet gateway. Reaches its own router; not tenant A's Y.
        b1 = run(ec2_b, image_id, subnet_b, probe_script(["10.30.1.1"], [y["PrivateIpAddress"]]))
        launched.append((ec2_b, b1["InstanceId"]))
        assert b1["PrivateIpAddress"] == x["PrivateIpAddress"] and b1["VpcId"] == vpc_b

        # Z: no SubnetId, so the default subnet of the tenant's default VPC.
        z = ec2_a.run_instances(ImageId=image_id, InstanceType="t2.nano", MinCount=1, MaxCount=1,
                                UserData=probe_script(["172.31.0.1"], []))["Instances"][0]
        launched.append((ec2_a, z["InstanceId"]))
        default_vpc = ec2_a.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        assert z["VpcId"] == default_vpc["VpcId"] and z["PrivateIpAddress"] == "172.31.0.4"

        texts = {}
        for ec2, instance in ((ec2_a, x), (ec2_a, y), (ec2_b, b1), (ec2_a, z)):
            text = wait_console(ec2, instance["InstanceId"], "SKYPORT-GUEST-DONE")
            texts[instance["InstanceId"]] = text
            # DHCP from the subnet's own server gave the address DescribeInstances reports,
            # and the metadata service in the VPC's router knew the guest.
            assert f"SKYPORT-GUEST-IP {instance['PrivateIpAddress']}" in text, text
            assert f"SKYPORT-INSTANCE-ID {instance['InstanceId']}" in text, text
            assert "SKYPORT-METADATA-IMDSV2 yes" in text, text
            assert "SKYPORT-USERDATA-EXIT 0" in text, text
            router = instance["PrivateIpAddress"].rsplit(".", 1)[0] + ".1"
            assert f"SKYPORT-PING-OK {router}" in text, text
        tx, ty, tb = texts[x["InstanceId"]], texts[y["InstanceId"]], texts[b1["InstanceId"]]
        assert f"SKYPORT-PING-OK {x['PrivateIpAddress']}" in ty, ty
        assert f"SKYPORT-PING-FAIL {y['PrivateIpAddress']}" in tb, tb
        # Outbound: Y leaves as its elastic IP, X as its router; B has no way out.
        assert f"SKYPORT-SEEN-AS {eip['PublicIp']}" in ty, ty
        seen_x = tx.split("SKYPORT-SEEN-AS ")[1].split()[0]
        assert seen_x.startswith("203.0.113.") and seen_x != eip["PublicIp"], tx
        assert "SKYPORT-SEEN-AS \r" in tb or "SKYPORT-SEEN-AS \n" in tb, tb
        # Beyond the machine, through the documented uplink: the same addresses.
        assert f"SKYPORT-BEYOND-SEEN-AS {eip['PublicIp']}" in ty, ty
        assert f"SKYPORT-BEYOND-SEEN-AS {seen_x}" in tx, tx

        # The admin sees the plumbing: the subnet's bridge, the router's
        # addresses, the fixed leases and the NAT rules.
        shown = admin.run("network", "show", vpc_a).stdout
        assert "present" in shown and f"skyport-{vpc_a}" in shown, shown
        assert f"edge namespace {EDGE_NS}" in shown and "203.0.113.1/24" in shown, shown
        # The pool lives in the site's namespaces only: this machine holds
        # no address and no route of it.
        host_side = sh("ip", "-4", "route").stdout + sh("ip", "-4", "addr").stdout
        assert "203.0.113." not in host_side, host_side
        assert "10.30.1.1/24" in shown and "10.30.1.4" in shown and "10.30.1.5" in shown, shown
        assert f"snat to {eip['PublicIp']}" in shown, shown

        described = ec2_a.describe_instances(InstanceIds=[y["InstanceId"]])["Reservations"][0]["Instances"][0]
        assert described["PublicIpAddress"] == eip["PublicIp"]
        assert described["SubnetId"] == subnet_a and described["VpcId"] == vpc_a
        addresses = ec2_a.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"]
        assert addresses[0]["InstanceId"] == y["InstanceId"]
        assert addresses[0]["PrivateIpAddress"] == y["PrivateIpAddress"]
        # In from the internet, to the elastic IP: the default group lets in
        # only its own members, until rules open ICMP and TCP 22 (and Revoke
        # closes 22 again).
        group = ec2_a.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_a]},
                                                        {"Name": "group-name", "Values": ["default"]}])
        group_id = group["SecurityGroups"][0]["GroupId"]
        assert described["SecurityGroups"] == [{"GroupId": group_id, "GroupName": "default"}]
        # Each instance's primary interface, with its group and elastic IP.
        interfaces = ec2_a.describe_network_interfaces(
            Filters=[{"Name": "vpc-id", "Values": [vpc_a]}])["NetworkInterfaces"]
        assert sorted(i["PrivateIpAddress"] for i in interfaces) == ["10.30.1.4", "10.30.1.5"]
        [of_y] = [i for i in interfaces if i["Attachment"]["InstanceId"] == y["InstanceId"]]
        assert of_y["Association"]["PublicIp"] == eip["PublicIp"] and of_y["SubnetId"] == subnet_a
        assert of_y["Groups"] == [{"GroupId": group_id, "GroupName": "default"}]
        assert of_y["MacAddress"] == "02:00:0a:1e:01:05" and of_y["Status"] == "in-use"
        theirs = ec2_b.describe_network_interfaces()["NetworkInterfaces"]
        assert [i["Attachment"]["InstanceId"] for i in theirs] == [b1["InstanceId"]]

        assert not ping_from_internet(eip["PublicIp"])
        assert banner_from_internet(eip["PublicIp"], 22) is None
        ec2_a.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        assert ping_from_internet(eip["PublicIp"])
        assert banner_from_internet(eip["PublicIp"], 22) is None
        ssh = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        ec2_a.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ssh)
        assert banner_from_internet(eip["PublicIp"], 22) == "SSH-2.0-skyport"
        assert banner_from_internet(eip["PublicIp"], 22, namespace="uplink") == "SSH-2.0-skyport"
        ec2_a.revoke_security_group_ingress(GroupId=group_id, IpPermissions=ssh)
        assert banner_from_internet(eip["PublicIp"], 22) is None
        # Unmapped, the elastic IP leads nowhere.
        ec2_a.disassociate_address(AssociationId=association["AssociationId"])
        assert not ping_from_internet(eip["PublicIp"])
        subnets = ec2_a.describe_subnets(SubnetIds=[subnet_a])["Subnets"]
        assert subnets[0]["AvailableIpAddressCount"] == 251 - 2
    finally:
        for ec2, instance_id in launched:
            ec2.terminate_instances(InstanceIds=[instance_id])
    for ec2, instance_id in launched:
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": GUEST_TIMEOUT})
    # With no instance left, the VPCs' routers are taken down.
    deadline = time.monotonic() + 30
    while True:
        namespaces = sh("ip", "netns", "list").stdout
        if not any(f"skyport-{vpc}" in namespaces for vpc in (vpc_a, vpc_b, default_vpc["VpcId"])):
            break
        assert time.monotonic() < deadline, namespaces
        time.sleep(0.5)
    assert ec2_a.describe_subnets(SubnetIds=[subnet_a])["Subnets"][0]["AvailableIpAddressCount"] == 251
