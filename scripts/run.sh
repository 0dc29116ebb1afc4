#!/usr/bin/env bash
# The README's first command: set up, build and run Skyport on the embedded
# default (SQLite and the object store under ./skyport-data). Extra arguments
# go to `skyport serve` (e.g. --bind 127.0.0.1:8773 --database postgres://…).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$repo/scripts/setup.sh"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
exec "$target/debug/skyport" serve "$@"
