#!/usr/bin/env bash
# The whole test suite, as README.md shows it: installs what is missing, builds with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-test/, checks formatting, runs the
# unit, end-to-end and fuzz-replay tests (each end-to-end file on its own throw-away
# PostgreSQL), and ends with a "N passed, N failed" line. Exits non-zero on any failure.
set -u

proj=$(cd "$(dirname "$0")/.." && pwd)
cd "$proj"
builddir=${WR_BUILD_DIR:-build-test}

bash deploy/install-deps.sh || exit 1
if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" -Db_sanitize=address,undefined -Db_lundef=false || exit 1
fi
ninja -C "$builddir" || exit 1
if ! ninja -C "$builddir" clang-format-check >/dev/null; then
    echo "run.sh: C sources are not formatted; run: ninja -C $builddir clang-format" >&2
    ninja -C "$builddir" clang-format-check | tail -n 30 >&2
    exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:suppressions=$proj/tests/suppressions/asan.supp
export LSAN_OPTIONS=suppressions=$proj/tests/suppressions/lsan.supp
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rm -f "$builddir/meson-logs/testlog.json"
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
rc=$?

log=$builddir/meson-logs/testlog.json
if [ -f "$log" ]; then
    /usr/bin/python3 - "$log" <<'PY'
import json
import sys

counts = {"passed": 0, "failed": 0, "skipped": 0}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line:
        continue
    result = json.loads(line).get("result", "")
    if result in ("OK", "EXPECTEDFAIL"):
        counts["passed"] += 1
    elif result == "SKIP":
        counts["skipped"] += 1
    else:
        counts["failed"] += 1
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
else
    echo "0 passed, 1 failed"
    rc=1
fi
exit $rc
