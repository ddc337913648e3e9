#!/usr/bin/env bash
# Coverage-guided fuzzing of the page parser and the Linkerd decoder with libFuzzer.
#   scripts/fuzz.sh [SECONDS]      (default 60)
# Seeds are the real pages in ../shared/fixtures/linkerd; crashes land in .build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work=.build-fuzz
rm -rf "$work/src" && mkdir -p "$work/src" "$work/corpus"
# One module: drop the imports of our own modules, which are compiled together here.
for file in Sources/PrometheusText/*.swift Sources/FathomModel/*.swift Sources/LinkerdMetrics/*.swift; do
    sed -E '/^import (PrometheusText|FathomModel|LinkerdMetrics)$/d' "$file" > "$work/src/$(basename "$(dirname "$file")")_$(basename "$file")"
done
cp Fuzz/FuzzEntry.swift "$work/src/"
# The linker's notes about ASan's local symbols are noise; real errors still fail the build.
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FathomFuzz "$work"/src/*.swift \
    -o "$work/fuzz-pages" 2> "$work/build.log" || { cat "$work/build.log"; exit 1; }
fixtures="$(realpath "${FATHOM_FIXTURES:-../shared/fixtures/linkerd}")"
cd "$work"
./fuzz-pages -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 corpus "$fixtures"
