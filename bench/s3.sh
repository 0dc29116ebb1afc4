#!/usr/bin/env bash
# Loopback S3 benchmark: Skyport next to nginx (the same bytes as static files,
# the practical ceiling) and moto_server, measured side by side in one run.
#
#   bench/s3.sh                 build target/release/skyport, then measure
#   bench/s3.sh --check         same, but exit 1 when a target is missed
#   SKYPORT_BIN=target/debug/skyport bench/s3.sh     use this binary, no build
#
# Measures ops/s for 4 KiB GET and PUT (wrk, presigned URLs, -t2 -c16) and
# MiB/s for 256 MiB GET and PUT (curl, presigned URLs), the median of several
# runs, interleaved across the servers, and prints a plain table then the same
# as markdown (for docs/performance.md) on stdout; progress goes to stderr.
# Targets: 4 KiB GET >= 70% of nginx, 256 MiB GET >= 80% of nginx, both >= 20x
# moto_server.
#
# Installs what it needs when missing (as root): nginx-light (or nginx), wrk,
# curl from Debian; moto[server] and boto3 into a venv. Starts every server on
# a free 127.0.0.1 port in a temporary directory and stops them on exit.
#
# Environment (defaults in brackets):
#   SKYPORT_BIN                  skyport binary to measure [cargo build --release, target/release/skyport]
#   SKYPORT_BENCH_VENV           venv for boto3 and moto [<repo>/.venv-bench]
#   SKYPORT_BENCH_SERVERS        servers to run besides skyport ["nginx moto"]
#   SKYPORT_BENCH_DURATION       seconds per wrk run [5]
#   SKYPORT_BENCH_REPS           wrk runs per server and test (median) [3]
#   SKYPORT_BENCH_LARGE_RUNS     large transfers per server and direction (median) [3]
#   SKYPORT_BENCH_LARGE_MIB      large object size in MiB [256]
#   SKYPORT_BENCH_CONNECTIONS    wrk connections [16]
#   SKYPORT_BENCH_THREADS        wrk threads [2]
#   SKYPORT_BENCH_KEYS           distinct 4 KiB keys rotated through [256]
#   SKYPORT_BENCH_KEEP=1         keep the temporary directory (logs, data)
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$bench_dir/.." && pwd)"

duration="${SKYPORT_BENCH_DURATION:-5}"
reps="${SKYPORT_BENCH_REPS:-3}"
large_runs="${SKYPORT_BENCH_LARGE_RUNS:-3}"
large_mib="${SKYPORT_BENCH_LARGE_MIB:-256}"
conns="${SKYPORT_BENCH_CONNECTIONS:-16}"
threads="${SKYPORT_BENCH_THREADS:-2}"
keys="${SKYPORT_BENCH_KEYS:-256}"
venv="${SKYPORT_BENCH_VENV:-$repo/.venv-bench}"
others="${SKYPORT_BENCH_SERVERS:-nginx moto}"
bucket="bench"
large_key="large/obj-${large_mib}m"
check=0

for arg in "$@"; do
    case "$arg" in
        --check) check=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bench/s3.sh: %s\n' "$*" >&2; exit 1; }

servers="skyport"
for s in $others; do
    case "$s" in
        nginx | moto) servers="$servers $s" ;;
        skyport) ;;
        *) die "unknown server in SKYPORT_BENCH_SERVERS: $s (nginx, moto)" ;;
    esac
done
has() { [[ " $servers " == *" $1 "* ]]; }

# --- installing what is missing ----------------------------------------------

apt_updated=0
apt_install() {
    [ "$(id -u)" -eq 0 ] || die "missing $* — run as root or install it with apt-get"
    say "installing $*"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
    "${install[@]}" >/dev/null 2>&1 && return 0
    [ "$apt_updated" -eq 0 ] || return 1
    apt-get update -qq && apt_updated=1
    "${install[@]}" >/dev/null
}

