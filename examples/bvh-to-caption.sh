#!/bin/sh
# A BVH clip on the model's skeleton to one caption line.
#   examples/bvh-to-caption.sh clip.bvh
set -e
vae-enc "${1:?usage: bvh-to-caption.sh CLIP.bvh}" | llamo-m2t
