#!/usr/bin/env bash
# The programs as a user runs them, on the tiny reference model (tests/golden/tiny) and the
# bundled default model: text to BVH, the FIFO loop against llamo-t2m, BVH to caption, and
# errors (exit code, one stderr line, no partial output).
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
T=tests/golden/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/tap.sh
clip=$(ls tests/data/*.bvh | grep -v skeleton | head -1)

# 1. llamo-t2m writes a latent stream: BOM, latents, EOM, end of input
echo "a person walks forward" | llamo-t2m -m $T --seed 3 > $tmp/a.lmf 2> $tmp/err
ok $? "llamo-t2m on the tiny model exits 0"
framedump --no-data $tmp/a.lmf > $tmp/a.json
nlat=$(grep -c '"type":"latent"' $tmp/a.json)
[ "$nlat" -ge 1 ]; ok $? "llamo-t2m wrote $nlat latents"
is "$(grep -c '"mark":"bom"' $tmp/a.json)$(grep -c '"mark":"eom"' $tmp/a.json)$(grep -c '"mark":"eos"' $tmp/a.json)" 111 \
	"one bom, one eom and one eos mark"
head -1 $tmp/a.lmf | grep -q '^LLAMO1 kind=latent width=32 elem=f32'; ok $? "head -1 shows the stream header"

# 2. the same seed gives the same stream; another seed another
echo "a person walks forward" | llamo-t2m -m $T --seed 3 > $tmp/b.lmf
cmp -s $tmp/a.lmf $tmp/b.lmf; ok $? "same seed, same latents (bit for bit)"
echo "a person walks forward" | llamo-t2m -m $T --seed 4 > $tmp/c.lmf
! cmp -s $tmp/a.lmf $tmp/c.lmf; ok $? "another seed, other latents"

# 3. the FIFO loop of the example yields the latents llamo-t2m yields
LLAMO_MODEL=$T timeout 60 sh examples/fifo-loop.sh "a person walks forward" $tmp/loop.bvh 3 $tmp/loop.lmf > /dev/null 2> $tmp/loop.err
ok $? "examples/fifo-loop.sh exits 0 $(head -c 200 $tmp/loop.err)"
framedump $tmp/a.lmf | grep '"type":"latent"' > $tmp/t2m.lat
framedump $tmp/loop.lmf | grep '"type":"latent"' > $tmp/loop.lat
[ -s $tmp/t2m.lat ] && cmp -s $tmp/t2m.lat $tmp/loop.lat
ok $? "FIFO loop latents equal llamo-t2m's ($(wc -l < $tmp/loop.lat) vs $(wc -l < $tmp/t2m.lat) latents)"

# 3b. a batch through the FIFO pipeline equals llamo-t2m --batch, stream by stream (framedump's
# %.9g round-trips float32, so equal text is equal bits); the tiny model and the default one
fifo_batch() { # model, seconds (or ""), label
	printf 'a person walks forward\nan old person waves with the right hand\na person jumps\n' > $tmp/p.txt
	rm -f $tmp/bloop; mkfifo $tmp/bloop
	LLAMO_MODEL=$1 timeout 120 sh -c "mtokenize -i $tmp/p.txt | cat - $tmp/bloop | llamo-step | exithead ${2:+-t $2} \
		| flowsample --seed 7 | tee $tmp/bloop > $tmp/fifo.lmf"
	ok $? "$3: the FIFO pipeline over 3 prompts exits 0"
	LLAMO_MODEL=$1 llamo-t2m --batch $tmp/p.txt --seed 7 ${2:+-t $2} > $tmp/bt2m.lmf
	for s in 0 1 2; do
		framedump $tmp/fifo.lmf | grep '"type":"latent"' | grep "\"stream\":$s," > $tmp/f$s
		framedump $tmp/bt2m.lmf | grep '"type":"latent"' | grep "\"stream\":$s," > $tmp/t$s
		[ -s $tmp/t$s ] && cmp -s $tmp/f$s $tmp/t$s
		ok $? "$3: stream $s: FIFO latents equal llamo-t2m --batch's ($(wc -l < $tmp/f$s) vs $(wc -l < $tmp/t$s))"
	done
}
fifo_batch $T "" "tiny model"
fifo_batch models/default 2 "default model, 2 s"

# 4. vae-dec writes a BVH with 4 frames per latent that our reader and vae-enc take back
vae-dec -m $T $tmp/a.lmf > $tmp/a.bvh
ok $? "vae-dec exits 0"
is "$(grep -m1 '^Frames:' $tmp/a.bvh | awk '{print $2}')" "$((4 * nlat))" "Frames: = 4 x latents"
is "$(grep -m1 '^Frame Time:' $tmp/a.bvh)" "Frame Time: 0.033333" "Frame Time written as 0.033333"
is "$(awk '/^MOTION/{m=1; next} m && !/^Frame/ {c++} END {print c+0}' $tmp/a.bvh)" "$((4 * nlat))" "data lines = Frames"
vae-enc -m $T $tmp/a.bvh | framedump --no-data | grep -c '"type":"latent"' > $tmp/nre
is "$(cat $tmp/nre)" "$nlat" "vae-enc takes the written BVH back"

# 5. a real clip: BVH -> latents -> caption (one line), on the tiny and the default model
out=$(vae-enc -m $T $clip | llamo-m2t -m $T)
ok $? "vae-enc < clip | llamo-m2t exits 0 (tiny)"
is "$(printf '%s\n' "$out" | wc -l)" 1 "llamo-m2t prints one line"
is "$(llamo-m2t -m $T --bvh $clip)" "$out" "llamo-m2t --bvh gives the caption vae-enc | llamo-m2t gives"
out=$(vae-enc < $clip | llamo-m2t)
ok $? "vae-enc < clip | llamo-m2t on the default model"
echo "a person walks" | llamo-t2m --seconds 2 | vae-dec > $tmp/d.bvh
ok $? "echo 'a person walks' | llamo-t2m | vae-dec > out.bvh on the default model"
grep -q '^HIERARCHY' $tmp/d.bvh && grep -q '^MOTION' $tmp/d.bvh; ok $? "the default model's output is a BVH"

# 6. errors: exit code, one line naming the place, no partial output
llamo-t2m -m $tmp/none "x" > /dev/null 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "66/1" "missing model directory: exit 66, one line ($(cat $tmp/err))"
printf 'LLAMO1 kind=latent width=32 elem=f32 rate=7.5\nLMF1garbage' > $tmp/bad.lmf
vae-dec -m $T -o $tmp/out.bvh $tmp/bad.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "truncated stream: exit 65, one line ($(cat $tmp/err))"
ls $tmp | grep -q 'out.bvh'; [ $? != 0 ]; ok $? "no partial output file left"
cp -r $T $tmp/m && sed -i 's/"hidden_size": *64/"hidden_size": "64"/' $tmp/m/config.json
llamo-t2m -m $tmp/m x > /dev/null 2> $tmp/err; rc=$?
is "$rc" 65 "mistyped config key: exit 65 ($(cat $tmp/err))"
grep -q 'config.json' $tmp/err; ok $? "the message names config.json"
printf 'HIERARCHY\nROOT Hips\n{\n' > $tmp/bad.bvh
vae-enc -m $T $tmp/bad.bvh > /dev/null 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "unbalanced BVH: exit 65, one line ($(cat $tmp/err))"
vae-enc -m $T --bogus 2> $tmp/err; is "$?" 64 "unknown option: exit 64"
# a latent of a width the model does not take (16 instead of 32), written with perl
perl -e 'print "LLAMO1 kind=latent width=16 elem=f32 rate=7.5\n", pack("a4CCvVVVlVV", "LMF1", 3, 2, 0, 1, 16, 0, 0, 0, 0), pack("f<16", (0.5) x 16)' > $tmp/w16.lmf
vae-dec -m $T -o $tmp/w16.bvh $tmp/w16.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "latent 16 wide into a 32-latent model: exit 65, one line ($(cat $tmp/err))"
[ ! -e $tmp/w16.bvh ]; ok $? "no output file for it"
llamo-m2t -m $T $tmp/w16.lmf > /dev/null 2> $tmp/err; is "$?" 65 "llamo-m2t refuses it too ($(cat $tmp/err))"
vae-enc -m $T --features $clip | llamo-m2t -m $T > /dev/null 2> $tmp/err; is "$?" 65 "features where latents are wanted: exit 65 ($(cat $tmp/err))"
# a weights file missing a tensor: the message names it
cp -r $T $tmp/m2 && perl -pi -e 's/"model\.norm\.weight"/"model.norX.weight"/' $tmp/m2/model.safetensors
llamo-t2m -m $tmp/m2 x > /dev/null 2> $tmp/err; rc=$?
is "$rc" 65 "model.safetensors without model.norm.weight: exit 65"
grep -q "model.norm.weight" $tmp/err; ok $? "the message names the tensor ($(cat $tmp/err))"
printf '{"model": 1}' > $tmp/m2/tokenizer.json; cp $T/model.safetensors $tmp/m2/
llamo-t2m -m $tmp/m2 x > /dev/null 2> $tmp/err; is "$?" 65 "a tokenizer.json that is not one: exit 65 ($(cat $tmp/err))"
script -qc "bin/llamo-t2m -m $T x" /dev/null > $tmp/tty 2>&1; rc=$?
grep -q "terminal" $tmp/tty; ok $? "llamo-t2m refuses to write frames to a terminal ($(tr -d '\r' < $tmp/tty | head -1))"
for p in llamo-t2m llamo-m2t llamo-step exithead flowsample vae-enc vae-dec mtokenize framedump; do
	$p --help > $tmp/help 2>&1; rc=$?
	[ $rc = 0 ] && grep -qi usage $tmp/help && [ -f man/$p.1 ]; ok $? "$p --help and man/$p.1"
done

# 6a. bad numbers: NaN or infinity in a frame payload (any f32 frame), in weights; BVH values
# beyond the float range; a weights file with unused bytes
perl -e 'print "LLAMO1 kind=latent width=32 elem=f32 rate=7.5\n", pack("a4CCvVVVlVV", "LMF1", 3, 2, 0, 1, 32, 0, 0, 0, 0), pack("f<32", (0.5) x 5, 9**9**9/9**9**9, (0.5) x 26)' > $tmp/nan.lmf
vae-dec -m $T -o $tmp/nan.bvh $tmp/nan.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "a NaN in a latent: vae-dec exit 65, one line ($(cat $tmp/err))"
grep -q "nan.lmf: frame 0 at byte 46: latent frame of stream 0 pos 0: row 0 col 5 is nan" $tmp/err && [ ! -e $tmp/nan.bvh ]
ok $? "the message names the stream, the frame and the position; no output file"
llamo-m2t -m $T $tmp/nan.lmf > $tmp/nan.txt 2> $tmp/err; is "$?/$(wc -c < $tmp/nan.txt)" 65/0 "llamo-m2t refuses it ($(cat $tmp/err))"
perl -e 'print "LLAMO1 kind=hidden width=64 elem=f32 rate=0\n", pack("a4CCvVVVlVV", "LMF1", 2, 2, 0, 1, 64, 0, 3, 0, 0), pack("f<64", (0.5) x 63, 9**9**9)' > $tmp/inf.lmf
flowsample -m $T $tmp/inf.lmf > $tmp/inf.out 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "an infinity in a hidden state: flowsample exit 65 ($(cat $tmp/err))"
grep -q "hidden frame of stream 0 pos 3: row 0 col 63 is inf" $tmp/err; ok $? "it names the position"
cp -r $T $tmp/mn && perl -e 'open F, "+<", $ARGV[0] or die; read F, $h, 8; $n = unpack("Q<", $h); seek F, 8 + $n + 4 * 100, 0; print F pack("f<", 9**9**9/9**9**9)' $tmp/mn/model.safetensors
llamo-t2m -m $tmp/mn x > $tmp/mn.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)/$(wc -c < $tmp/mn.lmf)" "65/1/0" "NaN in the weights: llamo-t2m exit 65, nothing written ($(cat $tmp/err))"
grep -q "tensor 'model.embed_tokens.weight': element 100 is not finite" $tmp/err; ok $? "the message names the tensor and the element"
cp $T/model.safetensors $tmp/mn/ && printf 'xxxx' >> $tmp/mn/model.safetensors
llamo-t2m -m $tmp/mn x > /dev/null 2> $tmp/err; is "$?" 65 "weights with 4 unused bytes at the end: exit 65 ($(cat $tmp/err))"
awk '/^MOTION/{m=1} m && /^Frame Time/{print; getline; $1 = "1e308"} {print}' $clip > $tmp/huge.bvh
vae-enc -m $T $tmp/huge.bvh > $tmp/huge.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "a BVH value of 1e308: exit 65, one line ($(cat $tmp/err))"
grep -q "beyond the float range" $tmp/err; ok $? "the message says why"

# 6b. -o onto what is not a regular file: a FIFO and a device are written in place, a symbolic
# link keeps being a link and its target gets the output
mkdir -p $tmp/o && echo old > $tmp/o/real && ln -s real $tmp/o/lnk && ln -s new $tmp/o/dangling
mkdir -p $tmp/o/sub && ln -s ../real $tmp/o/sub/up
vae-dec -m $T -o $tmp/o/lnk $tmp/a.lmf && [ -L $tmp/o/lnk ] && cmp -s $tmp/o/real $tmp/a.bvh
ok $? "-o onto a symlink: the link stays, its target holds the BVH"
vae-dec -m $T -o $tmp/o/sub/up $tmp/a.lmf && [ -L $tmp/o/sub/up ] && cmp -s $tmp/o/real $tmp/a.bvh \
	&& [ -z "$(ls $tmp/o/sub | grep -v '^up$')" ]
ok $? "-o onto a relative symlink in another directory: the target is replaced, no temporary left"
vae-dec -m $T -o $tmp/o/dangling $tmp/a.lmf && [ -L $tmp/o/dangling ] && cmp -s $tmp/o/new $tmp/a.bvh
ok $? "-o onto a dangling symlink: the file it names is created"
mkfifo $tmp/o/fifo
cat $tmp/o/fifo > $tmp/o/fromfifo & reader=$!
timeout 20 vae-dec -m $T -o $tmp/o/fifo $tmp/a.lmf; rc=$?; wait $reader
[ $rc = 0 ] && [ -p $tmp/o/fifo ] && cmp -s $tmp/o/fromfifo $tmp/a.bvh
ok $? "-o onto a FIFO: written into it, it stays a FIFO"
echo "a person walks forward" | llamo-t2m -m $T --seed 3 -o $tmp/o/lnk && [ -L $tmp/o/lnk ] && cmp -s $tmp/o/real $tmp/a.lmf
ok $? "llamo-t2m -o onto a symlink: the same"
if [ "$(id -u)" = 0 ] && mknod $tmp/o/null c 1 3 2> /dev/null && mknod $tmp/o/full c 1 7 2> /dev/null; then
	vae-dec -m $T -o $tmp/o/null $tmp/a.lmf && [ -c $tmp/o/null ]
	ok $? "-o onto a null device: exit 0, still a device"
	vae-dec -m $T -o $tmp/o/full $tmp/a.lmf 2> $tmp/err; rc=$?
	[ $rc = 74 ] && [ -c $tmp/o/full ] && [ "$(wc -l < $tmp/err)" = 1 ]
	ok $? "-o onto a full device: exit 74, one line, still a device ($(cat $tmp/err))"
	ls $tmp/o | grep -q tmp; [ $? != 0 ]; ok $? "no temporary files left"
else
	for i in 1 2 3; do ok 0 "# skip mknod needs root"; done
fi

# 7. batches: llamo-t2m --batch FILE | vae-dec -o 'out/%03d.bvh'; lines "PROMPT" or "SECONDS<TAB>PROMPT"
printf 'a person walks forward\n# a comment\n\n1.5\ta person jumps\n  a person sits down  \n' > $tmp/prompts.txt
llamo-t2m -m $T --seed 7 --batch $tmp/prompts.txt > $tmp/batch.lmf 2> $tmp/err
ok $? "llamo-t2m --batch exits 0"
[ ! -s $tmp/err ]; ok $? "no progress line when stderr is not a terminal ($(head -c 100 $tmp/err))"
framedump --no-data $tmp/batch.lmf > $tmp/batch.json
is "$(grep '"mark":"eom"' $tmp/batch.json | sed 's/.*"stream":\([0-9]*\).*/\1/' | tr '\n' ' ')" "0 1 2 " \
	"three prompts, streams 0 1 2 (the comment and the empty line take none)"
is "$(grep '"mark":"eom"' $tmp/batch.json | grep '"stream":1,' | sed 's/.*"pos":\([0-9]*\).*/\1/')" 11 \
	"a 1.5 s line gives exactly 11 latents (1.5 x 7.5, rounded)"
llamo-t2m -m $T --seed 7 < $tmp/prompts.txt | cmp -s - $tmp/batch.lmf
ok $? "the same lines on stdin give the same stream"
llamo-t2m -m $T --seed 9 "a person sits down" | framedump | grep '"type":"latent"' | sed 's/"stream":0/"stream":2/' > $tmp/one
framedump $tmp/batch.lmf | grep '"type":"latent","stream":2' | cmp -s - $tmp/one
ok $? "prompt 2 of the batch gets seed 7 + 2: its latents equal a run of it alone with --seed 9"
mkdir -p $tmp/out && vae-dec -m $T -o "$tmp/out/%03d.bvh" $tmp/batch.lmf
is "$(ls $tmp/out | tr '\n' ' ')" "000.bvh 001.bvh 002.bvh " "vae-dec -o 'out/%03d.bvh' writes one BVH per prompt"
is "$(grep -h '^Frames:' $tmp/out/001.bvh)" "Frames: 44" "the 1.5 s prompt's BVH has 44 frames"
# -o is a pattern with exactly one integer conversion (and %%): anything else is a usage error,
# never a printf format (%n crashed, %s wrote "(null)")
for pat in 'x_%n.bvh' 'x_%s.bvh' 'x_%f.bvh' '%d_%d.bvh' 'x_%%.bvh' 'x_%' '%123d.bvh'; do
	rm -rf $tmp/pat && mkdir $tmp/pat
	vae-dec -m $T -o "$tmp/pat/$pat" $tmp/batch.lmf 2> $tmp/err; rc=$?
	is "$rc/$(wc -l < $tmp/err)/$(ls $tmp/pat | wc -l)" "64/2/0" "-o '$pat': exit 64, no file ($(head -1 $tmp/err))"
done
mkdir -p $tmp/pct && vae-dec -m $T -o "$tmp/pct/%05d_%%.bvh" $tmp/batch.lmf
is "$(ls $tmp/pct | tr '\n' ' ')" "00000_%.bvh 00001_%.bvh 00002_%.bvh " "-o 'out/%05d_%%.bvh': a width and %%"
printf 'a person walks\n0\ta person jumps\n' > $tmp/badlen.txt
llamo-t2m -m $T --batch $tmp/badlen.txt -o $tmp/badlen.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" 65/1 "a length of 0: exit 65, one line ($(cat $tmp/err))"
grep -q "badlen.txt:2:" $tmp/err && [ ! -e $tmp/badlen.lmf ]; ok $? "the message names the file and line 2, no output file"
llamo-t2m -m $T --batch $tmp/prompts.txt a prompt > /dev/null 2>&1; is "$?" 64 "--batch and a prompt argument: exit 64"
llamo-t2m -m $T --batch $tmp/none.txt > /dev/null 2>&1; is "$?" 66 "--batch with a missing file: exit 66"
script -qc "bin/llamo-t2m -m $T --seed 7 --batch $tmp/prompts.txt -o $tmp/tty.lmf" /dev/null > $tmp/tty 2>&1
grep -q 'prompt 3/3: [0-9]* frames, [0-9]* frames/s' $tmp/tty && grep -q '3 prompts, [0-9]* frames in' $tmp/tty
ok $? "on a terminal: a progress line per prompt and a summary ($(grep -o '3 prompts, .*frames/s)' $tmp/tty))"
cmp -s $tmp/tty.lmf $tmp/batch.lmf; ok $? "the progress line changes nothing in the stream"
# 8. no partial output: a single -o FILE (or stdout) gets nothing when the stream fails after
# its end-of-motion mark; with a pattern the completed streams' files stay and the message says so
{ cat $tmp/a.lmf; perl -e 'print pack("a4CCvVVVlVV", "LMF1", 6, 0, 0, 0, 0, 0, -1, 9, 0)'; } > $tmp/after1.lmf
{ cat $tmp/a.lmf; printf 'trailing garbage'; } > $tmp/after2.lmf
for f in after1 after2 batch; do
	rm -f $tmp/one.bvh
	vae-dec -m $T -o $tmp/one.bvh $tmp/$f.lmf 2> $tmp/err; rc=$?
	[ $rc -ne 0 ] && [ "$(wc -l < $tmp/err)" = 1 ] && [ ! -e $tmp/one.bvh ] && [ -z "$(ls $tmp | grep 'one\.bvh')" ]
	ok $? "$f: vae-dec -o FILE fails ($rc) and leaves no file ($(cat $tmp/err))"
	vae-dec -m $T $tmp/$f.lmf > $tmp/one.out 2> /dev/null
	is "$?/$(wc -c < $tmp/one.out)" "$rc/0" "$f: nothing on stdout either"
done
{ cat $tmp/batch.lmf; printf 'trailing garbage'; } > $tmp/after3.lmf
rm -rf $tmp/pp && mkdir $tmp/pp
vae-dec -m $T -o "$tmp/pp/%03d.bvh" $tmp/after3.lmf 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)/$(ls $tmp/pp | tr '\n' ' ')" "65/1/000.bvh 001.bvh 002.bvh " \
	"a pattern: the completed streams' files stay ($(cat $tmp/err))"
