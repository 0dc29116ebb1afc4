#!/usr/bin/env bash
# The README's second command: every test — Rust unit and integration tests
# (real server, aws-sdk-rust clients, SQLite and PostgreSQL) and the Python
# end-to-end suite (boto3, awscli, boto 2), then the README's Quick start as
# written (tests/readme). Installs and starts what it needs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/postgres.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/libvirt.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/ovs.sh"

install_base_packages
require_cargo
ensure_postgres
say "Python tools (boto3, awscli, moto_server)"
ensure_venv
say "libvirt + QEMU and the test guest image (local compute tests boot real VMs)"
ensure_libvirt
say "Open vSwitch (the vlan network driver's tests)"
ensure_ovs
SKYPORT_TEST_IMAGE_DIR="$(dirname "$("$repo/scripts/build-test-image.sh" | head -n 1)")"
export SKYPORT_TEST_IMAGE_DIR
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"

say "Rust tests (unit + integration)"
cargo test --locked --workspace

say "A gateway built without libvirt (storage and remote targets only) needs no libvirt at all"
cargo check --locked -p gateway --no-default-features
if cargo tree --locked -p gateway --no-default-features -e normal | grep -q virt; then
    echo "a --no-default-features build still links libvirt" >&2
    exit 1
fi

say "Python end-to-end tests (boto3, awscli, boto 2)"
SKYPORT_BIN="$target/debug/skyport" tests/e2e/run.sh

say "The README's Quick start, as written, in a fresh copy of this checkout"
CARGO_TARGET_DIR="$target" tests/readme/run.sh
