#!/bin/sh
# One command from a fresh Debian machine to a BVH file: installs what is missing, builds, and
# turns a prompt into motion with the bundled default model. Prints the path of the BVH.
#   sh scripts/quickstart.sh ["a person waves with the left hand"]
set -e
cd "$(dirname "$0")/.."
prompt=${1:-"a person walks forward"}
sh scripts/install-deps.sh
make -s -j2 >&2
mkdir -p out
out=out/quickstart.bvh
echo "$prompt" | bin/llamo-t2m --seed 0 | bin/vae-dec -o "$out"
echo "$PWD/$out"
