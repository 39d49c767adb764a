#!/bin/sh
# Runs benchmark suites (all by default); see bench/README.md.
set -eu
cd "$(dirname "$0")/.."
exec python3 bench/bench.py "$@"