grep -q "the 3 completed streams are written: $tmp/pp/000.bvh, $tmp/pp/001.bvh, $tmp/pp/002.bvh)" $tmp/err
ok $? "the message names the files written"
# 9. a prompt longer than the model's positions is refused at once, naming its length and the
# limit (it used to run, slowly, past the positions the model has); a 1 MB prompt ends quickly
perl -e 'srand(1); @w = qw(a person walks forward and then turns left quickly jumps); print join(" ", map { $w[rand @w] } 1..4000), "\n"' > $tmp/long.txt
timeout 20 llamo-t2m -m $T -o $tmp/long.lmf < $tmp/long.txt 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "a 4000-word prompt: llamo-t2m exit 65, one line ($(cat $tmp/err))"
grep -q "stdin:1: the prompt is [0-9]* tokens, over the [0-9]* that fit (the model has 2048 positions" $tmp/err && [ ! -e $tmp/long.lmf ]
ok $? "the message names the line, the length and the limit; no output file"
mtokenize -m $T < $tmp/long.txt | timeout 20 llamo-step -m $T > /dev/null 2> $tmp/err
is "$?" 65 "llamo-step refuses the same tokens ($(cat $tmp/err))"
perl -e 'print "a person walks " x 70000, "\n"' > $tmp/huge.txt
timeout 20 llamo-t2m -m $T < $tmp/huge.txt > /dev/null 2> $tmp/err
is "$?" 65 "a 1 MB prompt: refused within 20 s ($(cut -c1-100 $tmp/err))"
perl -e 'print "x" x 300000, "\n"' > $tmp/nospace.txt
timeout 20 mtokenize -m $T --raw --ids -i $tmp/huge.txt > $tmp/huge.ids && timeout 20 mtokenize -m $T --raw --ids -i $tmp/nospace.txt > $tmp/nospace.ids
ok $? "tokenizing a 1 MB line and a 300 kB word (mtokenize --raw) takes under 20 s each ($(wc -w < $tmp/huge.ids) and $(wc -w < $tmp/nospace.ids) tokens)"
# 10. messages: one line starting "program:" (and the --help hint); a missing argument is said to
# be one; the file is named; control characters from the input are escaped
for a in "-o" "--output" "--bogus" "-x" "--features=1"; do
	vae-dec -m $T $a 2> $tmp/err < /dev/null; rc=$?
	is "$rc/$(wc -l < $tmp/err)/$(head -1 $tmp/err | cut -d: -f1)/$(sed -n 2p $tmp/err)" "64/2/vae-dec/Try 'vae-dec --help'." "vae-dec $a: exit 64, 'vae-dec:' then the hint ($(head -1 $tmp/err))"
