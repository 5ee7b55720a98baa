"""bench_cuda.py: the PyTorch side of `make bench-cuda` (bench/run-gpu.sh, bench/README.md).

The same model as bench/llamo-bench (docs/model-format.md: MoT Llama backbone, adapter, projector,
MAR flow head with guidance, exit head, causal VAE decoder), with random weights of the same
shapes made on the device, written the way a competent PyTorch user would write fast inference:

  - weights and activations in BF16 (--dtype), RMSNorm and softmax in float32 as Hugging Face
    does, the latent ODE state in float32; torch.inference_mode();
  - a static KV cache per layer (rows: the conditional and the unconditional sequence, each at
    its own positions), preallocated for the whole generation, masked attention over it (the
    Hugging Face StaticCache pattern), GQA without copying K/V;
  - guidance batched: cond and uncond rows go through the backbone step, the projector and every
    flow-head evaluation together as a batch of two;
  - the flow head as MAR writes it: time embedding, condition and adaLN modulations computed at
    every Euler step ("per-step adaLN"); and, as a second variant, every step's modulations in one
    product up front as the C library does ("precomputed adaLN": --variants);
  - the exit head evaluated every latent (it never stops generation here), and each latent copied
    to the host as a streaming consumer needs it.

Each variant runs eagerly and as one CUDA graph per motion token (torch.cuda.CUDAGraph captured
around exactly the same Python function: exit head, projector, 50 Euler steps, adapter, backbone
step). It reports, like llamo-bench: per-token latency p50/p99 and frames per second at batch 1,
time to first frame (prefill of a --prompt-tokens prompt and the 2-token unconditional one, the
first latent, the VAE decode of its 4 frames), the flow head per Euler step, and writes --json.
Timings: torch.cuda.synchronize() before every host clock read, warm-up first, medians.

On the CPU (--device cpu, e.g. --shape tiny) there are no CUDA graphs: the graph variants run the
function they would capture, uncaptured, so the script can be checked end to end anywhere.
--check (default on) first compares the generated latents with llamo_ref.generate_t2m, the
reference the C code is tested against, on the same weights (tiny shape, float32, on the CPU).

    python3 train/bench_cuda.py --shape 1b                     # on a GPU
    /usr/bin/python3 train/bench_cuda.py --device cpu --shape tiny
    python3 train/bench_cuda.py --config cfg.json --json out.json   # the shape llamo-bench printed
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# The shapes of bench/randmodel.c (keep the two tables equal; run-gpu.sh passes llamo-bench's own
# config with --config, so the two sides run the same shape whatever these say).
SHAPES = {
	"tiny": dict(V=4096, H=64, I=172, layers=2, heads=4, kv=2, hd=16, tied=False, rope_factor=32.0,
		     A=64, P=64, C=64, W=64, depth=2, E=64, K=32),
	"1b": dict(V=128256, H=2048, I=8192, layers=16, heads=32, kv=8, hd=64, tied=True, rope_factor=32.0,
		   A=2048, P=2048, C=1536, W=1536, depth=12, E=1024, K=1024),
	"3b": dict(V=128256, H=3072, I=8192, layers=28, heads=24, kv=8, hd=128, tied=True, rope_factor=32.0,
		   A=3072, P=3072, C=1536, W=1536, depth=12, E=1024, K=1024),
	"8b": dict(V=128256, H=4096, I=14336, layers=32, heads=32, kv=8, hd=128, tied=False, rope_factor=8.0,
		   A=4096, P=4096, C=1536, W=1536, depth=12, E=1024, K=1024),
}


def shape_config(name, max_tokens):
	s = SHAPES[name]
	return {
		"model_type": "llama", "vocab_size": s["V"], "hidden_size": s["H"], "intermediate_size": s["I"],
		"num_hidden_layers": s["layers"], "num_attention_heads": s["heads"], "num_key_value_heads": s["kv"],
		"head_dim": s["hd"], "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
		"rope_scaling": {"rope_type": "llama3", "factor": s["rope_factor"], "low_freq_factor": 1.0,
				 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
		"max_position_embeddings": 131072, "tie_word_embeddings": s["tied"],
		"bos_token_id": 0, "eos_token_id": [1, 4], "torch_dtype": "bfloat16",
		"llamo": {
			"latent_dim": 32, "adapter_hidden_size": s["A"], "projector_hidden_size": s["P"],
			"condition_size": s["C"],
			"flow_head": {"width": s["W"], "depth": s["depth"], "frequency_embedding_size": 256,
				      "euler_steps": 50, "guidance_scale": 3.0},
			"exit_head": {"hidden_size": s["E"], "num_layers": 5, "threshold": 0.5},
			"vae": {"width": s["K"], "down_t": 2, "depth": 3, "dilation_growth_rate": 3},
			"motion": {"fps": 30, "downsample": 4, "joints": 21, "feature_dim": 260},
			"bom_token_id": 2, "eom_token_id": 3, "max_motion_tokens": max_tokens,
			"t2m_template": "<|begin_of_text|>{prompt}",
			"m2t_template": "<|begin_of_text|>{motion}Caption:",
		},
	}


# ---------------------------------------------------------------------------------------------
# Weights: the tensors generation reads (docs/model-format.md section 3; no lm_head, no encoder)


def tensor_specs(c):
	"""[(name, shape, kind)], kind in matrix / embed / norm / bias."""
	m = c["llamo"]
	H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
	hd = c["head_dim"]
	qd, kvd = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
	L, A, P, C = m["latent_dim"], m["adapter_hidden_size"], m["projector_hidden_size"], m["condition_size"]
	W, D, R = m["flow_head"]["width"], m["flow_head"]["depth"], m["flow_head"]["frequency_embedding_size"]
	E, NE = m["exit_head"]["hidden_size"], m["exit_head"]["num_layers"]
	K, Fd, dt, dep = m["vae"]["width"], m["motion"]["feature_dim"], m["vae"]["down_t"], m["vae"]["depth"]
	out = [("model.embed_tokens.weight", (V, H), "embed")]

	def lin(name, o, i):
		out.append((name + ".weight", (o, i), "matrix"))
		out.append((name + ".bias", (o,), "bias"))

	def conv(name, o, i, k):
		out.append((name + ".weight", (o, i, k), "matrix"))
		out.append((name + ".bias", (o,), "bias"))

	for br in ("model.", "motion_model."):
		for i in range(c["num_hidden_layers"]):
			p = f"{br}layers.{i}."
			out += [(p + "input_layernorm.weight", (H,), "norm"),
				(p + "self_attn.q_proj.weight", (qd, H), "matrix"),
				(p + "self_attn.k_proj.weight", (kvd, H), "matrix"),
				(p + "self_attn.v_proj.weight", (kvd, H), "matrix"),
				(p + "self_attn.o_proj.weight", (H, qd), "matrix"),
				(p + "post_attention_layernorm.weight", (H,), "norm"),
				(p + "mlp.gate_proj.weight", (I, H), "matrix"),
				(p + "mlp.up_proj.weight", (I, H), "matrix"),
				(p + "mlp.down_proj.weight", (H, I), "matrix")]
		out.append((br + "norm.weight", (H,), "norm"))
	lin("motion_adapter.fc1", A, L)
	lin("motion_adapter.fc2", H, A)
	out.append(("motion_adapter.norm.weight", (H,), "norm"))
	lin("motion_projector.fc1", P, H)
	lin("motion_projector.fc2", C, P)
	out.append(("motion_projector.norm.weight", (C,), "norm"))
	lin("flow_head.input_proj", W, L)
	lin("flow_head.time_embed.mlp.0", W, R)
	lin("flow_head.time_embed.mlp.2", W, W)
	lin("flow_head.cond_embed", W, C)
	for j in range(D):
		p = f"flow_head.res_blocks.{j}."
		out += [(p + "in_ln.weight", (W,), "norm"), (p + "in_ln.bias", (W,), "bias")]
		lin(p + "mlp.0", W, W)
		lin(p + "mlp.2", W, W)
		lin(p + "adaLN_modulation.1", 3 * W, W)
	lin("flow_head.final_layer.adaLN_modulation.1", 2 * W, W)
	lin("flow_head.final_layer.linear", L, W)
	for i in range(NE):
		lin(f"exit_head.layers.{i}", E if i + 1 < NE else 1, H if i == 0 else E)
	lin("vae.decoder.proj", K, L)
	conv("vae.decoder.conv_in", K, K, 3)
	for s in range(dt):
		for r in range(dep):
			conv(f"vae.decoder.up.{s}.res.{r}.conv1", K, K, 3)
			conv(f"vae.decoder.up.{s}.res.{r}.conv2", K, K, 1)
		conv(f"vae.decoder.up.{s}.conv", K, K, 3)
	conv("vae.decoder.conv_mid", K, K, 3)
	conv("vae.decoder.conv_out", Fd, K, 3)
	return out


def random_weights(c, device, dtype, seed):
	"""Every tensor of tensor_specs, uniform with the spread randmodel.c uses, made on device."""
	g = torch.Generator(device=device).manual_seed(seed)
	w = {}
	for name, shape, kind in tensor_specs(c):
		t = torch.empty(shape, device=device, dtype=dtype)
		if kind == "matrix":
			fan_in = math.prod(shape[1:])
			a, center = math.sqrt(3.0 / fan_in), 0.0
		elif kind == "embed":
			a, center = 0.52, 0.0
		elif kind == "norm":
			a, center = 0.1, 1.0
		else:
			a, center = 0.1, 0.0
		t.uniform_(center - a, center + a, generator=g)
		w[name] = t
	return w


# ---------------------------------------------------------------------------------------------
# The model


def rope_inv_freq(c):
	"""Hugging Face _compute_default_rope_parameters + _compute_llama3_parameters (float32)."""
	hd, base = c["head_dim"], c["rope_theta"]
	inv = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
	rs = c.get("rope_scaling")
	if not rs or rs.get("rope_type") != "llama3":
		return inv
	factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
	wavelen = 2 * math.pi / inv
	inv_l = torch.where(wavelen > old / lo, inv / factor, inv)
	smooth = (old / wavelen - lo) / (hi - lo)
	smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
	medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
	return torch.where(medium, smoothed, inv_l)


def rotate_half(x):
	h = x.shape[-1] // 2
	return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Model:
	"""Static-shape inference state for one generation with guidance (B = 2 rows: cond, uncond)
	or without (B = 1). All state tensors are allocated once; every step updates them in place,
	so one motion token is a function with no inputs and no outputs that a CUDA graph captures."""

	def __init__(self, c, w, device, dtype, scale, steps, cap, precompute):
		m = c["llamo"]
		self.c, self.w, self.dev, self.dt = c, w, device, dtype
		self.H, self.L = c["hidden_size"], m["latent_dim"]
		self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
		self.nl, self.eps = c["num_hidden_layers"], c["rms_norm_eps"]
		self.W, self.depth, self.R = m["flow_head"]["width"], m["flow_head"]["depth"], m["flow_head"]["frequency_embedding_size"]
		self.ne = m["exit_head"]["num_layers"]
		self.scale, self.S, self.cap, self.precompute = scale, steps, cap, precompute
		self.guided = scale != 1
		self.B = B = 2 if self.guided else 1
		f32 = dict(device=device, dtype=torch.float32)
		ang = torch.arange(cap, dtype=torch.float32)[:, None] * rope_inv_freq(c)[None]
		ang = torch.cat((ang, ang), dim=-1)
		self.cos, self.sin = ang.cos().to(device, dtype), ang.sin().to(device, dtype)
		half = self.R // 2
		self.freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half).to(device)
		self.tk = torch.tensor([k / steps for k in range(steps)], **f32)   # t = k/S in float32
		self.tk_rows = self.tk[:, None].expand(steps, 2 if self.guided else 1).reshape(-1)  # t of each (step, row)
		self.cols = torch.arange(cap, device=device)
		self.rows = torch.arange(B, device=device)
		shape = (B, self.nkv, cap, self.hd)
		self.kc = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.nl)]
		self.vc = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.nl)]
		self.pos = torch.zeros(B, dtype=torch.long, device=device)  # next position of each row
		self.h = torch.zeros(B, self.H, device=device, dtype=dtype)   # final-normed states
		self.noise = torch.zeros(self.L, **f32)
		self.z = torch.zeros(self.L, **f32)
		self.p_exit = torch.zeros(1, **f32)
		if precompute:  # every adaLN Linear stacked into one (as lib/heads.c does)
			ws = [w[f"flow_head.res_blocks.{j}.adaLN_modulation.1.weight"] for j in range(self.depth)]
			bs = [w[f"flow_head.res_blocks.{j}.adaLN_modulation.1.bias"] for j in range(self.depth)]
			ws.append(w["flow_head.final_layer.adaLN_modulation.1.weight"])
			bs.append(w["flow_head.final_layer.adaLN_modulation.1.bias"])
			self.ada_w, self.ada_b = torch.cat(ws), torch.cat(bs)

	# --- pieces ---

	def rmsnorm(self, x, name):
		xf = x.float()
		xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
		return self.w[name] * xf.to(x.dtype)

	def lin(self, x, name, bias=True):
		return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"] if bias else None)

	def mlp_norm(self, x, p):
		return self.rmsnorm(self.lin(F.gelu(self.lin(x, p + ".fc1")), p + ".fc2"), p + ".norm.weight")

	def layer(self, br, l, x, cos, sin, attend):
		"""One decoder layer of branch br on x (B, T, H); attend(q, k, v) writes k, v to the
		cache and returns the attention output (B, T, nh*hd)."""
		p = f"{br}layers.{l}."
		B, T, _ = x.shape
		a = self.rmsnorm(x, p + "input_layernorm.weight")
		q = self.lin(a, p + "self_attn.q_proj", False).view(B, T, self.nh, self.hd)
		k = self.lin(a, p + "self_attn.k_proj", False).view(B, T, self.nkv, self.hd)
		v = self.lin(a, p + "self_attn.v_proj", False).view(B, T, self.nkv, self.hd)
		cos, sin = cos[:, :, None], sin[:, :, None]
		q = q * cos + rotate_half(q) * sin
		k = k * cos + rotate_half(k) * sin
		x = x + self.lin(attend(q, k, v), p + "self_attn.o_proj", False)
		b = self.rmsnorm(x, p + "post_attention_layernorm.weight")
		g = F.silu(self.lin(b, p + "mlp.gate_proj", False)) * self.lin(b, p + "mlp.up_proj", False)
		return x + self.lin(g, p + "mlp.down_proj", False)

	def gqa(self, q, kc, vc, bias):
		"""q (B, T, nh, hd); kc, vc (B, nkv, n, hd); bias (B, T, n) additive -> (B, T, nh*hd)."""
		B, T = q.shape[:2]
		rep = self.nh // self.nkv
		q = q.view(B, T, self.nkv, rep, self.hd).permute(0, 2, 3, 1, 4).reshape(B, self.nkv, rep * T, self.hd)
		s = torch.matmul(q, kc.transpose(2, 3)).float() * self.hd ** -0.5
		s = s.view(B, self.nkv, rep, T, -1) + bias[:, None, None]
		p = torch.softmax(s, dim=-1).to(q.dtype).view(B, self.nkv, rep * T, -1)
		o = torch.matmul(p, vc).view(B, self.nkv, rep, T, self.hd)
		return o.permute(0, 3, 1, 2, 4).reshape(B, T, self.nh * self.hd)

	def prefill(self, b, ids):
		"""Row b's prompt (text branch) at positions 0..T-1; sets h[b] and pos[b]."""
		T = len(ids)
		x = self.w["model.embed_tokens.weight"][torch.tensor(ids, device=self.dev)][None].to(self.dt)
		cos, sin = self.cos[None, :T], self.sin[None, :T]
		causal = torch.full((T, T), float("-inf"), device=self.dev).triu(1)[None]

		def attend(l):
			def f(q, k, v):
				self.kc[l][b, :, :T] = k[0].transpose(0, 1)
				self.vc[l][b, :, :T] = v[0].transpose(0, 1)
				return self.gqa(q, self.kc[l][b:b + 1, :, :T], self.vc[l][b:b + 1, :, :T], causal)
			return f

		for l in range(self.nl):
			x = self.layer("model.", l, x, cos, sin, attend(l))
		self.h[b] = self.rmsnorm(x[0, -1], "model.norm.weight")
		self.pos[b] = T

	def backbone_step(self, e):
		"""e (B, H): one motion position per row at pos[row]; returns final-normed (B, H)."""
		x = e[:, None]
		cos, sin = self.cos[self.pos][:, None], self.sin[self.pos][:, None]
		bias = torch.where(self.cols[None] <= self.pos[:, None], 0.0, float("-inf"))[:, None]  # (B, 1, cap)

		def attend(l):
			def f(q, k, v):
				self.kc[l][self.rows, :, self.pos] = k[:, 0]
				self.vc[l][self.rows, :, self.pos] = v[:, 0]
				return self.gqa(q, self.kc[l], self.vc[l], bias)
			return f

		for l in range(self.nl):
			x = self.layer("motion_model.", l, x, cos, sin, attend(l))
		return self.rmsnorm(x[:, 0], "motion_model.norm.weight")

	def temb(self, t):
		args = t[:, None] * self.freqs[None]
		return torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(self.dt)

	def flow_y(self, t, c):
		"""y = time_embed(t) + cond_embed(c)."""
		te = self.lin(F.silu(self.lin(self.temb(t), "flow_head.time_embed.mlp.0")), "flow_head.time_embed.mlp.2")
		return te + self.lin(c, "flow_head.cond_embed")

	def flow_head(self, x, y=None, mods=None):
		"""MAR SimpleMLPAdaLN: x (B, L) -> v (B, L); adaLN from y (per step) or mods (rows of a
		precomputed (., mod_stride) product)."""
		W = self.W
		h = self.lin(x.to(self.dt), "flow_head.input_proj")
		for j in range(self.depth):
			p = f"flow_head.res_blocks.{j}."
			m = mods[:, 3 * W * j:3 * W * (j + 1)] if mods is not None else self.lin(F.silu(y), p + "adaLN_modulation.1")
			shift, sc, gate = m.chunk(3, dim=-1)
			a = F.layer_norm(h, (W,), self.w[p + "in_ln.weight"], self.w[p + "in_ln.bias"], 1e-6)
			a = self.lin(F.silu(self.lin(a * (1 + sc) + shift, p + "mlp.0")), p + "mlp.2")
			h = h + gate * a
		m = mods[:, 3 * W * self.depth:] if mods is not None else self.lin(F.silu(y), "flow_head.final_layer.adaLN_modulation.1")
		shift, sc = m.chunk(2, dim=-1)
		h = F.layer_norm(h, (W,), None, None, 1e-6) * (1 + sc) + shift
		return self.lin(h, "flow_head.final_layer.linear").float()

	def sample(self, c):
		"""Euler ODE (4.3) from self.noise with conditions c (B, C) -> latent (L), float32."""
		B, S = self.B, self.S
		x = self.noise
		mods = None
		if self.precompute:
			y = self.flow_y(self.tk_rows, c.repeat(S, 1))                          # (S*B, W)
			mods = F.linear(F.silu(y), self.ada_w, self.ada_b)                     # (S*B, mod_stride)
		for k in range(S):
			xb = x[None].expand(B, -1)
			if self.precompute:
				v = self.flow_head(xb, mods=mods[k * B:(k + 1) * B])
			else:
				v = self.flow_head(xb, y=self.flow_y(self.tk[k].expand(B), c))
			v = v[1] + self.scale * (v[0] - v[1]) if self.guided else v[0]
			x = x + (1.0 / S) * v
		return x

	def exit_prob(self, h):
		for i in range(self.ne):
			h = self.lin(h, f"exit_head.layers.{i}")
			if i + 1 < self.ne:
				h = F.silu(h)
		return torch.sigmoid(h.float()).reshape(-1)

	def token(self):
		"""One motion token (4.6): exit head, projector, flow head, adapter, backbone step; in
		place on the state. The function a CUDA graph captures."""
		self.p_exit.copy_(self.exit_prob(self.h[:1]))
		c = self.mlp_norm(self.h, "motion_projector")
		z = self.sample(c)
		self.z.copy_(z)
		e = self.mlp_norm(z[None].to(self.dt), "motion_adapter").expand(self.B, -1)
		self.h.copy_(self.backbone_step(e))
		self.pos.add_(1)

	# --- the VAE decoder (4.4) on a whole latent sequence, for the first frames ---

	def vae_decode(self, z):
		"""z (n, L) -> features (4n, F), causal convs from zero history (= the streaming
		decoder's first steps)."""
		m = self.c["llamo"]["vae"]
		g, dep = m["dilation_growth_rate"], m["depth"]

		def conv(x, name, k, dil=1):
			x = F.pad(x, ((k - 1) * dil, 0))
			return F.conv1d(x, self.w[name + ".weight"], self.w[name + ".bias"], dilation=dil)

		x = self.lin(z.to(self.dt), "vae.decoder.proj").t()[None]
		x = F.relu(conv(x, "vae.decoder.conv_in", 3))
		for s in range(m["down_t"]):
			for r in range(dep):
				p = f"vae.decoder.up.{s}.res.{r}."
				x = x + conv(F.relu(conv(F.relu(x), p + "conv1", 3, g ** (dep - 1 - r))), p + "conv2", 1)
			x = F.interpolate(x, scale_factor=2, mode="nearest")
			x = conv(x, f"vae.decoder.up.{s}.conv", 3)
		x = F.relu(conv(x, "vae.decoder.conv_mid", 3))
		return conv(x, "vae.decoder.conv_out", 3)[0].t().float()


