#!/usr/bin/env bash
# Runs the README's Quick start as written, in a fresh copy of the checkout
# (tests/readme/readme_test.py says how). Needs root, libvirt, PostgreSQL on
# 127.0.0.1:5432 and port 8773 free, as scripts/test.sh provides.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../scripts/lib/common.sh"
source "$here/../../scripts/lib/venv.sh"
ensure_venv
export SKYPORT_VENV="$venv"
exec "$venv/bin/python" "$here/readme_test.py" "$@"
