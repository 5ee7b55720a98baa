#!/bin/sh
# Run each libFuzzer target under ASan + UBSan (any report is a crash), starting from and
# updating its corpus in the tree (tests/fuzz/corpus/NAME, minimized with -merge=1 after the
# run), and print one line of figures per target: executions, seconds, edges reached of those
# instrumented, features, corpus files and bytes, crashes.
#
#   scripts/fuzz.sh SECONDS TARGET...      (make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="fuzz_bvh ...")
#
# The figures also go to build/fuzz/summary.tsv. Exit 1 on the first crash, with its log's tail;
# the crashing input stays in build/fuzz/ (libFuzzer's crash-* file).
set -eu
secs=$1; shift
[ $# -gt 0 ] || { echo "fuzz.sh: no targets" >&2; exit 64; }
mkdir -p build/fuzz
sum=build/fuzz/summary.tsv
printf 'target\texecutions\tseconds\tedges\tinstrumented\tfeatures\tcorpus_files\tcorpus_bytes\tcrashes\n' > "$sum"
for n in "$@"; do
  bin=build/fuzz/$n corpus=tests/fuzz/corpus/$n work=build/fuzz/work-$n
  [ -x "$bin" ] || { echo "fuzz.sh: $bin: not built" >&2; exit 66; }
  mkdir -p "$corpus"; rm -rf "$work" "$work.min"; mkdir -p "$work" "$work.min"
  cp -r "$corpus"/. "$work"/
  [ -d tests/fuzz/seeds/$n ] && cp tests/fuzz/seeds/$n/* "$work"/
  echo "fuzz: $n for ${secs}s (corpus $(ls "$work" | wc -l) files)" >&2
  ( cd build/fuzz && exec ./$n -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
      work-$n ) > build/fuzz/$n.log 2>&1 || { tail -40 build/fuzz/$n.log >&2; echo "fuzz: $n crashed" >&2; exit 1; }
  # minimize into the tree's corpus
  "$bin" -merge=1 "$work.min" "$work" > build/fuzz/$n.merge.log 2>&1 \
    || { tail -20 build/fuzz/$n.merge.log >&2; exit 1; }
  rm -rf "$corpus"; mkdir -p "$corpus"; cp "$work.min"/* "$corpus"/ 2>/dev/null || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$n.log)
  time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' build/fuzz/$n.log)
  inst=$(sed -n 's/^INFO: Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters.*/\1/p' build/fuzz/$n.log | head -1)
  last=$(grep -E '^#[0-9]+' build/fuzz/$n.log | tail -1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  files=$(ls "$corpus" | wc -l) bytes=$(cat "$corpus"/* 2>/dev/null | wc -c)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t0\n' "$n" "$execs" "$time" "$cov" "$inst" "$ft" "$files" "$bytes" >> "$sum"
  echo "fuzz: $n: $execs runs in ${time}s, $cov of $inst edges, $ft features, corpus $files files ($bytes bytes), 0 crashes" >&2
done
rm -rf build/fuzz/work-*
echo "fuzz: all targets ran without a crash" >&2
column -t -s "$(printf '\t')" "$sum" 2>/dev/null || cat "$sum"
