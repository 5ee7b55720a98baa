"""llamo_ref.py: the PyTorch reference of the llamo model, the oracle the C code is tested against.

It follows docs/model-format.md to the letter: the module tree below gives exactly the tensor
names of section 3 as state_dict() keys, and every forward pass is the computation of section 4,
in float32. Plain and readable on purpose; speed does not matter here (generation recomputes the
whole sequence at every step instead of keeping a kv cache).

Sources: Hugging Face transformers models/llama/modeling_llama.py (LlamaRMSNorm, rotate_half,
apply_rotary_pos_emb, repeat_kv, eager attention, LlamaMLP) and modeling_rope_utils.py
(_compute_default_rope_parameters, _compute_llama3_parameters); LTH14/mar models/diffloss.py
(SimpleMLPAdaLN, TimestepEmbedder, ResBlock, FinalLayer); zju3dv/MotionStreamer
models/causal_cnn.py, resnet.py (CausalConv1d, the causal residual stack, encoder and decoder).
"""
import json
import math
import os
import shutil

import torch
import torch.nn as nn
import torch.nn.functional as F

import st

TEXT, MOTION = 0, 1


# ---------------------------------------------------------------------------------------------
# Config


class Config:
	"""config.json (docs/model-format.md section 2) as attributes; `raw` keeps the dict."""

	def __init__(self, d):
		self.raw = d
		self.vocab_size = d["vocab_size"]
		self.hidden_size = d["hidden_size"]
		self.intermediate_size = d["intermediate_size"]
		self.num_hidden_layers = d["num_hidden_layers"]
		self.num_attention_heads = d["num_attention_heads"]
		self.num_key_value_heads = d["num_key_value_heads"]
		self.head_dim = d.get("head_dim") or self.hidden_size // self.num_attention_heads
		self.rms_norm_eps = d["rms_norm_eps"]
		self.rope_theta = d["rope_theta"]
		self.rope_scaling = d.get("rope_scaling")
		self.tie_word_embeddings = d.get("tie_word_embeddings", True)
		self.bos_token_id = d["bos_token_id"]
		eos = d["eos_token_id"]
		self.eos_token_ids = list(eos) if isinstance(eos, list) else [eos]
		m = d["llamo"]
		self.latent_dim = m["latent_dim"]
		self.adapter_hidden_size = m["adapter_hidden_size"]
		self.projector_hidden_size = m["projector_hidden_size"]
		self.condition_size = m["condition_size"]
		fh = m["flow_head"]
		self.flow_width, self.flow_depth = fh["width"], fh["depth"]
		self.flow_freq_size = fh["frequency_embedding_size"]
		self.euler_steps, self.guidance_scale = fh["euler_steps"], fh["guidance_scale"]
		eh = m["exit_head"]
		self.exit_hidden_size, self.exit_layers = eh["hidden_size"], eh["num_layers"]
		self.exit_threshold = eh["threshold"]
		v = m["vae"]
		self.vae_width, self.vae_down_t = v["width"], v["down_t"]
		self.vae_depth, self.vae_growth = v["depth"], v["dilation_growth_rate"]
		mo = m["motion"]
		self.fps, self.downsample = mo["fps"], mo["downsample"]
		self.joints, self.feature_dim = mo["joints"], mo["feature_dim"]
		self.bom_token_id, self.eom_token_id = m["bom_token_id"], m["eom_token_id"]
		self.max_motion_tokens = m["max_motion_tokens"]
		self.t2m_template, self.m2t_template = m["t2m_template"], m["m2t_template"]
		self.m2t_prompt = m.get("m2t_prompt")   # the default {prompt} of m2t_template
		self.base_model = m.get("base_model")   # text-only base directory (docs 1), or None


# ---------------------------------------------------------------------------------------------
# Llama pieces (HF modeling_llama.py)


class RMSNorm(nn.Module):
	"""HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * w, variance in float32."""

	def __init__(self, n, eps):
		super().__init__()
		self.weight = nn.Parameter(torch.ones(n))
		self.eps = eps

	def forward(self, x):
		x = x.float()
		var = x.pow(2).mean(-1, keepdim=True)
		return self.weight * (x * torch.rsqrt(var + self.eps))


def rope_inv_freq(cfg):
	"""HF _compute_default_rope_parameters + _compute_llama3_parameters, float32 as HF."""
	dim, base = cfg.head_dim, cfg.rope_theta
	inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
	rs = cfg.rope_scaling
	if not rs or rs.get("rope_type", rs.get("type")) != "llama3":
		return inv_freq
	factor = rs["factor"]
	low_freq_factor = rs["low_freq_factor"]
	high_freq_factor = rs["high_freq_factor"]
	old_context_len = rs["original_max_position_embeddings"]
	low_freq_wavelen = old_context_len / low_freq_factor
	high_freq_wavelen = old_context_len / high_freq_factor
	wavelen = 2 * math.pi / inv_freq
	# wavelen < high_freq_wavelen: do nothing; wavelen > low_freq_wavelen: divide by factor
	inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
	# otherwise: interpolate between the two, using a smooth factor
	smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
	smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
	is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
	return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def rope_cos_sin(inv_freq, T):
	"""HF LlamaRotaryEmbedding.forward for positions 0..T-1: cos, sin (T, hd), float32."""
	pos = torch.arange(T, dtype=torch.float32)
	freqs = pos[:, None] * inv_freq[None, :]  # angle = p * inv_freq[i] in float32
	emb = torch.cat((freqs, freqs), dim=-1)
	return emb.cos(), emb.sin()


