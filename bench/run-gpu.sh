#!/usr/bin/env bash
# run-gpu.sh: the one command for a GPU machine (bench/README.md). In one call: unpacks the
# carried C libraries (.gpu-debs/, from scripts/gpu-deps.sh fetch) when the machine lacks them,
# builds with CUDA, runs the CUDA parity tests, benchmarks llamo (build/bench/llamo-bench) and
# the same model in PyTorch (train/bench_cuda.py) on the 1b shape, then 3b and 8b while time is
# left, and prints a short table last. Each part has a time limit and the whole run stays inside
# --budget seconds (default 570: the device tool allows 600 per command).
#
#   bash bench/run-gpu.sh [--shapes "1b 3b 8b"] [--no-build] [--no-parity] [--budget S] [--dry-run]
#
# --dry-run: the CPU, the tiny shape, no CUDA build and no parity tests: checks this script end to
# end on a machine without a GPU (make bench-cuda-dry). Output: the terminal, and under $OUT (set
# on the device machine; default out/bench-gpu): run-gpu.log (everything), summary.md (the
# table), results.json (every number). Exit status: 0 when every part ran, 1 when a part failed
# or was cut short (the table's status lines say which), 64 usage, 69 no GPU visible or the
# libraries or tools are missing.
set -u
set -o pipefail
cd "$(dirname "$0")/.." || exit 70

SHAPES="1b 3b 8b"
BUILD=1
PARITY=1
DRY=0
BUDGET=${BENCH_BUDGET:-570}
while [ $# -gt 0 ]; do
	case "$1" in
	--shapes) SHAPES=${2:?--shapes needs a list}; shift ;;
	--no-build) BUILD=0 ;;
	--no-parity) PARITY=0 ;;
	--budget) BUDGET=${2:?--budget needs seconds}; shift ;;
	--dry-run) DRY=1 ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-gpu: unknown argument '$1' (try --help)" >&2; exit 64 ;;
	esac
	shift
done
case "$BUDGET" in ''|*[!0-9]*) echo "run-gpu: --budget wants whole seconds, got '$BUDGET'" >&2; exit 64 ;; esac
[ -n "${SHAPES// /}" ] || { echo "run-gpu: --shapes is empty" >&2; exit 64; }
for s in $SHAPES; do
	case $s in tiny|1b|3b|8b) ;; *) echo "run-gpu: unknown shape '$s' (tiny, 1b, 3b, 8b)" >&2; exit 64 ;; esac
done

START=$(date +%s)
OUTDIR=${OUT:-out/bench-gpu}
RES=$(mktemp -d "${TMPDIR:-/tmp}/llamo-bench.XXXXXX") || exit 70
trap 'rm -rf "$RES"' EXIT
mkdir -p "$OUTDIR" || exit 74
say() { echo "run-gpu: $*"; }
elapsed() { echo $(( $(date +%s) - START )); }

if [ "$DRY" = 1 ]; then
	DEV=cpu
	SHAPES=tiny
	CARGS="--tokens 16 --repeats 2 --copy-mib 64"
	PYARGS="--tokens 16 --repeats 2"
	JOBS=2
	BUILD_CUDA=0
	PARITY=0
else
	DEV=cuda
	CARGS="--tokens 75 --repeats 5"
	PYARGS="--tokens 75 --repeats 3"
	JOBS=16
	BUILD_CUDA=1
	if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
		say "no GPU visible (nvidia-smi lists none); on a machine without one, 'make bench-cuda-dry' checks this script on the CPU" >&2
		exit 69
	fi
fi

LOG=$OUTDIR/run-gpu.log
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE=$!
# at exit: the temporary results go, and tee gets to write the last lines before the script ends
trap 'rm -rf "$RES"; exec >&- 2>&-; wait $TEE 2>/dev/null' EXIT

STATUS=()
RESERVE=15 # seconds kept for the summary
# part NAME CAP COMMAND...: runs COMMAND with at most CAP seconds, less when the budget is short
part() {
	local name=$1 cap=$2
	shift 2
	local left=$(( BUDGET - $(elapsed) - RESERVE ))
	[ "$left" -lt "$cap" ] && cap=$left
	if [ "$cap" -lt 20 ]; then
		say "$name: skipped, ${left} s of the budget left"
		STATUS+=("$name: skipped (budget)")
		return 124
	fi
	echo
	echo "=== $name (at most $cap s; $(elapsed) s so far)"
	local t0=$(date +%s)
	timeout -k 10 "$cap" "$@"
	local rc=$? dt=$(( $(date +%s) - t0 ))
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		STATUS+=("$name: cut at $cap s")
	elif [ $rc -ne 0 ]; then
		STATUS+=("$name: FAILED (exit $rc, $dt s)")
	else
		STATUS+=("$name: ok ($dt s)")
	fi
	return $rc
}

# ---- the machine ----
echo "=== machine ($(date -u '+%Y-%m-%d %H:%M UTC'))"
HEADER="$(date -u '+%Y-%m-%d')"
if [ "$DRY" = 0 ]; then
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit \
		--format=csv 2>&1 | sed 's/^/  /'
	gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
	HEADER="GPU: ${gpu%%,*}, driver ${gpu##*, }; $HEADER"
else
	HEADER="dry run on the CPU ($(nproc) cores), tiny shape: not a measurement; $HEADER"
fi
command -v nvcc >/dev/null && nvcc --version | tail -2 | sed 's/^/  /'
PY=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
	tv=$("$PY" -c 'import torch; print(torch.__version__)')
	echo "  python: $PY, torch $tv"
	HEADER="$HEADER; torch $tv"
else
	say "no python3 with torch: the PyTorch side will not run"
