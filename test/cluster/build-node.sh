#!/usr/bin/env bash
# Builds the node's binaries from their published Go modules, into the same
# versioned cache as the control plane (test/cluster/build-control-plane.sh):
#   kubelet, kube-proxy, kube-scheduler   k8s.io/kubernetes, pinned in test/cluster/gomod/kubernetes
#                         (the scheduler for control planes whose pods go to the real node)
#   containerd, containerd-shim-runc-v2, ctr   github.com/containerd/containerd/v2
#   runc                  github.com/opencontainers/runc, built as a main module
#                         (its go.mod has replace directives, which `go install` refuses)
#   coredns               github.com/coredns/coredns, the cluster DNS
#   registry              github.com/distribution/distribution/v3, the OCI registry containerd pulls from
#   local-path-provisioner   github.com/rancher/local-path-provisioner, the default StorageClass's
#                         provisioner (as kind ships it): PVCs become directories under the node's dir
# Idempotent: a binary whose recorded version matches is reused.
#
#   test/cluster/build-node.sh          # build if needed, print the bin dir
#
# Environment: CLAUDE_OPERATOR_CACHE (default ~/.cache/claude-operator).
# runc needs cgo and libseccomp (Debian: libseccomp-dev pkg-config; see test/bed/prerequisites.sh).
set -euo pipefail

containerd_version=v2.4.2
# Debian's runc 1.1.5 fails under containerd 2.4 ("can't get final child's PID from pipe: EOF").
runc_version=v1.5.3
coredns_version=v1.15.0
registry_version=v3.1.2
# The only version the module proxy serves.
local_path_version=v0.0.30

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The control plane's bin dir (built first if it is not yet).
bin_dir=$(bash "$here/build-control-plane.sh" | tail -n1)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/gomod/kubernetes/go.mod")
cache_root=${CLAUDE_OPERATOR_CACHE:-$HOME/.cache/claude-operator}
# Each binary's version beside it, so a changed pin rebuilds just that binary.
stamps="$bin_dir/.versions"

log() { printf '[build-node] %s\n' "$*" >&2; }
cached() { # name version
  [ -x "$bin_dir/$1" ] && [ "$(cat "$stamps/$1" 2>/dev/null)" = "$2" ]
}
install_built() { # name version built-file
  mv "$3" "$bin_dir/$1"
  echo "$2" >"$stamps/$1"
}

mkdir -p "$stamps"
scratch=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
command -v go >/dev/null || { log "Go is required (>= 1.26)"; exit 1; }

source "$here/k8s-ldflags.sh"

for name in kubelet kube-proxy kube-scheduler; do
  cached "$name" "$k8s_version" && { log "$name: cached"; continue; }
  log "$name: building k8s.io/kubernetes/cmd/$name@$k8s_version (minutes on a cold cache)"
  start=$SECONDS
  (cd "$here/gomod/kubernetes" &&
    CGO_ENABLED=0 go build -trimpath -ldflags "$(k8s_ldflags "$k8s_version")" -o "$scratch/$name" "k8s.io/kubernetes/cmd/$name")
  install_built "$name" "$k8s_version" "$scratch/$name"
  log "$name: built in $((SECONDS - start))s"
done

containerd_binaries=(containerd containerd-shim-runc-v2 ctr)
need_containerd=false
for name in "${containerd_binaries[@]}"; do cached "$name" "$containerd_version" || need_containerd=true; done
if $need_containerd; then
  log "containerd: building github.com/containerd/containerd/v2@$containerd_version (minutes on a cold cache)"
  start=$SECONDS
  pkg=github.com/containerd/containerd/v2
  containerd_ldflags="-s -w -X $pkg/version.Version=$containerd_version -X $pkg/version.Package=$pkg"
  # The shim is static, as upstream builds it: it outlives containerd and must not
  # depend on the host's libc.
  GOBIN="$scratch" CGO_ENABLED=0 go install -trimpath -ldflags "$containerd_ldflags" \
    "$pkg/cmd/containerd@$containerd_version" "$pkg/cmd/containerd-shim-runc-v2@$containerd_version" \
    "$pkg/cmd/ctr@$containerd_version"
  for name in "${containerd_binaries[@]}"; do install_built "$name" "$containerd_version" "$scratch/$name"; done
  log "containerd: built in $((SECONDS - start))s"
else
  log "containerd: cached"
fi

if cached runc "$runc_version"; then
  log "runc: cached"
else
  log "runc: building github.com/opencontainers/runc@$runc_version"
  start=$SECONDS
  pkg-config --exists libseccomp || { log "runc needs libseccomp (apt-get install -y libseccomp-dev pkg-config)"; exit 1; }
  source_dir=$(cd "$scratch" && go mod download -json "github.com/opencontainers/runc@$runc_version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$source_dir" ] || { log "runc: go mod download gave no source directory"; exit 1; }
  # The module cache is read-only; the build writes go.sum updates beside go.mod.
  cp -r "$source_dir" "$scratch/runc-src" && chmod -R u+w "$scratch/runc-src"
  (cd "$scratch/runc-src" && CGO_ENABLED=1 go build -trimpath -mod=mod -tags seccomp \
    -ldflags "-s -w -X main.version=${runc_version#v}" -o "$scratch/runc" .)
  install_built runc "$runc_version" "$scratch/runc"
  log "runc: built in $((SECONDS - start))s"
fi

go_install() { # name version package@version: one binary from a module without replace directives
  local name=$1 version=$2 package=$3
  if cached "$name" "$version"; then log "$name: cached"; return; fi
  log "$name: building $package (minutes on a cold cache)"
  local start=$SECONDS
  GOBIN="$scratch" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$package"
  install_built "$name" "$version" "$scratch/$(basename "${package%@*}")"
  log "$name: built in $((SECONDS - start))s"
}
go_install coredns "$coredns_version" "github.com/coredns/coredns@$coredns_version"
go_install registry "$registry_version" "github.com/distribution/distribution/v3/cmd/registry@$registry_version"
go_install local-path-provisioner "$local_path_version" "github.com/rancher/local-path-provisioner@$local_path_version"

log "done: $bin_dir"
echo "$bin_dir"
