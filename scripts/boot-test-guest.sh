#!/usr/bin/env bash
# Manual proof that this host can boot Skyport's test guest under libvirt/QEMU (TCG):
# starts libvirt, builds the test image, creates a private NAT network guarded so
# that no guest traffic leaves its subnet, boots a 128 MiB type='qemu' guest, waits
# for its serial-console markers, prints timings, and removes everything again.
#
# Usage: scripts/boot-test-guest.sh
#   SKYPORT_BOOTTEST_NET=10.213.77   first three octets of the private /24 used only here
#   SKYPORT_BOOTTEST_POWEROFF=1      boot with skyport.poweroff=1 and wait for the guest to power off
#   SKYPORT_BOOTTEST_TIMEOUT=90      seconds to wait for the guest's last marker
#   SKYPORT_BOOTTEST_METADATA=1      also run a stand-in EC2 metadata server (python, IMDSv2 tokens)
#                                    on <net>.1:8775 and boot with skyport.metadata=<net>.1:8775;
#                                    the guest's INSTANCE-ID / PUBLIC-KEY / USERDATA-SHA256 are checked
#
# By default no metadata service exists, so the guest reports SKYPORT-METADATA-UNREACHABLE:
# that is expected (its requests to 169.254.169.254 hit the guard rule and are dropped).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$repo/scripts/lib/libvirt.sh"

net_prefix="${SKYPORT_BOOTTEST_NET:-10.213.77}"
subnet="$net_prefix.0/24"
net_name=skyport-boottest
bridge=virbr-skybt0
dom_name=skyport-boottest-guest
mac=52:54:00:5b:70:01
guard_table=skyport_boottest_guard
timeout_s="${SKYPORT_BOOTTEST_TIMEOUT:-90}"
poweroff="${SKYPORT_BOOTTEST_POWEROFF:-0}"
fake_md="${SKYPORT_BOOTTEST_METADATA:-0}"
md_port=8775
md_pid=""
V=(virsh -q -c "$LIBVIRT_URI")

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

ensure_libvirt
libvirt_available
mapfile -t image < <("$repo/scripts/build-test-image.sh")
kernel="${image[0]}" initrd="${image[1]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/skyport-boottest.XXXXXX")"
serial="$work/serial.log"
forward_before="$(sysctl -n net.ipv4.ip_forward)"

remove_all() {
    "${V[@]}" destroy "$dom_name" >/dev/null 2>&1 || true
    "${V[@]}" undefine "$dom_name" >/dev/null 2>&1 || true
    "${V[@]}" net-destroy "$net_name" >/dev/null 2>&1 || true
    "${V[@]}" net-undefine "$net_name" >/dev/null 2>&1 || true
    nft delete table inet "$guard_table" >/dev/null 2>&1 || true
}
cleanup() {
    local rc=$?
    set +e
    say "cleaning up"
    [ -n "$md_pid" ] && kill "$md_pid" 2>/dev/null && wait "$md_pid" 2>/dev/null
    remove_all
    # libvirt's NAT network turns on forwarding and never turns it off.
    sysctl -qw net.ipv4.ip_forward="$forward_before"
    rm -rf "$work"
    local left=""
    "${V[@]}" dominfo "$dom_name" >/dev/null 2>&1 && left+=" domain:$dom_name"
    "${V[@]}" net-info "$net_name" >/dev/null 2>&1 && left+=" network:$net_name"
    nft list table inet "$guard_table" >/dev/null 2>&1 && left+=" nft:inet/$guard_table"
    ip link show "$bridge" >/dev/null 2>&1 && left+=" link:$bridge"
    if [ -n "$left" ]; then
        echo "LEFT BEHIND:$left" >&2
        rc=1
    else
        echo "cleanup ok: no domain, network, bridge or guard table left; net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward) (was $forward_before)"
    fi
    exit $rc
}

# Leftovers of an interrupted earlier run go first; then make sure the subnet is ours alone.
remove_all
if ip -4 route show | grep -q "^${net_prefix//./\\.}\.0/24 "; then
    echo "$subnet is already routed on this host; pick another with SKYPORT_BOOTTEST_NET" >&2
    exit 1
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

# Guard first: drop every forwarded packet from the guest subnet to anything outside it.
# (A chain cannot be called "fwd": it is a reserved word.)
nft add table inet "$guard_table"
nft add chain inet "$guard_table" guardfwd '{ type filter hook forward priority -10; policy accept; }'
nft add rule inet "$guard_table" guardfwd ip saddr "$subnet" ip daddr != "$subnet" counter drop

cat >"$work/net.xml" <<EOF
<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>$net_name</name>
  <forward mode='nat'/>
  <bridge name='$bridge' stp='off' delay='0'/>
  <dns enable='no'/>
  <ip address='$net_prefix.1' netmask='255.255.255.0'>
    <dhcp><range start='$net_prefix.100' end='$net_prefix.200'/></dhcp>
  </ip>
  <dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options>
</network>
EOF
cmdline="console=ttyS0 quiet panic=-1"
[ "$poweroff" = 1 ] && cmdline+=" skyport.poweroff=1"
[ "$fake_md" = 1 ] && cmdline+=" skyport.metadata=$net_prefix.1:$md_port"
cat >"$work/dom.xml" <<EOF
<domain type='qemu'>
  <name>$dom_name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='network'>
      <source network='$net_name'/>
      <mac address='$mac'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <log file='$serial' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
EOF

say "network $net_name ($subnet on $bridge)"
"${V[@]}" net-define "$work/net.xml" >/dev/null
"${V[@]}" net-start "$net_name" >/dev/null
"${V[@]}" define "$work/dom.xml" >/dev/null

