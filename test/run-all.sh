#!/usr/bin/env bash
# The test command: from a fresh clone on a fresh machine it installs what it
# needs (Debian packages, npm packages, the control plane, the node and Kueue
# built from Go modules, the node's images), then runs the type check, the linter and
# every jest project (unit, integration, e2e), and finally checks that no
# process was left behind.
#
#   bash test/run-all.sh [jest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - started))"; }

step "prerequisites (Debian packages, PostgreSQL, Go)"
bash test/bed/prerequisites.sh

step "npm packages"
if [ ! -x node_modules/.bin/node ] || ! cmp -s package-lock.json node_modules/.package-lock.json.ci 2>/dev/null; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.package-lock.json.ci
fi
export PATH="$PWD/node_modules/.bin:$PATH"
node --version

step "control plane binaries"
bash test/cluster/build-control-plane.sh >/dev/null

step "node binaries (kubelet, kube-proxy, containerd, runc, CoreDNS, registry) and images (pause, busybox)"
bash test/cluster/build-node.sh >/dev/null
bash test/cluster/build-node-images.sh >/dev/null

step "Kueue (its manager, CRDs and webhook configurations, for the Kueue e2e test)"
bash test/cluster/build-kueue.sh >/dev/null

step "images from the project's Dockerfile, and Postgres and Redis for the chart"
bash test/cluster/build-images.sh >/dev/null

step "type check"
tsc --noEmit -p tsconfig.json

step "lint"
eslint .

step "jest: unit, integration, e2e"
results=$(mktemp)
status=0
# --forceExit: a client socket a test left open must not hang CI; processes
# left behind are caught by the check below instead.
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --forceExit --json --outputFile="$results" "$@" || status=$?
read -r passed failed < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites);' "$results" 2>/dev/null || echo "0 1")
rm -f "$results"

step "left-behind processes"
# A process killed as its parent exits can take a moment to be gone (a large
# address space to tear down on a loaded machine): allow 30 s before calling it left behind.
for _ in $(seq 30); do
  bash test/leftover-processes.sh 2>/dev/null && break
  sleep 1
done
if ! bash test/leftover-processes.sh; then
  echo "processes were left behind (listed above)"
  status=1
  failed=$((failed + 1))
fi

echo
echo "tests: ${passed} passed, ${failed} failed"
echo "total time: $((SECONDS - started)) s"
exit "$status"
