#!/usr/bin/env bash
# Runs the whole suite with prove: every C test binary in build/tests and every tests/*.t script.
# Tests run from the repository root; ../shared (or $LLAMO_SHARED) holds the shared fixtures.
set -u
cd "$(dirname "$0")/.."
export LLAMO_SHARED=${LLAMO_SHARED:-$(cd .. && pwd)/shared}
export PATH="$PWD/bin:$PATH"
tests=$(ls build/tests/test_* 2>/dev/null; ls tests/*.t 2>/dev/null)
[ -n "$tests" ] || { echo "no tests found" >&2; exit 1; }
exec prove --exec '' $tests
