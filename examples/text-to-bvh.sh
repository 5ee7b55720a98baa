#!/bin/sh
# Text to a BVH file with the bundled model (or -m DIR through $LLAMO_MODEL).
#   examples/text-to-bvh.sh "a person waves with the left hand" wave.bvh
set -e
prompt=${1:?usage: text-to-bvh.sh PROMPT OUT.bvh}
out=${2:?usage: text-to-bvh.sh PROMPT OUT.bvh}
echo "$prompt" | llamo-t2m --seed "${SEED:-0}" | vae-dec -o "$out"
echo "$out"
