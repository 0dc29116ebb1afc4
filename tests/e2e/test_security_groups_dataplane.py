"""Security groups between real guests on one subnet (QEMU under libvirt),
changed with the aws CLI while the guests run: a packet passes only when
the sender's egress AND the receiver's ingress allow it. Each guest serves a
banner on TCP 22 (printing SKYPORT-ACCEPTED on its console for every
connection it takes) and, in rounds, tries TCP 22 and ICMP to every member
of the subnet, printing one SKYPORT-ROUND line per round; the test reads the
rounds that began after each change."""

from __future__ import annotations

import json
import re
import time

from conftest import AdminCli, make_client
from test_compute import GUEST_TIMEOUT, console, import_test_image, wait_console
from test_tenant_networks import aws, build_vpc, network_server  # noqa: F401 (fixture)

ADDRESSES = ["10.30.1.4", "10.30.1.5", "10.30.1.6"]

PROBES = """#!/bin/sh
cat > /tmp/banner <<'EOF'
#!/bin/sh
echo SSH-2.0-skyport
echo SKYPORT-ACCEPTED > /dev/console
EOF
chmod +x /tmp/banner
nc -ll -p 22 -e /tmp/banner &
me=$(ip -4 addr show dev eth0 | sed -n 's/.*inet \\([0-9.]*\\).*/\\1/p')
peers=$(for a in ADDRESSES; do [ "$a" = "$me" ] || echo $a; done)
(
n=0
while :; do
  n=$((n+1))
  for a in $peers; do
    ( t=0; p=0
      echo | timeout 4 nc -w 3 $a 22 2>/dev/null | grep -q SSH-2.0 && t=1
      ping -c 1 -W 3 $a >/dev/null 2>&1 && p=1
      echo "$a=$t$p" > /tmp/round.$a ) &
  done
  wait
  echo "SKYPORT-ROUND $n $(for a in $peers; do cat /tmp/round.$a; done | tr '\\n' ' ')"
  sleep 1
done
) &
""".replace("ADDRESSES", " ".join(ADDRESSES))

ROUND = re.compile(r"SKYPORT-ROUND (\d+) ((?:[\d.]+=[01]{2} ?)+)")


def rounds(text: str) -> dict[int, dict[str, str]]:
    """Round number -> {address: '<tcp><icmp>'} as a guest printed them."""
    found = {}
    for number, results in ROUND.findall(text):
        found[int(number)] = dict(item.split("=") for item in results.split())
    return found


def latest_round(ec2, instance_id: str) -> int:
    return max(rounds(console(ec2, instance_id)), default=0)


def check_after_change(ec2, guests: dict[str, str], tcp: bool, icmp: bool, what: str,
                       since_boot: bool = False) -> None:
    """Waits for every guest to finish two rounds that began after the change
    (or since it booted: every round), then checks them: each other guest
    answers TCP 22 and ICMP or not."""
    start = {address: -1 if since_boot else latest_round(ec2, instance)
             for address, instance in guests.items()}
    wanted = f"{int(tcp)}{int(icmp)}"
    for address, instance in guests.items():
        deadline = time.monotonic() + GUEST_TIMEOUT
        while True:
            seen = rounds(console(ec2, instance))
            # The round under way at the change may have mixed outcomes.
            after = {n: r for n, r in seen.items() if n > start[address] + 1}
            if len(after) >= 2:
                break
            assert time.monotonic() < deadline, f"{what}: {address} printed no new rounds"
            time.sleep(1)
        for number, results in sorted(after.items()):
            assert sorted(results) == sorted(set(guests) - {address}), results
            for peer, outcome in results.items():
                assert outcome == wanted, (
                    f"{what}: round {number} of {address}: {peer} gave tcp/icmp {outcome}, "
                    f"expected {wanted}")


def accepted(ec2, guests: dict[str, str]) -> int:
    return sum(console(ec2, instance).count("SKYPORT-ACCEPTED") for instance in guests.values())


