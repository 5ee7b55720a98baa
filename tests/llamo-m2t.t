#!/usr/bin/env bash
# llamo-m2t --prompt and the config's m2t_prompt (docs/model-format.md 4.7), on copies of the
# tiny model (tests/golden/tiny) whose m2t_template differ only in how the instruction gets in:
# written out in the template, or through {prompt} (default m2t_prompt, or --prompt).
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
T=tests/golden/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/tap.sh

# variant DIR TEMPLATE-AND-KEYS: the tiny model with m2t_template replaced (sed replacement text)
variant() {
	mkdir -p "$1"
	for f in model.safetensors normalization.safetensors skeleton.bvh tokenizer.json; do
		ln -s "$PWD/$T/$f" "$1/$f"
	done
	sed "s#\"m2t_template\": \"<|begin_of_text|>{motion}Caption:\"#$2#" $T/config.json > "$1/config.json"
}
variant $tmp/p '"m2t_template": "<|begin_of_text|>{motion}{prompt}", "m2t_prompt": "Caption:"'
variant $tmp/d '"m2t_template": "<|begin_of_text|>{motion}Describe the motion:"'
variant $tmp/nodefault '"m2t_template": "<|begin_of_text|>{motion}{prompt}"'
variant $tmp/unused '"m2t_template": "<|begin_of_text|>{motion}Caption:", "m2t_prompt": "Caption:"'
grep -q '{prompt}", "m2t_prompt": "Caption:"' $tmp/p/config.json; ok $? "the {prompt} variant of the config is written"

echo "a person waves the left hand" | llamo-t2m -m $T --seed 3 > $tmp/a.lmf
want=$(llamo-m2t -m $T $tmp/a.lmf)
ok $? "the tiny model captions ($(printf '%s' "$want" | wc -c) bytes)"
is "$(llamo-m2t -m $tmp/p $tmp/a.lmf)" "$want" "{prompt} with m2t_prompt \"Caption:\" and no --prompt: the caption of the written-out template"
is "$(llamo-m2t -m $tmp/p --prompt Caption: $tmp/a.lmf)" "$want" "--prompt Caption: gives the same"
other=$(llamo-m2t -m $tmp/d $tmp/a.lmf)
is "$(llamo-m2t -m $tmp/p --prompt 'Describe the motion:' $tmp/a.lmf)" "$other" \
	"--prompt 'Describe the motion:' gives the caption of that template written out"
is "$(llamo-m2t -m $tmp/p --prompt 'Describe the motion:' --bvh tests/data/bn_wave-left-hand_normal_001_f000-039.bvh)" \
	"$(llamo-m2t -m $tmp/d --bvh tests/data/bn_wave-left-hand_normal_001_f000-039.bvh)" "--prompt with --bvh: the same"
[ "$other" != "$want" ]; ok $? "that instruction changes the caption (the checks above are not vacuous)"
llamo-m2t -m $tmp/p --prompt '{motion} and {prompt}' $tmp/a.lmf > $tmp/out 2> $tmp/err
is "$?/$(wc -l < $tmp/out)" "0/1" "a prompt holding {motion} and {prompt} is only text: one caption"

llamo-m2t -m $T --prompt hi $tmp/a.lmf > $tmp/out 2> $tmp/err; rc=$?
is "$rc/$(wc -c < $tmp/out)" "64/0" "--prompt on a model whose template has no {prompt}: exit 64, no output"
grep -q '^llamo-m2t: .*--prompt: .*no {prompt}' $tmp/err; ok $? "the message says so ($(head -1 $tmp/err))"
llamo-m2t -m $tmp/nodefault $tmp/a.lmf > $tmp/out 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "{prompt} without m2t_prompt in the config: exit 65, one line ($(cat $tmp/err))"
grep -q 'llamo.m2t_prompt: missing' $tmp/err; ok $? "the message names llamo.m2t_prompt"
llamo-m2t -m $tmp/unused $tmp/a.lmf > $tmp/out 2> $tmp/err; rc=$?
is "$rc/$(wc -l < $tmp/err)" "65/1" "m2t_prompt without {prompt} in the template: exit 65, one line ($(cat $tmp/err))"
llamo-m2t --help | grep -q -- '--prompt TEXT'; ok $? "--help lists --prompt TEXT"
done_testing
