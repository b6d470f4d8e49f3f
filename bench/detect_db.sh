#!/usr/bin/env bash
# PostgreSQL mode of the detection benchmark (bench/detect --db): runs inside tests/pg-env.sh
# (PGHOST, PGUSER, WR_PGLOG set), loads the national data set that detect_national --dump-db
# wrote (area rows per year with population and centroid; need_week_count rows of one wijkteam
# organisation per municipality) with COPY, and times `wijkradar analyze --week W` end to end
# under /usr/bin/time -v (wall, CPU of the analyze process, peak RSS):
#   run 1: temporal detection only ([detect] scan = false): raises the alerts
#   run 2: the same again: updates them
#   run 3: the default configuration: temporal detection plus the space-time scan
#   detect_db.sh WIJKRADAR_BIN DUMP_DIR WEEK
set -eu
bin=$1
dump=$2
week=$3
db=wrbench
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_q -d postgres -c "CREATE DATABASE $db"
# Statements slower than 200 ms go to the server log, to split database time from C time.
psql_q -d postgres -c "ALTER DATABASE $db SET log_min_duration_statement = 200"
export WIJKRADAR_DATABASE="host=$PGHOST dbname=$db user=$PGUSER"
"$bin" migrate >/dev/null 2>&1

t0=$(date +%s.%N)
psql_q -d "$db" <<EOF
INSERT INTO theme (code, label_nl, label_en) VALUES ('DIGITAAL', 'Digitale vaardigheden',
    'Digital skills') ON CONFLICT DO NOTHING;
\copy area (year, code, kind, name, municipality, population, centroid_lat, centroid_lon) FROM '$dump/area.tsv'
\copy need_week_count (organisation, area_year, area_code, theme, week, persons) FROM '$dump/need_week_count.tsv'
ANALYZE area;
ANALYZE need_week_count;
EOF
t1=$(date +%s.%N)
rows=$(psql -X -At -d "$db" -c "SELECT count(*) FROM need_week_count")
size=$(psql -X -At -d "$db" -c "SELECT pg_size_pretty(pg_total_relation_size('need_week_count'))")
orgs=$(psql -X -At -d "$db" -c "SELECT count(DISTINCT organisation) FROM need_week_count")
printf 'db         loaded need_week_count rows=%s (%s with indexes; %s organisations) in %.1f s (COPY + ANALYZE)\n' \
    "$rows" "$size" "$orgs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

printf '[detect]\nscan = false\n' >"$dump/noscan.ini"
for run in 1 2 3; do
    if [ "$run" = 3 ]; then
        what="default configuration (temporal + space-time scan)"
        cfg=()
    else
        what="temporal detection only (scan = false)"
        cfg=(--config "$dump/noscan.ini")
    fi
    log_from=$(stat -c %s "$WR_PGLOG")
    /usr/bin/time -v -o "$dump/time$run.txt" "$bin" "${cfg[@]}" analyze --week "$week" \
        >"$dump/analyze$run.txt" 2>"$dump/analyze$run.err" || {
        echo "analyze    run $run FAILED:"
        cat "$dump/analyze$run.err"
        exit 1
    }
    summary=$(head -n 1 "$dump/analyze$run.txt")
    alerts=$(grep -c '^alert ' "$dump/analyze$run.txt" || true)
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$dump/time$run.txt")
    user=$(sed -n 's/.*User time (seconds): //p' "$dump/time$run.txt")
    sys=$(sed -n 's/.*System time (seconds): //p' "$dump/time$run.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dump/time$run.txt")
    echo "analyze    run $run, $what:"
    echo "analyze    run $run: $summary"
    echo "analyze    run $run: wall $wall, analyze process cpu user ${user}s sys ${sys}s," \
        "peak RSS ${rss} KiB, alert lines printed $alerts"
    # Slow statements of this run (server side), longest first.
    tail -c +"$((log_from + 1))" "$WR_PGLOG" | grep -o 'duration: [0-9.]* ms.*' |
        sed 's/\(execute [^:]*\): *\(.\{0,80\}\).*/\1: \2.../' | sort -t' ' -k2 -rn |
        head -n 5 | sed "s/^/analyze    run $run: slow statement: /" || true
done
psql -X -At -d "$db" -F ' ' -c "SELECT 'analyze    analysis_run', id, status,
    'series_total=' || series_total, 'analysed=' || series_analysed,
    'raised=' || alerts_raised, 'updated=' || alerts_updated, duration_ms || ' ms'
    FROM analysis_run ORDER BY id"
psql -X -At -d "$db" -F ' ' -c "SELECT 'analyze    alerts by method:', method, count(*)
    FROM alert GROUP BY method ORDER BY method"
