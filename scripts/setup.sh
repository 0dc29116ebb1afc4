#!/usr/bin/env bash
# Installs what Skyport needs to build and run (idempotent; quick when done).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

install_base_packages
require_cargo
say "building skyport"
cd "$repo"
cargo build --locked -p gateway --bin skyport
