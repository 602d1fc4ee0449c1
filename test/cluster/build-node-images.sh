#!/usr/bin/env bash
# Builds the node's own images with buildah (no registry is reachable, so none is
# pulled): the pod sandbox (pause, from images/pause/pause.c) and busybox (from
# Debian's busybox-static). Each becomes an OCI archive in the cache, named by the
# hash of its build context, so it is rebuilt only when an input changes.
#
#   test/cluster/build-node-images.sh      # build if needed, print the images dir
#
# Prints the images dir; in it, <name>.tar is the archive and <name>.ref the image
# reference it carries (what containerd is given after `ctr images import`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${CLAUDE_OPERATOR_CACHE:-$HOME/.cache/claude-operator}
images_dir="$cache_root/node-images"
log() { printf '[build-node-images] %s\n' "$*" >&2; }

mkdir -p "$images_dir"
scratch=$(mktemp -d "$cache_root/images-build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Each build gets a store of its own, removed after: nothing accumulates in the
# machine's /var/lib/containers. vfs and chroot isolation need no overlay or runtime.
buildah_() {
  STORAGE_DRIVER=vfs buildah --root "$scratch/storage" --runroot "$scratch/run" "$@"
}

build() { # name reference context-dir
  local name=$1 ref=$2 context=$3 hash
  hash=$( (cd "$context" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; echo "$ref") |
    sha256sum | cut -c1-16)
  if [ "$(cat "$images_dir/$name.hash" 2>/dev/null)" = "$hash" ] && [ -s "$images_dir/$name.tar" ]; then
    log "$name: cached ($hash)"
    return
  fi
  log "$name: building $ref"
  local start=$SECONDS
  buildah_ bud --quiet --isolation chroot --pull=never --layers=false --timestamp 0 \
    --label "org.opencontainers.image.source=claude-operator test/cluster/images/$name" \
    -t "$ref" "$context" >/dev/null
  rm -f "$scratch/$name.tar"
  buildah_ push --quiet "$ref" "oci-archive:$scratch/$name.tar:$ref" >/dev/null
  mv "$scratch/$name.tar" "$images_dir/$name.tar"
  echo "$ref" >"$images_dir/$name.ref"
  echo "$hash" >"$images_dir/$name.hash"
  log "$name: built in $((SECONDS - start))s"
}

command -v buildah >/dev/null || { log "buildah is required (apt-get install -y buildah; see test/bed/prerequisites.sh)"; exit 1; }

mkdir -p "$scratch/pause"
cp "$here/images/pause/Dockerfile" "$scratch/pause/"
gcc -static -O2 -Wall -Werror -o "$scratch/pause/pause" "$here/images/pause/pause.c"
strip "$scratch/pause/pause"
# The name containerd's CRI plugin is configured with for sandboxes (test/bed/real-node).
build pause registry.k8s.io/pause:3.10 "$scratch/pause"

mkdir -p "$scratch/busybox"
cp "$here/images/busybox/Dockerfile" "$scratch/busybox/"
cp /bin/busybox "$scratch/busybox/busybox"
# ldd fails on a static executable: a dynamic busybox would not run in the image.
! ldd "$scratch/busybox/busybox" >/dev/null 2>&1 ||
  { log "/bin/busybox is not the static build (apt-get install -y busybox-static)"; exit 1; }
build busybox claude-operator.test/busybox:bed "$scratch/busybox"

echo "$images_dir"
