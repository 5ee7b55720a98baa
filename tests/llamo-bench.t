#!/usr/bin/env bash
# Smoke test of the GPU benchmark driver on the CPU with the tiny shape, so that the library API
# it uses cannot drift unnoticed while no GPU runs it (this measures nothing).
cd "$(dirname "$0")/.."
b=build/bench/llamo-bench
[ -x $b ] || { echo "1..0 # SKIP $b not built"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
$b --shape tiny --device cpu --tokens 8 --repeats 1 --batch 2 --copy-mib 8 --json $tmp/r.json > $tmp/out 2>&1
rc=$?
[ $rc = 0 ] && echo "ok 1 - llamo-bench --shape tiny --device cpu runs" || { echo "not ok 1 - llamo-bench exits $rc"; sed 's/^/# /' $tmp/out; }
grep -q '"stream_fps"' $tmp/r.json && echo "ok 2 - it writes its JSON results" || echo "not ok 2 - no JSON results"
$b --shape 2b --device cpu > /dev/null 2>&1; rc=$?
[ $rc = 64 ] && echo "ok 3 - an unknown shape is a usage error (64)" || echo "not ok 3 - unknown shape exits $rc"
echo 1..3
