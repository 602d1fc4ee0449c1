#!/usr/bin/env bash
# Builds Kueue's manager from its published Go module (sigs.k8s.io/kueue, pinned
# below) and copies the module's CRDs (config/components/crd/bases) and webhook
# configurations (config/components/webhook/manifests.yaml) beside it, into
# a cache outside the repo keyed by version. Idempotent: a cache that already holds
# the manager and the CRDs is reused. The e2e tests that need Kueue run it as a host
# process against the bed's apiserver (test/bed/kueue.ts).
#
#   test/cluster/build-kueue.sh          # build if needed, print the cache dir
#
# Environment: CLAUDE_OPERATOR_CACHE (default ~/.cache/claude-operator).
set -euo pipefail

# The newest version the module proxy serves; its go.mod asks for Go 1.25, so the
# machine's Go (>= 1.26) builds it without a toolchain download.
kueue_version=v0.17.0
module=sigs.k8s.io/kueue

cache_root=${CLAUDE_OPERATOR_CACHE:-$HOME/.cache/claude-operator}
dir="$cache_root/kueue-$kueue_version"

log() { printf '[build-kueue] %s\n' "$*" >&2; }
have_all() { [ -x "$dir/bin/kueue" ] && [ -s "$dir/crds/kueue.x-k8s.io_workloads.yaml" ] && [ -s "$dir/webhooks.yaml" ]; }

if have_all; then
  log "cached: $dir"
  echo "$dir"
  exit 0
fi

command -v go >/dev/null || { log "Go is required (>= 1.26)"; exit 1; }
mkdir -p "$cache_root"
# Build into a scratch dir and move the result in when it is complete, so an
# interrupted build never leaves a half-written binary that looks cached.
scratch=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT

log "kueue: building $module/cmd/kueue@$kueue_version (minutes on a cold cache)"
start=$SECONDS
# A module build has no git tree: stamp the version as upstream's Makefile does.
ldflags="-s -w -X $module/pkg/version.GitVersion=$kueue_version -X $module/pkg/version.BuildDate=1970-01-01T00:00:00Z"
mkdir -p "$scratch/bin" "$scratch/crds"
GOBIN="$scratch/bin" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$module/cmd/kueue@$kueue_version"
log "kueue: built in $((SECONDS - start))s"

# The CRDs and webhook configurations of the same version, from the module's own
# source in the module cache (the webhooks name Kueue's Service; test/bed/kueue.ts
# points them at its loopback port instead).
module_dir=$(cd "$scratch" && go mod download -json "$module@$kueue_version" | awk -F'"' '$2 == "Dir" {print $4}')
for needed in config/components/crd/bases config/components/webhook/manifests.yaml; do
  [ -e "$module_dir/$needed" ] || { log "no $needed in $module_dir"; exit 1; }
done
cp "$module_dir"/config/components/crd/bases/*.yaml "$scratch/crds/"
cp "$module_dir/config/components/webhook/manifests.yaml" "$scratch/webhooks.yaml"

rm -rf "$dir"
mv "$scratch" "$dir"
chmod 755 "$dir"
trap - EXIT
have_all
log "done: $dir"
echo "$dir"