# ---------------------------------------------------------------------------------------------
# Timing


def sync(dev):
	if dev.type == "cuda":
		torch.cuda.synchronize(dev)


def graphed(fn, dev):
	"""PyTorch's recipe for CUDA graphs: two warm-up calls of fn on a side stream, then fn
	captured; returns the torch.cuda.CUDAGraph, which replays fn's kernels on the same memory."""
	s = torch.cuda.Stream(dev)
	s.wait_stream(torch.cuda.current_stream(dev))
	with torch.cuda.stream(s):
		for _ in range(2):
			fn()
	torch.cuda.current_stream(dev).wait_stream(s)
	g = torch.cuda.CUDAGraph()
	with torch.cuda.graph(g):
		fn()
	sync(dev)
	return g


def pct(v, p):
	v = sorted(v)
	return v[max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))] if v else float("nan")


class Runner:
	"""One variant: eager or graph, per-step or precomputed adaLN."""

	def __init__(self, a, c, w, dev, dtype, precompute, graph):
		self.a, self.dev = a, dev
		self.m = Model(c, w, dev, dtype, a.cfg, a.steps, a.prompt_tokens + a.tokens + 8, precompute)
		self.graph = None
		self.use_graph = graph
		V = c["vocab_size"]
		self.cond = [c["bos_token_id"]] + [5 + (1103515245 * i + 12345) % (V - 5) for i in range(a.prompt_tokens - 2)] \
			+ [c["llamo"]["bom_token_id"]]
		self.uncond = [c["bos_token_id"], c["llamo"]["bom_token_id"]]

	def reset(self):
		self.m.prefill(0, self.cond)
		if self.m.guided:
			self.m.prefill(1, self.uncond)

	def capture(self):
		"""token() as one CUDA graph (after a prefill, so the warm-up steps see real state)."""
		if not self.use_graph or self.dev.type != "cuda":
			return
		self.reset()
		self.graph = graphed(self.m.token, self.dev)

	def step(self, noise):
		self.m.noise.copy_(noise)
		if self.graph is not None:
			self.graph.replay()
		else:
			self.m.token()
		return self.m.z.to("cpu", copy=True)   # a streaming consumer takes each latent

	def generate(self, noises):
		"""A whole generation (prefill not timed): per-token seconds and the latents."""
		self.reset()
		sync(self.dev)
		lat, zs = [], []
		for n in noises:
			t0 = time.perf_counter()
			zs.append(self.step(n))
			sync(self.dev)
			lat.append(time.perf_counter() - t0)
		return lat, torch.stack(zs)

	def ttff(self, noise):
		sync(self.dev)
		t0 = time.perf_counter()
		self.reset()
		sync(self.dev)
		t1 = time.perf_counter()
		z = self.step(noise)
		sync(self.dev)
		t2 = time.perf_counter()
		f = self.m.vae_decode(z.to(self.dev)[None]).to("cpu")
		sync(self.dev)
		t3 = time.perf_counter()
		assert f.shape[0] == 4
		return t3 - t0, t1 - t0, t2 - t1, t3 - t2

	def flow_step(self):
		"""Seconds per Euler step of sample() alone (graph when graphs are on), at S steps."""
		m, dev = self.m, self.dev
		c = torch.randn(m.B, self.m.c["llamo"]["condition_size"], device=dev).to(m.dt)
		fn = lambda: m.z.copy_(m.sample(c))  # noqa: E731
		g = graphed(fn, dev) if self.graph is not None else None
		ts = []
		for _ in range(max(3, self.a.repeats)):
			sync(dev)
			t0 = time.perf_counter()
			g.replay() if g is not None else fn()
			sync(dev)
			ts.append(time.perf_counter() - t0)
		return pct(ts, 50) / m.S