def rotate_half(x):
	x1 = x[..., : x.shape[-1] // 2]
	x2 = x[..., x.shape[-1] // 2:]
	return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x, cos, sin):
	"""x (heads, T, hd); cos, sin (T, hd). HF apply_rotary_pos_emb (rotate-half pairing)."""
	return (x * cos) + (rotate_half(x) * sin)


def repeat_kv(x, n_rep):
	"""(nkv, T, hd) -> (nkv*n_rep, T, hd): head h uses kv head h // n_rep."""
	if n_rep == 1:
		return x
	nkv, T, hd = x.shape
	return x[:, None].expand(nkv, n_rep, T, hd).reshape(nkv * n_rep, T, hd)


class Attention(nn.Module):
	"""The projections of one branch; the attention itself is joint (Backbone.layer_forward)."""

	def __init__(self, cfg):
		super().__init__()
		H, hd = cfg.hidden_size, cfg.head_dim
		self.q_proj = nn.Linear(H, cfg.num_attention_heads * hd, bias=False)
		self.k_proj = nn.Linear(H, cfg.num_key_value_heads * hd, bias=False)
		self.v_proj = nn.Linear(H, cfg.num_key_value_heads * hd, bias=False)
		self.o_proj = nn.Linear(cfg.num_attention_heads * hd, H, bias=False)


class MLP(nn.Module):
	"""HF LlamaMLP: down(silu(gate(x)) * up(x))."""

	def __init__(self, cfg):
		super().__init__()
		H, I = cfg.hidden_size, cfg.intermediate_size
		self.gate_proj = nn.Linear(H, I, bias=False)
		self.up_proj = nn.Linear(H, I, bias=False)
		self.down_proj = nn.Linear(I, H, bias=False)

	def forward(self, x):
		return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
	"""One branch of one layer: HF LlamaDecoderLayer's weights."""

	def __init__(self, cfg):
		super().__init__()
		self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
		self.self_attn = Attention(cfg)
		self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
		self.mlp = MLP(cfg)


class TextModel(nn.Module):
	"""`model.`: embed_tokens, layers, norm (HF LlamaModel names)."""

	def __init__(self, cfg):
		super().__init__()
		self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
		self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])
		self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class MotionModel(nn.Module):
	"""`motion_model.`: the motion twin, no embeddings."""

	def __init__(self, cfg):
		super().__init__()
		self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])
		self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


def _per_branch(x, motion, fn_text, fn_motion):
	"""Applies fn_text to the text rows of x and fn_motion to the motion rows (row-wise ops).
	With no motion row fn_text sees x itself, the same tensor plain Llama sees."""
	if not bool(motion.any()):
		return fn_text(x)
	if bool(motion.all()):
		return fn_motion(x)
	ti = (~motion).nonzero().squeeze(1)
	mi = motion.nonzero().squeeze(1)
	yt, ym = fn_text(x[ti]), fn_motion(x[mi])
	y = x.new_zeros((x.shape[0],) + yt.shape[1:])
	y[ti] = yt
	y[mi] = ym
	return y


def layer_forward(cfg, lt, lm, x, motion, cos, sin):
	"""One MoT layer over the whole sequence (4.1). lt, lm: text and motion DecoderLayer (lm may
	be None when there is no motion row). x (T, H); motion (T) bool; cos, sin (T, hd)."""
	T = x.shape[0]
	nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
	if lm is None:
		lm = lt
	a = _per_branch(x, motion, lt.input_layernorm, lm.input_layernorm)
	q = _per_branch(a, motion, lt.self_attn.q_proj, lm.self_attn.q_proj)
	k = _per_branch(a, motion, lt.self_attn.k_proj, lm.self_attn.k_proj)
	v = _per_branch(a, motion, lt.self_attn.v_proj, lm.self_attn.v_proj)
	q = q.view(T, nh, hd).transpose(0, 1)   # (nh, T, hd)
	k = k.view(T, nkv, hd).transpose(0, 1)  # (nkv, T, hd)
	v = v.view(T, nkv, hd).transpose(0, 1)
	q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
	k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
	# HF eager_attention_forward: q k^T * hd^-0.5 + causal mask, softmax in float32, @ v
	scores = torch.matmul(q, k.transpose(1, 2)) * (hd ** -0.5)
	mask = torch.full((T, T), float("-inf")).triu(1)
	probs = torch.softmax(scores + mask, dim=-1, dtype=torch.float32)
	attn = torch.matmul(probs, v).transpose(0, 1).reshape(T, nh * hd)
	x = x + _per_branch(attn, motion, lt.self_attn.o_proj, lm.self_attn.o_proj)
	b = _per_branch(x, motion, lt.post_attention_layernorm, lm.post_attention_layernorm)
	return x + _per_branch(b, motion, lt.mlp, lm.mlp)


