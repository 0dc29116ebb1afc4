#!/usr/bin/env bash
# Builds (and caches) the tiny direct-boot test guest for local compute tests:
#   vmlinuz          Debian's cloud kernel (linux-image-*-cloud-amd64)
#   initrd.cpio.gz   busybox-static + the virtio modules + an /init that reports on the serial console
#   manifest.json    kernel version, files, sizes and sha256
# No internet is needed beyond the Debian mirror apt already uses.
#
# Usage: scripts/build-test-image.sh [OUT_DIR]
#   OUT_DIR defaults to ${SKYPORT_IMAGE_DIR:-$repo/.cache/test-image}.
#   The build is skipped when all outputs exist and are newer than this script
#   (SKYPORT_IMAGE_REBUILD=1 forces it). The output paths are printed on stdout.
#
# Boot it with <domain type='qemu'>, <features><acpi/></features>, a virtio NIC,
# <kernel>/<initrd> and <cmdline>console=ttyS0 quiet panic=-1</cmdline>.
# Kernel parameters: skyport.poweroff=1 powers the guest off after the report
# (otherwise it sleeps forever); skyport.metadata=HOST[:PORT] replaces
# 169.254.169.254:80 as the metadata endpoint (for tests without a DNAT).
#
# Serial console lines the guest prints (one per line, in this order):
#   SKYPORT-GUEST-BOOTED
#   SKYPORT-GUEST-IP <addr>                 from the udhcpc script, after the address and default route are set
#   SKYPORT-GUEST-DHCP-FAILED               instead of the above if no lease came within ~10 s
#   SKYPORT-METADATA-IMDSV2 <yes|no>        whether PUT /latest/api/token gave a token (then used as a header)
#   SKYPORT-INSTANCE-ID <id>                GET http://169.254.169.254/latest/meta-data/instance-id
#   SKYPORT-PUBLIC-KEY <key line|none>      .../meta-data/public-keys/0/openssh-key
#   SKYPORT-USERDATA-SHA256 <hex|none>      sha256 of the bytes of http://169.254.169.254/latest/user-data
#   SKYPORT-USERDATA-EXIT <status>          after running a user-data that starts with #! (its output comes before)
#   SKYPORT-METADATA-UNREACHABLE            instead of the three above if instance-id could not be fetched
#   SKYPORT-GUEST-DONE
#   SKYPORT-GUEST-POWEROFF                  when the ACPI power button is pressed (then it powers off)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

out="${1:-${SKYPORT_IMAGE_DIR:-$repo/.cache/test-image}}"
self="$repo/scripts/build-test-image.sh"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

print_outputs() {
    printf '%s\n' "$out/vmlinuz" "$out/initrd.cpio.gz" "$out/manifest.json"
}

if [ "${SKYPORT_IMAGE_REBUILD:-0}" != 1 ] \
    && [ "$out/vmlinuz" -nt "$self" ] && [ "$out/initrd.cpio.gz" -nt "$self" ] && [ "$out/manifest.json" -nt "$self" ]; then
    say "test image is up to date in $out"
    print_outputs
    exit 0
fi

apt_install busybox-static cpio gzip
started=$(date +%s.%N)

# Insmod order, from `modinfo -F depends` of the 6.1 cloud kernel (virtio_net and virtio_blk are modules there).
# button + evdev: the ACPI power button, so StopInstances/RebootInstances shut the guest down cleanly.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk button evdev)

work="$(mktemp -d "${TMPDIR:-/tmp}/skyport-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# --- kernel ---------------------------------------------------------------
find_kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9].*-cloud-amd64/ {print $2; exit}'
}
kpkg="$(find_kernel_pkg || true)"
if [ -z "$kpkg" ]; then
    say "refreshing apt lists to find the cloud kernel"
    apt-get update -qq
    kpkg="$(find_kernel_pkg || true)"
