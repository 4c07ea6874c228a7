#!/usr/bin/env bash
# Start / stop a throwaway PostgreSQL cluster from the Debian package.
#
#   scripts/postgres.sh start DIR PORT   # initdb (once) + start; prints the URL
#   scripts/postgres.sh stop  DIR        # fast shutdown
#   scripts/postgres.sh url   DIR PORT   # print the URL only
#
# * Binaries: $PG_BIN if set, else the newest /usr/lib/postgresql/*/bin, else PATH.
# * Listens on 127.0.0.1 only (no TCP on other interfaces); the unix socket goes
#   into DIR, so /var/run/postgresql is not needed.
# * PostgreSQL refuses to run as root: when this script runs as root it runs
#   initdb/pg_ctl as the Debian "postgres" system user (created by the
#   postgresql-common package) through runuser, and chowns DIR to it.  DIR and
#   all its parents must then be traversable by that user: use a directory like
#   /tmp/dasedge-pg-XXXX, not one under a 0700 home or pytest's tmp root.
# * Authentication is "trust" for the superuser "dasedge" on 127.0.0.1: this is
#   a test / development cluster, never a production one.
# * Database "dasedge" is created; the URL printed on stdout is
#   postgresql://dasedge@127.0.0.1:PORT/dasedge
set -euo pipefail

cmd=${1:-}
dir=${2:-}
port=${3:-55432}
if [[ -z "$cmd" || -z "$dir" ]]; then
    echo "usage: $0 start|stop|url DIR [PORT]" >&2
    exit 2
fi

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    local i
    i=$(command -v initdb || true)
    if [[ -n "$i" ]]; then dirname "$i"; return; fi
    echo "postgres.sh: PostgreSQL binaries not found (apt-get install -y postgresql, or set PG_BIN)" >&2
    exit 1
}

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "${PG_OS_USER:-postgres}" -- "$@"
    else
        "$@"
    fi
}

url="postgresql://dasedge@127.0.0.1:${port}/dasedge"

case "$cmd" in
url)
    echo "$url"
    ;;
start)
    bin=$(find_bin)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
        pguser=${PG_OS_USER:-postgres}
        if ! id "$pguser" >/dev/null 2>&1; then
            echo "postgres.sh: running as root but system user '$pguser' does not exist (install postgresql or set PG_OS_USER)" >&2
            exit 1
        fi
        chown -R "$pguser" "$dir"
        if ! runuser -u "$pguser" -- test -w "$dir"; then
            echo "postgres.sh: user '$pguser' cannot write $dir (a parent directory is not traversable); use e.g. /tmp/dasedge-pg-XXXX" >&2
            exit 1
        fi
    fi
    data="$dir/data"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        as_pg "$bin/initdb" -D "$data" -U dasedge --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        echo "postgres.sh: already running in $data" >&2
    else
        as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start \
            -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
            >/dev/null || { tail -n 30 "$dir/postgres.log" >&2; exit 1; }
    fi
    # create the application database once
    if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U dasedge -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname='dasedge'" | grep -q 1; then
        as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U dasedge dasedge
    fi
    echo "$url"
    ;;
stop)
    bin=$(find_bin)
    data="$dir/data"
    if [[ -f "$data/postmaster.pid" ]]; then
        as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
    fi
    ;;
*)
    echo "usage: $0 start|stop|url DIR [PORT]" >&2
    exit 2
    ;;
esac