fi
command -v nvcc >/dev/null && HEADER="$HEADER; $(nvcc --version | sed -n 's/.*\(release [0-9.]*\).*/nvcc \1/p')"
rev=$(git rev-parse --short HEAD 2>/dev/null) && HEADER="$HEADER; llamo $rev$(git diff --quiet HEAD 2>/dev/null || echo +changes)"

# ---- the C libraries: carried .deb files when the machine lacks them ----
CC=${CC:-cc}
command -v "$CC" >/dev/null || CC=gcc
if ! command -v "$CC" >/dev/null || ! command -v make >/dev/null; then
	say "no C compiler or make on this machine"
	exit 69
fi
LDL=$(printf 'include Makefile\n__ldlibs:\n\t@echo $(LDLIBS)\n' | make -s --no-print-directory -f - CUDA=0 __ldlibs 2>/dev/null)
[ -n "$LDL" ] || LDL="-ljansson -lonig -lopenblas -lm"
probe() {
	printf '#include <jansson.h>\n#include <oniguruma.h>\n#include <cblas.h>\nint main(void){return 0;}\n' > "$RES/probe.c"
	"$CC" "$RES/probe.c" $LDL -o "$RES/probe" 2> "$RES/probe.err"
}
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} # python runs with this: it needs none of the carried libraries
if [ -d .gpu-debs ] && ls .gpu-debs/*.deb >/dev/null 2>&1; then
	# always prefer the carried copies when they came along: the same libraries the build here used
	. scripts/gpu-deps.sh unpack /tmp/llamo-deps || exit 69
fi
if ! probe; then
	say "cannot build against the C libraries ($LDL):"
	sed 's/^/  /' "$RES/probe.err" | head -5
	say "fetch them where apt works with 'sh scripts/gpu-deps.sh fetch' and carry .gpu-debs (bench/README.md)"
	exit 69
fi
echo "  C libraries: ok ($LDL)"

# ---- build, parity ----
if [ "$BUILD" = 1 ]; then
	if [ "$BUILD_CUDA" = 1 ]; then
		part "build (make CUDA=1)" 300 make -j"$JOBS" CUDA=1 all build/bench/llamo-bench || { say "the build failed"; }
	else
		part "build (make)" 300 make -j"$JOBS" build/bench/llamo-bench || { say "the build failed"; }
	fi
fi
if [ ! -x build/bench/llamo-bench ]; then
	say "build/bench/llamo-bench is missing: nothing to measure"
	STATUS+=("llamo-bench: not built")
fi
# without perl's prove: each CUDA test binary on its own (TAP; a "not ok" line or a non-zero exit
# fails the part)
tap_each() {
	local rc=0 t out
	for t in build/tests/test_cuda_*; do
		[ -x "$t" ] || continue
		echo "# $t"
		out=$(LLAMO_REQUIRE_GPU=1 "$t" 2>&1) || rc=1
		echo "$out"
		grep -q '^not ok' <<< "$out" && rc=1
	done
	return $rc
}
if [ "$PARITY" = 1 ]; then
	if command -v prove >/dev/null; then
		part "CUDA parity tests (make test-cuda)" 150 make CUDA=1 test-cuda
	else
		export -f tap_each
		part "CUDA parity tests (no prove here: each test_cuda_* binary)" 150 bash -c tap_each
	fi
fi

# ---- the benchmarks, shape by shape ----
export PYTHONUNBUFFERED=1
summary() { # [--only SHAPE]
	"${PY:-python3}" bench/summary.py "$RES" --out "$OUTDIR" --header "$HEADER" \
		--status "$(printf '%s\n' "${STATUS[@]}")" "$@"
}
caps() { # the part limits of shape $1: llamo-bench, PyTorch (seconds)
	case $1 in
	1b) echo 150 150 ;;
	3b) echo 150 120 ;;
	8b) echo 240 150 ;;
	*) echo 120 120 ;;
	esac
}
run_c() {
	local s=$1 cc
	read -r cc _ <<< "$(caps "$s")"
	[ -x build/bench/llamo-bench ] || return 0
	build/bench/llamo-bench --shape "$s" $CARGS --print-config > "$RES/config-$s.json"
	# its own --budget cuts repeats before the part's limit would stop it
	part "llamo-bench $s" "$cc" build/bench/llamo-bench --shape "$s" --device "$DEV" $CARGS \
		--budget $(( cc * 2 / 3 )) --json "$RES/c-$s.json"
}
run_py() {
	local s=$1 cp cfg
	read -r _ cp <<< "$(caps "$s")"
	[ -n "$PY" ] || return 0
	if [ -s "$RES/config-$s.json" ]; then cfg=(--config "$RES/config-$s.json"); else cfg=(--shape "$s"); fi
	part "PyTorch $s" "$cp" env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" "$PY" train/bench_cuda.py --device "$DEV" "${cfg[@]}" $PYARGS \
		--budget $(( cp * 2 / 3 )) --json "$RES/py-$s.json"
}
# the first shape on both sides and its table; then the other shapes' llamo numbers, then their
# PyTorch numbers (the C side of the big shapes matters more if time runs out)
set -- $SHAPES
first=$1
shift
run_c "$first"
run_py "$first"
echo
summary --only "$first" # this shape's table now (results.json in $OUT kept current)
for s in "$@"; do run_c "$s"; summary --only "$s" > /dev/null; done
for s in "$@"; do run_py "$s"; summary --only "$s" > /dev/null; done

echo
echo "=== status ($(elapsed) s)"
printf '  %s\n' "${STATUS[@]}"
echo
summary
for x in "${STATUS[@]}"; do
	case "$x" in *": ok "*) ;; *) exit 1 ;; esac
done
exit 0
