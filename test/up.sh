#!/usr/bin/env bash
# The "up" command: installs what it needs, then brings up the single-machine
# system until Ctrl-C: the control plane, the real node and the chart installed on
# it; with --local-node, the local node with the operator and the API as host
# processes (test/bed/up.ts).
#
#   bash test/up.sh [--settings FILE] [--local-node]     (default FILE: .bed.env in the repo)
# (Not --env-file: node itself takes that option wherever it appears.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash test/bed/prerequisites.sh
if [ ! -x node_modules/.bin/node ] || ! cmp -s package-lock.json node_modules/.package-lock.json.ci 2>/dev/null; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.package-lock.json.ci
fi
bash test/cluster/build-control-plane.sh >/dev/null
exec node_modules/.bin/node test/bed/up.ts "$@"
