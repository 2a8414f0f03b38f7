#!/usr/bin/env bash
# Builds a real kube-apiserver from the Go module proxy (no download site
# is reachable here, and none is needed) and prints its path. The
# Kubernetes platform's and the Gateway API router's tests run against it
# (internal/kubetest). The binary is cached by version, so only the first
# run pays for the build (about 3 minutes on 2 cores, ~106 MB):
#
#   scripts/kube-apiserver.sh              # build or reuse; prints the path
#   export BLUEJAY_KUBE_APISERVER=$(scripts/kube-apiserver.sh)
#
# k8s.io/kubernetes replaces its k8s.io/* staging modules with directories
# in its own repository, which a module build cannot see; a throwaway
# module (never the project's go.mod) pins each to the matching v0.X.Y.
set -euo pipefail

version="${KUBE_VERSION:-v1.36.3}"
cache="${BLUEJAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bluejay}"
out="$cache/kube-apiserver-$version"
if [[ -x "$out" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
staging="v0.${version#v1.}"

modfile=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
{
  echo "module bluejay.local/kube-apiserver-build"
  echo
  echo "go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')"
  echo
  echo "replace ("
  # Every staging module k8s.io/kubernetes replaces with ./staging/...,
  # except sample-cli-plugin (not served, and not needed).
  awk '/=> \.\/staging\// && $1 != "k8s.io/sample-cli-plugin" { print "\t" $1 " => " $1 " '"$staging"'" }' "$modfile"
  echo ")"
} > go.mod
export GOFLAGS=-mod=mod
go get "k8s.io/kubernetes@$version" >&2
go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$version" >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
mv "$out.tmp" "$out"
echo "$out"
