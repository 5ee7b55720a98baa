#!/bin/sh
# The autoregressive generation loop written as a shell pipeline: the teaching form of llamo-t2m.
# Each program is one stage of the model; the latents flow back into llamo-step through a FIFO.
#
#   mtokenize | cat - loop | llamo-step | exithead | flowsample | tee loop | vae-dec
#
# mtokenize   prompt -> token frames (conditional, and unconditional for guidance)
# llamo-step  tokens or a latent -> the backbone's next hidden state (KV cache per stream)
# exithead    hidden state -> passed on, or an end-of-motion mark when the exit head says stop
# flowsample  hidden state -> projector -> flow head Euler ODE from noise -> one latent
# tee loop    the latent goes back to llamo-step and on to the decoder
# vae-dec     latents -> 4 frames each -> BVH
#
# The same prompt and seed give the same latents as `llamo-t2m --seed N`.
#   examples/fifo-loop.sh "a person walks" walk.bvh [SEED] [LATENTS_FILE]
# With LATENTS_FILE, the latent stream is also saved there (for comparison with llamo-t2m).
set -e
prompt=${1:?usage: fifo-loop.sh PROMPT OUT.bvh [SEED] [LATENTS_FILE]}
out=${2:?usage: fifo-loop.sh PROMPT OUT.bvh [SEED] [LATENTS_FILE]}
seed=${3:-0}
keep=${4:-/dev/null}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/loop"
mtokenize "$prompt" | cat - "$tmp/loop" | llamo-step | exithead | flowsample --seed "$seed" \
	| tee "$tmp/loop" | tee "$keep" | vae-dec -o "$out"
echo "$out"