def test_members_of_one_subnet_need_the_senders_egress_and_the_receivers_ingress(network_server):  # noqa: F811
    admin = AdminCli(network_server)
    image_id = import_test_image(admin, "--cmdline", "console=ttyS0 quiet panic=-1", "--public")
    tenant = admin.new_tenant_with_key("sg")
    ec2 = make_client(network_server, "ec2", tenant)
    vpc, subnet = build_vpc(network_server, tenant, with_gateway=False)
    group = aws(network_server, tenant, "describe-security-groups", "--filters",
                f"Name=vpc-id,Values={vpc}", "Name=group-name,Values=default")["SecurityGroups"][0]["GroupId"]

    def permissions(*items: dict) -> list[str]:
        return ["--group-id", group, "--ip-permissions", json.dumps(list(items))]

    everything_out = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    from_members = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}
    ssh_out = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ssh_from_members = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                        "UserIdGroupPairs": [{"GroupId": group}]}
    icmp_out = {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    icmp_from_members = {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                         "UserIdGroupPairs": [{"GroupId": group}]}

    # The second reported case: the default group (members let each other
    # in) with every egress rule revoked, before the guests boot.
    aws(network_server, tenant, "revoke-security-group-egress", *permissions(everything_out))
    # One vCPU each: three TCG guests on a two-core host, with no vCPU left
    # waiting on another (multi-vCPU guests stall there when starved).
    launched = ec2.run_instances(ImageId=image_id, InstanceType="t2.nano", MinCount=3, MaxCount=3,
                                 SubnetId=subnet, UserData=PROBES)["Instances"]
    try:
        guests = {i["PrivateIpAddress"]: i["InstanceId"] for i in launched}
        assert sorted(guests) == ADDRESSES
        for instance in guests.values():
            text = wait_console(ec2, instance, "SKYPORT-ROUND 2 ")
            # DHCP and the metadata service work with no egress rule at all.
            assert "SKYPORT-GUEST-IP 10.30.1." in text and "SKYPORT-INSTANCE-ID i-" in text, text
        # From the first round on: a guest is never on its subnet without its groups.
        check_after_change(ec2, guests, tcp=False, icmp=False, what="default group, egress revoked",
                           since_boot=True)

        # The first: no ingress rule at all, egress narrowed to TCP 22.
        aws(network_server, tenant, "revoke-security-group-ingress", *permissions(from_members))
        aws(network_server, tenant, "authorize-security-group-egress", *permissions(ssh_out))
        check_after_change(ec2, guests, tcp=False, icmp=False, what="no ingress, egress TCP 22")
        # Not one connection reached a listener.
        assert accepted(ec2, guests) == 0

        # The receivers' ingress opens TCP 22 to the group's members: now it passes.
        aws(network_server, tenant, "authorize-security-group-ingress", *permissions(ssh_from_members))
        check_after_change(ec2, guests, tcp=True, icmp=False, what="TCP 22 from members")
        assert accepted(ec2, guests) > 0
        # ICMP needs both sides too: egress alone is not enough, then both.
        aws(network_server, tenant, "authorize-security-group-egress", *permissions(icmp_out))
        check_after_change(ec2, guests, tcp=True, icmp=False, what="ICMP out only")
        aws(network_server, tenant, "authorize-security-group-ingress", *permissions(icmp_from_members))
        check_after_change(ec2, guests, tcp=True, icmp=True, what="ICMP out and in")
        # Revoked: TCP 22 refuses new connections again; ICMP stays.
        aws(network_server, tenant, "revoke-security-group-ingress", *permissions(ssh_from_members))
        check_after_change(ec2, guests, tcp=False, icmp=True, what="TCP 22 revoked")
    finally:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in launched])
    ec2.get_waiter("instance_terminated").wait(
        InstanceIds=[i["InstanceId"] for i in launched], WaiterConfig={"Delay": 1, "MaxAttempts": GUEST_TIMEOUT})
