#!/bin/sh
# Installs what llamo needs to build and test on Debian/Ubuntu, only what is missing.
# Build: gcc, make, jansson, Oniguruma, OpenBLAS, libpng and giflib (mrender). Tests: perl's prove, pkg-config.
# SmolLM2 import (make smollm2): python3 and python3-venv (its gguf, numpy, safetensors and jinja2 come from PyPI). Fuzzing (optional): clang.
# Blender (tests/blender.t; about 100 MB with what it pulls in): only when $CI is set or
# LLAMO_WITH_BLENDER=1 (elsewhere tests/blender.t skips without it). Likewise a one-node Slurm
# cluster and GNU parallel for tests/slurm.t (slurm-wlm, munge, parallel): $CI or LLAMO_WITH_SLURM=1.
# The man pages' examples (tests/man-examples.t): mandoc and jq always, ffmpeg (large) with $CI or
# LLAMO_WITH_FFMPEG=1.
set -e
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in gcc make libc6-dev libjansson-dev libonig-dev libopenblas-dev libpng-dev libgif-dev pkg-config perl python3 python3-venv mandoc jq; do
	have_pkg "$p" || need="$need $p"
done
[ -n "$LLAMO_WITH_FUZZ" ] && { have_pkg clang || need="$need clang"; }
if [ -n "$CI" ] || [ -n "$LLAMO_WITH_BLENDER" ]; then
	have_pkg blender || need="$need blender"
fi
if [ -n "$CI" ] || [ -n "$LLAMO_WITH_FFMPEG" ]; then
	have_pkg ffmpeg || need="$need ffmpeg"
fi
if [ -n "$CI" ] || [ -n "$LLAMO_WITH_SLURM" ]; then
	for p in slurm-wlm munge parallel; do have_pkg "$p" || need="$need $p"; done
fi
[ -z "$need" ] && exit 0
echo "install-deps: installing$need" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >&2
