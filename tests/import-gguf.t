#!/usr/bin/env bash
# import-gguf.t: scripts/import-gguf.py on small GGUF files (tests/import_gguf_test.py, TAP).
# Needs a Python with gguf, numpy and safetensors: $IMPORT_PYTHON, else the virtualenv
# scripts/smollm2.sh makes ($LLAMO_CACHE/venv-import), else /usr/bin/python3; skipped if none has them.
cd "$(dirname "$0")/.." || exit 1
cache=${LLAMO_CACHE:-$HOME/.cache/llamo}
for py in ${IMPORT_PYTHON:-} "$cache/venv-import/bin/python" /usr/bin/python3; do
	[ -x "$py" ] && "$py" -c 'import gguf, numpy, safetensors' 2>/dev/null && exec "$py" tests/import_gguf_test.py
done
echo "1..0 # SKIP no Python with gguf, numpy and safetensors (sh scripts/smollm2.sh makes one)"
