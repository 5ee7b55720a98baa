#!/bin/sh
# Many prompts in one process, the model loaded once: each line of PROMPTS is a prompt, or
# SECONDS<TAB>PROMPT for that length exactly; empty lines and lines starting with # are skipped.
# Stream ids keep the prompts apart in one pipe and vae-dec writes one BVH per prompt (prompt k,
# from 0, gets seed SEED+k and OUTDIR/k.bvh, 3 digits); with PREVIEW=1 mrender draws a contact
# sheet next to each. On a terminal llamo-t2m shows its progress.
#   examples/batch.sh prompts.txt outdir
#   printf '4\ta person walks forward\n2.5\ta person jumps\n' > prompts.txt
# For thousands of prompts over several GPUs or hosts: examples/parallel.sh, examples/slurm-array.sh.
set -e
prompts=${1:?usage: batch.sh PROMPTS.txt OUTDIR}
dir=${2:?usage: batch.sh PROMPTS.txt OUTDIR}
mkdir -p "$dir"
llamo-t2m --seed "${SEED:-0}" --batch "$prompts" | vae-dec -o "$dir/%03d.bvh"
if [ -n "$PREVIEW" ]; then
	for f in "$dir"/*.bvh; do
		mrender -o "${f%.bvh}.png" "$f"
	done
fi
ls "$dir"