def check_against_reference(a):
	"""Float32, CPU, the tiny shape: the latents of Model (eager, both adaLN variants; the same
	code at every shape) against llamo_ref's generate_t2m on the same weights and noise, and the
	VAE frames of the first one. Returns the max |diff|."""
	sys.path.insert(0, HERE)
	import llamo_ref
	c = shape_config("tiny", a.tokens + 8)
	ref = llamo_ref.LlamoModel(llamo_ref.Config(c)).eval()
	ref.cfg.exit_threshold = 1.0  # p > 1 never: every generation runs to max_tokens, as here
	g = torch.Generator().manual_seed(a.seed)
	w = random_weights(c, torch.device("cpu"), torch.float32, a.seed)
	sd = ref.state_dict()
	missing = [k for k in w if k not in sd]
	if missing:
		raise SystemExit(f"bench_cuda: tensor names not in llamo_ref: {missing[:3]}")
	for k, v in sd.items():
		v.copy_(w[k] if k in w else torch.empty_like(v).uniform_(-0.1, 0.1, generator=g))
	n = min(3, a.tokens)
	worst = 0.0
	with torch.inference_mode():
		for pre in (False, True):
			r = Runner(a, c, w, torch.device("cpu"), torch.float32, pre, False)
			gen = torch.Generator().manual_seed(a.seed)
			noises = [torch.randn(c["llamo"]["latent_dim"], generator=gen) for _ in range(n)]
			_, z = r.generate(noises)
			zr = ref.generate_t2m(r.cond, r.uncond, a.seed, a.cfg, a.steps, max_tokens=n)
			d = float((z - zr[:n]).abs().max()) if zr.shape[0] >= n else float("inf")
			f = r.m.vae_decode(z[:1])
			fr = ref.vae.decode(z[:1])
			d = max(d, float((f - fr).abs().max()))
			worst = max(worst, d)
	return worst


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
	ap.add_argument("--shape", default="1b", choices=sorted(SHAPES))
	ap.add_argument("--config", help="a config.json (llamo-bench --print-config) instead of --shape")
	ap.add_argument("--dtype", choices=["bf16", "f32"], help="default: bf16 on cuda, f32 on the cpu")
	ap.add_argument("--tokens", type=int, default=75, help="latents per generation (default 75)")
	ap.add_argument("--repeats", type=int, default=3, help="timed generations per variant (default 3)")
	ap.add_argument("--cfg", type=float, default=3.0, help="guidance scale (default 3; 1 disables)")
	ap.add_argument("--steps", type=int, default=50, help="Euler steps (default 50)")
	ap.add_argument("--prompt-tokens", type=int, default=32, help="prompt length, [BOS] and [BOM] included")
	ap.add_argument("--variants", default="eager,graph,eager-pre,graph-pre",
			help="comma-separated: eager, graph (per-step adaLN), eager-pre, graph-pre (precomputed)")
	ap.add_argument("--budget", type=float, default=150.0, help="seconds after which repeats are cut")
	ap.add_argument("--seed", type=int, default=0)
	ap.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
			help="first compare this implementation with llamo_ref (tiny shape, float32, CPU, ~2 s)")
	ap.add_argument("--json", help="write the results to this file")
	a = ap.parse_args()
	start = time.perf_counter()
	dev = torch.device(a.device)
	if dev.type == "cuda" and not torch.cuda.is_available():
		print("bench_cuda: no GPU visible to torch", file=sys.stderr)
		return 69
	dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[a.dtype or ("bf16" if dev.type == "cuda" else "f32")]
	if a.config:
		with open(a.config) as f:
			c = json.load(f)
		shape = os.path.basename(a.config)
	else:
		c = shape_config(a.shape, a.tokens + 8)
		shape = a.shape
	out = {"torch": torch.__version__, "device": str(dev), "dtype": str(dtype).replace("torch.", ""),
	       "shape": shape, "tokens": a.tokens, "cfg": a.cfg, "steps": a.steps}
	name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
	print(f"bench_cuda: torch {torch.__version__} on {name}, {out['dtype']}, shape {shape}; guidance {a.cfg:g}, "
	      f"{a.steps} Euler steps, {a.tokens} latents per generation, prompt {a.prompt_tokens} tokens")
	torch.set_grad_enabled(False)
	if a.check:
		d = check_against_reference(a)
		ok = d < 1e-3
		print(f"check: vs llamo_ref.generate_t2m (tiny shape, float32, CPU, both adaLN variants, first latents "
		      f"and their VAE frames): max |diff| {d:.3g} ({'ok' if ok else 'MISMATCH'}, bound 1e-3)")
		out["check_max_diff"] = d
		if not ok:
			return 70
	if dev.type == "cuda":
		torch.cuda.reset_peak_memory_stats(dev)
	t0 = time.perf_counter()
	w = random_weights(c, dev, dtype, a.seed)
	sync(dev)
	nbytes = sum(t.numel() * t.element_size() for t in w.values())
	print(f"weights: {nbytes / 1e9:.2f} GB made on {dev} in {time.perf_counter() - t0:.1f} s")
	L = c["llamo"]["latent_dim"]
	gen = torch.Generator().manual_seed(a.seed)
	noises = [torch.randn(L, generator=gen).to(dev) for _ in range(a.tokens)]
	fps = c["llamo"]["motion"]["downsample"]
	ref_z = None
	with torch.inference_mode():
		for v in [s.strip() for s in a.variants.split(",") if s.strip()]:
			if v not in ("eager", "graph", "eager-pre", "graph-pre"):
				print(f"bench_cuda: unknown variant '{v}'", file=sys.stderr)
				return 64
			if time.perf_counter() - start > a.budget:
				print(f"{v}: skipped (past --budget {a.budget:g} s)")
				continue
			graph = v.startswith("graph")
			r = Runner(a, c, w, dev, dtype, v.endswith("-pre"), graph)
			t0 = time.perf_counter()
			r.capture()
			cap_s = time.perf_counter() - t0
			r.generate(noises[:2])                             # warm-up
			lat, runs = [], 0
			for k in range(a.repeats):
				if k and time.perf_counter() - start > a.budget:
					break
				l, z = r.generate(noises)
				lat += l
				runs += 1
			if ref_z is None:
				ref_z = z
			diff = float((z - ref_z).abs().max())
			tt = [r.ttff(noises[0]) for _ in range(3)]
			tt = [pct([x[i] for x in tt], 50) for i in range(4)]
			fs = r.flow_step()
			p50, p99, mean = pct(lat, 50), pct(lat, 99), sum(lat) / len(lat)
			label = {"eager": "eager, per-step adaLN", "graph": "CUDA graph, per-step adaLN",
				 "eager-pre": "eager, precomputed adaLN", "graph-pre": "CUDA graph, precomputed adaLN"}[v]
			if graph and dev.type != "cuda":
				label += " (no graphs on the CPU: run uncaptured)"
			print(f"{v}: {label}: {runs} x {a.tokens} latents: per token p50 {1e3 * p50:.3f} ms, p99 {1e3 * p99:.3f} ms, "
			      f"mean {1e3 * mean:.3f} ms -> {fps / mean:.0f} frames/s; first frame {1e3 * tt[0]:.2f} ms "
			      f"(prefill {1e3 * tt[1]:.2f}, first latent {1e3 * tt[2]:.2f}, VAE {1e3 * tt[3]:.2f}); "
			      f"flow head {1e6 * fs:.1f} us per Euler step; latents vs the first variant: max |diff| {diff:.3g}"
			      + (f"; capture {cap_s:.2f} s" if r.graph is not None else ""))
			k = v.replace("-", "_")
			out.update({f"{k}_p50_ms": 1e3 * p50, f"{k}_p99_ms": 1e3 * p99, f"{k}_mean_ms": 1e3 * mean,
				    f"{k}_fps": fps / mean, f"{k}_ttff_ms": 1e3 * tt[0], f"{k}_flow_step_us": 1e6 * fs,
				    f"{k}_diff": diff})
			del r
			save(a.json, out)  # after every variant: a run stopped from outside keeps what it measured
	if dev.type == "cuda":
		out["mem_peak_gib"] = torch.cuda.max_memory_allocated(dev) / 2 ** 30
		print(f"peak memory allocated by torch: {out['mem_peak_gib']:.2f} GiB")
	out["wall_s"] = time.perf_counter() - start
	print(f"bench_cuda: done in {out['wall_s']:.1f} s")
	save(a.json, out)
	return 0


def save(path, out):
	if path:
		with open(path + ".tmp", "w") as f:
			json.dump(out, f, indent=1)
		os.replace(path + ".tmp", path)


if __name__ == "__main__":
	sys.exit(main())