if [ "$fake_md" = 1 ]; then
    # A stand-in for the metadata service, on the network's own host address (inside the subnet).
    md_instance=i-0b00757e5700a1f01
    md_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootTestKeyBootTestKeyBootTestKey00 skyport-boottest"
    printf '#!/bin/sh\necho hello from user-data\n\001\377binary tail' >"$work/user-data"
    md_userdata_sha="$(sha256sum "$work/user-data" | cut -d' ' -f1)"
    MD_INSTANCE="$md_instance" MD_KEY="$md_key" MD_USERDATA="$work/user-data" python3 - "$net_prefix.1" "$md_port" \
        >"$work/metadata.log" 2>&1 <<'PY' &
import os, sys, http.server
token = "skyport-boottest-token"
files = {
    "/latest/meta-data/instance-id": os.environ["MD_INSTANCE"].encode(),
    "/latest/meta-data/public-keys/0/openssh-key": (os.environ["MD_KEY"] + "\n").encode(),
    "/latest/user-data": open(os.environ["MD_USERDATA"], "rb").read(),
}
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, token.encode())
        else:
            self.reply(400)
    def do_GET(self):
        t = self.headers.get("X-aws-ec2-metadata-token")
        if t is not None and t != token:
            self.reply(401)
        elif self.path in files:
            self.reply(200, files[self.path])
        else:
            self.reply(404)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
    md_pid=$!
fi

say "starting $dom_name (type=qemu, 128 MiB)"
t0="$(now)"
"${V[@]}" start "$dom_name" >/dev/null
t_start="$(since "$t0")"
echo "virsh start returned after ${t_start} s"

t_booted="" t_ip="" t_done="" t_off=""
deadline=$(( $(date +%s) + timeout_s ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ -f "$serial" ]; then
        [ -z "$t_booted" ] && grep -q '^SKYPORT-GUEST-BOOTED' "$serial" && t_booted="$(since "$t0")" \
            && echo "SKYPORT-GUEST-BOOTED after ${t_booted} s"
        [ -z "$t_ip" ] && grep -Eq '^SKYPORT-GUEST-(IP|DHCP-FAILED)' "$serial" && t_ip="$(since "$t0")" \
            && echo "$(grep -Em1 '^SKYPORT-GUEST-(IP|DHCP-FAILED)' "$serial" | tr -d '\r') after ${t_ip} s"
        [ -z "$t_done" ] && grep -q '^SKYPORT-GUEST-DONE' "$serial" && t_done="$(since "$t0")" \
            && echo "SKYPORT-GUEST-DONE after ${t_done} s"
    fi
    if [ -n "$t_done" ]; then
        [ "$poweroff" = 1 ] || break
        if [ "$("${V[@]}" domstate "$dom_name" 2>/dev/null)" != running ]; then
            t_off="$(since "$t0")"
            echo "guest powered off after ${t_off} s"
            break
        fi
    fi
    sleep 0.05
done

pid="$(cat "/run/libvirt/qemu/$dom_name.pid" 2>/dev/null || true)"
[ -n "$pid" ] && [ -r "/proc/$pid/status" ] && echo "QEMU $(grep VmRSS "/proc/$pid/status" | tr -s ' \t' ' ')"
echo "--- DHCP leases ---"
"${V[@]}" net-dhcp-leases "$net_name" || true
echo "--- guard rule (guest packets dropped on their way out of $subnet) ---"
nft list chain inet "$guard_table" guardfwd | grep counter | sed 's/^[[:space:]]*//'
echo "--- SKYPORT lines of the serial console ---"
grep -a 'SKYPORT-' "$serial" | tr -d '\r' || true

status=0
if [ "$fake_md" = 1 ]; then
    echo "--- stand-in metadata server log ---"; cat "$work/metadata.log"
    for want in "SKYPORT-METADATA-IMDSV2 yes" "SKYPORT-INSTANCE-ID $md_instance" "SKYPORT-PUBLIC-KEY $md_key" \
        "SKYPORT-USERDATA-SHA256 $md_userdata_sha"; do
        if tr -d '\r' <"$serial" | grep -qxF "$want"; then
            echo "ok: $want"
        else
            echo "FAIL: the guest did not print '$want'" >&2; status=1
        fi
    done
fi
[ -n "$t_booted" ] || { echo "FAIL: no SKYPORT-GUEST-BOOTED within $timeout_s s" >&2; status=1; }
grep -q '^SKYPORT-GUEST-IP ' "$serial" 2>/dev/null || { echo "FAIL: no DHCP lease (SKYPORT-GUEST-IP)" >&2; status=1; }
[ -n "$t_done" ] || { echo "FAIL: no SKYPORT-GUEST-DONE within $timeout_s s" >&2; status=1; }
[ "$poweroff" != 1 ] || [ -n "$t_off" ] || { echo "FAIL: guest did not power off" >&2; status=1; }
if [ $status != 0 ]; then
    echo "--- full serial log ($serial) ---"; tr -d '\r' <"$serial" 2>/dev/null | tail -n 60 || true
    echo "--- /var/log/libvirt/qemu/$dom_name.log ---"; tail -n 20 "/var/log/libvirt/qemu/$dom_name.log" || true
fi
printf 'summary: start %s s, booted %s s, ip %s s, done %s s%s\n' \
    "$t_start" "${t_booted:-none}" "${t_ip:-none}" "${t_done:-none}" "${t_off:+, poweroff $t_off s}"
exit $status
