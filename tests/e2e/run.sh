#!/usr/bin/env bash
# Run the Skyport end-to-end suite.
#
#   tests/e2e/run.sh [pytest args...]
#
# Makes sure the tool venv (scripts/lib/venv.sh) and the third-party S3 clients
# (rclone, restic, s3cmd, s3fs) exist, then runs
# `pytest -q tests/e2e "$@"` from the repository root.
#
# Env: SKYPORT_BIN (binary, default <repo>/target/debug/skyport),
#      SKYPORT_E2E_DATABASES (e.g. "sqlite" to skip PostgreSQL),
#      SKYPORT_E2E_PG (PostgreSQL admin URL, default postgres://root@127.0.0.1:5432/test),
#      PYTHON (interpreter used to create the venv, default python3; boto 2.49 needs <= 3.11).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../scripts/lib/common.sh"
source "$here/../../scripts/lib/venv.sh"
ensure_venv
install_client_packages

cd "$repo"
export PATH="$venv/bin:$PATH"
exec "$venv/bin/python" -m pytest -q tests/e2e "$@"
