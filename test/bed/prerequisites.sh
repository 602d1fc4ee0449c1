#!/usr/bin/env bash
# Makes sure this Debian machine has what the test bed needs: setpriv (util-linux),
# openssl, redis-server, a PostgreSQL server with a running cluster we may connect
# to, psql; what the real node needs (iptables, CNI plugins, buildah, libseccomp,
# gcc with a static libc, busybox-static, skopeo, mmdebstrap); and reports on go (>= 1.26, for
# building the control plane and the node; never installed here).
# Installs what is missing with apt-get when run as root, otherwise says what to run.
# Idempotent, and silent when everything is present and running.
#
#   bash test/bed/prerequisites.sh
#
# DATABASE_URL / REDIS_URL set: that server is used instead of a local one, so the
# local PostgreSQL server / redis-server is neither required nor started.
set -euo pipefail

log() { printf '[prerequisites] %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

postgres_server_installed() {
  have pg_ctlcluster && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# --- tools -------------------------------------------------------------------
missing_packages=()
need() { # need <check command...> -- <debian package> <what>
  local checks=() package what
  while [ "$1" != "--" ]; do checks+=("$1"); shift; done
  shift; package=$1; what=$2
  "${checks[@]}" && return 0
  log "missing: $what (package $package)"
  case " ${missing_packages[*]} " in *" $package "*) ;; *) missing_packages+=("$package") ;; esac
}

need have setpriv -- util-linux setpriv
need have openssl -- openssl openssl
[ -n "${REDIS_URL:-}" ] || need have redis-server -- redis-server redis-server
[ -n "${DATABASE_URL:-}" ] || need postgres_server_installed -- postgresql 'PostgreSQL server (pg_ctlcluster, postgres)'
need have psql -- postgresql-client psql
# The real node (test/bed/real-node): runc is built with libseccomp; kubelet and
# CNI portmap use iptables; the node's images are built with buildah, the pause
# image from a static C program, busybox from Debian's static build, and pushed
# to the node's registry with skopeo.
need have flock -- util-linux flock
need have unshare -- util-linux unshare
need have nsenter -- util-linux nsenter
need have pkg-config -- pkg-config pkg-config
need installed libseccomp-dev -- libseccomp-dev 'libseccomp headers'
need installed containernetworking-plugins -- containernetworking-plugins 'CNI plugins (bridge, host-local, loopback, portmap)'
need have iptables -- iptables iptables
need have buildah -- buildah buildah
need have skopeo -- skopeo 'skopeo (pushes the node'"'"'s images to its registry)'
need have gcc -- gcc gcc
need installed libc6-dev -- libc6-dev 'static libc (for the pause image)'
need installed busybox-static -- busybox-static 'static busybox (for the busybox image)'
# Run reports: the API prints PDFs with headless Chromium; the tests read them
# back with poppler's pdftotext and pdftoppm.
need have chromium -- chromium 'chromium (prints report PDFs)'
need have pdftotext -- poppler-utils 'pdftotext and pdftoppm (read report PDFs in the tests)'
# The chaos suite's bad-input fault mutates requests with zzuf, a fuzzer nobody here wrote.
need have zzuf -- zzuf 'zzuf (mutates requests in the chaos suite)'
# The project's images (test/cluster/build-images.sh) start from a Debian rootfs made here.
need have mmdebstrap -- mmdebstrap 'mmdebstrap (the Debian base of the project'"'"'s images)'

if [ ${#missing_packages[@]} -gt 0 ]; then
  if is_root && have apt-get; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    log "apt-get install -y ${missing_packages[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >&2
  else
    log "cannot install as $(id -un); run as root: apt-get update && apt-get install -y ${missing_packages[*]}"
    exit 1
  fi
fi

# --- go (report only) ----------------------------------------------------------
go_version=$( (have go && go env GOVERSION) 2>/dev/null || true)
if [[ "$go_version" =~ ^go([0-9]+)\.([0-9]+) ]]; then
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 26 ]; }; then
    log "warning: $go_version is older than go1.26, which test/cluster/build-control-plane.sh needs (https://go.dev/dl/)"
  fi
else
  log "warning: go not found; test/cluster/build-control-plane.sh needs go >= 1.26 unless its cache is built (https://go.dev/dl/)"
fi

# --- local PostgreSQL cluster --------------------------------------------------
[ -z "${DATABASE_URL:-}" ] || exit 0

clusters=$(pg_lsclusters --no-header 2>/dev/null || true)
if [ -z "$clusters" ]; then
  # Debian creates "main" on install, unless create_main_cluster is off.
  version=$(basename "$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n1 | xargs dirname | xargs dirname)")
  if ! is_root; then log "no PostgreSQL cluster; run as root: pg_createcluster $version main --start"; exit 1; fi
  log "pg_createcluster $version main --start"
  pg_createcluster "$version" main --start >&2
  clusters=$(pg_lsclusters --no-header)
fi

# Only the cluster on 5432, where test/bed/postgres.ts looks: others may be down on purpose.
while read -r version name port status _; do
  [ "$port" = 5432 ] || continue
  case "$status" in down*) ;; *) continue ;; esac
  # --skip-systemctl-redirect: containers and CI machines have no systemd.
  if ! is_root; then log "cluster $version/$name is down; run as root: pg_ctlcluster --skip-systemctl-redirect $version $name start"; exit 1; fi
  log "pg_ctlcluster --skip-systemctl-redirect $version $name start"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >&2
done <<<"$clusters"

# test/bed/postgres.ts connects as postgres over TCP or the socket, or as the current
# OS user over the socket. Debian's default pg_hba.conf allows only the last (peer),
# and only once that user has a role.
can_connect() { psql "$@" -d postgres -XAtqc 'SELECT 1' >/dev/null 2>&1; }
connected() {
  can_connect -h 127.0.0.1 -U postgres || can_connect -h /var/run/postgresql -U postgres ||
    can_connect -h /var/run/postgresql
}
# A cluster that was just started may still be recovering.
for _ in $(seq 1 30); do
  connected && exit 0
  pg_isready -q -h /var/run/postgresql && break
  sleep 1
done
connected && exit 0
user=$(id -un)
if [ "$user" != postgres ] && is_root && have runuser; then
  log "creating PostgreSQL superuser role $user, for peer authentication over the socket"
  if runuser -u postgres -- createuser --superuser "$user" >&2 && connected; then exit 0; fi
fi
log "PostgreSQL refuses us: allow user postgres on 127.0.0.1 in pg_hba.conf, or give $user a role (as root: bash $0)"
exit 1