done
vae-dec -m $T -o 2> $tmp/err; grep -q "usage error: -o needs an argument$" $tmp/err; ok $? "a missing argument is reported as one"
vae-dec -m $T --output 2> $tmp/err; grep -q "usage error: --output needs an argument$" $tmp/err; ok $? "also for a long option"
$PWD/bin/vae-dec -m $T --bogus 2> $tmp/err; grep -q "^vae-dec: usage error: unknown or ambiguous option --bogus$" $tmp/err; ok $? "run by its full path, the message names the program ($(head -1 $tmp/err))"
awk '/^Frames:/{print "Frames: 0"; next} /^Frame Time/{print; exit} {print}' $clip > $tmp/noframes.bvh
sed 's/^Frame Time:.*/Frame Time: 0.0166667/' $clip > $tmp/60.bvh
awk '/^MOTION/{m=1} /^Frames:/{print "Frames: 3"; next} {print} m && /^Frame Time/{c=1; next} c && ++k==3 {exit}' $clip > $tmp/3.bvh
for f in noframes 60 3; do
	vae-enc -m $T -o $tmp/x.lmf $tmp/$f.bvh 2> $tmp/err; rc=$?
	[ $rc = 65 ] && [ "$(wc -l < $tmp/err)" = 1 ] && grep -q "^vae-enc: $tmp/$f.bvh: " $tmp/err
	ok $? "vae-enc $f.bvh: exit 65, the message names the file ($(cat $tmp/err))"
	llamo-m2t -m $T --bvh $tmp/$f.bvh 2> $tmp/err > /dev/null; rc=$?
	[ $rc = 65 ] && grep -q "^llamo-m2t: $tmp/$f.bvh: " $tmp/err; ok $? "llamo-m2t --bvh $f.bvh names it ($(cat $tmp/err))"
