#!/usr/bin/env bash
# Runs a command against a throw-away PostgreSQL cluster on a private unix socket, then removes it.
# Usage: tests/pg-env.sh COMMAND [ARG...]; exits with COMMAND's exit status.
# The command gets PGHOST/PGUSER/PGDATABASE, plus WR_PG* variables so that tests can stop and
# start the same server with the same options (see tests/e2e/wrtest.py).
set -u

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    echo "pg-env.sh: no PostgreSQL server found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
if [ $# -eq 0 ]; then
    echo "usage: pg-env.sh COMMAND [ARG...]" >&2
    exit 2
fi

# Short on purpose: a unix socket path may be at most about 107 bytes.
dir=$(mktemp -d /tmp/wr-pg.XXXXXX) || exit 1

# initdb refuses to run as root, so root runs the server tools as postgres.
as_user=
as_pg=()
if [ "$(id -u)" = 0 ]; then
    as_user=postgres
    as_pg=(runuser -u postgres --)
    chown postgres: "$dir" || exit 1
fi

pg_opts="-k $dir -c listen_addresses= -c fsync=off"

# Runs a server tool from $pgbin in $dir, which the postgres user can always enter.
pgtool() {
    local tool=$1
    shift
    (cd "$dir" && "${as_pg[@]}" "$pgbin/$tool" "$@")
}

cleanup() {
    if [ -f "$dir/data/postmaster.pid" ]; then
        pgtool pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
# Turn INT/TERM into a normal exit, so that the EXIT trap stops the server.
trap 'exit 130' INT
trap 'exit 143' TERM

if ! initdb_out=$(pgtool initdb -D "$dir/data" -U wijkradar -A trust -E UTF8 --locale=C \
        --no-sync 2>&1); then
    echo "pg-env.sh: initdb failed:" >&2
    echo "$initdb_out" >&2
    exit 1
fi
if ! out=$(pgtool pg_ctl -D "$dir/data" -l "$dir/pg.log" -w -o "$pg_opts" start 2>&1); then
    echo "pg-env.sh: could not start PostgreSQL:" >&2
    echo "$out" >&2
    echo "--- initdb output ---" >&2
    echo "$initdb_out" >&2
    echo "--- $dir/pg.log ---" >&2
    cat "$dir/pg.log" >&2 2>/dev/null
    exit 1
fi

# Not exec: the EXIT trap must run after the command.
PGHOST=$dir PGUSER=wijkradar PGDATABASE=postgres \
    WR_PGDATA=$dir/data WR_PGBIN=$pgbin WR_PGLOG=$dir/pg.log WR_PGSOCKDIR=$dir \
    WR_PG_ASUSER=$as_user \
    "$@"
rc=$?
exit $rc
