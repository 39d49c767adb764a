#!/bin/sh
# Installs the official SDKs that tests/integ drives (tests/sdk/package-lock.json)
# into tests/sdk/node_modules, when it is missing or older than the lock file.
# Needs node and npm (deps/install.sh installs Debian's). `./dev test` runs it.
set -eu
cd "$(dirname "$0")"
# npm ci writes node_modules/.package-lock.json last: its age is the install's.
if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
    exit 0
fi
echo "tests/sdk/install.sh: npm ci (openai, @anthropic-ai/sdk)" >&2
npm ci --no-audit --no-fund >&2
