#!/usr/bin/env bash
# Builds the release archives into dist/: for each platform an archive with
# the binary and the README (.zip for Windows, .tar.gz otherwise), and
# dist/checksums.txt with their SHA-256 sums. Pure Go (CGO_ENABLED=0), so
# one machine builds them all.
#
#   scripts/release.sh                          # version from git describe
#   VERSION=v1.2.0 scripts/release.sh
#   PLATFORMS="linux/amd64" scripts/release.sh  # fewer platforms
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3 # as the Makefile: PocketBase v0.40.4 needs Go 1.27

version=${VERSION:-$(git describe --tags --dirty 2>/dev/null || echo source)}
commit=$(git describe --always --dirty --abbrev=12 --exclude='*')
platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}

rm -rf dist
mkdir -p dist
for platform in $platforms; do
  os=${platform%/*}
  arch=${platform#*/}
  name=pocketclerk_${version#v}_${os}_${arch}
  stage=dist/$name
  exe=pocketclerk
  [ "$os" = windows ] && exe=pocketclerk.exe

  echo "building $name"
  mkdir -p "$stage"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
    -o "$stage/$exe" .
  cp README.md "$stage/"
  if [ "$os" = windows ]; then
    (cd "$stage" && zip -q -r "../$name.zip" .)
  else
    tar -czf "dist/$name.tar.gz" -C "$stage" .
  fi
  rm -rf "$stage"
done

cd dist
shopt -s nullglob
archives=(*.tar.gz *.zip)
sha256sum -- "${archives[@]}" > checksums.txt
cat checksums.txt
