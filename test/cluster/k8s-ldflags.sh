# Sourced by the build scripts: k8s_ldflags VERSION prints the -ldflags that stamp a
# Kubernetes binary built from the module with the version upstream's own build sets
# (a module build has no git tree to read it from, and would say v0.0.0).
k8s_ldflags() {
  local version=$1 major minor pkg flags="-s -w"
  major=${version#v}; major=${major%%.*}
  minor=${version#v*.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}
