#!/usr/bin/env bash
# Builds fathom-agent as the Dockerfile does (release, Swift standard library linked statically)
# and checks the binary: it starts, and it needs no FoundationNetworking, libcurl, libxml2 or
# Swift runtime library at run time (the runtime image has none of them).
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release --product fathom-agent --static-swift-stdlib --scratch-path .build-release-static)
swift build "${flags[@]}"
binary="$(swift build "${flags[@]}" --show-bin-path)/fathom-agent"
libraries="$(ldd "$binary")"
echo "$libraries"
if grep -Eq 'FoundationNetworking|libcurl|libxml2|libswiftCore|libFoundation' <<<"$libraries"; then
    echo "error: the release binary links a library the runtime image does not have" >&2
    exit 1
fi
version="$("$binary" version)"
echo "$version"
[[ "$version" == "fathom-agent "* ]]