# ---------------------------------------------------------------------------------------------
# Adapter, projector, exit head (4.2)


class MLPNorm(nn.Module):
	"""Linear, GELU (exact erf), Linear, RMSNorm: motion_adapter and motion_projector."""

	def __init__(self, n_in, n_hidden, n_out, eps):
		super().__init__()
		self.fc1 = nn.Linear(n_in, n_hidden)
		self.fc2 = nn.Linear(n_hidden, n_out)
		self.norm = RMSNorm(n_out, eps)

	def forward(self, x):
		return self.norm(self.fc2(F.gelu(self.fc1(x))))


MotionAdapter = MLPNorm
MotionProjector = MLPNorm


class ExitHead(nn.Module):
	"""num_layers Linears, SiLU between, sigmoid after the last: (n, H) -> p (n)."""

	def __init__(self, cfg):
		super().__init__()
		E, n = cfg.exit_hidden_size, cfg.exit_layers
		dims = [cfg.hidden_size] + [E] * (n - 1) + [1]
		self.layers = nn.ModuleList([nn.Linear(dims[i], dims[i + 1]) for i in range(n)])

	def forward(self, h):
		for i, l in enumerate(self.layers):
			h = l(h)
			if i + 1 < len(self.layers):
				h = F.silu(h)
		return torch.sigmoid(h).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# Flow head: MAR SimpleMLPAdaLN (diffloss.py) and the Euler sampler (4.3)


def modulate(x, shift, scale):
	return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
	def __init__(self, W, R):
		super().__init__()
		self.mlp = nn.Sequential(nn.Linear(R, W, bias=True), nn.SiLU(), nn.Linear(W, W, bias=True))
		self.frequency_embedding_size = R

	@staticmethod
	def timestep_embedding(t, dim, max_period=10000):
		"""MAR: [cos(t f), sin(t f)], f_i = exp(-ln(max_period) i / half), cos half first."""
		half = dim // 2
		freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
		args = t[:, None].float() * freqs[None]
		return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

	def forward(self, t):
		return self.mlp(self.timestep_embedding(t, self.frequency_embedding_size))


class ResBlock(nn.Module):
	def __init__(self, W):
		super().__init__()
		self.in_ln = nn.LayerNorm(W, eps=1e-6)
		self.mlp = nn.Sequential(nn.Linear(W, W, bias=True), nn.SiLU(), nn.Linear(W, W, bias=True))
		self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(W, 3 * W, bias=True))

	def forward(self, x, y, mod=None):
		"""mod: precomputed adaLN_modulation(y) (n, 3W), or None."""
		if mod is None:
			mod = self.adaLN_modulation(y)
		shift_mlp, scale_mlp, gate_mlp = mod.chunk(3, dim=-1)
		h = modulate(self.in_ln(x), shift_mlp, scale_mlp)
		h = self.mlp(h)
		return x + gate_mlp * h


class FinalLayer(nn.Module):
	def __init__(self, W, out_channels):
		super().__init__()
		self.norm_final = nn.LayerNorm(W, elementwise_affine=False, eps=1e-6)
		self.linear = nn.Linear(W, out_channels, bias=True)
		self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(W, 2 * W, bias=True))

	def forward(self, x, y, mod=None):
		if mod is None:
			mod = self.adaLN_modulation(y)
		shift, scale = mod.chunk(2, dim=-1)
		x = modulate(self.norm_final(x), shift, scale)
		return self.linear(x)


class FlowHead(nn.Module):
	"""MAR SimpleMLPAdaLN: x (n, L), t (n) in [0, 1] as is, c (n, C) -> velocity (n, L)."""

	def __init__(self, cfg):
		super().__init__()
		W, L = cfg.flow_width, cfg.latent_dim
		self.input_proj = nn.Linear(L, W)
		self.time_embed = TimestepEmbedder(W, cfg.flow_freq_size)
		self.cond_embed = nn.Linear(cfg.condition_size, W)
		self.res_blocks = nn.ModuleList([ResBlock(W) for _ in range(cfg.flow_depth)])
		self.final_layer = FinalLayer(W, L)

	def condition(self, t, c):
		"""y = time_embed(t) + cond_embed(c): (n, W)."""
		return self.time_embed(t) + self.cond_embed(c)

	def modulations(self, y):
		"""Every adaLN modulation for conditions y (n, W): [block mods (n, 3W)...], final (n, 2W).
		They depend on (t, c) only, never on x: the sampler can compute them up front."""
		return [b.adaLN_modulation(y) for b in self.res_blocks], self.final_layer.adaLN_modulation(y)

	def forward(self, x, t, c, mods=None):
		x = self.input_proj(x)
		y = None
		if mods is None:
			y = self.condition(t, c)
			bm, fm = [None] * len(self.res_blocks), None
		else:
			bm, fm = mods
		for block, m in zip(self.res_blocks, bm):
			x = block(x, y, m)
		return self.final_layer(x, y, fm)