nginx_running() { [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; }

install_tools() {
    command -v curl >/dev/null || apt_install curl
    command -v wrk >/dev/null || apt_install wrk
    if has nginx && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
        local was_running=0
        nginx_running && was_running=1
        apt_install nginx-light || apt_install nginx
        # Debian's package may start the system nginx (port 80): we did not ask for it.
        if [ "$was_running" -eq 0 ] && nginx_running; then /usr/sbin/nginx -s quit 2>/dev/null || true; fi
    fi
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null || apt_install python3
        say "creating venv $venv"
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            apt_install python3-venv
            python3 -m venv "$venv"
        fi
    fi
    # Keep the venv out of git wherever it is (python >= 3.13 writes this itself).
    [ -f "$venv/.gitignore" ] || printf '*\n' >"$venv/.gitignore"
    if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c 'import boto3, moto.server, flask' >/dev/null 2>&1; then
        say "installing moto[server] and boto3 into $venv"
        "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]' boto3
    fi
}

install_tools
PATH="$PATH:/usr/sbin"
py="$venv/bin/python"
helper=("$py" "$bench_dir/s3_helper.py")

if [ -n "${SKYPORT_BIN:-}" ]; then
    skyport_bin="$(cd "$(dirname "$SKYPORT_BIN")" && pwd)/$(basename "$SKYPORT_BIN")"
else
    command -v cargo >/dev/null || PATH="$HOME/.cargo/bin:$PATH"
    command -v cargo >/dev/null || die "cargo is missing (install Rust with rustup), or set SKYPORT_BIN"
    say "building the release binary"
    (cd "$repo" && cargo build --release -p gateway --bin skyport)
    target_dir="${CARGO_TARGET_DIR:-$repo/target}"
    case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
    skyport_bin="$target_dir/release/skyport"
fi
[ -x "$skyport_bin" ] || die "no skyport binary at $skyport_bin"

# --- processes and cleanup ---------------------------------------------------

work="$(mktemp -d "${TMPDIR:-/tmp}/skyport-bench.XXXXXX")"
pids=()
cleanup() {
    local rc=$? pid kids=() _
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kids+=($(ps -o pid= --ppid "$pid" 2>/dev/null || true))
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}" "${kids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${SKYPORT_BENCH_KEEP:-0}" = 1 ]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until a started process answers HTTP on the port (any status).
wait_http() { # name pid port log
    local _
    for _ in $(seq 200); do
        kill -0 "$2" 2>/dev/null || { tail -n 20 "$4" >&2; die "$1 exited while starting"; }
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$3/" && return 0
        sleep 0.1
    done
    tail -n 20 "$4" >&2
    die "$1 did not answer on 127.0.0.1:$3"
}

declare -A port
urls_of() { # server: its presigned URL directory (nginx serves Skyport's paths as files)
    case "$1" in nginx) echo "$work/urls/skyport" ;; *) echo "$work/urls/$1" ;; esac
}
large_url() { # server direction(get|put)
    sed "s#^http://127\.0\.0\.1:[0-9]*#http://127.0.0.1:${port[$1]}#" "$(urls_of "$1")/large-$2.url"
}

say "temporary directory $work"
small="$work/small.bin"
large="$work/large.bin"
head -c 4096 /dev/urandom >"$small"
head -c "$((large_mib * 1024 * 1024))" /dev/urandom >"$large"
: >"$work/results.tsv"

# --- Skyport -----------------------------------------------------------------

start_skyport() {
    local dir="$work/skyport" log
    mkdir -p "$dir"
    log="$dir/log"
    # The default limits (200/s per key) would turn a benchmark into SlowDown errors.
    cat >"$dir/skyport.toml" <<'EOF'
[rate_limit]
per_key_per_second = 1000000000
per_key_burst = 1000000000
per_tenant_per_second = 1000000000
per_tenant_burst = 1000000000
EOF
    (cd "$dir" && exec "$skyport_bin" serve --config "$dir/skyport.toml" --bind 127.0.0.1:0 \
        --data-dir "$dir/data" --log warn) >"$log" 2>&1 &
    local pid=$! _ p=""
    pids+=("$pid")
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "skyport exited while starting"; }
        p="$(sed -n 's#.*skyport listening on http://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$log" | head -n 1)"
        [ -n "$p" ] && [ -s "$dir/data/aws/credentials" ] && break
        sleep 0.1
    done
    [ -n "$p" ] || { tail -n 20 "$log" >&2; die "skyport did not report its port"; }
    port[skyport]="$p"
    say "skyport on 127.0.0.1:$p ($skyport_bin)"
    "${helper[@]}" prepare --endpoint "http://127.0.0.1:$p" --credentials-file "$dir/data/aws/credentials" \
        --bucket "$bucket" --small-file "$small" --get-count "$keys" --put-count "$keys" \
        --large-key "$large_key" --out "$work/urls/skyport"
}

# --- nginx ---------------------------------------------------------------------

