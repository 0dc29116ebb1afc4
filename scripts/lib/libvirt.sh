# libvirt + QEMU (TCG) for Skyport's local compute tests, on hosts without
# systemd, D-Bus or udev (see /work/shared/HOST-RECIPES.md, section 1).
# Source after common.sh.
#
#   ensure_libvirt     install the packages, create users/dirs/qemu.conf,
#                      start virtlogd + libvirtd, wait until qemu:///system answers
#   libvirt_available  0 if qemu:///system answers now, 1 (with a reason on stderr) if not;
#                      changes nothing
#
# Guests must always be <domain type='qemu'>: KVM is advertised here but hangs.

LIBVIRT_URI="${LIBVIRT_URI:-qemu:///system}"

libvirt_packages=(
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev qemu-system-x86
    dnsmasq-base nftables iptables cpio busybox-static iproute2 procps
)

# Sets `key = value` in a libvirt config file: replaces an existing (possibly
# commented-out) line for the key, or appends one. Never duplicates.
_libvirt_conf_set() {
    local file="$1" key="$2" value="$3"
    touch "$file"
    if grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "$file"; then
        grep -Eq "^[[:space:]]*${key}[[:space:]]*=[[:space:]]*${value}[[:space:]]*$" "$file" \
            || sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = ${value}|" "$file"
    elif grep -Eq "^#[[:space:]]*${key}[[:space:]]*=" "$file"; then
        sed -i -E "0,/^#[[:space:]]*${key}[[:space:]]*=.*/s||${key} = ${value}|" "$file"
    else
        printf '%s = %s\n' "$key" "$value" >>"$file"
    fi
}

# True when the process named in the pid file is alive.
_libvirt_pid_alive() {
    local pidfile="$1" pid
    [ -s "$pidfile" ] || return 1
    pid="$(cat "$pidfile" 2>/dev/null)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A zombie (daemon exited, not yet reaped by PID 1) is not alive.
    [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != "Z" ]
}

_libvirt_answers() {
    virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1
}

libvirt_available() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "libvirt unavailable: $LIBVIRT_URI needs root on this host (run as root)" >&2
        return 1
    fi
    local cmd
    for cmd in virsh libvirtd virtlogd qemu-system-x86_64; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "libvirt unavailable: '$cmd' is not installed (run ensure_libvirt from scripts/lib/libvirt.sh)" >&2
            return 1
        fi
    done
    if ! _libvirt_pid_alive /run/libvirtd.pid && ! _libvirt_answers; then
        echo "libvirt unavailable: libvirtd is not running (run ensure_libvirt from scripts/lib/libvirt.sh)" >&2
        return 1
    fi
    if ! _libvirt_answers; then
        echo "libvirt unavailable: libvirtd runs but '$LIBVIRT_URI' does not answer: $(virsh -c "$LIBVIRT_URI" version 2>&1 | tail -n 1)" >&2
        return 1
    fi
    return 0
}

ensure_libvirt() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "ensure_libvirt needs root (it installs packages and starts libvirtd)" >&2
        return 1
    fi
    apt_install "${libvirt_packages[@]}" || return 1
    # Installing qemu-system-x86 (7.2) removes the image's backported qemu-utils,
    # taking qemu-img with it: put Debian's own qemu-utils back.
    if ! command -v qemu-img >/dev/null 2>&1 || ! dpkg -s qemu-utils >/dev/null 2>&1; then
        say "reinstalling Debian's qemu-utils (qemu-img)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-utils >/dev/null || return 1
    fi

    # What libvirt-daemon-system (not installed: it wants systemd) would have set up.
    getent group kvm >/dev/null || groupadd -r kvm
    getent group libvirt >/dev/null || groupadd -r libvirt
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    getent passwd libvirt-qemu >/dev/null \
        || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
    mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/lib/libvirt/images /var/lib/libvirt/dnsmasq \
        /var/lib/libvirt/network /var/cache/libvirt/qemu /run/libvirt /etc/libvirt/qemu/networks
    local conf=/etc/libvirt/qemu.conf
    local before
    before="$(cat "$conf" 2>/dev/null || true)"
    _libvirt_conf_set "$conf" user '"root"'
    _libvirt_conf_set "$conf" group '"root"'
    _libvirt_conf_set "$conf" security_driver '"none"'
    local conf_changed=0
    [ "$before" = "$(cat "$conf")" ] || conf_changed=1

    if ! _libvirt_pid_alive /run/virtlogd.pid; then
        say "starting virtlogd"
        virtlogd -d || return 1
    fi
    if _libvirt_pid_alive /run/libvirtd.pid && [ "$conf_changed" = 1 ]; then
        say "qemu.conf changed: restarting libvirtd"
        local pid
        pid="$(cat /run/libvirtd.pid)"
        kill "$pid"
        for _ in $(seq 1 50); do _libvirt_pid_alive /run/libvirtd.pid || break; sleep 0.1; done
    fi
    if ! _libvirt_pid_alive /run/libvirtd.pid; then
        # The first start probes QEMU's capabilities (~8 s); later ones take ~0.2 s.
        say "starting libvirtd"
        libvirtd -d || return 1
    fi
    local i
    for i in $(seq 1 60); do          # up to ~30 s: a cold start took 7.6-8.0 s (once re-probed on a restart)
        _libvirt_answers && return 0
        sleep 0.5
    done
    echo "libvirtd did not answer on $LIBVIRT_URI within 30 s: $(virsh -c "$LIBVIRT_URI" version 2>&1 | tail -n 1)" >&2
    echo "see /var/log/libvirt/libvirtd.log" >&2
    return 1
}
