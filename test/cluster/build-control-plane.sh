#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kubectl and helm from their
# published Go modules (pinned in test/cluster/gomod/*), into a cache outside the repo
# keyed by version. Idempotent: a cache that already holds every binary is reused.
#
#   test/cluster/build-control-plane.sh          # build if needed, print the bin dir
#
# Environment: CLAUDE_OPERATOR_CACHE (default ~/.cache/claude-operator).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module_version() { # go.mod module-path -> the version go.mod requires
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}
k8s_version=$(module_version "$here/gomod/kubernetes/go.mod" k8s.io/kubernetes)
helm_version=$(module_version "$here/gomod/helm/go.mod" helm.sh/helm/v4)
[ -n "$k8s_version" ] && [ -n "$helm_version" ] || { echo "cannot read pinned versions from $here/gomod" >&2; exit 1; }
cache_root=${CLAUDE_OPERATOR_CACHE:-$HOME/.cache/claude-operator}
bin_dir="$cache_root/k8s-$k8s_version-helm-$helm_version/bin"
binaries=(etcd kube-apiserver kube-controller-manager kubectl helm)

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

have_all() {
  local b
  for b in "${binaries[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done
}

if have_all; then
  log "cached: $bin_dir"
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { log "Go is required (https://go.dev/dl, or apt-get install golang-go >= 1.26)"; exit 1; }
mkdir -p "$bin_dir"
# Build into a scratch dir and move each binary in when it is complete, so an
# interrupted build never leaves a half-written binary that looks cached.
scratch=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

source "$here/k8s-ldflags.sh"
ldflags=$(k8s_ldflags "$k8s_version")

build() { # module-dir output-name package [ldflags]
  local dir=$1 name=$2 pkg=$3 flags=${4:-"-s -w"}
  if [ -x "$bin_dir/$name" ]; then log "$name: cached"; return; fi
  log "$name: building $pkg (this takes minutes on a cold cache)"
  local start=$SECONDS
  (cd "$here/gomod/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$scratch/$name" "$pkg")
  mv "$scratch/$name" "$bin_dir/$name"
  log "$name: built in $((SECONDS - start))s"
}

build kubernetes etcd go.etcd.io/etcd/server/v3
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ldflags"
build kubernetes kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
build helm helm helm.sh/helm/v4/cmd/helm
have_all
log "done: $bin_dir"
echo "$bin_dir"
