#!/usr/bin/env bash
# Installs what Skyport needs to build and run (idempotent; quick when done).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/libvirt.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/ovs.sh"

install_base_packages
require_cargo
# Local compute: libvirt + QEMU. Where they cannot run, Skyport still serves
# storage and remote targets, and says at start why it has no local compute.
say "libvirt + QEMU for local compute"
ensure_libvirt || say "libvirt could not be started (see above): local compute will be unavailable"
# Tenant networks: the vxlan driver needs only the kernel; the vlan driver needs Open vSwitch.
ensure_ovs || say "Open vSwitch could not be started (see above): the vlan network driver will be unavailable"
say "building skyport"
cd "$repo"
cargo build --locked -p gateway --bin skyport
