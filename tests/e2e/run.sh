#!/usr/bin/env bash
# Run the Skyport end-to-end suite.
#
#   tests/e2e/run.sh [pytest args...]
#
# Creates (once) a virtualenv at ${SKYPORT_VENV:-<repo>/.venv}, installs
# tests/e2e/requirements.txt into it whenever that file changes, then runs
# `pytest -q tests/e2e "$@"` from the repository root.
#
# Env: SKYPORT_BIN (binary, default <repo>/target/debug/skyport),
#      SKYPORT_E2E_DATABASES (e.g. "sqlite" to skip PostgreSQL),
#      SKYPORT_E2E_PG (PostgreSQL admin URL, default postgres://root@127.0.0.1:5432/test),
#      PYTHON (interpreter used to create the venv, default python3; boto 2.49 needs <= 3.11).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SKYPORT_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
req="$here/requirements.txt"
stamp="$venv/.skyport-e2e-requirements.sha256"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi

want="$( (cat "$req"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi

cd "$repo"
export PATH="$venv/bin:$PATH"
exec "$venv/bin/python" -m pytest -q tests/e2e "$@"
