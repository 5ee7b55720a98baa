#!/usr/bin/env bash
# make bench: the first CPU benchmark. Motion frames per second of llamo-t2m on the bundled
# default model (guidance on, the model's Euler steps; the exit head disabled with --threshold 1
# so every run makes the same number of latents), the time per stage, and the VAE's speed,
# printed with the machine they ran on. With PyTorch available, the reference model runs the same
# generation in the same run, side by side.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
M=${LLAMO_MODEL:-models/default}
SECONDS_OF_MOTION=${BENCH_SECONDS:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "machine: ${cpu:-unknown cpu}, $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB; $(date -u +%F)"
echo "model: $M ($(du -sh $M | cut -f1)); prompt 'a person walks forward', $SECONDS_OF_MOTION s of motion"
run() { # extra args (-m DIR picks another model than $M)
	/usr/bin/time -f "%e %M" -o $tmp/time llamo-t2m -m $M --seed 0 --seconds $SECONDS_OF_MOTION --threshold 1 --profile \
		"$@" "a person walks forward" > $tmp/lat.lmf 2> $tmp/prof
	read wall rss < $tmp/time
	sed -n 's/.*profile: prompt 0: //p' $tmp/prof | sed "s/^/  /"
	echo "  wall $wall s including model load, peak RSS $((rss / 1024)) MiB"
}
fps() { sed -n 's/.*= \([0-9.]*\) frames\/s.*/\1/p' $tmp/prof; }
echo "llamo-t2m, guidance on (the model's scale), the model's Euler steps:"
run
cp $tmp/lat.lmf $tmp/guided.lmf
small_fps=$(fps)
echo "llamo-t2m, no guidance (--cfg 1):"
run --cfg 1
# The SmolLM2 motion model (issue 11: models/smol, on the imported SmolLM2-135M-Instruct) in the
# same run, so that its speed reads against the small model's on the same load.
SM=${LLAMO_SMOL_MODEL:-models/smol}
S=${LLAMO_SMOLLM2:-models/smollm2-135m-instruct}
if [ -f "$SM/config.json" ] && [ -f "$S/model.safetensors" ]; then
	echo "llamo-t2m on $SM (SmolLM2-135M-Instruct + motion twin), guidance on, the model's Euler steps:"
	run -m $SM
	smol_fps=$(fps)
	[ -n "$small_fps" ] && [ -n "$smol_fps" ] &&
		echo "  $SM / $M: $(awk "BEGIN{printf \"%.2f\", $smol_fps / $small_fps}") (targets: >= 0.33, and >= 30 frames/s)"
else
	echo "llamo-t2m on $SM: not run (no $SM, or SmolLM2 not imported: make smollm2)"
fi
nlat=$(framedump --no-data $tmp/guided.lmf | grep -c '"type":"latent"')
start=$(date +%s.%N)
vae-dec -m $M $tmp/guided.lmf > $tmp/out.bvh
end=$(date +%s.%N)
echo "vae-dec (streaming, 4 frames per latent, to BVH): $((4 * nlat)) frames in $(awk "BEGIN{printf \"%.3f\", $end - $start}") s including model load"
clip=$(ls tests/data/bn_*.bvh | head -1)
start=$(date +%s.%N)
vae-enc -m $M $clip > /dev/null
end=$(date +%s.%N)
echo "vae-enc $(basename $clip) ($(grep -m1 Frames: $clip | awk '{print $2}') frames): $(awk "BEGIN{printf \"%.3f\", $end - $start}") s including model load"
if [ -f train/bench_ref.py ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	echo "PyTorch, eager, KV cache, same model and generation (train/bench_ref.py), torch's 2 threads:"
	/usr/bin/python3 train/bench_ref.py --model $M --seconds $SECONDS_OF_MOTION --threads 2 | sed 's/^/  /'
	echo "PyTorch, the same with 1 thread (steadier on 2 cores):"
	/usr/bin/python3 train/bench_ref.py --model $M --seconds $SECONDS_OF_MOTION --threads 1 --no-check | sed 's/^/  /'
else
	echo "PyTorch reference: not run (no torch for /usr/bin/python3)"
fi

# SmolLM2-135M-Instruct text generation (issue 9): llamo-chat on the imported model next to
# llama.cpp (llama-cpp-python: $LLAMA_CPP_PYTHON, else the oracle virtualenv) on the same GGUF,
# the same prompt, greedy, the same thread count (OMP / OpenBLAS threads for llamo, n_threads for
# llama.cpp), in this run. llamo reads the weights as the import wrote them (F16 by default);
# llama.cpp reads the Q4_1 / Q8_0 GGUF. (S, the imported SmolLM2, is set above.)
gguf=${LLAMO_CACHE:-$HOME/.cache/llamo}/SmolLM2-135M-Instruct.Q4_1.gguf
msg="Explain, step by step, how a person walks."
if [ -f "$S/model.safetensors" ]; then
	for threads in ${BENCH_THREADS:-1 $(nproc)}; do
	wdt=$(sed -n 's/.*"torch_dtype": *"\([a-z0-9]*\)".*/\1/p' $S/config.json)
	echo "SmolLM2-135M-Instruct, greedy reply to '$msg', 64 tokens at most, $threads thread(s):"
	OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads llamo-chat -m $S --profile --max-tokens 64 "$msg" 2>&1 >/dev/null |
		sed "s/^llamo-chat: profile: /  llamo ($wdt weights, $(du -m $S/model.safetensors | cut -f1) MB): /" | tee $tmp/llamo.tps
	py=${LLAMA_CPP_PYTHON:-/work/venv-oracle/bin/python}
	if [ -f "$gguf" ] && [ -x "$py" ] && "$py" -c 'import llama_cpp' 2>/dev/null; then
		"$py" bench/llamacpp_tps.py "$gguf" "$msg" --threads $threads --tokens 64 |
			sed "s/^llama.cpp: /  llama.cpp (Q4_1 GGUF, $(du -m $gguf | cut -f1) MB): /" | tee $tmp/lcpp.tps
		a=$(sed -n 's/.*, \([0-9.]*\) tokens\/s.*/\1/p' $tmp/llamo.tps)
		b=$(sed -n 's/.*, \([0-9.]*\) tokens\/s.*/\1/p' $tmp/lcpp.tps)
		[ -n "$a" ] && [ -n "$b" ] && echo "  llamo / llama.cpp: $(awk "BEGIN{printf \"%.2f\", $a / $b}") (target >= 0.5)"
	else
		echo "  llama.cpp: not run (no llama-cpp-python: LLAMA_CPP_PYTHON=python with llama_cpp)"
	fi
	done
	echo "  (a run with as many threads as cores is only fair on an idle machine: a thread pool that"
	echo "  waits at every product for a thread another process holds slows down many times; load: $(cut -d' ' -f1-3 /proc/loadavg))"
else
	echo "SmolLM2: not run ($S is missing: make smollm2)"
fi
