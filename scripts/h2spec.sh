#!/usr/bin/env bash
# Builds h2spec, the HTTP/2 conformance suite (github.com/summerwind/h2spec),
# from the Go module proxy and prints its path. internal/server's
# TestH2spec runs it against the proxy's h2c and TLS listeners and against
# a bare net/http server as the reference. The binary is cached by
# version, so only the first run pays for the build (a few seconds):
#
#   scripts/h2spec.sh                      # build or reuse; prints the path
#   export BLUEJAY_H2SPEC=$(scripts/h2spec.sh)
#
# h2spec's last release predates Go modules (v2.2.1+incompatible, no
# go.mod), so a throwaway module (never the project's go.mod) pins its
# dependencies to versions the project already uses.
set -euo pipefail

version="${H2SPEC_VERSION:-v2.2.1+incompatible}"
cache="${BLUEJAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bluejay}"
out="$cache/h2spec-${version%+incompatible}"
if [[ -x "$out" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module bluejay.local/h2spec-build

go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')
MOD
export GOFLAGS=-mod=mod
go get "github.com/summerwind/h2spec@$version" golang.org/x/net@v0.61.0 github.com/spf13/cobra@v1.10.2 \
  github.com/fatih/color@v1.19.0 github.com/mattn/go-isatty@v0.0.24 >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/summerwind/h2spec/cmd/h2spec >&2
mv "$out.tmp" "$out"
echo "$out"
