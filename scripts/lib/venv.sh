# The Python tool venv (boto3, awscli, boto 2, pytest, moto_server). Source it; do not run it.
#
# ensure_venv creates ${SKYPORT_VENV:-<repo>/.venv} once and installs
# tests/e2e/requirements.txt into it whenever that file (or the interpreter) changes.
# PYTHON picks the interpreter (default python3; boto 2.49 needs <= 3.11).

ensure_venv() {
    venv="${SKYPORT_VENV:-$repo/.venv}"
    local python="${PYTHON:-python3}"
    local req="$repo/tests/e2e/requirements.txt"
    local stamp="$venv/.skyport-e2e-requirements.sha256"
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    local want have
    want="$( (cat "$req"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [[ "$want" != "$have" ]]; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
        echo "$want" > "$stamp"
    fi
    # Rust tests start AWS stand-ins from here.
    export SKYPORT_MOTO_SERVER="$venv/bin/moto_server"
}