def euler_sample(head, noise, c_cond, c_uncond, scale, steps, precompute=False):
	"""4.3: Euler ODE from noise (L) with S = steps and guidance scale s. c_cond, c_uncond (C);
	c_uncond unused when scale == 1 (may be None). precompute: compute every step's adaLN
	modulations in one batched product first (exact; the C code does this), else per step."""
	guided = scale != 1
	if guided and c_uncond is None:
		raise ValueError("euler_sample: guidance needs c_uncond")
	x = noise.float().clone()
	S = steps
	c = torch.stack([c_cond, c_uncond]) if guided else c_cond[None]   # (nc, C)
	nc = c.shape[0]
	ts = [torch.tensor([k / S], dtype=torch.float32) for k in range(S)]  # t = k/S in float32
	if precompute:
		t_all = torch.cat(ts).repeat_interleave(nc)                      # (S*nc)
		y_all = head.condition(t_all, c.repeat(S, 1))                    # (S*nc, W)
		bm_all, fm_all = head.modulations(y_all)
	dt = 1.0 / S
	for k in range(S):
		xb = x[None].expand(nc, -1)
		if precompute:
			sl = slice(k * nc, (k + 1) * nc)
			v = head(xb, None, None, ([m[sl] for m in bm_all], fm_all[sl]))
		else:
			v = head(xb, ts[k].expand(nc), c)
		if guided:
			v_c, v_u = v[0], v[1]
			v = v_u + scale * (v_c - v_u)
		else:
			v = v[0]
		x = x + dt * v
	return x


# ---------------------------------------------------------------------------------------------
# Causal VAE (4.4; MotionStreamer causal_cnn.py, resnet.py)


class CausalConv1d(nn.Conv1d):
	"""Left zero padding of (k-1)*d + 1 - s rows, then an ordinary Conv1d without padding.
	Input and output here are (1, channels, T) as torch's conv wants; weight (out, in, k)."""

	def __init__(self, cin, cout, k, stride=1, dilation=1):
		super().__init__(cin, cout, k, stride=stride, dilation=dilation, padding=0)
		self.pad = (k - 1) * dilation + 1 - stride

	def forward(self, x):
		return super().forward(F.pad(x, (self.pad, 0)))


class ResConv(nn.Module):
	"""x + conv2(relu(conv1(relu(x)))), conv1 k=3 dilation d, conv2 k=1."""

	def __init__(self, K, dilation):
		super().__init__()
		self.conv1 = CausalConv1d(K, K, 3, 1, dilation)
		self.conv2 = CausalConv1d(K, K, 1, 1, 1)

	def forward(self, x):
		return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def res_stack(cfg):
	"""depth blocks with dilations growth^(depth-1), ..., growth, 1 (9, 3, 1)."""
	g, n = cfg.vae_growth, cfg.vae_depth
	return nn.ModuleList([ResConv(cfg.vae_width, g ** (n - 1 - r)) for r in range(n)])


class DownStage(nn.Module):
	def __init__(self, cfg):
		super().__init__()
		K = cfg.vae_width
		self.conv = CausalConv1d(K, K, 4, 2, 1)
		self.res = res_stack(cfg)

	def forward(self, x):
		x = self.conv(x)
		for r in self.res:
			x = r(x)
		return x


class UpStage(nn.Module):
	def __init__(self, cfg):
		super().__init__()
		K = cfg.vae_width
		self.res = res_stack(cfg)
		self.conv = CausalConv1d(K, K, 3, 1, 1)

	def forward(self, x):
		for r in self.res:
			x = r(x)
		x = F.interpolate(x, scale_factor=2, mode="nearest")
		return self.conv(x)


class Encoder(nn.Module):
	def __init__(self, cfg):
		super().__init__()
		K, L = cfg.vae_width, cfg.latent_dim
		self.conv_in = CausalConv1d(cfg.feature_dim, K, 3, 1, 1)
		self.down = nn.ModuleList([DownStage(cfg) for _ in range(cfg.vae_down_t)])
		self.conv_out = CausalConv1d(K, K, 3, 1, 1)
		self.proj = nn.Linear(K, 2 * L)

	def forward(self, feats):
		"""feats (T, F) normalized -> (T/4, 2L)."""
		x = feats.t()[None]
		x = F.relu(self.conv_in(x))
		for s in self.down:
			x = s(x)
		x = self.conv_out(x)
		return self.proj(x[0].t())


