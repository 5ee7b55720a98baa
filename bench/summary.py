"""summary.py: the short table bench/run-gpu.sh prints last (and saves as summary.md).

Reads what llamo-bench (--json) and train/bench_cuda.py (--json) wrote into one directory,
c-SHAPE.json and py-SHAPE.json, and prints, per shape, the C numbers, the PyTorch numbers and
their ratios, and for the 1b shape the issue 4 targets with a yes / NO each. With --out it also
writes summary.md and results.json (every number of every file) there. Standard library only;
a missing file or number shows as "-".

    python3 bench/summary.py DIR [--out DIR] [--header TEXT] [--status LINES] [--only SHAPE]
"""
import json
import os
import sys


def load(path):
	try:
		with open(path) as f:
			return json.load(f)
	except (OSError, ValueError):
		return {}


def num(d, k):
	v = d.get(k)
	return v if isinstance(v, (int, float)) else None


def fmt(v, spec="{:.0f}"):
	return "-" if v is None else spec.format(v)


def ratio(a, b):
	return a / b if a and b else None


def main(argv):
	if len(argv) < 2:
		print(__doc__.split("\n\n")[-1].strip(), file=sys.stderr)
		return 64
	d = argv[1]

	def opt(name):
		return argv[argv.index(name) + 1] if name in argv[:-1] else ""

	header, status, only, outdir = opt("--header"), opt("--status"), opt("--only"), opt("--out")
	shapes = [s for s in ("tiny", "1b", "3b", "8b") if os.path.exists(os.path.join(d, f"c-{s}.json"))
		  or os.path.exists(os.path.join(d, f"py-{s}.json"))]
	everything = {f"{side}-{s}": load(os.path.join(d, f"{side}-{s}.json")) for s in shapes for side in ("c", "py")}
	if only:
		shapes = [s for s in shapes if s == only]
	out = []
	p = out.append
	p("## llamo on the GPU: summary" + (f" ({only})" if only else ""))
	if header:
		p("")
		p(header)
	for s in shapes:
		c, py = load(os.path.join(d, f"c-{s}.json")), load(os.path.join(d, f"py-{s}.json"))
		p("")
		p(f"### {s}: {c.get('describe') or py.get('device') or '?'}; guidance {fmt(num(c, 'cfg'), '{:g}')}, "
		  f"{fmt(num(c, 'steps'))} Euler steps, batch 1 unless noted")
		p("")
		p(f"| llamo (C, {c.get('device', '?')}) | value |")
		p("|---|---:|")
		rows = [
			("frames/s, batch 1 streaming (mean)", num(c, "stream_fps"), "{:.0f}"),
			("per motion token p50 / p99 (ms)", None, None),
			("time to first frame (ms)", num(c, "ttff_ms"), "{:.2f}"),
			("flow head per Euler step (us)", num(c, "flow_step_us"), "{:.1f}"),
			("backbone decode (tokens/s, one sequence)", num(c, "bb_decode_tps"), "{:.0f}"),
			("backbone prefill 512 (tokens/s)", num(c, "bb_prefill512_tps"), "{:.0f}"),
			("aggregate frames/s, batch 4 (interleaved)", num(c, "batch4_fps"), "{:.0f}"),
			("aggregate frames/s, batch 8 (interleaved)", num(c, "batch8_fps"), "{:.0f}"),
			("VAE streaming decode per latent (ms)", num(c, "vae_latent_ms"), "{:.3f}"),
			("peak device memory (GiB, NVML)", num(c, "mem_peak_gib"), "{:.2f}"),
			("copy bandwidth (GB/s)", num(c, "copy_gbs"), "{:.0f}"),
			("bandwidth floor per token (ms)", num(c, "floor_ms"), "{:.3f}"),
			("measured p50 / floor", num(c, "floor_ratio"), "{:.2f}x"),
		]
		for label, v, spec in rows:
			if spec is None:
				v = f"{fmt(num(c, 'stream_p50_ms'), '{:.3f}')} / {fmt(num(c, 'stream_p99_ms'), '{:.3f}')}"
				p(f"| {label} | {v} |")
			else:
				p(f"| {label} | {fmt(v, spec)} |")
		cf = num(c, "stream_fps")
		p("")
		p(f"| PyTorch {py.get('torch', '?')}, {py.get('dtype', '?')} | frames/s | p50 ms | first frame ms | "
		  "flow us/step | llamo is |")
		p("|---|---:|---:|---:|---:|---:|")
		names = {"eager": "eager, per-step adaLN (MAR as written)", "graph": "CUDA graph, per-step adaLN",
			 "eager_pre": "eager, precomputed adaLN", "graph_pre": "CUDA graph, precomputed adaLN"}
		for k, label in names.items():
			f = num(py, f"{k}_fps")
			if f is None:
				continue
			r = ratio(cf, f)
			p(f"| {label} | {fmt(f)} | {fmt(num(py, f'{k}_p50_ms'), '{:.2f}')} | "
			  f"{fmt(num(py, f'{k}_ttff_ms'), '{:.2f}')} | {fmt(num(py, f'{k}_flow_step_us'), '{:.1f}')} | "
			  f"{fmt(r, '{:.2f}x')} |")
		if s == "1b":
			eager = max([v for v in (num(py, "eager_fps"), num(py, "eager_pre_fps")) if v] or [0]) or None
			graph = max([v for v in (num(py, "graph_fps"), num(py, "graph_pre_fps")) if v] or [0]) or None
			t = [
				("frames/s >= 1000", cf, lambda v: v >= 1000, "{:.0f}"),
				("p50 per token <= 4 ms", num(c, "stream_p50_ms"), lambda v: v <= 4, "{:.3f} ms"),
				("time to first frame <= 15 ms", num(c, "ttff_ms"), lambda v: v <= 15, "{:.2f} ms"),
				(">= 10x the faster PyTorch eager", ratio(cf, eager), lambda v: v >= 10, "{:.2f}x"),
				(">= 1.5x the faster PyTorch CUDA graph", ratio(cf, graph), lambda v: v >= 1.5, "{:.2f}x"),
			]
			p("")
			p("| issue 4 target (1b, BF16, guidance, 50 steps, batch 1) | measured | met |")
			p("|---|---:|:---:|")
			for label, v, ok, spec in t:
				p(f"| {label} | {fmt(v, spec)} | {'-' if v is None else ('yes' if ok(v) else 'NO')} |")
	if not shapes:
		p("")
		p("(no results: no c-*.json or py-*.json in " + d + ")")
	if status and not only:
		p("")
		p("Parts: " + "; ".join(x for x in status.splitlines() if x.strip()) + ".")
	text = "\n".join(out) + "\n"
	sys.stdout.write(text)
	if outdir:
		everything["header"] = header
		everything["status"] = [x for x in status.splitlines() if x.strip()]
		for name, body in (("results.json", json.dumps(everything, indent=1) + "\n"), ("summary.md", text)):
			if only and name == "summary.md":
				continue
			try:
				with open(os.path.join(outdir, name + ".tmp"), "w") as f:
					f.write(body)
				os.replace(os.path.join(outdir, name + ".tmp"), os.path.join(outdir, name))
			except OSError as e:
				print(f"summary: {e}", file=sys.stderr)
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv))
