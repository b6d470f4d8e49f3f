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
if [ ! -s .wr-local/pseudonym.key ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >.wr-local/pseudonym.key)
fi
{
    echo "# written by deploy/demo.sh"
    echo "[http]"
    echo "listen = $listen"
    echo "[privacy]"
    echo "pseudonym_key_file = $proj/.wr-local/pseudonym.key"
    echo "[detect]"
    echo "# the demo starts the weekly analysis itself, after the upload"
    echo "schedule = false"
} >"$conf"

step "wijkradar migrate"
"$bin" --config "$conf" migrate

step "wijkradar areas import deploy/data/leeuwarden_wijken_2024.csv"
echo "(Bron: CBS, Kerncijfers wijken en buurten 2024 (85984NED))"
"$bin" --config "$conf" areas import deploy/data/leeuwarden_wijken_2024.csv
"$bin" --config "$conf" areas list --year 2024 --municipality GM0080 | head -n 6
echo "..."

step "wijkradar initiatives import (SYNTHETIC examples of existing collective initiatives)"
"$bin" --config "$conf" initiatives import --organisation welzijn-leeuwarden \
    deploy/data/initiatives_demo.csv

step "tokens: a source system, a team lead, an admin (shown once, stored as hashes)"
source_token=$("$bin" --config "$conf" token create --role source \
    --organisation welzijn-leeuwarden --source demo-export --name "demo export")
teamlead_token=$("$bin" --config "$conf" token create --role teamlead \
    --organisation welzijn-leeuwarden --name "demo team lead")
admin_token=$("$bin" --config "$conf" token create --role admin --organisation beheer \
    --name "demo admin")

step "a SYNTHETIC data set: five years of weekly needs in the 22 wijken, 14 themes"
python3 deploy/synthetic.py --out .wr-local/synthetic.csv

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
head -n 4 .wr-local/daemon.log
curl -s "$url/healthz"

step "wijkradar ingest: the nightly upload, in batches, acknowledged after commit"
WIJKRADAR_TOKEN=$source_token "$bin" --config "$conf" ingest --url "$url" \
    --source demo-export --organisation welzijn-leeuwarden --batch-size 5000 \
    --state .wr-local/ingest.state .wr-local/synthetic.csv 2>/dev/null

step "POST $url/v1/admin/analyze: the weekly analysis (normally scheduled, Monday 06:00 UTC)"
curl -s -X POST -H "Authorization: Bearer $admin_token" "$url/v1/admin/analyze"
echo
for _ in $(seq 100); do
    if curl -s -H "Authorization: Bearer $admin_token" "$url/v1/analysis/runs" |
        python3 deploy/demo_show.py done; then
        break
    fi
    sleep 0.1
done
curl -s -H "Authorization: Bearer $admin_token" "$url/v1/analysis/runs" |
    python3 deploy/demo_show.py run

step "GET $url/v1/alerts as the team lead: what the team lead is told"
alert_id=$(curl -s -H "Authorization: Bearer $teamlead_token" "$url/v1/alerts?state=open" |
    python3 deploy/demo_show.py first)
if [ -z "$alert_id" ]; then
    echo "no alert was raised (unexpected with the injected rise)" >&2
    exit 1
fi
curl -s -H "Authorization: Bearer $teamlead_token" "$url/v1/alerts/$alert_id" |
    python3 deploy/demo_show.py alert

step "PATCH $url/v1/alerts/$alert_id: the team lead acknowledges it"
curl -s -X PATCH -H "Authorization: Bearer $teamlead_token" \
    -d '{"state": "acknowledged", "note": "besproken in het teamoverleg"}' \
    "$url/v1/alerts/$alert_id" | python3 deploy/demo_show.py state

step "a SYNTHETIC care data set: trajectories, contacts and ZRM measurements of eight organisations"
python3 deploy/synthetic_care.py --out-dir .wr-local/care
for f in .wr-local/care/*.csv; do
    org=$(basename "$f" .csv)
    token=$("$bin" --config "$conf" token create --role source --organisation "$org" \
        --source demo-care --name "demo care export")
    WIJKRADAR_TOKEN=$token "$bin" --config "$conf" ingest --url "$url" --source demo-care \
        --organisation "$org" --batch-size 5000 "$f" 2>/dev/null
done

# The last quarter that lies wholly inside the data (which ends with the last complete week).
period=$(python3 -c 'import datetime as d
t = d.date.today() - d.timedelta(days=d.date.today().weekday() + 1)
q = (t.month - 1) // 3
y, q = (t.year, q) if q > 0 else (t.year - 1, 4)
print(f"{y}-Q{q}")')

step "wijkradar report benchmark --period $period: one HTML report per organisation"
"$bin" --config "$conf" report benchmark --period "$period" --out .wr-local/benchmark.html
analyst_token=$("$bin" --config "$conf" token create --role analyst --organisation kwadrant \
    --name "demo analyst")

step "GET $url/v1/benchmark?period=$period&format=csv as kwadrant's analyst (own figures, peer median)"
curl -s -H "Authorization: Bearer $analyst_token" "$url/v1/benchmark?period=$period&format=csv" |
    cut -d, -f3,6,7,9 | head -n 8
echo "..."
echo "open .wr-local/benchmark-kwadrant.html in a browser for the charts"

step "GET $url/metrics (excerpt)"
curl -s "$url/metrics" | grep -E '^wijkradar_(ingest_signals_total|analysis_runs_total|alerts_raised_total|db_connections_up)'

if [ -t 0 ] && [ -z "${WR_DEMO_EXIT:-}" ]; then
    step "the daemon runs at $url; press Ctrl-C to stop it (log: .wr-local/daemon.log)"
    trap 'echo; stop_all; trap - EXIT; exit 0' INT
    wait "$pid"
else
    step "stopping (SIGTERM drains and exits 0)"
fi
