"""bench_ref.py: the PyTorch side of `make bench` (tests/bench.sh).

Runs text-to-motion generation (docs/model-format.md 4.6) the way a competent PyTorch user would
write it on top of the reference modules of llamo_ref.py, and times it, so the C toolchain is
compared with the PyTorch code people would otherwise use, on the same model and settings:

  - BF16/F16 weights upcast to float32 (LlamoModel.load_dir), as the C does; eager mode,
    torch.inference_mode(), torch.set_num_threads(2) unless --threads;
  - an incremental KV cache: per-layer K/V tensors preallocated for the whole generation; each
    prompt is prefilled once (text branch), then every latent costs one motion-branch step;
  - guidance batched: the conditional and unconditional sequences step together as a batch of
    two (left-aligned caches: the shorter prompt's columns are masked out, each row keeps its
    own RoPE positions); the projector and the flow head see both rows at once;
  - the flow head called once per Euler step (the straightforward loop, no precomputed adaLN);
  - the exit head evaluated every latent as in 4.6, but with threshold 1 it never stops
    generation, so both sides make floor(seconds * fps / downsample) latents.

Prompt "a person walks forward", seed 0 (torch.Generator().manual_seed(0), torch.randn(L) per
latent). With --check (the default) it first shows that this is the same computation:
  - against LlamoModel.generate_t2m (the slow reference that recomputes the whole sequence every
    step): max |diff| over the first --check-latents latents;
  - against bin/llamo-t2m --device cpu, same settings: max |diff| of every latent predicted from
    C's previous latents (teacher forcing), and of the free-running streams. With guidance on,
    the random-weight default model amplifies rounding differences through the loop (roughly
    x1.5 per latent: 1e-5 at the first latent, O(1) after ~35, between any two of the three
    implementations), so only the teacher-forced number checks the whole run.
Then, after a warm-up run of --check-latents latents, it times one generation and prints a line
in the format of llamo-t2m --profile (total = the sum of the stage times, as the C program counts
it; flow head includes randn and the projector, backbone includes the adapter), the wall time,
and the ratio to the C run's frames per second. If the warm-up's speed says the rest would not
fit in --budget seconds, the timed run makes fewer latents and says so.

    /usr/bin/python3 train/bench_ref.py --model models/default --seconds 10 [--cfg S] [--steps N]
        [--threads N] [--check | --no-check] [--check-latents N] [--budget S]
"""
import argparse
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llamo_ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "a person walks forward"


# ---------------------------------------------------------------------------------------------
# Tokenization (4.6): template with {prompt} filled, encoded without added specials, + [BOM]


def prompt_ids(model, tokenizer, prompt):
	cfg = model.cfg
	pre, post = model.split_template(cfg.t2m_template, "{prompt}")
	return tokenizer.encode(pre + prompt + post, add_special_tokens=False).ids + [cfg.bom_token_id]


# ---------------------------------------------------------------------------------------------
# The KV-cache backbone


class KVCache:
	"""Per layer K, V (B, nkv, cap, hd), preallocated. Rows are aligned on the left edge of the
	generated part: row b's prompt of n_b tokens sits in columns [P - n_b, P) (P = the longest
	prompt), generated step i writes column P + i in every row. `bias` (B, cap) is 0 on columns
	that hold a key of that row and -inf elsewhere (the shorter prompt's padding)."""

	def __init__(self, cfg, lens, steps):
		B, self.P = len(lens), max(lens)
		cap = self.P + steps
		shape = (B, cfg.num_key_value_heads, cap, cfg.head_dim)
		n = cfg.num_hidden_layers
		self.k = [torch.zeros(shape) for _ in range(n)]
		self.v = [torch.zeros(shape) for _ in range(n)]
		self.bias = torch.full((B, cap), float("-inf"))
		for b, nb in enumerate(lens):
			self.bias[b, self.P - nb:] = 0
		self.lens = torch.tensor(lens)   # next RoPE position of each row
		self.n = self.P                  # columns in use (after prefill)


