#!/usr/bin/env bash
# llamo-chat as a user runs it: on SmolLM2-135M-Instruct (models/smollm2-135m-instruct, or
# $LLAMO_SMOLLM2; `make smollm2` builds it) its greedy replies are transformers' (replies.json in
# tests/golden/smollm2), its text is the decoding of its ids, stdin and arguments agree, and a
# seed fixes a sampled reply; on any model, bad input gets one line and a documented exit code.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
. tests/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
S=${LLAMO_SMOLLM2:-models/smollm2-135m-instruct}

# errors, on the bundled motion model (no chat.json) and with bad options
llamo-chat -m models/default "hello" > $tmp/out 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)/$(wc -c < $tmp/out)" "66/1/0" "a model without chat.json: exit 66, one line, no output ($(cat $tmp/err))"
grep -q 'chat.json' $tmp/err; ok $? "the message names chat.json"
llamo-chat -m models/default --temperature -1 hi 2> $tmp/err; is "$?/$(wc -l < $tmp/err | tr -d ' ')" "64/2" "--temperature -1: usage error"
llamo-chat -m $tmp/none hi 2> $tmp/err; is "$?" 66 "a missing model directory: exit 66"

if [ ! -f "$S/model.safetensors" ] || ! command -v python3 > /dev/null; then
	echo "# SKIP the SmolLM2 checks: $S is not there (make smollm2) or no python3"
	done_testing
	exit
fi
# the oracle's prompt and greedy reply for prompts 1, 4 and 14 (the ids without the final <|im_end|>)
for i in 1 4 14; do
	python3 -c "import json,sys; d=json.load(open('tests/golden/smollm2/replies.json')); i=$i
print(d['prompts'][i]); r=d['transformers_replies'][i]; print(' '.join(map(str, r[:-1] if r[-1] == d['eot_id'] else r)))" > $tmp/g
	prompt=$(sed -n 1p $tmp/g); want=$(sed -n 2p $tmp/g)
	got=$(llamo-chat -m $S --ids --max-tokens 64 "$prompt")
	is "$got" "$want" "prompt $i ('$prompt'): greedy reply ids equal transformers'"
done
prompt="What is the capital of France?"
llamo-chat -m $S "$prompt" > $tmp/text
ok $? "llamo-chat answers '$prompt': $(head -c 80 $tmp/text)"
llamo-chat -m $S --ids "$prompt" | mtokenize -m $S --decode > $tmp/dec
cmp -s $tmp/text $tmp/dec; ok $? "the streamed text is the decoding of the reply's ids"
echo "$prompt" | llamo-chat -m $S > $tmp/stdin
cmp -s $tmp/text $tmp/stdin; ok $? "the message on stdin (with its newline) gives the same reply"
llamo-chat -m $S --no-system "$prompt" > $tmp/nosys; ok $? "--no-system runs: $(head -c 60 $tmp/nosys)"
a=$(llamo-chat -m $S --temperature 0.8 --top-p 0.9 --seed 3 --max-tokens 24 "Name a colour.")
b=$(llamo-chat -m $S --temperature 0.8 --top-p 0.9 --seed 3 --max-tokens 24 "Name a colour.")
is "$a" "$b" "sampling: the same seed gives the same reply"
printf 'caf\xe9\n' | llamo-chat -m $S > /dev/null 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "a message that is not UTF-8: exit 65, one line ($(cat $tmp/err))"
done_testing