nginx_dav=0
start_nginx() {
    local dir="$work/nginx" p user_line="" dav_lines="" i
    mkdir -p "$dir/root/$bucket/small" "$dir/body-tmp"
    for ((i = 0; i < keys; i++)); do cp "$small" "$dir/root/$bucket/small/$(printf 'obj-%05d' "$i")"; done
    if nginx -V 2>&1 | grep -q -- '--with-http_dav_module'; then
        nginx_dav=1
        dav_lines="dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r;"
    else
        mkdir -p "$dir/root/$bucket/large"
        cp "$large" "$dir/root/$bucket/$large_key"
    fi
    # Workers must be able to write the temporary directory (mode 700).
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    p="$(free_port)"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    default_type application/octet-stream;
    client_body_temp_path $dir/body-tmp;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$p;
        root $dir/root;
        location / { $dav_lines }
    }
}
EOF
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/log" 2>&1 &
    pids+=("$!")
    wait_http nginx "$!" "$p" "$dir/error.log"
    port[nginx]="$p"
    say "nginx on 127.0.0.1:$p ($(nginx -v 2>&1 | sed 's/^nginx version: //'), PUT: $([ "$nginx_dav" = 1 ] && echo dav module || echo none))"
}

# --- moto_server -------------------------------------------------------------------

start_moto() {
    local dir="$work/moto" p
    mkdir -p "$dir"
    p="$(free_port)"
    (cd "$dir" && exec "$venv/bin/moto_server" -H 127.0.0.1 -p "$p") >"$dir/log" 2>&1 &
    pids+=("$!")
    wait_http moto_server "$!" "$p" "$dir/log"
    port[moto]="$p"
    say "moto_server on 127.0.0.1:$p (moto $("$py" -c 'import moto; print(moto.__version__)'))"
    "${helper[@]}" prepare --endpoint "http://127.0.0.1:$p" --bucket "$bucket" --small-file "$small" \
        --get-count "$keys" --put-count "$keys" --large-key "$large_key" --out "$work/urls/moto"
}

start_skyport
has nginx && start_nginx
has moto && start_moto

# --- measurements --------------------------------------------------------------------

record() { # server test value [errors requests [note]]
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-0}" "${5:-0}" "${6:-}" >>"$work/results.tsv"
}
label() { case "$1" in skyport) echo Skyport ;; nginx) echo nginx ;; moto) echo moto_server ;; esac; }

# wrk against one server: prints "ops p50_ms p99_ms errors requests" (ops = 2xx/3xx answers per second).
wrk_run() { # server method seconds
    local server="$1" method="$2" secs="$3" urls out line
    urls="$(urls_of "$server")/$([ "$method" = GET ] && echo get || echo put).txt"
    local args=(-- "$method" "$urls")
    [ "$method" = PUT ] && args+=("$small")
    if ! out="$(wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s -s "$bench_dir/wrk_urls.lua" \
        "http://127.0.0.1:${port[$server]}" "${args[@]}" 2>&1)"; then
        printf '%s\n' "$out" >&2
        return 1
    fi
    line="$(grep '^WRK_RESULT' <<<"$out")" || { printf '%s\n' "$out" >&2; return 1; }
    awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
           good = v["requests"] - v["status"]
           errors = v["status"] + v["connect"] + v["read"] + v["write"] + v["timeout"]
           printf "%.1f %.2f %.2f %d %d\n", good / (v["duration_us"] / 1e6), v["p50_us"] / 1000, v["p99_us"] / 1000,
                  errors, v["requests"] + errors - v["status"] }' <<<"$line"
}

small_test() { # method test-id
    local method="$1" test="$2" server rep res ops p50 p99 errors total
    say "$method 4 KiB: wrk -t$threads -c$conns, $reps x ${duration}s per server (after a 1 s warm-up)"
    for server in $servers; do
        if [ "$method" = PUT ] && [ "$server" = nginx ] && [ "$nginx_dav" = 0 ]; then
            record nginx "$test" n/a 0 0 "no dav module in this nginx: PUT not measured"
            continue
        fi
        wrk_run "$server" "$method" 1 >/dev/null || true
    done
    for ((rep = 1; rep <= reps; rep++)); do
        for server in $servers; do
            [ "$method" = PUT ] && [ "$server" = nginx ] && [ "$nginx_dav" = 0 ] && continue
            if ! res="$(wrk_run "$server" "$method" "$duration")"; then
                record "$server" "$test" n/a 0 0 "wrk failed"
                continue
            fi
            read -r ops p50 p99 errors total <<<"$res"
            printf '    %-12s run %d: %10s ops/s   p50 %s ms, p99 %s ms%s\n' "$(label "$server")" "$rep" "$ops" \
                "$p50" "$p99" "$([ "$errors" -gt 0 ] && echo ", $errors errors")" >&2
            record "$server" "$test" "$ops" "$errors" "$total"
        done
    done
}

