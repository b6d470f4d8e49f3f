#!/usr/bin/env bash
# The one list of Debian packages wijkradar needs to build, run and test (bookworm).
# Used by .ci/run, tests/run.sh and deploy/demo.sh. Installs only what is missing, so a
# second run is fast and works offline. Needs root (or sudo) when something is missing.
set -eu

packages=(
    # build
    gcc meson ninja-build pkg-config protobuf-c-compiler clang-format
    libpq-dev libevent-dev libgsl-dev libprotobuf-c-dev libinih-dev libjansson-dev libcsv-dev libssl-dev libcurl4-openssl-dev
    # run: PostgreSQL for the local default database and the tests
    postgresql
    # test
    libcmocka-dev python3 python3-pytest python3-psycopg2 python3-protobuf protobuf-compiler curl
    # test: a real SMTP server for the e-mail tests, openssl for their certificates
    python3-aiosmtpd openssl
    # test: the manual page is rendered by groff
    groff-base
    # test: headless Chromium renders the HTML report
    chromium
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=
if [ "$(id -u)" != 0 ]; then
    sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
