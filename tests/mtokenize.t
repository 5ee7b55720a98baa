#!/usr/bin/env bash
# mtokenize.t: mtokenize(1) as scripts use it. --raw --ids on lines of the Llama 3 fixtures
# (vectors.jsonl, picked with sed) must give their ids exactly, --decode must give the text
# back; model mode on the bundled model writes the templated ids + [BOM] (after the unconditional
# frame); errors exit 66 / 65 / 64 with one line on stderr and nothing on stdout. TAP.
cd "$(dirname "$0")/.." || exit 1
mt=bin/mtokenize
[ -x "$mt" ] || { echo "1..0 # SKIP $mt not built"; exit 0; }
shared=${LLAMO_SHARED:-../shared}
fx=$shared/tokenizer/llama3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() { # check NAME RESULT(0 pass) [DETAIL]
	n=$((n + 1))
	if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
	[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
}
# errcheck NAME WANT-RC CMD...: exit code, one stderr line "mtokenize: ..." (a usage error adds
# "Try 'mtokenize --help'."), empty stdout
errcheck() {
	local name=$1 want=$2 lines=1
	shift 2
	[ "$want" = 64 ] && lines=2
	"$@" > "$tmp/out" 2> "$tmp/err"
	local rc=$?
	[ $rc = "$want" ] && [ "$(wc -l < "$tmp/err")" = $lines ] && head -1 "$tmp/err" | grep -q '^mtokenize: ' &&
		[ ! -s "$tmp/out" ]
	check "$name: exit $rc (want $want), $lines stderr line(s), no output" $? "$(cat "$tmp/err")"
}

if [ -r "$fx/tokenizer.json" ]; then
	tk=$fx/tokenizer.json
	# Every 40th CMU line whose text has no JSON escape: text and ids, one per line.
	grep '"source": "cmu-mocap-descriptions"' "$fx/vectors.jsonl" | grep -v '\\' | awk 'NR % 40 == 1' |
		sed 's/.*"text": "\(.*\)", "ids": \[\(.*\)\], "bos": false, "eos": false}$/\1\t\2/' > "$tmp/pairs"
	cut -f1 "$tmp/pairs" > "$tmp/text"
	cut -f2 "$tmp/pairs" | sed 's/, / /g' > "$tmp/want"
	lines=$(wc -l < "$tmp/text")
	"$mt" --tokenizer "$tk" --raw --ids < "$tmp/text" > "$tmp/got"
	rc=$?
	cmp -s "$tmp/got" "$tmp/want"
	check "--raw --ids on $lines vectors.jsonl lines: ids exact (exit $rc)" $((rc || $?)) \
		"$(diff "$tmp/want" "$tmp/got" | head -6)"

	"$mt" --tokenizer "$tk" --decode < "$tmp/want" > "$tmp/back"
	rc=$?
	cmp -s "$tmp/back" "$tmp/text"
	check "--decode of those ids gives the $lines texts back (exit $rc)" $((rc || $?)) \
		"$(diff "$tmp/text" "$tmp/back" | head -6)"

	# Leading/trailing spaces and an empty line survive --raw; the special token is matched
	# (ids from Hugging Face tokenizers 0.23).
	printf ' hello world \n\n<|eot_id|> hi\n' | "$mt" --tokenizer "$tk" --raw --ids > "$tmp/got"
	printf '24748 1917 220\n\n128009 15960\n' > "$tmp/want"
	cmp -s "$tmp/got" "$tmp/want"
	check "--raw keeps spaces, an empty line gives an empty line, <|eot_id|> is 128009" $? \
		"$(diff "$tmp/want" "$tmp/got")"

	[ "$("$mt" --tokenizer "$tk" --raw --ids hello world)" = "15339 1917" ]
	check "arguments are one line: 'hello world' = 15339 1917" $?

	[ "$(echo '9468 99 247' | "$mt" --tokenizer "$tk" --decode)" = "🦙" ]
	check "--decode joins bytes across tokens: 9468 99 247 = U+1F999" $?

	errcheck "bad UTF-8 in the input" 65 sh -c "printf 'ab\\377\\n' | $mt --tokenizer $tk --raw --ids"
	errcheck "an id that is not a number" 65 sh -c "echo '1 x' | $mt --tokenizer $tk --decode"
	errcheck "an id out of the vocabulary" 65 sh -c "echo '128256' | $mt --tokenizer $tk --decode"
else
	echo "# $fx not found: skipping the Llama 3 fixture checks"
fi

# SmolLM2's tokenizer.json (Digits + ByteLevel pre-tokenizer; tests/golden/smollm2, ids from
# llama.cpp): every own string of tokens.jsonl without a JSON escape or a tab, one per line.
sm=tests/golden/smollm2
if [ -r "$sm/tokenizer.json" ] && [ -r "$sm/tokens.jsonl" ]; then
	grep -v '\\' "$sm/tokens.jsonl" | grep -v "$(printf '\t')" |
		sed 's/^{"text": "\(.*\)", "ids": \[\(.*\)\]}$/\1\t\2/' | grep -v '^[[:space:]]' | grep -v '[[:space:]]	' > "$tmp/pairs"
	cut -f1 "$tmp/pairs" > "$tmp/text"
	cut -f2 "$tmp/pairs" | sed 's/, / /g' > "$tmp/want"
	lines=$(wc -l < "$tmp/text")
	"$mt" --tokenizer "$sm/tokenizer.json" --raw --ids < "$tmp/text" > "$tmp/got"
	rc=$?
	cmp -s "$tmp/got" "$tmp/want"
	check "SmolLM2 --raw --ids on $lines tokens.jsonl lines: ids equal to llama.cpp's (exit $rc)" $((rc || $?)) \
		"$(diff "$tmp/want" "$tmp/got" | head -6)"
	[ "$lines" -ge 300 ]
	check "at least 300 of those lines ($lines)" $?
	"$mt" --tokenizer "$sm/tokenizer.json" --decode < "$tmp/want" > "$tmp/back"
	cmp -s "$tmp/back" "$tmp/text"
	check "SmolLM2 --decode gives the $lines texts back" $? "$(diff "$tmp/text" "$tmp/back" | head -6)"
	# llama.cpp 0.3.36 (llama-cpp-python, vocab_only, special=True) gave these ids
	[ "$("$mt" --tokenizer "$sm/tokenizer.json" --raw --ids 'Hello world 12345 <|im_start|>user')" = \
		"19556 905 216 33 34 35 36 37 216 1 4093" ]
	check "SmolLM2: single digits, <|im_start|> = 1" $?
fi
echo '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Metaspace"}, {"type": "ByteLevel"}]}}' > "$tmp/bad3.json"
errcheck "an unsupported pre-tokenizer" 65 "$mt" --tokenizer "$tmp/bad3.json" --raw --ids a
grep -q 'pre_tokenizer.pretokenizers\[0\].type: "Metaspace" is not supported' "$tmp/err"
check "the message gives the JSON path pre_tokenizer.pretokenizers[0].type" $? "$(cat "$tmp/err")"

errcheck "missing --tokenizer file" 66 "$mt" --tokenizer "$tmp/nonexistent.json" --raw --ids hello
echo 'this is not json' > "$tmp/bad.json"
errcheck "a tokenizer that is not JSON" 65 "$mt" --tokenizer "$tmp/bad.json" --raw --ids hello
echo '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}' > "$tmp/bad2.json"
errcheck "merges naming a token not in the vocabulary" 65 "$mt" --tokenizer "$tmp/bad2.json" --raw --ids a
grep -q 'model.merges\[0\]' "$tmp/err"
check "the message gives the JSON path model.merges[0]" $? "$(cat "$tmp/err")"
errcheck "an unknown option" 64 "$mt" --bogus
errcheck "a missing model directory" 66 "$mt" -m "$tmp/nomodel" --ids hello

# Model mode on the bundled model: template + [BOM], then the unconditional frame.
m=models/default
if [ -r "$m/config.json" ] && [ -r "$m/tokenizer.json" ]; then
	bom=$(sed -n 's/.*"bom_token_id": *\([0-9]*\).*/\1/p' "$m/config.json")
	tpl=$(sed -n 's/.*"t2m_template": *"\([^"]*\)".*/\1/p' "$m/config.json")
	pre=${tpl%%\{prompt\}*} post=${tpl#*\{prompt\}}
	want="$("$mt" -m $m --raw --ids "${pre}a person walks${post}") $bom"
	got=$(echo '  a person walks  ' | "$mt" -m $m --ids)
	[ "$got" = "$want" ]
	check "model mode --ids: template '$tpl' filled, trimmed prompt, then [BOM] $bom" $? "got '$got', want '$want'"
	printf 'a\n\n  \nb\n' | "$mt" -m $m --ids > "$tmp/got"
	[ "$(wc -l < "$tmp/got")" = 2 ]
	check "model mode skips blank lines (2 prompts, 2 lines)" $? "$(cat "$tmp/got")"
	if [ -x bin/framedump ]; then
		printf 'a person walks\njumps\n' | "$mt" -m $m --cfg 3 | bin/framedump > "$tmp/dump"
		rc=$?
		uncond="$("$mt" -m $m --raw --ids "${pre}${post}") $bom"
		expect=$(printf '%s\n' \
			'{"header":{"version":1,"kind":"tokens","width":0,"elem":"i32","rate":0.0,"tags":{}}}' \
			"$(printf '{"type":"tokens","stream":0,"pos":0,"rows":1,"cols":%d,"flags":1,"data":[[%s]]}' \
				$(echo $uncond | wc -w) "$(echo $uncond | tr ' ' ',')")" \
			"$(printf '{"type":"tokens","stream":0,"pos":0,"rows":1,"cols":%d,"flags":0,"data":[[%s]]}' \
				$(echo $want | wc -w) "$(echo $want | tr ' ' ',')")")
		[ $rc = 0 ] && [ "$(head -3 "$tmp/dump")" = "$expect" ] && [ "$(wc -l < "$tmp/dump")" = 6 ] &&
			[ "$(tail -1 "$tmp/dump")" = '{"type":"mark","mark":"eos","stream":4294967295,"pos":-1,"rows":0,"cols":0,"flags":0}' ]
		check "frames: header, uncond then cond tokens per prompt, end-of-input eos (--cfg 3)" $? \
			"$(cat "$tmp/dump")"
		echo 'a person walks' | "$mt" -m $m --cfg 1 | bin/framedump --no-data | grep -c '"type":"tokens"' > "$tmp/c"
		[ "$(cat "$tmp/c")" = 1 ]
		check "--cfg 1: no unconditional frame" $?
	else
		echo "# bin/framedump not built: skipping the frame checks"
	fi
else
	echo "# $m not found: skipping the model-mode checks"
fi

echo "1..$n"
exit $failed
