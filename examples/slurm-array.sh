#!/bin/sh
# A large batch as a Slurm array job: task k of N runs part k of the prompts file on one GPU
# (examples/parallel.sh --part), so prompt i still gets seed SEED+i and becomes OUTDIR/i.bvh (5
# digits) as in one big run. Set --array to 0-(N-1) for N parts; Slurm sets CUDA_VISIBLE_DEVICES
# to the task's GPU.
#
#   sbatch --array=0-9 examples/slurm-array.sh prompts.txt out
#
#SBATCH --job-name=llamo-batch
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --output=slurm-%A_%a.log
set -e
prompts=${1:?usage: sbatch --array=0-N examples/slurm-array.sh PROMPTS.txt OUTDIR}
out=${2:?usage: sbatch --array=0-N examples/slurm-array.sh PROMPTS.txt OUTDIR}
cd "${SLURM_SUBMIT_DIR:-.}"
export PATH="$PWD/bin:$PATH"
k=${SLURM_ARRAY_TASK_ID:-0}
parts=${SLURM_ARRAY_TASK_COUNT:-1}
total=$(grep -v -c -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$prompts" || true)
size=$(( (total + parts - 1) / parts ))
mkdir -p "$out"
[ $((k * size)) -lt "$total" ] || exit 0
LLAMO_DEVICE=${LLAMO_DEVICE:-cuda} sh examples/parallel.sh --part $((k * size)) "$size" "$prompts" "$out"