def attend(cfg, q, k, v, bias):
	"""q (B, nh, T, hd); k, v (B, nkv, n, hd); bias (B or 1, T, n) additive (0 / -inf) ->
	(B, T, nh*hd). GQA without copying K/V: query heads grouped per kv head (h // (nh/nkv))."""
	B, nh, T, hd = q.shape
	nkv = k.shape[1]
	q = q.reshape(B, nkv, nh // nkv * T, hd)
	s = torch.matmul(q, k.transpose(2, 3)) * (hd ** -0.5)          # (B, nkv, rep*T, n)
	s = s.view(B, nkv, nh // nkv, T, -1) + bias[:, None, None]
	p = torch.softmax(s, dim=-1).view(B, nkv, nh // nkv * T, -1)
	o = torch.matmul(p, v).view(B, nh, T, hd)
	return o.transpose(1, 2).reshape(B, T, nh * hd)


def layer(cfg, lw, x, cos, sin, kc, vc, col, bias):
	"""One decoder layer of one branch (lw: a llamo_ref.DecoderLayer) over x (B, T, H) whose
	rows write K/V at cache columns [col, col+T) of kc, vc (B, nkv, cap, hd) and attend to the
	columns [0, col+T). cos, sin (B, T, hd) at each row's positions."""
	B, T, _ = x.shape
	nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
	at = lw.self_attn
	a = lw.input_layernorm(x)
	q = at.q_proj(a).view(B, T, nh, hd).transpose(1, 2)
	k = at.k_proj(a).view(B, T, nkv, hd).transpose(1, 2)
	v = at.v_proj(a).view(B, T, nkv, hd).transpose(1, 2)
	cos, sin = cos[:, None], sin[:, None]
	q = q * cos + llamo_ref.rotate_half(q) * sin
	kc[:, :, col:col + T] = k * cos + llamo_ref.rotate_half(k) * sin
	vc[:, :, col:col + T] = v
	o = attend(cfg, q, kc[:, :, :col + T], vc[:, :, :col + T], bias)
	x = x + at.o_proj(o)
	return x + lw.mlp(lw.post_attention_layernorm(x))


class Generator:
	"""4.6 with a KV cache; one instance per generation."""

	def __init__(self, model, cond_ids, uncond_ids, scale, steps, max_tokens):
		self.m, self.cfg = model, model.cfg
		self.scale, self.steps, self.max_tokens = scale, steps, max_tokens
		self.guided = scale != 1
		self.seqs = [cond_ids, uncond_ids] if self.guided else [cond_ids]
		self.cos, self.sin = llamo_ref.rope_cos_sin(model.inv_freq, max(map(len, self.seqs)) + max_tokens + 1)
		self.times = {"prefill": 0.0, "flow": 0.0, "backbone": 0.0, "exit": 0.0}

	def prefill(self):
		"""Each prompt on its own (the lengths differ): text branch, causal; returns h (B, H), the
		final-normed states at [BOM]."""
		m, cfg = self.m, self.cfg
		self.kv = kv = KVCache(cfg, [len(s) for s in self.seqs], self.max_tokens + 1)
		hs = []
		for b, ids in enumerate(self.seqs):
			T = len(ids)
			x = m.model.embed_tokens.weight[torch.tensor(ids)][None]
			c0 = kv.P - T
			mask = torch.full((T, T), float("-inf")).triu(1)[None]
			cos, sin = self.cos[None, :T], self.sin[None, :T]
			for l, lw in enumerate(m.model.layers):
				x = layer(cfg, lw, x, cos, sin, kv.k[l][b:b + 1, :, c0:], kv.v[l][b:b + 1, :, c0:], 0, mask)
			hs.append(m.model.norm(x[0, -1]))
		return torch.stack(hs)

	def step(self, z):
		"""Feeds latent z (L) to every sequence (motion branch, batched): returns h (B, H)."""
		m, cfg, kv = self.m, self.cfg, self.kv
		B = len(self.seqs)
		x = m.motion_adapter(z[None]).expand(B, -1)[:, None]    # (B, 1, H)
		pos = kv.lens
		cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # (B, 1, hd)
		col = kv.n
		bias = kv.bias[:, None, :col + 1]
		for l, lw in enumerate(m.motion_model.layers):
			x = layer(cfg, lw, x, cos, sin, kv.k[l], kv.v[l], col, bias)
		kv.n += 1
		kv.lens = kv.lens + 1
		return m.motion_model.norm(x[:, 0])

	def flow(self, noise, c):
		"""4.3, the head called once per Euler step: noise (L), c (B, C) -> latent (L)."""
		head, S = self.m.flow_head, self.steps
		B = c.shape[0]
		x = noise.clone()
		for k in range(S):
			t = torch.full((B,), k / S, dtype=torch.float32)
			v = head(x[None].expand(B, -1), t, c)
			v = v[1] + self.scale * (v[0] - v[1]) if self.guided else v[0]
			x = x + (1.0 / S) * v
		return x

	def run(self, seed, threshold=1.0, force=None):
		"""The whole generation: latents (n, L). Stage times in self.times (seconds). force
		(n, L): teacher forcing, each latent is predicted as usual but force[i] is fed back
		instead (so every prediction can be compared with another implementation's output given
		the same history, free of the loop's amplification of rounding differences)."""
		m, cfg, tm = self.m, self.cfg, self.times
		t0 = time.perf_counter()
		h = self.prefill()
		t1 = time.perf_counter()
		tm["prefill"] += t1 - t0
		g = torch.Generator().manual_seed(seed)
		zs = []
		for i in range(self.max_tokens):
			t0 = time.perf_counter()
			p = float(m.exit_head(h[:1])[0])
			t1 = time.perf_counter()
			tm["exit"] += t1 - t0
			if i > 0 and p > threshold:
				break
			noise = torch.randn(cfg.latent_dim, generator=g)
			z = self.flow(noise, m.motion_projector(h))
			zs.append(z)
			t2 = time.perf_counter()
			tm["flow"] += t2 - t1
			if force is not None:
				if i >= force.shape[0]:
					break
				z = force[i]
			h = self.step(z)
			tm["backbone"] += time.perf_counter() - t2
		self.latents = len(zs)
		return torch.stack(zs)


# ---------------------------------------------------------------------------------------------
# The C side: run bin/llamo-t2m, read its latents from the frame stream (man/llamo-frame.5)


def read_latents(data):
	"""Frame stream bytes -> latents (n, cols) of stream 0, in order."""
	nl = data.index(b"\n")
	off, rows = nl + 1, []
	while off < len(data):
		magic, typ, elem, _flags, r, c, _stream, _pos, _mark, _res = struct.unpack_from("<4sBBHIIIiII", data, off)
		if magic != b"LMF1":
			raise ValueError(f"frame stream: bad magic at byte {off}")
		off += 32
		size = {0: 0, 1: 4, 2: 4, 3: 1}[elem] * r * c
		if typ == 3:  # LM_FRAME_LATENT, f32
			rows.append(torch.frombuffer(bytearray(data[off:off + size]), dtype=torch.float32).view(r, c))
		off += size
	return torch.cat(rows) if rows else torch.zeros(0)


def run_c(a, scale, steps):
	"""Runs bin/llamo-t2m with the same settings: (latents (n, L), its --profile line or None),
	or (None, reason)."""
	exe = os.path.join(ROOT, "bin", "llamo-t2m")
	if not os.access(exe, os.X_OK):
		return None, "bin/llamo-t2m not built"
	with tempfile.TemporaryDirectory() as d:
		out = os.path.join(d, "lat.lmf")
		cmd = [exe, "-m", a.model, "--seed", "0", "--seconds", str(a.seconds), "--threshold", "1",
		       "--cfg", repr(scale), "--steps", str(steps), "--device", "cpu", "--profile", "-o", out, PROMPT]
		r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
		if r.returncode != 0:
			return None, f"bin/llamo-t2m failed ({r.returncode}): {r.stderr.strip()[-200:]}"
		with open(out, "rb") as f:
			z = read_latents(f.read())
	prof = [l.split("profile: prompt 0: ", 1)[1] for l in r.stderr.splitlines() if "profile: prompt 0: " in l]
	return z, prof[0] if prof else None


def max_diff(a, b):
	n = min(a.shape[0], b.shape[0])
	return float((a[:n] - b[:n]).abs().max()) if n else float("nan"), n


# ---------------------------------------------------------------------------------------------


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--model", default=os.path.join(ROOT, "models", "default"), help="model directory")
	ap.add_argument("--seconds", type=float, default=10.0, help="seconds of motion (default 10)")
	ap.add_argument("--cfg", type=float, help="guidance scale (default: the model's; 1 disables)")
	ap.add_argument("--steps", type=int, help="Euler steps (default: the model's)")
	ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
	ap.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
			help="compare the latents with llamo_ref's generate_t2m and with bin/llamo-t2m")
	ap.add_argument("--check-latents", type=int, default=8,
			help="latents of the slow reference run compared (default 8; 0: all)")
	ap.add_argument("--budget", type=float, default=55.0,
			help="seconds the whole run should stay under (default 55): at low speed the timed run "
			"makes fewer latents, and says so")
	a = ap.parse_args()
	start = time.perf_counter()

	torch.set_num_threads(a.threads)
	from tokenizers import Tokenizer
	t0 = time.perf_counter()
	model = llamo_ref.LlamoModel.load_dir(a.model).eval()
	load_s = time.perf_counter() - t0
	cfg = model.cfg
	scale = cfg.guidance_scale if a.cfg is None else a.cfg
	steps = cfg.euler_steps if a.steps is None else a.steps
	n = min(cfg.max_motion_tokens, math.floor(a.seconds * cfg.fps / cfg.downsample))
	if n < 1:
		ap.error(f"--seconds {a.seconds} is shorter than one latent")
	tk = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
	cond, uncond = prompt_ids(model, tk, PROMPT), prompt_ids(model, tk, "")
	print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager, float32, kv cache; "
	      f"guidance {scale:g}, {steps} Euler steps, {n} latents; model load {load_s:.2f} s")

	def generate(max_tokens=n, force=None):
		g = Generator(model, cond, uncond, scale, steps, max_tokens)
		return g, g.run(0, force=force)

	zc = c_prof = None
	k = n if a.check_latents <= 0 else min(n, a.check_latents)
	with torch.inference_mode():
		if a.check:
			thr, cfg.exit_threshold = cfg.exit_threshold, 1.0  # generate_t2m stops on the model's
			t0 = time.perf_counter()
			ref = model.generate_t2m(cond, uncond, 0, scale, steps, max_tokens=k)
			ref_s = time.perf_counter() - t0
			cfg.exit_threshold = thr
		t0 = time.perf_counter()
		_, z = generate(k)  # the warm-up
		per_latent = (time.perf_counter() - t0) / k
		if a.check:
			print(f"check: vs llamo_ref generate_t2m (the slow path, {1e3 * ref_s / k:.1f} ms per latent), "
			      f"first {k} latents: max |diff| {max_diff(z, ref)[0]:.3g}")
			zc, c_prof = run_c(a, scale, steps)
			if zc is None:
				print(f"check: vs bin/llamo-t2m: not run ({c_prof})")
				c_prof = None
		# what is left of the time budget goes to the teacher-forced check and the timed run
		runs = 2 if zc is not None else 1
		left = a.budget - (time.perf_counter() - start)
		nt = max(1, min(n, int(left / (runs * per_latent))))
		if nt < n:
			print(f"note: {n} latents would take about {n * per_latent:.0f} s per run at this speed "
			      f"({1e3 * per_latent:.0f} ms per latent); timing only the first {nt} (--budget {a.budget:g})")
		if zc is not None:
			_, zf = generate(min(nt, zc.shape[0]), force=zc)
		t0 = time.perf_counter()
		g, z = generate(nt)
		wall = time.perf_counter() - t0
	if zc is not None:
		df, nf = max_diff(zf, zc)
		print(f"check: vs bin/llamo-t2m --device cpu ({zc.shape[0]} latents): each latent predicted from C's "
		      f"previous ones: max |diff| {df:.3g} over {nf}; free-running: first {k} {max_diff(z[:k], zc)[0]:.3g}, "
		      f"all {max_diff(z, zc)[1]} {max_diff(z, zc)[0]:.3g} (the loop amplifies rounding differences)")
	tm, nl = g.times, g.latents
	total = sum(tm.values())
	frames = nl * cfg.downsample
	print(f"{nl} latents, {frames} frames in {total:.3f} s = {frames / total:.1f} frames/s; "
	      f"prefill {1e3 * tm['prefill']:.2f} ms, per latent: flow head {1e3 * tm['flow'] / nl:.3f} ms, "
	      f"backbone {1e3 * tm['backbone'] / nl:.3f} ms, exit head {1e3 * tm['exit'] / nl:.3f} ms")
	print(f"wall {wall:.3f} s for the generation ({frames / wall:.1f} frames/s), model load not included")
	if c_prof:
		try:
			c_fps = float(c_prof.split(" frames/s", 1)[0].rsplit("= ", 1)[1])
			print(f"C, the check's run: {c_prof}; C makes {c_fps / (frames / total):.1f}x the frames per second")
		except (IndexError, ValueError):
			pass
	return 0


if __name__ == "__main__":
	sys.exit(main())
