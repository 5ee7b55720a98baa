#!/usr/bin/env bash
# build/tools/motion-metrics (the MPJPE / rotation error / jerk tool of make eval) on the real
# clips in tests/data: a clip against itself is 0; against its features decoded back to BVH (which
# starts at the origin facing +Z) under 1 mm and 0.01 degrees after the frame-0 alignment; against
# another clip clearly not 0; bad input gives the documented exit codes.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
M=build/tools/motion-metrics
S=tests/data/skeleton_bn.bvh
a=tests/data/bn_raise-up-both-hands_active_025.bvh
b=tests/data/bn_walk-turn-left_feminine_001_f068-107.bvh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/tap.sh
get() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
lt() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x == x + 0 && x < y) }'; }

$M -s $S $a $a > $tmp/self; ok $? "motion-metrics clip clip exits 0"
m=$(get mpjpe_mm $tmp/self) r=$(get rot_deg $tmp/self) j1=$(get jerk_ref $tmp/self) j2=$(get jerk_test $tmp/self)
[ "$m" = 0.0000 ] && [ "$(get mpjpe_root_mm $tmp/self)" = 0.0000 ] && [ "$r" = 0.0000 ]
ok $? "a clip against itself: mpjpe $m mm, rotation $r deg (want 0)"
$M -s $S $a > $tmp/one
[ "$(get jerk $tmp/one)" = "$j1" ] && [ "$j1" = "$j2" ] && lt 0 "$j1"
ok $? "jerk of one file ($(get jerk $tmp/one)) equals jerk_ref and jerk_test ($j1, $j2), > 0"

vae-enc -m tests/golden/tiny --features $a | vae-dec -m tests/golden/tiny > $tmp/rt.bvh
$M -s $S $a $tmp/rt.bvh > $tmp/rt
m=$(get mpjpe_mm $tmp/rt) r=$(get rot_deg $tmp/rt)
lt "$m" 1 && lt "$r" 0.01 && [ "$(get compared $tmp/rt)" = "$(grep -m1 Frames: $a | awk '{print $2}')" ]
ok $? "against its features decoded to BVH (moved to the origin): mpjpe $m mm (tol 1), rotation $r deg (tol 0.01)"

$M -s $S $a $b > $tmp/ab
m=$(get mpjpe_mm $tmp/ab) r=$(get rot_deg $tmp/ab) mr=$(get mpjpe_root_mm $tmp/ab)
! lt "$m" 50 && ! lt "$mr" 20 && ! lt "$r" 2 && [ "$(get frames $tmp/ab)" = 27 ] && [ "$(get compared $tmp/ab)" = 27 ]
ok $? "against another clip: mpjpe $m mm (> 50), root-aligned $mr mm (> 20), rotation $r deg (> 2), 27 frames compared"

$M -s $S $a /nonexistent.bvh > $tmp/out 2> $tmp/err
is=$?; [ $is = 66 ] && [ ! -s $tmp/out ] && [ "$(wc -l < $tmp/err)" = 1 ]
ok $? "a missing file: exit $is (want 66), one stderr line, nothing on stdout"
printf 'HIERARCHY\nROOT x\n' > $tmp/bad.bvh
$M -s $S $a $tmp/bad.bvh > /dev/null 2> $tmp/err; is=$?
[ $is = 65 ] && grep -q 'bad.bvh' $tmp/err; ok $? "a broken BVH: exit $is (want 65), the message names the file"
$M -s $S > /dev/null 2>&1; is=$?; [ $is = 64 ]; ok $? "no file: exit $is (want 64)"
$M --help | grep -q '^usage: motion-metrics'; ok $? "--help prints the usage"

done_testing
