#!/usr/bin/env bash
# A PostgreSQL cluster of tiderec's own, for the tests and for users without a database server:
#   scripts/postgres.sh start [DIR]   start it (created on first use) and print its postgresql:// URL
#   scripts/postgres.sh stop [DIR]    stop it
# It listens on a Unix socket in DIR only (no TCP port). initdb refuses to run as root, so under root the
# cluster belongs to the 'postgres' system user of the Debian package (installed here when missing).
set -euo pipefail
cmd=${1:?usage: scripts/postgres.sh start|stop [DIR]}
dir=${2:-${TIDEREC_PG_DIR:-/tmp/tiderec-pg-$(id -u)}}
port=${TIDEREC_PG_PORT:-55432}

find_bin() {
    command -v initdb >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v initdb)")"; return; }
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
bin=$(find_bin)
if [ -z "$bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is not installed; install the Debian package 'postgresql' (root needed)" >&2
        exit 1
    fi
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(find_bin)
fi
owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        owner "$bin/initdb" --no-sync -A trust -U tiderec -E UTF8 -D "$dir/data" >/dev/null
    fi
    if ! owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
            -o "-k $dir -p $port -c listen_addresses=''" start >/dev/null
    fi
    owner "$bin/createdb" -h "$dir" -p "$port" -U tiderec tiderec 2>/dev/null || true
    echo "postgresql://tiderec@/tiderec?host=$dir&port=$port"
    ;;
stop)
    owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*)
    echo "usage: scripts/postgres.sh start|stop [DIR]" >&2
    exit 2
    ;;
esac
