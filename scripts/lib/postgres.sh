# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 and lets the
# `root` role in without a password, installing and starting it if needed.
# Source after common.sh.

ensure_postgres() {
    apt_install postgresql-client
    if pg_isready -q -h 127.0.0.1 -p 5432; then
        return 0
    fi
    apt_install postgresql
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q '# skyport-tests' "$hba"; then
        # Tests connect over loopback as root with no password.
        sed -i '1i host all all 127.0.0.1/32 trust # skyport-tests' "$hba"
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
    done
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\"" | grep -q 1 \
        || su postgres -c "psql -qc 'CREATE ROLE root SUPERUSER LOGIN'"
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 \
        || su postgres -c "psql -qc 'CREATE DATABASE test OWNER root'"
}