class Decoder(nn.Module):
	def __init__(self, cfg):
		super().__init__()
		K, L = cfg.vae_width, cfg.latent_dim
		self.proj = nn.Linear(L, K)
		self.conv_in = CausalConv1d(K, K, 3, 1, 1)
		self.up = nn.ModuleList([UpStage(cfg) for _ in range(cfg.vae_down_t)])
		self.conv_mid = CausalConv1d(K, K, 3, 1, 1)
		self.conv_out = CausalConv1d(K, cfg.feature_dim, 3, 1, 1)

	def forward(self, z):
		"""z (n, L) -> (4n, F) normalized."""
		x = self.proj(z).t()[None]
		x = F.relu(self.conv_in(x))
		for s in self.up:
			x = s(x)
		x = F.relu(self.conv_mid(x))
		x = self.conv_out(x)
		return x[0].t()


class CausalVAE(nn.Module):
	def __init__(self, cfg):
		super().__init__()
		self.cfg = cfg
		self.encoder = Encoder(cfg)
		self.decoder = Decoder(cfg)

	def encode(self, feats):
		"""feats (T, F) normalized -> mu, logvar (T/4, L); T % 4 trailing frames dropped."""
		r = 2 ** self.cfg.vae_down_t
		T = feats.shape[0] // r * r
		if T == 0:
			raise ValueError(f"vae.encode: need at least {r} frames")
		out = self.encoder(feats[:T].float())
		L = self.cfg.latent_dim
		return out[:, :L], out[:, L:]

	def decode(self, z):
		return self.decoder(z.float())


class StreamingDecoder:
	"""Decodes latent by latent (4 frames each) keeping, for every conv, its last
	(k-1)*d + 1 - s input rows (zeros at the start): the same numbers as Decoder.forward."""

	def __init__(self, dec):
		self.dec = dec
		self.hist = {}

	def _conv(self, conv, x):
		"""x (1, C, n) new rows -> (1, C', n) (stride 1)."""
		h = self.hist.get(conv)
		if h is None:
			h = x.new_zeros(1, x.shape[1], conv.pad)
		full = torch.cat([h, x], dim=2)
		self.hist[conv] = full[:, :, full.shape[2] - conv.pad:]
		return nn.Conv1d.forward(conv, full)

	def step(self, z):
		"""z (L) -> (4, F)."""
		d = self.dec
		x = d.proj(z[None]).t()[None]
		x = F.relu(self._conv(d.conv_in, x))
		for s in d.up:
			for r in s.res:
				x = x + self._conv(r.conv2, F.relu(self._conv(r.conv1, F.relu(x))))
			x = F.interpolate(x, scale_factor=2, mode="nearest")
			x = self._conv(s.conv, x)
		x = F.relu(self._conv(d.conv_mid, x))
		return self._conv(d.conv_out, x)[0].t()


# ---------------------------------------------------------------------------------------------
# Plain Llama (the text branch alone)


def llama_forward(cfg, text_model, lm_head_weight, inv_freq, ids):
	"""HF LlamaForCausalLM forward without cache: ids -> (final-normed (T, H), logits (T, V))."""
	ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
	x = text_model.embed_tokens.weight[ids]
	T = x.shape[0]
	motion = torch.zeros(T, dtype=torch.bool)
	cos, sin = rope_cos_sin(inv_freq, T)
	for lt in text_model.layers:
		x = layer_forward(cfg, lt, None, x, motion, cos, sin)
	h = text_model.norm(x)
	return h, h @ lm_head_weight.t()


class PlainLlama(nn.Module):
	"""A stock Llama with no motion weights at all: state_dict keys are the HF Llama names
	(model.*, lm_head.weight when untied), so the text part of a llamo model loads as is."""

	def __init__(self, cfg):
		super().__init__()
		self.cfg = cfg
		self.model = TextModel(cfg)
		if not cfg.tie_word_embeddings:
			self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
		self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)

	def forward(self, ids):
		w = self.model.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight
		return llama_forward(self.cfg, self.model, w, self.inv_freq, ids)


# ---------------------------------------------------------------------------------------------
# The whole model


# ---------------------------------------------------------------------------------------------
# A motion model over a base model, and the LoRA-stored twin (docs/model-format.md 1, 3.1)

TEXT_PREFIXES = ("model.", "lm_head.")
MOTION_PREFIXES = ("motion_model.", "motion_adapter.", "motion_projector.", "flow_head.", "exit_head.", "vae.")
TWIN_PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
_FORMATS = {torch.float32: (23, -126), torch.float16: (10, -14), torch.bfloat16: (7, -126)}


def round_f64(x, dtype):
	"""float64 x rounded to nearest, ties to even, into dtype (float32, float16, bfloat16) in ONE
	rounding (docs 3.1): with |x| = m 2^e (m in [1, 2)), e raised to the format's least normal
	exponent, q = 2^(e - mantissa bits), the value is round(x / q) * q. (x.to(float16) would round
	twice, through float32, as torch converts double to half.)"""
	mant, emin = _FORMATS[dtype]
	_, e = torch.frexp(x)                       # |x| = f 2^e with f in [0.5, 1)
	e = torch.clamp(e.to(torch.int64) - 1, min=emin)
	scale = torch.exp2((mant - e).to(torch.float64))  # exact powers of two
	r = torch.round(x * scale) / scale          # torch.round: half to even; both steps exact
	return r.to(dtype)                          # exact: r is a value of dtype (or beyond its range: inf)