fi
[ -n "$kpkg" ] || { echo "cannot find linux-image-*-cloud-amd64 via 'apt-cache depends linux-image-cloud-amd64'" >&2; exit 1; }
kver="${kpkg#linux-image-}"
say "downloading $kpkg"
(cd "$work" && apt-get download -qq "$kpkg" 2>&1 | grep -v 'unsandboxed' >&2 || true)
deb="$(ls "$work"/"$kpkg"_*.deb 2>/dev/null | head -n 1)"
[ -n "$deb" ] || { echo "apt-get download $kpkg produced no .deb" >&2; exit 1; }
kpkg_version="$(dpkg-deb -f "$deb" Version)"
dpkg-deb -x "$deb" "$work/kroot"
[ -f "$work/kroot/boot/vmlinuz-$kver" ] || { echo "no /boot/vmlinuz-$kver in $deb" >&2; exit 1; }

# --- initramfs --------------------------------------------------------------
root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,etc,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"

for m in "${modules[@]}"; do
    ko="$(find "$work/kroot/lib/modules/$kver" -name "$m.ko*" | head -n 1)"
    [ -n "$ko" ] || { echo "module $m not found in $kpkg" >&2; exit 1; }
    case "$ko" in
        *.ko) cp "$ko" "$root/lib/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$ko" >"$root/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -dqc "$ko" >"$root/lib/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$ko" >"$root/lib/modules/$m.ko" ;;
        *) echo "unknown module format: $ko" >&2; exit 1 ;;
    esac
done
printf '%s\n' "${modules[@]}" >"$root/etc/modules.order"

cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc hook: configure the lease and report it on the console.
action="$1"
case "$action" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        if [ -n "$router" ]; then
            set -- $router
            ip route replace default via "$1" dev "$interface"
        fi
        # Classless static routes (option 121): isolated networks route only
        # 169.254.169.254 to the host, as cloud images' DHCP clients honour.
        if [ -n "$staticroutes" ]; then
            set -- $staticroutes
            while [ $# -ge 2 ]; do
                ip route replace "$1" via "$2" dev "$interface"
                shift 2
            done
        fi
        [ "$action" = renew ] || echo "SKYPORT-GUEST-IP $ip" >/dev/console
        ;;
esac
exit 0
EOF

# busybox acpid: the PWRF event runs /etc/acpi/PWRF/00000080.
mkdir -p "$root/etc/acpi/PWRF"
cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "SKYPORT-GUEST-POWEROFF" >/dev/console
sync
poweroff -f
EOF
chmod 755 "$root/etc/acpi/PWRF/00000080"

cat >"$root/init" <<'EOF'
#!/bin/sh
# Skyport test guest init: report boot, DHCP and EC2 metadata on the serial console.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

cmdline="$(cat /proc/cmdline)"
param() { for w in $cmdline; do case "$w" in "$1"=*) echo "${w#*=}"; return;; esac; done; }

for m in $(cat /etc/modules.order); do
    insmod "/lib/modules/$m.ko" || echo "skyport-init: insmod $m failed"
done
echo "SKYPORT-GUEST-BOOTED"
# The power button (ACPI shutdown, libvirt's reboot) powers the guest off cleanly.
i=0
while [ ! -e /dev/input/event0 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
# -f: daemonised, busybox acpid would chdir to / and miss its relative handler paths;
# -l: its default log file is under /var/log, which this initramfs has not.
acpid -f -l /dev/null -c /etc/acpi &

ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up
# -n: give up after -t tries; on success udhcpc forks into the background and keeps renewing.
if ! udhcpc -i eth0 -s /etc/udhcpc.script -O staticroutes -t 10 -T 1 -n >/tmp/udhcpc.log 2>&1; then
    echo "SKYPORT-GUEST-DHCP-FAILED"
    cat /tmp/udhcpc.log
fi

# skyport.metadata=HOST[:PORT] points the guest at another metadata endpoint (tests only).
md_host=169.254.169.254 md_port=80
md_param="$(param skyport.metadata)"
if [ -n "$md_param" ]; then
    md_host="${md_param%%:*}"
    case "$md_param" in *:*) md_port="${md_param##*:}";; esac
