#!/bin/sh
# Installs the Debian packages tailgate needs when they are missing.
#   deps/install.sh          build + tests
#   deps/install.sh --bench  also what bench/ uses (wrk, nginx, valgrind for instruction counts)
#   deps/install.sh --fuzz   also clang and libFuzzer (./dev fuzz; the test
#                            command replays the fuzz corpora without them)
# Runs as root on a fresh Debian 12 machine; does nothing when all is present.
set -eu

# build: compiler, cmake, the libraries; tests: cmocka, python3 (integration
# harness), openssl (test certificates), nginx-light (a TLS/HTTP2 upstream),
# procps (pgrep, used by the harness), redis-server ([shared], started by the
# tests themselves on a free port), lintian (checks the Debian package),
# prometheus (its promtool lints /metrics).
pkgs="build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev libssl-dev
libcjson-dev libhiredis-dev node-llhttp libcmocka-dev python3 openssl curl procps nginx-light
redis-server lintian prometheus"
case "${1:-}" in
--bench) pkgs="$pkgs wrk valgrind linux-perf" ;;
--fuzz) pkgs="$pkgs clang-14 libfuzzer-14-dev" ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
# tests: node and npm run the official OpenAI and Anthropic SDKs (tests/sdk,
# installed there by tests/sdk/install.sh). Any node >= 18 on the PATH will do, so
# the commands are looked for, not Debian's packages.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0

echo "deps/install.sh: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "deps/install.sh: need root to install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Tests run nginx and redis-server themselves: keep the packages from
# starting system-wide ones (Debian's policy-rc.d convention).
own_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
if [ -n "$own_policy" ]; then
    rm -f /usr/sbin/policy-rc.d
fi
