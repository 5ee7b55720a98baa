#!/bin/sh
# Many prompts in one process: each line of PROMPTS is a prompt; stream ids keep them apart in one
# pipe and vae-dec writes one BVH per prompt.
#   examples/batch.sh prompts.txt outdir
set -e
prompts=${1:?usage: batch.sh PROMPTS.txt OUTDIR}
dir=${2:?usage: batch.sh PROMPTS.txt OUTDIR}
mkdir -p "$dir"
llamo-t2m --seed "${SEED:-0}" < "$prompts" | vae-dec -o "$dir/%03d.bvh"
ls "$dir"