def merge_lora(w_text, a, b):
	"""The twin projection stored as lora_A = a (r, in) and lora_B = b (out, r) over the text weight
	w_text (out, in): W = w_text + b a in float64, element by element acc = w; acc += b[:, k] a[k]
	for k = 0..r-1 in order (each product exact), rounded once to w_text.dtype (round_f64)."""
	out, inn = w_text.shape
	r = a.shape[0]
	if a.dim() != 2 or b.dim() != 2 or r < 1 or a.shape[1] != inn or tuple(b.shape) != (out, r):
		raise ValueError(f"lora_A {tuple(a.shape)} / lora_B {tuple(b.shape)} do not fit a weight {tuple(w_text.shape)}")
	acc = w_text.detach().to(torch.float64).clone()
	a64, b64 = a.detach().to(torch.float64), b.detach().to(torch.float64)
	for k in range(r):
		acc += b64[:, k:k + 1] * a64[k:k + 1, :]
	return round_f64(acc, w_text.dtype)


def merge_twin(sd, text):
	"""sd (the motion tensors) with every twin projection stored as .lora_A / .lora_B replaced by its
	merged .weight over text (the text tensors, model.*). Returns a new dict."""
	sd = dict(sd)
	for name in [n for n in sd if n.endswith(".lora_A")]:
		proj = name[:-len(".lora_A")]
		if proj + ".lora_B" not in sd:
			raise ValueError(f"{name} without {proj}.lora_B")
		if proj + ".weight" in sd:
			raise ValueError(f"{proj} stored both full and as lora_A / lora_B")
		w = text["model." + proj[len("motion_model."):] + ".weight"]
		sd[proj + ".weight"] = merge_lora(w, sd.pop(name), sd.pop(proj + ".lora_B"))
	left = [n for n in sd if n.endswith(".lora_B")]
	if left:
		raise ValueError(f"{left[0]} without its lora_A")
	return sd


def save_motion_dir(out_dir, tensors, llamo_cfg, base_dir, normalization, skeleton_path):
	"""Writes a motion model over the text-only model base_dir (docs/model-format.md 1):
	config.json = the base's config.json keys + {"llamo": llamo_cfg with base_model = base_dir
	relative to out_dir}; model.safetensors = tensors (motion-side names only: motion_model.*,
	motion_adapter.*, motion_projector.*, flow_head.*, exit_head.*, vae.*; a twin projection as
	.weight or as .lora_A [r, in] / .lora_B [out, r]), in their own dtypes;
	normalization.safetensors = normalization["mean"], ["std"] (F32); skeleton.bvh copied from
	skeleton_path. No tokenizer: the base's is used."""
	with open(os.path.join(base_dir, "config.json")) as f:
		raw = json.load(f)
	if "llamo" in raw:
		raise ValueError(f"{base_dir}: not a text-only model (its config.json has a llamo object)")
	for name, t in tensors.items():
		if name.startswith(TEXT_PREFIXES) or not name.startswith(MOTION_PREFIXES):
			raise ValueError(f"tensor '{name}': not a motion-side tensor (the text branch is the base's)")
		if t.is_floating_point() and not bool(torch.isfinite(t).all()):
			raise ValueError(f"tensor '{name}': a value that is not finite (the C loader refuses it)")
	for name in tensors:
		if ".lora_" not in name:
			continue
		proj, kind = name.rsplit(".", 1)
		if kind not in ("lora_A", "lora_B") or not proj.startswith("motion_model.layers.") or \
		   not proj.endswith(TWIN_PROJECTIONS):
			raise ValueError(f"tensor '{name}': only the twin's projections may be stored as LoRA")
		other = proj + (".lora_B" if kind == "lora_A" else ".lora_A")
		if other not in tensors or proj + ".weight" in tensors:
			raise ValueError(f"tensor '{name}': want {proj}.lora_A and .lora_B, and no {proj}.weight")
	os.makedirs(out_dir, exist_ok=True)
	cfg = dict(llamo_cfg)
	cfg["base_model"] = os.path.relpath(os.path.abspath(base_dir), os.path.abspath(out_dir))
	raw["llamo"] = cfg
	with open(os.path.join(out_dir, "config.json"), "w") as f:
		json.dump(raw, f, indent=2)
		f.write("\n")
	st.save(os.path.join(out_dir, "model.safetensors"),
		{n: t.detach().contiguous() for n, t in tensors.items()}, {"format": "pt"})
	st.save(os.path.join(out_dir, "normalization.safetensors"),
		{"mean": normalization["mean"].float().contiguous(), "std": normalization["std"].float().contiguous()})
	dst = os.path.join(out_dir, "skeleton.bvh")
	if os.path.abspath(skeleton_path) != os.path.abspath(dst):
		shutil.copyfile(skeleton_path, dst)


