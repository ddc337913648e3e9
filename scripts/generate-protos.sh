#!/usr/bin/env bash
# Regenerates Sources/ReportProtos from proto/ (the generated code is committed; builds never run this).
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift built from swift-protobuf 1.39.0:
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
rm -rf Sources/ReportProtos/fathom
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
    --swift_out=Sources/ReportProtos -Iproto proto/fathom/agent/v1/*.proto