large_test() { # direction(get|put) test-id
    local dir="$1" test="$2" server run url out bytes secs mibs expected=$((large_mib * 1024 * 1024))
    say "$(tr a-z A-Z <<<"$dir") $large_mib MiB: curl, $large_runs transfers per server"
    for ((run = 1; run <= large_runs; run++)); do
        for server in $servers; do
            url="$(large_url "$server" "$dir")"
            if [ "$dir" = put ]; then
                if [ "$server" = nginx ] && [ "$nginx_dav" = 0 ]; then
                    [ "$run" = 1 ] && record nginx "$test" n/a 0 0 "no dav module in this nginx: PUT not measured"
                    continue
                fi
                out="$(curl -sS -f --max-time 900 -H 'Expect:' -T "$large" -o /dev/null \
                    -w '%{size_upload} %{time_total}' "$url" 2>&1)" || out="failed: $out"
            else
                out="$(curl -sS -f --max-time 900 -o /dev/null -w '%{size_download} %{time_total}' "$url" 2>&1)" ||
                    out="failed: $out"
            fi
            read -r bytes secs <<<"$out"
            if [ "$bytes" != "$expected" ]; then
                echo "    $(label "$server") run $run: $out" >&2
                record "$server" "$test" n/a 1 1
                continue
            fi
            mibs="$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }')"
            printf '    %-12s run %d: %10s MiB/s   (%s s)\n' "$(label "$server")" "$run" "$mibs" "$secs" >&2
            record "$server" "$test" "$mibs" 0 1
        done
    done
}

small_test GET get_small
small_test PUT put_small
large_test put put_large
large_test get get_large

# --- report ------------------------------------------------------------------------

profile="custom build"
case "$skyport_bin" in */release/*) profile="release" ;; */debug/*) profile="debug" ;; esac
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit (with local changes)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
versions="$(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}'), curl $(curl --version | awk 'NR == 1 {print $2}')"
has nginx && versions="$versions, $(nginx -v 2>&1 | sed 's/^nginx version: //')"
has moto && versions="$versions, moto $("$py" -c 'import moto; print(moto.__version__)')"
notes="Skyport fsyncs each object (file and directory) before it answers a PUT"
if has nginx && [ "$nginx_dav" = 1 ]; then
    notes="$notes; nginx's dav module (dav_methods PUT) writes a temporary file and renames it, without fsync"
fi
if has moto; then notes="$notes; moto_server keeps objects in memory"; fi
if has nginx && [ "$nginx_dav" = 0 ]; then
    notes="$notes ;; this nginx has no dav module: PUT is measured for Skyport and moto_server only"
fi
notes="$notes ;; Skyport runs with its per-key and per-tenant rate limits raised out of the way (defaults: 2000/s per key and 4000/s per tenant)"
if has nginx; then
    notes="$notes ;; nginx serves the same 4 KiB and $large_mib MiB bytes as static files (sendfile), at the same request paths; the query strings of Skyport's presigned URLs are sent to it too and ignored"
fi

report_rc=0
"${helper[@]}" report "$work/results.tsv" \
    --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --meta "connections=$conns" \
    --meta "large=$large_mib MiB" \
    --meta "skyport_bin=$profile ($skyport_bin)" \
    --meta "commit=$commit" \
    --meta "machine=$(nproc) cores, $cpu, Linux $(uname -r); load generator and servers share the cores" \
    --meta "method=all on 127.0.0.1, servers up side by side; 4 KiB: wrk -t$threads -c$conns, $reps runs of ${duration} s per server interleaved, median, $keys presigned SigV4 URLs (path-style, UNSIGNED-PAYLOAD) rotated; $large_mib MiB: curl with a presigned URL, median of $large_runs transfers; MiB/s = 2^20 bytes/s" \
    --meta "versions=$versions" \
    --meta "notes=$notes" || report_rc=$?

if [ "$check" = 1 ]; then exit "$report_rc"; fi
exit 0
