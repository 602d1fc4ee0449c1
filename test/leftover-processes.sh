#!/usr/bin/env bash
# Lists processes the test bed may have started and left behind: the upstream
# binaries from the build cache (kubelet, containerd, shims and runc among them),
# redis-servers of the bed, the claude CLI, and any process in the real node's
# cgroup (its containers).
# Exit 1 (and print them) when there are any. The machine's own services (the
# system redis on 6379, postgres) are not ours and are not counted.
set -u
found=0
for proc in /proc/[0-9]*; do
  pid=${proc#/proc/}
  [ "$pid" = "$$" ] && continue
  exe=$(readlink "$proc/exe" 2>/dev/null) || continue
  cmd=$(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null) || continue
  if grep -q ':/claude-operator-node/' "$proc/cgroup" 2>/dev/null; then
    : # in the real node's cgroup (test/bed/real-node): a daemon, shim or container, whatever its binary
  else
    case "$exe" in
      */.cache/claude-operator/*/bin/*|*/@anthropic-ai/claude-code*/claude*) ;;
      # redis-server rewrites its title, but it works in the --dir the bed gave it.
      */redis-server) case "$(readlink "$proc/cwd" 2>/dev/null)" in *claude-operator-*) ;; *) continue ;; esac ;;
      *) continue ;;
    esac
  fi
  # A zombie is dead already; its parent will reap it.
  state=$(awk '/^State:/{print $2}' "$proc/status" 2>/dev/null)
  [ "$state" = "Z" ] && continue
  echo "left behind: pid $pid $cmd" >&2
  found=1
done
exit $found