done
if [ -e $tmp/o/full ]; then
	vae-dec -m $T -o $tmp/o/full $tmp/a.lmf 2> $tmp/err
	grep -q "^vae-dec: $tmp/o/full: .*No space left on device" $tmp/err; ok $? "a full disk: the message names the file ($(cat $tmp/err))"
	vae-dec -m $T $tmp/a.lmf 2> $tmp/err > $tmp/o/full
	grep -q "^vae-dec: stdout: .*No space left on device" $tmp/err; ok $? "and stdout ($(cat $tmp/err))"
else
	for i in 1 2; do ok 0 "# skip mknod needs root"; done
fi
printf 'LLAMO1 kind=latent width=32 elem=f32 rate=7.5\r\n' | vae-dec -m $T 2> $tmp/err
is "$(cat $tmp/err)" "vae-dec: -: header at byte 37: bad rate '7.5\\r'" "a CRLF header: the carriage return is printed escaped"
printf 'LLAMO1 kind=latent width=32 elem=f32 rate=\0337.5\n' | vae-dec -m $T 2> $tmp/err
grep -q "rate '\\\\x1b7.5'" $tmp/err; ok $? "an escape character too ($(cat $tmp/err))"
# a clip shorter than one latent: vae-enc writes nothing, not even the stream header
python3 - "$clip" $tmp/short.bvh <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = next(k for k, l in enumerate(lines) if l.startswith("Frames:"))
open(sys.argv[2], "w").write("\n".join(lines[:i] + ["Frames: 2", lines[i + 1]] + lines[i + 2:i + 4]) + "\n")
PY
vae-enc -m $T $tmp/short.bvh > $tmp/short.out 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)/$(wc -c < $tmp/short.out)" "65/1/0" "a 2-frame clip: vae-enc exit 65, one line, nothing on stdout ($(cat $tmp/err))"
done_testing
