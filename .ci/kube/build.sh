#!/usr/bin/env bash
# Puts a real kube-apiserver, kubectl and etcd into one folder for
# cmd/replace-metadata's TestDeployAPIServer, which checks the manifests in
# deploy/kubernetes/ against a real API server (kubectl apply
# --dry-run=server). kube-apiserver and kubectl are built from this module
# (Kubernetes v1.34.4, every k8s.io staging module replaced by its v0.34.4);
# etcd is Debian's etcd-server package, unpacked, not installed.
#
# What is already in the folder is kept: about 4 minutes on a fresh machine
# with 2 cores, a few seconds after (Go's build cache). The folder is
# $REPLACE_METADATA_KUBE_BIN, by default
# ${XDG_CACHE_HOME:-$HOME/.cache}/replace-metadata/kube-v1.34.4/bin, where
# the test looks too. Prints the folder last.
set -euo pipefail
cd "$(dirname "$0")"
exec 3>&1 1>&2 # stdout is for the folder alone

version=v1.34.4
bin=${REPLACE_METADATA_KUBE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/replace-metadata/kube-$version/bin}
mkdir -p "$bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # apt-get download, as root, fetches as user _apt

if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kubectl" ]; then
  # Stamp the version as Kubernetes' own build does (hack/lib/version.sh),
  # in component-base (the server's /version) and client-go (kubectl's):
  # unstamped, they say v0.0.0-master+$Format:%H$, which kubectl's version
  # check cannot parse.
  minor=${version#v1.}
  minor=${minor%%.*}
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "building kube-apiserver and kubectl $version into $bin (about 4 minutes the first time)"
  go build -o "$tmp/" -ldflags "$ldflags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  # Moved in only once both built: a half-done build is never taken as done.
  mv "$tmp/kube-apiserver" "$tmp/kubectl" "$bin/"
fi

if [ ! -x "$bin/etcd" ]; then
  # apt-get download needs no root, but it needs the package lists: fetch
  # them (as root) when it fails, as on a fresh machine.
  got=""
  for try in 1 2 3; do
    (cd "$tmp" && apt-get download -qq etcd-server) && got=1 && break
    echo "apt-get download etcd-server failed (try $try)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq || true; fi
    sleep $((try * 5))
  done
  if [ -z "$got" ]; then
    echo "no etcd: Debian's etcd-server package could not be downloaded" >&2
    exit 1
  fi
  dpkg-deb -x "$tmp"/etcd-server_*.deb "$tmp/etcd-server"
  mv "$tmp/etcd-server/usr/bin/etcd" "$bin/etcd"
fi

echo "$("$bin/kube-apiserver" --version), $("$bin/etcd" --version | head -n 1), in $bin (${SECONDS}s)"
echo "$bin" >&3
