# Shared helpers for Skyport's scripts. Source it; do not run it.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs Debian packages that are missing; does nothing (and needs no network) when all are present.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} — run as root or install them with apt-get" >&2
        return 1
    fi
    say "installing ${missing[*]}"
    if [ ! -f /var/lib/skyport-apt-updated ] || [ -n "$(find /var/lib/skyport-apt-updated -mmin +1440 2>/dev/null)" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        touch /var/lib/skyport-apt-updated
    fi
    # Wait for another apt (another script, a second checkout) instead of failing.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Rust toolchain comes from rustup; we need cargo on PATH.
require_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; return 1; }
}

# System packages every Skyport build and test needs.
install_base_packages() {
    # libvirt-dev: the virt crate links against libvirt.
    apt_install ca-certificates pkg-config gcc libc6-dev libvirt-dev python3 python3-venv python3-pip
}

# Third-party S3 clients the e2e suite drives (tests/e2e/test_clients.py); fuse3 for s3fs mounts.
install_client_packages() {
    apt_install rclone restic s3cmd s3fs fuse3
}
