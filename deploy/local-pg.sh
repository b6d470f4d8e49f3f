#!/usr/bin/env bash
# A private PostgreSQL cluster under the project folder (.wr-local/pg), for the demo and for
# trying wijkradar without a database server of your own. Not for production.
#   deploy/local-pg.sh start    initdb if needed, start, create database "wijkradar"
#   deploy/local-pg.sh stop     stop the cluster (data stays)
#   deploy/local-pg.sh conninfo print the libpq connection string
# The server listens only on a unix socket in .wr-local/run (no TCP).
set -eu

proj=$(cd "$(dirname "$0")/.." && pwd)
base=${WR_LOCAL_DIR:-$proj/.wr-local}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then
    echo "local-pg: PostgreSQL is not installed; run deploy/install-deps.sh" >&2
    exit 1
fi

as_pg=()
if [ "$(id -u)" = 0 ]; then
    as_pg=(runuser -u postgres --)
    # The server runs as "postgres", which must be able to reach the folder.
    mkdir -p "$base"
    if ! runuser -u postgres -- test -x "$base"; then
        base=/var/tmp/wijkradar-local
        echo "local-pg: user postgres cannot enter the project folder; using $base" >&2
    fi
fi
data=$base/pg
run=$base/run
# Unix socket paths are limited to about 107 bytes.
if [ ${#run} -gt 80 ]; then
    run=/tmp/wijkradar-run-$(id -u)
fi

pg() {
    (cd / && "${as_pg[@]}" "$pgbin/$1" "${@:2}")
}

conninfo() {
    echo "host=$run dbname=wijkradar user=wijkradar"
}

case "${1:-}" in
start)
    mkdir -p "$base" "$run"
    if [ ${#as_pg[@]} -gt 0 ]; then
        chown postgres: "$base" "$run"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        echo "local-pg: creating cluster in $data" >&2
        pg initdb -D "$data" -U wijkradar -A trust -E UTF8 --locale=C >"$base/initdb.log" 2>&1 || {
            cat "$base/initdb.log" >&2
            exit 1
        }
    fi
    if ! pg pg_ctl -D "$data" status >/dev/null 2>&1; then
        pg pg_ctl -D "$data" -l "$base/pg.log" -w \
            -o "-k $run -c listen_addresses=" start >/dev/null || {
            tail -n 20 "$base/pg.log" >&2
            exit 1
        }
    fi
    if ! "$pgbin/psql" -h "$run" -U wijkradar -d postgres -Atc \
        "SELECT 1 FROM pg_database WHERE datname = 'wijkradar'" | grep -q 1; then
        "$pgbin/createdb" -h "$run" -U wijkradar wijkradar
    fi
    conninfo
    ;;
stop)
    if [ -f "$data/postmaster.pid" ]; then
        pg pg_ctl -D "$data" -m fast -w stop >/dev/null
    fi
    ;;
conninfo)
    conninfo
    ;;
*)
    echo "usage: deploy/local-pg.sh start|stop|conninfo" >&2
    exit 2
    ;;
esac
