# Open vSwitch for tenant networks' `vlan` driver (802.1Q tags with the
# userspace datapath: this kernel has no OVS module and no 8021q). Source it.
#
#   ensure_ovs    install openvswitch-switch (and ethtool), start ovsdb-server and
#                 ovs-vswitchd where no service manager does; idempotent.

ensure_ovs() {
    if [[ $EUID -ne 0 ]]; then
        echo "ensure_ovs needs root (it installs packages and starts Open vSwitch)" >&2
        return 1
    fi
    apt_install openvswitch-switch ethtool || return 1
    if ovs-vsctl --timeout=2 show >/dev/null 2>&1; then
        return 0
    fi
    say "starting Open vSwitch (userspace datapath)"
    # Without systemd: ovs-ctl starts both daemons. It warns that it cannot raise
    # ulimits and load the kernel module; the userspace datapath needs neither.
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1 || true
    ovs-vsctl --timeout=10 show >/dev/null
}
