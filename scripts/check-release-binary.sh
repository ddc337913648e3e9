#!/usr/bin/env bash
# Builds fathom-agent as the Dockerfile does (release, Swift standard library linked statically)
# and checks the binary: it starts, it needs no FoundationNetworking, libcurl, libxml2 or Swift
# runtime library at run time (the runtime image has none of them), and it contains no stand-in,
# simulation or demo code (those live in fathom-demo and the tests).
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
# The stand-ins' and the simulation's modules, as they appear in (mangled) symbol names.
symbols="$(nm "$binary")"
if ! grep -q 'AgentApp' <<<"$symbols"; then
    echo "error: nm shows no AgentApp symbol; the check below would prove nothing" >&2
    exit 1
fi
if grep -E 'LocalServers|ProxySimulation|FathomDemo|AgentTestSupport|FakeKubernetesAPI|FakeCollector' <<<"$symbols" | head -n 5 | grep -q .; then
    echo "error: the release binary contains stand-in or simulation code:" >&2
    grep -E 'LocalServers|ProxySimulation|FathomDemo|AgentTestSupport|FakeKubernetesAPI|FakeCollector' <<<"$symbols" | head -n 5 >&2
    exit 1
fi
echo "no stand-in, simulation or demo symbols"
version="$("$binary" version)"
echo "$version"
[[ "$version" == "fathom-agent "* ]]
