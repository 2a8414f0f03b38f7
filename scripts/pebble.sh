#!/usr/bin/env bash
# Builds Pebble, Let's Encrypt's test ACME CA, and pebble-challtestsrv, its
# challenge test server (whose DNS server answers the test hosts with
# 127.0.0.1), from the Go module proxy, and prints the directory holding
# both. internal/edge's ACME tests run them, with validation on, against
# the proxy's listeners. Cached by version: only the first run builds.
#
#   export BLUEJAY_PEBBLE=$(scripts/pebble.sh)
#
# The build happens in a throwaway module, never the project's go.mod.
set -euo pipefail

version="${PEBBLE_VERSION:-v2.10.3}"
cache="${BLUEJAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bluejay}"
out="$cache/pebble-$version"
if [[ -x "$out/pebble" && -x "$out/pebble-challtestsrv" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module bluejay.local/pebble-build

go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')
MOD
export GOFLAGS=-mod=mod
go get "github.com/letsencrypt/pebble/v2@$version" >&2
for cmd in pebble pebble-challtestsrv; do
  go build -trimpath -ldflags "-s -w" -o "$out/$cmd.tmp" "github.com/letsencrypt/pebble/v2/cmd/$cmd" >&2
  mv "$out/$cmd.tmp" "$out/$cmd"
done
echo "$out"
