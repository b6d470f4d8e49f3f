#!/usr/bin/env bash
# The main job on a local default: installs what is missing, builds, starts the daemon on the
# database in $WIJKRADAR_DATABASE or else on a private cluster under .wr-local/, loads the
# Leeuwarden wijken, and shows what the daemon does. Interactive: keeps the daemon running
# until Ctrl-C. Non-interactive (no terminal, or WR_DEMO_EXIT=1): stops it after the tour.
set -eu

proj=$(cd "$(dirname "$0")/.." && pwd)
cd "$proj"
listen=${WR_DEMO_LISTEN:-127.0.0.1:8080}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "installing Debian packages (if missing) and building"
bash deploy/install-deps.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null
bin=$proj/build/daemon/wijkradar
"$bin" --version

step "database"
mkdir -p .wr-local
own_pg=0
if [ -n "${WIJKRADAR_DATABASE:-}" ]; then
    echo "using WIJKRADAR_DATABASE"
else
    WIJKRADAR_DATABASE=$(bash deploy/local-pg.sh start)
    export WIJKRADAR_DATABASE
    own_pg=1
    echo "private PostgreSQL cluster: $WIJKRADAR_DATABASE"
fi
conf=.wr-local/wijkradar.conf
{
    echo "# written by deploy/demo.sh"
    echo "[http]"
    echo "listen = $listen"
} >"$conf"

step "wijkradar migrate"
"$bin" --config "$conf" migrate

step "wijkradar areas import deploy/data/leeuwarden_wijken_2024.csv"
echo "(Bron: CBS, Kerncijfers wijken en buurten 2024 (85984NED))"
"$bin" --config "$conf" areas import deploy/data/leeuwarden_wijken_2024.csv
"$bin" --config "$conf" areas list --year 2024 --municipality GM0080

step "wijkradar serve"
rm -f .wr-local/port
"$bin" --config "$conf" serve --port-file .wr-local/port 2>.wr-local/daemon.log &
pid=$!
stop_all() {
    kill -TERM "$pid" 2>/dev/null && wait "$pid" || true
    if [ "$own_pg" = 1 ]; then
        bash deploy/local-pg.sh stop
    fi
}
trap stop_all EXIT
for _ in $(seq 100); do
    [ -s .wr-local/port ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        cat .wr-local/daemon.log >&2
        exit 1
    fi
    sleep 0.1
done
url=http://127.0.0.1:$(cat .wr-local/port)
cat .wr-local/daemon.log

step "GET $url/healthz"
curl -s "$url/healthz"
step "GET $url/readyz"
curl -s "$url/readyz"
step "GET $url/nope (errors are JSON with a stable code)"
curl -s "$url/nope"
step "GET $url/metrics (excerpt)"
curl -s "$url/metrics" | grep -E '^wijkradar_(http_requests_total|db_connections_up|build_info)'

if [ -t 0 ] && [ -z "${WR_DEMO_EXIT:-}" ]; then
    step "the daemon runs at $url; press Ctrl-C to stop it (log: .wr-local/daemon.log)"
    trap 'echo; stop_all; trap - EXIT; exit 0' INT
    wait "$pid"
else
    step "stopping (SIGTERM drains and exits 0)"
fi
