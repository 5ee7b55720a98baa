#!/usr/bin/env bash
# Every man page's EXAMPLES, run as written (issue 13), and mandoc -Tlint silent on every page.
# tests/tools/man-examples.py cuts each no-fill block of a page's EXAMPLES into a script; each
# runs with bash -e -o pipefail in a fresh directory holding the files the examples name
# (clip.bvh: a real clip, prompts.txt, prompt.txt, latents.lm, walk.bvh, out/000.bvh, models/ of
# this tree),
# on the default model, and must exit 0 (141 is a writer that `| head` closed early). Expected
# output shown after a "$ " prompt must match the output line for line ("..." : more may
# follow); a block whose output is a frame stream must pass framedump. An example needing a
# program that is not installed (jq, ffmpeg; CI installs them) or the SmolLM2 model (make
# smollm2) is skipped with the reason.
set -u
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$PWD/bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/tap.sh
okd() { ok "$@"; [ "$1" = 0 ]; } # ok, and a status for || diagnostics
skip_ok() { n=$((n+1)); echo "ok $n # SKIP $1"; }

if command -v mandoc > /dev/null; then
	lint=$(for f in man/*.[157]; do mandoc -Tlint "$f" 2>&1; done)
	[ -z "$lint" ]; okd $? "mandoc -Tlint prints nothing for the $(ls man/*.[157] | wc -l) pages" ||
		echo "$lint" | sed 's/^/# /' | head -10
else
	[ -n "${CI:-}" ] && ok 1 "mandoc is not installed (\$CI is set)" || skip_ok "mandoc is not installed"
fi

# the files the examples name
fx=$tmp/fixture
mkdir -p $fx
cp tests/data/bn_walk-turn-left_feminine_001_f068-107.bvh $fx/clip.bvh
printf '1\ta person walks forward\n1.5\ta person waves with the left hand\n' > $fx/prompts.txt
echo "a person walks" > $fx/prompt.txt
llamo-t2m --seed 2 --seconds 2 "a person walks" > $fx/latents.lm && vae-dec $fx/latents.lm > $fx/walk.bvh
mkdir $fx/out && cp $fx/walk.bvh $fx/out/000.bvh
ok $? "the fixtures: clip.bvh, prompts.txt, prompt.txt, latents.lm, walk.bvh, out/000.bvh (a batch's output)"
ln -s $root/models $fx/models

python3 tests/tools/man-examples.py $tmp/ex man/*.[157]
ok $? "tests/tools/man-examples.py cuts $(ls $tmp/ex/*.sh | wc -l) examples out of the pages"
for s in $tmp/ex/*.sh; do
	k=${s%.sh}
	name=$(cat $k.name)
	if grep -q 'smollm2-135m-instruct' $s && [ ! -f models/smollm2-135m-instruct/model.safetensors ]; then
		skip_ok "$name: models/smollm2-135m-instruct is not built (make smollm2)"; continue
	fi
	missing=
	for c in jq ffmpeg; do
		grep -q "\b$c\b" $s && ! command -v $c > /dev/null && missing="$missing $c"
	done
	if [ -n "$missing" ]; then
		if [ -n "${CI:-}" ]; then ok 1 "$name: not installed:$missing (\$CI is set)"; else skip_ok "$name: not installed:$missing"; fi
		continue
	fi
	d=$tmp/run/${k##*/}
	mkdir -p $d && cp -R $fx/. $d/
	(cd $d && timeout 600 bash -e -o pipefail $s > $d/.out 2> $d/.err)
	rc=$?
	[ $rc = 141 ] && grep -q '| *head' $s && rc=0
	[ $rc = 0 ]; okd $? "$name: exits 0 (status $rc)" || sed 's/^/# /' $d/.err | tail -5
	if [ -f $k.want ]; then
		if [ "$(tail -1 $k.want)" = "..." ]; then
			head -n $(($(wc -l < $k.want) - 1)) $k.want > $k.w
			head -n $(wc -l < $k.w) $d/.out > $k.got
		else
			cp $k.want $k.w; cp $d/.out $k.got
		fi
		cmp -s $k.w $k.got; okd $? "$name: prints what the page shows ($(wc -l < $k.w) lines)" ||
			diff $k.w $k.got | sed 's/^/# /' | head -6
	fi
	if head -c 7 $d/.out | grep -q '^LLAMO1 '; then
		framedump --no-data $d/.out > /dev/null 2> $d/.ferr
		okd $? "$name: writes a valid frame stream (framedump)" || sed 's/^/# /' $d/.ferr | head -3
	fi
done
done_testing
