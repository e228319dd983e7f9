#!/bin/sh
# Builds the chatload binary as releases ship it: static (no cgo), reproducible paths,
# version, commit and build date stamped in. The Dockerfile and .ci/run both use this
# script, so what CI builds and checks is what the image contains.
#
#   scripts/build.sh [OUTPUT]          (default ./chatload)
#   VERSION=v1.2.3 COMMIT=... DATE=... scripts/build.sh /out/chatload
#
# Unset, VERSION, COMMIT and DATE come from git when there is a checkout, else "dev",
# "" and now.
set -eu
out=${1:-./chatload}
if [ -z "${COMMIT:-}" ] && command -v git >/dev/null 2>&1 && git rev-parse HEAD >/dev/null 2>&1; then
	COMMIT=$(git rev-parse HEAD)
	git diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT-dirty"
fi
if [ -z "${VERSION:-}" ] && command -v git >/dev/null 2>&1; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || true)
fi
VERSION=${VERSION:-dev}
COMMIT=${COMMIT:-}
DATE=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
	-o "$out" ./cmd/chatload
