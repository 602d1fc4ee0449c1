#!/usr/bin/env bash
# The chaos suite (issue 12): installs what it needs, then injects each fault into
# one stack and prints one table (see test/chaos/run.ts for the options).
#
#   bash test/chaos/run.sh [--only 8,9] [--scale short|full] [--settings FILE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash test/bed/prerequisites.sh
if [ ! -x node_modules/.bin/node ] || ! cmp -s package-lock.json node_modules/.package-lock.json.ci 2>/dev/null; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.package-lock.json.ci
fi
bash test/cluster/build-control-plane.sh >/dev/null
exec node_modules/.bin/node test/chaos/run.ts "$@"