class LlamoModel(nn.Module):
	"""state_dict() keys are exactly the tensor names of docs/model-format.md section 3."""

	def __init__(self, cfg):
		super().__init__()
		if isinstance(cfg, dict):
			cfg = Config(cfg)
		self.cfg = cfg
		H, L = cfg.hidden_size, cfg.latent_dim
		self.model = TextModel(cfg)
		self.motion_model = MotionModel(cfg)
		if not cfg.tie_word_embeddings:
			self.lm_head = nn.Linear(H, cfg.vocab_size, bias=False)
		self.motion_adapter = MLPNorm(L, cfg.adapter_hidden_size, H, cfg.rms_norm_eps)
		self.motion_projector = MLPNorm(H, cfg.projector_hidden_size, cfg.condition_size, cfg.rms_norm_eps)
		self.flow_head = FlowHead(cfg)
		self.exit_head = ExitHead(cfg)
		self.vae = CausalVAE(cfg)
		self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)
		self.mean = torch.zeros(cfg.feature_dim)   # normalization.safetensors
		self.std = torch.ones(cfg.feature_dim)
		self.tokenizer_path = None
		self.skeleton_path = None

	# --- backbone ---

	def lm_head_weight(self):
		return self.model.embed_tokens.weight if self.cfg.tie_word_embeddings else self.lm_head.weight

	def embed(self, seq):
		"""seq: list of segments ("text", ids) / ("motion", latents (n, L)) -> x (T, H), motion (T)."""
		xs, ms = [], []
		for kind, v in seq:
			if kind == "text":
				ids = torch.as_tensor(v, dtype=torch.long).reshape(-1)
				xs.append(self.model.embed_tokens.weight[ids])
				ms.append(torch.zeros(len(ids), dtype=torch.bool))
			elif kind == "motion":
				z = torch.as_tensor(v, dtype=torch.float32).reshape(-1, self.cfg.latent_dim)
				xs.append(self.motion_adapter(z))
				ms.append(torch.ones(z.shape[0], dtype=torch.bool))
			else:
				raise ValueError(kind)
		return torch.cat(xs), torch.cat(ms)

	def backbone(self, x, motion):
		"""Full-sequence MoT forward (4.1): x (T, H), motion (T) bool -> final-normed (T, H)
		(model.norm on text rows, motion_model.norm on motion rows)."""
		cos, sin = rope_cos_sin(self.inv_freq, x.shape[0])
		for lt, lm in zip(self.model.layers, self.motion_model.layers):
			x = layer_forward(self.cfg, lt, lm, x, motion, cos, sin)
		return _per_branch(x, motion, self.model.norm, self.motion_model.norm)

	def forward_seq(self, seq):
		"""seq as in embed() -> (final-normed hidden (T, H), motion mask (T))."""
		x, motion = self.embed(seq)
		return self.backbone(x, motion), motion

	def logits(self, h):
		return h @ self.lm_head_weight().t()

	def plain_llama(self, ids):
		"""Plain Llama over this model's text weights (no motion weight touched): ids ->
		(normed (T, H), logits (T, V)). The MoT forward on text-only ids gives exactly this."""
		return llama_forward(self.cfg, self.model, self.lm_head_weight(), self.inv_freq, ids)

	# --- heads ---

	def sample_latent(self, noise, c_cond, c_uncond, scale=None, steps=None, precompute=True):
		cfg = self.cfg
		scale = cfg.guidance_scale if scale is None else scale
		steps = cfg.euler_steps if steps is None else steps
		return euler_sample(self.flow_head, noise, c_cond, c_uncond, scale, steps, precompute)

	# --- generation ---

	def split_template(self, tpl, key):
		i = tpl.index(key)
		return tpl[:i], tpl[i + len(key):]

	def m2t_texts(self, prompt=None):
		"""4.7: m2t_template split at {motion} into (prefix, suffix) texts, then {prompt} in either
		replaced by prompt (None: the config's m2t_prompt)."""
		tpl = self.cfg.m2t_template
		if prompt is not None and "{prompt}" not in tpl:
			raise ValueError("m2t_template has no {prompt}")
		prompt = self.cfg.m2t_prompt if prompt is None else prompt
		pre, suf = self.split_template(tpl, "{motion}")
		return pre.replace("{prompt}", prompt or "", 1), suf.replace("{prompt}", prompt or "", 1)

	@torch.no_grad()
	def generate_t2m(self, cond_ids, uncond_ids, seed, scale=None, steps=None, max_tokens=None,
			 record=None):
		"""4.6. cond_ids, uncond_ids: tokenized templates with [BOM] appended (uncond unused when
		scale == 1). Returns latents (n, L). record (dict): receives "exit_p" (n) = exit(h_c)
		at every step i (i = 0 included, not used to stop) and "exit_p_stop" = the probability
		that stopped generation (None when it ran to max_tokens)."""
		cfg = self.cfg
		scale = cfg.guidance_scale if scale is None else scale
		steps = cfg.euler_steps if steps is None else steps
		max_tokens = cfg.max_motion_tokens if max_tokens is None else max_tokens
		guided = scale != 1
		g = torch.Generator().manual_seed(seed)
		zs, ps, p_stop = [], [], None

		def last_state(ids):
			seq = [("text", ids)] + ([("motion", torch.stack(zs))] if zs else [])
			h, _ = self.forward_seq(seq)
			return h[-1]

		for i in range(max_tokens):
			h_c = last_state(cond_ids)
			p = float(self.exit_head(h_c[None])[0])
			if i > 0 and p > cfg.exit_threshold:
				p_stop = p
				break
			ps.append(p)
			h_u = last_state(uncond_ids) if guided else None
			noise = torch.randn(cfg.latent_dim, generator=g)
			c_c = self.motion_projector(h_c[None])[0]
			c_u = self.motion_projector(h_u[None])[0] if guided else None
			zs.append(self.sample_latent(noise, c_c, c_u, scale, steps))
		if record is not None:
			record["exit_p"] = torch.tensor(ps, dtype=torch.float32)
			record["exit_p_stop"] = p_stop
		return torch.stack(zs)

	@torch.no_grad()
	def caption_m2t(self, prefix_ids, latents, suffix_ids, max_new_tokens=64, record=None):
		"""4.7: prefix [BOM] latents [EOM] suffix, then greedy decoding (argmax, lowest id on
		ties) until an eos id or max_new_tokens. Returns (new ids without the eos, stopped_on_eos).
		record (dict): receives "margins", the top-1 minus top-2 logit at every step."""
		cfg = self.cfg
		out = []
		for _ in range(max_new_tokens):
			seq = [("text", list(prefix_ids) + [cfg.bom_token_id]), ("motion", latents),
			       ("text", [cfg.eom_token_id] + list(suffix_ids) + out)]
			h, _ = self.forward_seq(seq)
			logits = self.logits(h[-1])
			nxt = int(torch.argmax(logits))  # torch.argmax returns the first maximal index
			if record is not None:
				top = torch.topk(logits, 2).values
				record.setdefault("margins", []).append(float(top[0] - top[1]))
			if nxt in cfg.eos_token_ids:
				return out, True
			out.append(nxt)
		return out, False

	# --- the model directory ---

	@classmethod
	def load_dir(cls, path):
		with open(os.path.join(path, "config.json")) as f:
			m = cls(Config(json.load(f)))
		sd, _ = st.load(os.path.join(path, "model.safetensors"))
		text_dir = path
		if m.cfg.base_model:  # the text branch and tokenizer from the base (docs 1)
			text_dir = os.path.join(path, m.cfg.base_model)
			bad = [n for n in sd if n.startswith(TEXT_PREFIXES)]
			if bad:
				raise ValueError(f"{path}: tensor '{bad[0]}': a text tensor in a model with base_model")
			text, _ = st.load(os.path.join(text_dir, "model.safetensors"))
			sd.update(text)
		sd = merge_twin(sd, sd)
		sd = {k: v.float() for k, v in sd.items()}
		m.load_state_dict(sd, strict=True)
		ns, _ = st.load(os.path.join(path, "normalization.safetensors"))
		m.mean, m.std = ns["mean"].float(), ns["std"].float()
		tp = os.path.join(text_dir, "tokenizer.json")
		m.tokenizer_path = tp if os.path.exists(tp) else None
		sp = os.path.join(path, "skeleton.bvh")
		m.skeleton_path = sp if os.path.exists(sp) else None
		return m

	def save_dir(self, path, dtype=torch.float32, readme=None):
		"""Writes config.json, model.safetensors (in dtype), normalization.safetensors, and copies
		tokenizer.json / skeleton.bvh from self.tokenizer_path / self.skeleton_path; README.md."""
		os.makedirs(path, exist_ok=True)
		raw = dict(self.cfg.raw)
		raw["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16",
				      torch.float16: "float16"}[dtype]
		with open(os.path.join(path, "config.json"), "w") as f:
			json.dump(raw, f, indent=2)
			f.write("\n")
		sd = {k: v.detach().to(dtype).contiguous() for k, v in self.state_dict().items()}
		st.save(os.path.join(path, "model.safetensors"), sd, {"format": "pt"})
		st.save(os.path.join(path, "normalization.safetensors"),
			{"mean": self.mean.float().contiguous(), "std": self.std.float().contiguous()})
		for src, name in ((self.tokenizer_path, "tokenizer.json"), (self.skeleton_path, "skeleton.bvh")):
			dst = os.path.join(path, name)
			if src and os.path.abspath(src) != os.path.abspath(dst):
				shutil.copyfile(src, dst)
		if readme is not None:
			with open(os.path.join(path, "README.md"), "w") as f:
				f.write(readme)
