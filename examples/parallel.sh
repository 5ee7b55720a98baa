#!/bin/sh
# A large batch spread over several GPUs (or hosts) with GNU parallel, one llamo-t2m | vae-dec per
# part of the prompts file, each loading the model once. Prompt k of the whole file (comments and
# empty lines skipped, as llamo-t2m skips them) gets seed SEED+k and becomes OUTDIR/k.bvh (5
# digits), the same as one big `llamo-t2m --batch` would give.
#
#   examples/parallel.sh PROMPTS.txt OUTDIR [JOBS [PART_SIZE]]
#
# JOBS parts run at once (default 1 per GPU that nvidia-smi lists, else 2); job slot j uses GPU
# j-1 (CUDA_VISIBLE_DEVICES), with LLAMO_DEVICE=auto falling back to the CPU where there is none.
# PART_SIZE prompts per part (default 100). GNU parallel takes more options from $PARALLEL, e.g.
# several hosts sharing this directory (NFS):
#   PARALLEL="--sshloginfile hosts.txt --workdir $PWD" examples/parallel.sh prompts.txt out
# A Slurm cluster: examples/slurm-array.sh runs the same parts as an array job.
#
# One part on its own (what each job runs; START counts prompts from 0):
#   examples/parallel.sh --part START COUNT PROMPTS.txt OUTDIR
set -e
prompts_of() { grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$1" || true; }

if [ "$1" = --part ]; then
	start=$2 count=$3 prompts=$4 out=$5
	tmp=$(mktemp -d "$out/.part$start.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	prompts_of "$prompts" | sed -n "$((start + 1)),$((start + count))p" |
		llamo-t2m --seed $((${SEED:-0} + start)) --batch - | vae-dec -o "$tmp/%05d.bvh"
	for f in "$tmp"/*.bvh; do
		[ -e "$f" ] || continue
		i=${f##*/}
		i=${i%.bvh}
		mv "$f" "$out/$(printf %05d $((start + $(expr "$i" + 0))))".bvh
	done
	exit 0
fi

prompts=${1:?usage: parallel.sh PROMPTS.txt OUTDIR [JOBS [PART_SIZE]]}
out=${2:?usage: parallel.sh PROMPTS.txt OUTDIR [JOBS [PART_SIZE]]}
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
jobs=${3:-$([ "${gpus:-0}" -gt 0 ] && echo "$gpus" || echo 2)}
size=${4:-100}
total=$(prompts_of "$prompts" | wc -l)
mkdir -p "$out"
self=$(cd "$(dirname "$0")" && pwd)/parallel.sh
# one line per part: its first prompt; {%} is the job slot (1..JOBS), so each slot keeps a GPU
seq 0 "$size" $((total - 1)) |
	parallel -j "$jobs" --halt now,fail=1 \
		"CUDA_VISIBLE_DEVICES=\$(({%} - 1)) sh '$self' --part {} $size '$prompts' '$out'"
echo "$total prompts -> $out" >&2
