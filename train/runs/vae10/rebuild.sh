#!/bin/sh
# Issue 10's head rebuild, the recipe of the bundled models/default: a new twin and new heads on
# the vae10 latents, the earlier model's recipe (train_llamo.py RECIPE: s1 300, s2 3,000 + 1,500 +
# 2,000, s3 500) with the mirrored clips (the seventh try: s3c), then s2 1,500 and s3 300 without
# them (the eighth try: s3d; a mirrored clip keeps its content but not always its style, see
# mirror_style.py and runs/vae10/heads-s3n-eval.md). About 3.3 h of training on the 2-core
# machine (and about 12 min of measurement per export), stage by stage across sessions: a stage
# whose checkpoint exists is skipped, so rerunning this script goes on where the last one
# stopped (a stage cut off in the middle starts again). Then the
# exports (s3c at guidance 2.0 and 3.0: model-2, model-3; s3d: model-d2, model-d3, the last one
# is models/default) and their measurements (eval.py --only t2m,m2t and style_gap.py).
#
#   cd train && sh runs/vae10/rebuild.sh [CKPT_DIR]     # default ../ckpt-vae10f
#
# CKPT_DIR holds the checkpoints (lm, s1, s2, s2b, s2c, s3c .pt), the training log (run/log.txt)
# and the exports; keep it somewhere that outlives the session (the working tree does; /tmp has
# not). Needs the features and the vae10 latents in $LLAMO_WORK (default /tmp/llamo-train-vae):
#   python3 -c "import dataset; dataset.Data()"; python3 augment.py --build --jobs 2
#   python3 train_vae.py --width 192 --out runs/vae10 --mirror --write-latents \
#       --latents $LLAMO_WORK/latents_vae10.npz    (then git checkout runs/vae10/log.txt)
set -e
cd "$(dirname "$0")/../.."
CK=$(realpath "${1:-../ckpt-vae10f}")
PY=${PYTHON:-/usr/bin/python3}
export LLAMO_WORK=${LLAMO_WORK:-/tmp/llamo-train-vae}
export LLAMO_LATENTS=${LLAMO_LATENTS:-$LLAMO_WORK/latents_vae10.npz} LLAMO_VAE=runs/vae10/vae.safetensors
export LLAMO_CKPT="$CK" LLAMO_RUN="$CK/run"
mkdir -p "$LLAMO_RUN"
[ -f "$LLAMO_LATENTS" ] || { echo "rebuild.sh: $LLAMO_LATENTS missing (see the comment at the top)" >&2; exit 2; }

stage() {   # stage NAME ARGS...: train_llamo.py ARGS unless NAME.pt exists
	n=$1; shift
	if [ -f "$CK/$n.pt" ]; then echo "rebuild.sh: $n done" >&2; return; fi
	echo "rebuild.sh: $n ($(date -u +%H:%M))" >&2
	$PY train_llamo.py "$@"
}
stage lm  --stage frombundled --from-dir ../models/default --text-only
stage s1  --stage s1 --mirror --steps 300
stage s2  --stage s2 --mirror --steps 3000
stage s2b --stage s2 --mirror --init s2 --name s2b --steps 1500
stage s2c --stage s2 --mirror --init s2b --name s2c --reseed 2 --steps 2000
stage s3c --stage s3 --mirror --init s2c --name s3c --steps 500
stage s2d --stage s2 --init s2c --name s2d --reseed 3 --steps 1500
stage s3d --stage s3 --init s2d --name s3d --steps 300

for m in 2 3 d2 d3; do
	ck=s3c; s=$m
	case $m in d*) ck=s3d; s=${m#d};; esac
	m="$CK/model-$m"
	[ -f "$m/model.safetensors" ] || $PY train_llamo.py --stage export --ckpt $ck --scale $s --out "$m"
	# a run with --only writes eval-partial.json; style_gap's JSON goes through a rename, so a
	# cut-off run leaves nothing that looks done
	[ -f "$m/eval/eval-partial.json" ] || $PY eval.py --model "$m" --only t2m,m2t --jobs 2 --out "$m/eval"
	[ -f "$m/style-gap.json" ] || { $PY style_gap.py --model "$m" --jobs 2 > "$m/style-gap.json.part" &&
		mv "$m/style-gap.json.part" "$m/style-gap.json"; }
done