fi
md="http://$md_host:$md_port"
# IMDSv2 is optional: busybox wget cannot PUT, so ask for a token over nc.
# Three tries: an emulated (TCG) guest on a busy host can be slow to get the answer.
get_token() {
    printf 'PUT /latest/api/token HTTP/1.0\r\nHost: %s\r\nX-aws-ec2-metadata-token-ttl-seconds: 300\r\nContent-Length: 0\r\n\r\n' "$md_host" \
        | timeout 5 nc "$md_host" "$md_port" 2>/dev/null | tr -d '\r' \
        | awk 'NR == 1 { if ($2 != "200") exit } body { print } /^$/ { body = 1 }' | head -n 1
}
token=""
for _ in 1 2 3; do
    token="$(get_token)"
    [ -n "$token" ] && break
    sleep 1
done
if [ -n "$token" ]; then
    echo "SKYPORT-METADATA-IMDSV2 yes"
else
    echo "SKYPORT-METADATA-IMDSV2 no"
fi
# Not `wget -T`: Debian's busybox-static 1.35 wget segfaults on -T; the timeout applet bounds it instead.
fetch() { # fetch PATH FILE
    if [ -n "$token" ]; then
        timeout 5 wget -q --header "X-aws-ec2-metadata-token: $token" -O "$2" "$md$1"
    else
        timeout 5 wget -q -O "$2" "$md$1"
    fi
}

# Retry for ~10 s: the metadata service may come up a moment after the guest.
ok=0
end=$(( $(date +%s) + 10 ))
while :; do
    if fetch /latest/meta-data/instance-id /tmp/instance-id 2>/tmp/wget.err; then ok=1; break; fi
    [ "$(date +%s)" -lt $end ] || break
    sleep 1
done
if [ $ok = 1 ]; then
    echo "SKYPORT-INSTANCE-ID $(head -n 1 /tmp/instance-id)"
    if fetch /latest/meta-data/public-keys/0/openssh-key /tmp/key 2>/dev/null && [ -s /tmp/key ]; then
        echo "SKYPORT-PUBLIC-KEY $(head -n 1 /tmp/key)"
    else
        echo "SKYPORT-PUBLIC-KEY none"
    fi
    if fetch /latest/user-data /tmp/user-data 2>/dev/null; then
        echo "SKYPORT-USERDATA-SHA256 $(sha256sum /tmp/user-data | cut -d' ' -f1)"
    else
        echo "SKYPORT-USERDATA-SHA256 none"
    fi
    # A user-data script runs once its digest is out, as cloud-init would run it.
    if [ -s /tmp/user-data ] && [ "$(head -c 2 /tmp/user-data)" = '#!' ]; then
        sh /tmp/user-data
        echo "SKYPORT-USERDATA-EXIT $?"
    fi
else
    reason="$(grep -v '^Terminated' /tmp/wget.err 2>/dev/null | tail -n 1)"
    echo "SKYPORT-METADATA-UNREACHABLE ${reason:-no answer from $md}"
fi
echo "SKYPORT-GUEST-DONE"

if [ "$(param skyport.poweroff)" = 1 ]; then
    sync
    poweroff -f
fi
while :; do sleep 3600; done
EOF
chmod 755 "$root/init" "$root/etc/udhcpc.script"

say "packing initramfs"
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet | gzip -9n) >"$work/initrd.cpio.gz"

# --- install outputs atomically, then the manifest ------------------------
cp "$work/kroot/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.cpio.gz" "$out/initrd.cpio.gz.tmp" && mv "$out/initrd.cpio.gz.tmp" "$out/initrd.cpio.gz"
busybox_version="$(dpkg-query -W -f '${Version}' busybox-static)"
file_entry() { # name
    printf '    {"name": "%s", "size": %s, "sha256": "%s"}' \
        "$1" "$(stat -c %s "$out/$1")" "$(sha256sum "$out/$1" | cut -d' ' -f1)"
}
mods_json="$(printf '"%s", ' "${modules[@]}")"
cat >"$out/manifest.json.tmp" <<EOF
{
  "kernel_version": "$kver",
  "kernel_package": "$kpkg",
  "kernel_package_version": "$kpkg_version",
  "busybox_static_version": "$busybox_version",
  "modules": [${mods_json%, }],
  "cmdline": "console=ttyS0 quiet panic=-1",
  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "files": [
$(file_entry vmlinuz),
$(file_entry initrd.cpio.gz)
  ]
}
EOF
mv "$out/manifest.json.tmp" "$out/manifest.json"
say "built test image for $kver in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
print_outputs
