#!/usr/bin/env bash
# mrender as a user runs it: contact sheets, GIFs and PPM frames from a BVH, a feature stream and
# the text-to-BVH pipeline; ffmpeg reading the frames (when installed); errors (exit code, one
# stderr line, no partial output).
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
T=tests/golden/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/tap.sh
clip=tests/data/bn_walk-turn-left_feminine_001_f068-107.bvh # 40 frames at 30 fps
# width x height of a PNG from its IHDR chunk
pngsize() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}'; }

# 1. a contact sheet: 8 panels of 320x240, 4 per row, 2-pixel gaps
mrender -o $tmp/s.png $clip 2> $tmp/err
ok $? "mrender -o sheet.png exits 0 $(cat $tmp/err)"
is "$(head -c 8 $tmp/s.png | od -An -c | tr -d ' ')" '211PNG\r\n032\n' "a PNG file"
is "$(pngsize $tmp/s.png)" 1286x482 "4 x 320 + 3 x 2 by 2 x 240 + 2"
mrender --poses 3 --columns 3 -s 100x80 -o $tmp/s3.png $clip
is "$(pngsize $tmp/s3.png)" 304x80 "--poses 3 --columns 3 -s 100x80"
mrender -o $tmp/s2.png $clip
cmp -s $tmp/s.png $tmp/s2.png; ok $? "the same input gives the same PNG"
mrender --azimuth 120 -o $tmp/s4.png $clip
! cmp -s $tmp/s.png $tmp/s4.png; ok $? "another azimuth, another picture"

# 2. an animated GIF
mrender -o $tmp/a.gif $clip
ok $? "mrender -o anim.gif exits 0"
is "$(head -c 6 $tmp/a.gif)" GIF89a "a GIF89a file"
is "$(tail -c 1 $tmp/a.gif | od -An -tx1 | tr -d ' ')" 3b "ends with the GIF trailer"
mrender --camera fixed -o $tmp/b.gif $clip
! cmp -s $tmp/a.gif $tmp/b.gif; ok $? "--camera fixed differs from the default follow"

# 3. PPM frames: 40 frames at 30 fps, 64x48 -> 40 x (header + 64*48*3) bytes
mrender --frames -s 64x48 $clip > $tmp/f.ppm
ok $? "mrender --frames exits 0"
is "$(wc -c < $tmp/f.ppm)" $((40 * (13 + 64 * 48 * 3))) "40 PPM frames of 64x48"
mrender --frames -s 64x48 -r 15 $clip | head -c 2 > $tmp/h
is "$(cat $tmp/h)" P6 "binary PPM (P6)"
is "$(mrender --frames -s 64x48 -r 15 $clip | wc -c)" $((20 * (13 + 64 * 48 * 3))) "-r 15: 20 frames"
if command -v ffmpeg > /dev/null && command -v ffprobe > /dev/null; then
	mrender --frames $clip | ffmpeg -v error -f image2pipe -c:v ppm -framerate 30 -i - -pix_fmt yuv420p $tmp/w.mp4
	ok $? "the man page's ffmpeg command makes an MP4"
	is "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 $tmp/w.mp4)" \
		"480,360,40" "ffprobe: 480x360, 40 frames"
else
	n=$((n+2)); echo "ok $((n-1)) # SKIP ffmpeg is not installed"; echo "ok $n # SKIP ffmpeg is not installed"
fi

# 4. other inputs: a feature stream, stdin, the pipeline
vae-enc -m $T --features $clip | mrender -m $T -o $tmp/feat.png 2> $tmp/err
ok $? "a feature stream (vae-enc --features) renders $(cat $tmp/err)"
mrender -o $tmp/stdin.png < $clip
cmp -s $tmp/s.png $tmp/stdin.png; ok $? "a BVH on stdin gives the same sheet as the file"
echo "a person walks" | llamo-t2m -m $T --seed 2 | vae-dec -m $T | mrender -o $tmp/gen.png 2> $tmp/err
ok $? "llamo-t2m | vae-dec | mrender -o sheet.png $(cat $tmp/err)"

# 5. errors: one line, the exit code, no output file
echo "a person walks" | llamo-t2m -m $T > $tmp/lat.lmf
mrender -m $T -o $tmp/lat.png $tmp/lat.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" 65/1 "a latent stream: exit 65, one line ($(cat $tmp/err))"
[ ! -e $tmp/lat.png ]; ok $? "no output file for it"
printf 'HIERARCHY\nROOT Hips\n{\n' > $tmp/bad.bvh
mrender -o $tmp/bad.png $tmp/bad.bvh 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" 65/1 "unbalanced BVH: exit 65, one line ($(cat $tmp/err))"
ls $tmp | grep -q bad.png; [ $? != 0 ]; ok $? "no partial PNG left"
sed '/^Frames:/,$d' $clip > $tmp/nof.bvh; printf 'Frames: 0\nFrame Time: 0.033333\n' >> $tmp/nof.bvh
mrender -o $tmp/nof.gif $tmp/nof.bvh 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" 65/1 "a BVH without frames: exit 65 ($(cat $tmp/err))"
mrender -o $tmp/x.png $tmp/none.bvh 2> $tmp/err; is "$?" 66 "missing input: exit 66 ($(cat $tmp/err))"
mrender -o $tmp/x.jpg $clip 2> $tmp/err; is "$?" 64 "-o x.jpg: exit 64 ($(head -1 $tmp/err))"
mrender --camera orbit -o $tmp/x.png $clip 2> /dev/null; is "$?" 64 "--camera orbit: exit 64"
mrender -s 8x8 -o $tmp/x.png $clip 2> /dev/null; is "$?" 64 "-s 8x8: exit 64"
mrender -r 60 -o $tmp/x.gif $clip 2> /dev/null; is "$?" 64 "a GIF at 60 fps: exit 64"
mrender $clip 2> /dev/null; is "$?" 64 "no output given: exit 64"
script -qc "bin/mrender --frames $clip" /dev/null > $tmp/tty 2>&1
grep -q "terminal" $tmp/tty; ok $? "refuses to write frames to a terminal ($(tr -d '\r' < $tmp/tty | head -1))"
mrender --help > $tmp/help; rc=$?
[ $rc = 0 ] && grep -q usage $tmp/help && grep -q ffmpeg $tmp/help && [ -f man/mrender.1 ]
ok $? "mrender --help (with the ffmpeg command) and man/mrender.1"
done_testing
