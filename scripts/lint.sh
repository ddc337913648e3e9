#!/usr/bin/env bash
# swift format lint --strict on our own Swift code (generated protobuf code is left as generated).
set -euo pipefail
cd "$(dirname "$0")/.."
find Sources Tests Fuzz Package.swift -name '*.swift' -not -path 'Sources/ReportProtos/*' -print0 \
    | xargs -0 swift format lint --strict
