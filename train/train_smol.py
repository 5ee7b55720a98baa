"""train_smol.py: trains the LLaMo model whose text branch is SmolLM2-135M-Instruct (issue 11).

    /usr/bin/python3 train_smol.py --check                           # training forward == llamo_ref (f32)
    /usr/bin/python3 train_smol.py --mirror --stage s1               # 300 steps, adapter and heads
    /usr/bin/python3 train_smol.py --mirror --stage s2 --init s1 --minutes 150 --stop-at 4200
                                     # 5200 steps, everything; the mirrored clips until step 4200
    /usr/bin/python3 train_smol.py --stage s2 --resume --minutes 150    # (next session, or the last
                                     #  1000 steps without the mirrors: the run's --steps, --aug,
                                     #  --standardize-bom kept, --mirror read from the command line)
    /usr/bin/python3 train_smol.py --stage s3 --init s2              # 500 steps, head annealing
    /usr/bin/python3 train_smol.py --export ../models/smol           # a model directory from s3

Checkpoints in $LLAMO_SMOL_CKPT (/tmp/llamo-smol/<stage>.pt: weights, optimizer, step, rngs),
log in train/runs/smol/log.txt; train/runs/smol/README.md has the recipe and the measurements.

The model (docs/model-format.md, paper arXiv 2602.12370):
  text branch  SmolLM2-135M-Instruct exactly as `make smollm2` imports it (F16, 30 layers, hidden
               576, 9/3 heads, tied embeddings), frozen: no gradient ever reaches it.
  motion twin  every projection W (q, k, v, o, gate, up, down of the 30 layers) is
               W_twin = W_text + B A, A [16, in], B [out, 16], B initialised to zero so that the
               twin starts equal to the text branch (the paper initialises the twin from the text
               weights); the twin's norms (input, post-attention, final) are full tensors,
               initialised from the text norms. The product is never merged while training: the
               text product x W^T is shared by both branches and x A^T B^T is added on the
               motion rows.
  heads        adapter Linear(32, 576) GELU Linear(576, 576) RMSNorm; projector Linear(576, 576)
               GELU Linear(576, 256) RMSNorm; flow head MAR SimpleMLPAdaLN width 512, depth 3,
               condition 256, started from models/default's (same shapes); exit head 5 Linears
               (576 -> 128 -> ... -> 1). Adapter, projector and exit head start fresh (N(0, 0.02)).
  [BOM] [EOM]  <jupyter_start> (11) and <jupyter_text> (12): special tokens of SmolLM2's
               tokenizer.json that the chat template never produces (CHOICE, design section 2).

Layouts (ChatML as chat.json renders it, with SmolLM's default system message):
  text to motion  SYS "{prompt}<|im_end|>\\n<|im_start|>assistant\\n" [BOM] z_0 .. z_{n-1} [EOM]
  motion to text  SYS [BOM] z_0 .. z_{n-1} [EOM] "\\n{prompt}<|im_end|>\\n<|im_start|>assistant\\n"
                  answer <|im_end|>
SYS = "<|im_start|>system\\n<default system><|im_end|>\\n<|im_start|>user\\n". The prompt of motion
to text is a caption instruction (m2t_prompt, or one of a few variants) or a question of
questions.py; the answer is a caption (captions.py) or the question's answer sentence.

Losses as train_llamo.py: flow matching (rectified flow, t logit-normal, the state at [BOM]
predicts z_0 and the state at z_{j-1} predicts z_j), exit (BCE, 1 at the state after z_{n-1},
pos_weight 4), LM loss on the answer tokens and <|im_end|>. Task mix t2m 0.7 / caption 0.15 /
questions 0.15; caption dropout 10% (empty prompt: the unconditional branch of guidance); noise
augmentation of the motion history (half of the t2m sequences see z + sigma N(0,1) as input,
sigma ~ U(0, --aug)).

Speed: the K/V of the constant SYS prefix are computed once; every text position before the
first latent depends only on the frozen text branch, so that segment (prompt and [BOM]) runs
without gradients and only the state at [BOM] and the K/V are kept; the [EOM] after the last
latent of text to motion feeds no loss and is left out. Products run under bf16 autocast
(--f32 to turn off) with the frozen weights held in bf16: on this CPU (AMX) a bf16 product is
about 7 times faster than an f32 one on one core. The exported model keeps the text branch
exactly as imported (F16) and stores the twin as A and B.
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
os.environ.setdefault("LLAMO_WORK", "/tmp/llamo-train-vae")
os.environ.setdefault("LLAMO_LATENTS", os.path.join(os.environ["LLAMO_WORK"], "latents_vae10.npz"))

import captions  # noqa: E402
import llamo_ref  # noqa: E402
import questions  # noqa: E402
import st  # noqa: E402
import train_llamo  # noqa: E402  (MotionData: latents of LLAMO_LATENTS, labels, --mirror)
from llamo_ref import FlowHead, ExitHead, MLPNorm, RMSNorm  # noqa: E402

BASE = os.path.join(ROOT, "models", "smollm2-135m-instruct")
DEFAULT = os.path.join(ROOT, "models", "default")
VAE = os.path.join(HERE, "runs", "vae10", "vae.safetensors")
SKELETON = os.path.join(ROOT, "tests", "data", "skeleton_bn.bvh")
CKPT = os.environ.get("LLAMO_SMOL_CKPT", "/tmp/llamo-smol")
RUN = os.path.join(HERE, "runs", "smol")

RANK = 16
PROJ = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
	("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]
BOM, EOM = "<jupyter_start>", "<jupyter_text>"
M2T_PROMPT = "Describe this motion."
M2T_PROMPT_VARIANTS = ["Describe this motion.", "Caption this motion.", "Write a short caption for this motion.",
		       "Describe this motion in one sentence."]
MIX = {"t2m": 0.7, "caption": 0.15, "question": 0.15}

LOG = os.path.join(RUN, "log.txt")
CARD = os.path.join(RUN, "model-card.md")  # --export copies it to DIR/README.md


def log(msg):
	line = time.strftime("%H:%M:%S ") + msg
	print(line, file=sys.stderr, flush=True)
	if LOG:
		os.makedirs(os.path.dirname(LOG), exist_ok=True)
		with open(LOG, "a") as f:
			f.write(line + "\n")


merge_lora = llamo_ref.merge_lora
save_motion_dir = llamo_ref.save_motion_dir


# ---------------------------------------------------------------------------------------------
# Config, tokenizer, templates


def read_json(p):
	with open(p) as f:
		return json.load(f)


def templates(base=BASE):
	"""(t2m_template, m2t_template) rendered with chat.json (default system message)."""
	chat = read_json(os.path.join(base, "chat.json"))

	def turn(role, content):
		return chat["turn"].replace("{role}", role).replace("{content}", content)
	sys_turn = turn("system", chat["default_system"]) if chat.get("default_system") else ""
	t2m = sys_turn + turn("user", "{prompt}") + chat["generation_prompt"]
	m2t = sys_turn + turn("user", "{motion}\n{prompt}") + chat["generation_prompt"]
	return t2m, m2t


def make_config(base=BASE, rank=RANK, t2m_template=None):
	"""The full config (base Llama keys + llamo object) of the SmolLM2 model: twin LoRA rank
	`rank`; t2m_template, if given, replaces the text to motion layout (same system prefix)."""
	from tokenizers import Tokenizer
	cfg = read_json(os.path.join(base, "config.json"))
	tok = Tokenizer.from_file(os.path.join(base, "tokenizer.json"))
	bom, eom = tok.token_to_id(BOM), tok.token_to_id(EOM)
	added = {a["content"]: a for a in read_json(os.path.join(base, "tokenizer.json"))["added_tokens"]}
	assert added[BOM]["special"] and added[EOM]["special"], "BOM/EOM must be special tokens"
	t2m, m2t = templates(base)
	if t2m_template:
		assert t2m_template.split("{prompt}")[0] == t2m.split("{prompt}")[0], "t2m_template: another system prefix"
		t2m = t2m_template
	assert BOM not in t2m + m2t and EOM not in t2m + m2t
	vae, _ = st.load(VAE)
	dflt = read_json(os.path.join(DEFAULT, "config.json"))["llamo"]
	cfg["llamo"] = {
		"base_model": os.path.relpath(base, ROOT),
		"latent_dim": 32,
		"adapter_hidden_size": 576, "projector_hidden_size": 576, "condition_size": 256,
		"flow_head": {"width": 512, "depth": 3, "frequency_embedding_size": 256,
			      "euler_steps": 50, "guidance_scale": 3.0},
		"exit_head": {"hidden_size": 128, "num_layers": 5, "threshold": 0.5},
		"vae": dict(dflt["vae"], width=int(vae["vae.encoder.conv_in.weight"].shape[0])),
		"motion": dflt["motion"],
		"bom_token_id": bom, "eom_token_id": eom,
		"max_motion_tokens": 116,
		"motion_lora_rank": rank,
		"t2m_template": t2m, "m2t_template": m2t, "m2t_prompt": M2T_PROMPT,
	}
	return cfg


class Tok:
	def __init__(self, base=BASE):
		from tokenizers import Tokenizer
		self.t = Tokenizer.from_file(os.path.join(base, "tokenizer.json"))
		self.cache = {}

	def __call__(self, text):
		ids = self.cache.get(text)
		if ids is None:
			ids = self.t.encode(text, add_special_tokens=False).ids
			if len(self.cache) < 200000:
				self.cache[text] = ids
		return ids


# ---------------------------------------------------------------------------------------------
# The model: frozen text weights (plain tensors) and the trainable motion side (an nn.Module
# whose state_dict keys are the exported tensor names)


class LoRA(nn.Module):
	def __init__(self, n_in, n_out, r):
		super().__init__()
		self.lora_A = nn.Parameter(torch.empty(r, n_in))
		self.lora_B = nn.Parameter(torch.zeros(n_out, r))
		nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))   # as peft: U(-1/sqrt(in), 1/sqrt(in))


class Sub(nn.Module):
	pass


class TwinLayer(nn.Module):
	def __init__(self, cfg, r):
		super().__init__()
		H, I, hd = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
		nq, nkv = cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd
		self.input_layernorm = RMSNorm(H, cfg.rms_norm_eps)
		self.post_attention_layernorm = RMSNorm(H, cfg.rms_norm_eps)
		self.self_attn, self.mlp = Sub(), Sub()
		dims = {"q_proj": (H, nq), "k_proj": (H, nkv), "v_proj": (H, nkv), "o_proj": (nq, H),
			"gate_proj": (H, I), "up_proj": (H, I), "down_proj": (I, H)}
		for grp, name in PROJ:
			setattr(getattr(self, grp), name, LoRA(*dims[name], r))


class Twin(nn.Module):
	def __init__(self, cfg, r):
		super().__init__()
		self.layers = nn.ModuleList([TwinLayer(cfg, r) for _ in range(cfg.num_hidden_layers)])
		self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class Projector(MLPNorm):
	"""motion_projector (Linear, GELU, Linear, RMSNorm: llamo_ref.MLPNorm) whose first Linear can be
	trained on standardized input, fc1((x - mu) * inv), with mu, inv (H) non-persistent buffers set
	by standardize(). Only the parameterization changes, never the function: state_dict() folds
	the standardization into fc1 (W inv, b - W inv mu), and load_state_dict() unfolds what it reads,
	so files always hold the plain MLPNorm of docs/model-format.md. Unset (mu 0, inv 1) it is
	MLPNorm exactly. Why: the frozen text branch's final-normed state at [BOM] varies across
	prompts by 1.6% of its squared norm (one dimension's mean is 33), so a plain fc1 sees nearly
	the same input for every prompt (runs/smol/README.md, "The condition at [BOM]")."""

	def __init__(self, n_in, n_hidden, n_out, eps):
		super().__init__(n_in, n_hidden, n_out, eps)
		self.register_buffer("in_mu", torch.zeros(n_in), persistent=False)
		self.register_buffer("in_inv", torch.ones(n_in), persistent=False)
		self._register_state_dict_hook(Projector._fold)
		self._register_load_state_dict_pre_hook(self._unfold)

	def forward(self, x):
		return super().forward((x - self.in_mu.to(x.dtype)) * self.in_inv.to(x.dtype))

	def folded(self, w, b):
		"""(W, b) of the standardized fc1 -> those of the plain fc1 computing the same."""
		wf = w * self.in_inv
		return wf, b - wf @ self.in_mu

	@staticmethod
	def _fold(mod, sd, prefix, _meta):
		sd[prefix + "fc1.weight"], sd[prefix + "fc1.bias"] = mod.folded(sd[prefix + "fc1.weight"], sd[prefix + "fc1.bias"])
		return sd

	def _unfold(self, sd, prefix, *_):
		if prefix + "fc1.weight" in sd:
			w, b = sd[prefix + "fc1.weight"], sd[prefix + "fc1.bias"]
			sd[prefix + "fc1.weight"], sd[prefix + "fc1.bias"] = w / self.in_inv, b + w @ self.in_mu

	@torch.no_grad()
	def standardize(self, mu, inv):
		"""Re-parameterize in place to fc1((x - mu) * inv), keeping the function."""
		w, b = self.folded(self.fc1.weight, self.fc1.bias)
		self.in_mu.copy_(mu)
		self.in_inv.copy_(inv)
		self.fc1.weight.copy_(w / inv)
		self.fc1.bias.copy_(b + w @ mu)


class Motion(nn.Module):
	"""Everything trained: state_dict() keys = the exported names (motion_model.layers.{i}.
	self_attn.q_proj.lora_A, ..., motion_adapter.*, motion_projector.*, flow_head.*, exit_head.*)."""

	def __init__(self, cfg, r=RANK):
		super().__init__()
		H = cfg.hidden_size
		self.motion_model = Twin(cfg, r)
		self.motion_adapter = MLPNorm(cfg.latent_dim, cfg.adapter_hidden_size, H, cfg.rms_norm_eps)
		self.motion_projector = Projector(H, cfg.projector_hidden_size, cfg.condition_size, cfg.rms_norm_eps)
		self.flow_head = FlowHead(cfg)
		self.exit_head = ExitHead(cfg)


def load_text(base, dtype):
	"""The frozen text branch: {"emb": (V, H) f32 for lookup, "emb_lm": (V, H) dtype for the tied
	LM head, "norm": (H) f32, "layers": [{name: tensor}]} (projections in dtype, norms f32)."""
	sd, _ = st.load(os.path.join(base, "model.safetensors"))
	cfg = read_json(os.path.join(base, "config.json"))
	out = {"emb": sd["model.embed_tokens.weight"].float(), "norm": sd["model.norm.weight"].float(), "layers": []}
	out["emb_lm"] = out["emb"].to(dtype)
	for i in range(cfg["num_hidden_layers"]):
		p = "model.layers.%d." % i
		d = {"input_layernorm": sd[p + "input_layernorm.weight"].float(),
		     "post_attention_layernorm": sd[p + "post_attention_layernorm.weight"].float()}
		for grp, name in PROJ:
			d[name] = sd[p + "%s.%s.weight" % (grp, name)].to(dtype)
			if d[name].shape[0] >= FrozenLinear.LONG_K:     # gate, up: their backward contracts over 1536
				d[name + "_t"] = d[name].t().contiguous()
		out["layers"].append(d)
	return out, sd


def init_motion(m, text, default_dir=DEFAULT, seed=0):
	"""Twin norms from the text norms; adapter / projector / exit N(0, 0.02), biases 0, norms 1;
	flow head from default_dir's where every shape matches, else MAR's init."""
	torch.manual_seed(seed)
	with torch.no_grad():
		for name, p in m.named_parameters():
			if name.startswith(("motion_adapter.", "motion_projector.", "exit_head.", "flow_head.")):
				if p.dim() >= 2:
					nn.init.normal_(p, 0.0, 0.02)
				elif "norm" in name or "_ln" in name:
					p.fill_(1.0)
				else:
					p.zero_()
		for n_, p in m.flow_head.named_parameters():
			if p.dim() >= 2 and not ("adaLN" in n_ or "final_layer.linear" in n_):
				nn.init.xavier_uniform_(p)
			if "adaLN_modulation" in n_ or "final_layer.linear" in n_:
				p.zero_()
		for i, lt in enumerate(text["layers"]):
			lm = m.motion_model.layers[i]
			lm.input_layernorm.weight.copy_(lt["input_layernorm"])
			lm.post_attention_layernorm.weight.copy_(lt["post_attention_layernorm"])
		m.motion_model.norm.weight.copy_(text["norm"])
		src = "fresh (MAR init)"
		if default_dir and os.path.exists(os.path.join(default_dir, "model.safetensors")):
			dsd, _ = st.load(os.path.join(default_dir, "model.safetensors"))
			fh = {k[len("flow_head."):]: v for k, v in dsd.items() if k.startswith("flow_head.")}
			own = m.flow_head.state_dict()
			if set(fh) == set(own) and all(fh[k].shape == own[k].shape for k in own):
				m.flow_head.load_state_dict({k: v.float() for k, v in fh.items()})
				src = default_dir
		return src


class FrozenLinear(torch.autograd.Function):
	"""y = a W^T for a frozen W (no gradient for W), with the orientation of each product chosen
	for speed: this CPU's bf16 product runs at 120-140 GFLOP/s when the contraction is 1536 long
	and the output 576 wide (down_proj forward, gate/up backward), and at 650-900 GFLOP/s computed
	as the transpose (W a^T)^T. Same arithmetic, another order of the same sums."""
	LONG_K = 1024

	@staticmethod
	def forward(ctx, a, w, wt):
		ctx.save_for_backward(w, wt)
		if a.shape[1] >= FrozenLinear.LONG_K:
			return torch.matmul(w, a.t()).t().contiguous()
		return torch.matmul(a, w.t())

	@staticmethod
	def backward(ctx, g):
		w, wt = ctx.saved_tensors
		if wt is not None and w.shape[0] >= FrozenLinear.LONG_K:
			return torch.matmul(wt, g.t()).t().contiguous(), None, None
		return torch.matmul(g, w), None, None


class Stack:
	"""The batched MoT forward over segments (right padded): the computation of
	llamo_ref.layer_forward, with the past K/V of earlier segments."""

	def __init__(self, cfg, text, motion):
		self.cfg, self.text, self.m = cfg, text, motion
		self.inv_freq = llamo_ref.rope_inv_freq(cfg)

	def rope(self, pos):
		ang = pos[..., None].float() * self.inv_freq        # (B, T, hd/2), float32 as rope_cos_sin
		emb = torch.cat((ang, ang), -1)[:, None]              # (B, 1, T, hd)
		return emb.cos(), emb.sin()

	def norm(self, x, motion, wt, wm):
		xn = x.float()
		xn = xn * torch.rsqrt(xn.pow(2).mean(-1, keepdim=True) + self.cfg.rms_norm_eps)
		if motion is None or not bool(motion.any()):
			return wt * xn
		return torch.where(motion[..., None], wm, wt) * xn

	@staticmethod
	def lin(a, w, lora, mi, wt=None):
		"""a (N, in) rows; the text product for every row, + a A^T B^T on the motion rows mi."""
		y = FrozenLinear.apply(a, w, wt)
		if lora is not None and mi is not None and mi.numel():
			d = F.linear(F.linear(a[mi], lora.lora_A.to(w.dtype)), lora.lora_B.to(w.dtype))
			y = y.index_add(0, mi, d)
		return y

	def segment(self, x, motion, pos, past=None, past_valid=None, trace=None):
		"""x (B, T, H) inputs; motion (B, T) bool (None: text only); pos (B, T) positions;
		past: per layer (K, V) (B, nkv, Tp, hd) after RoPE, past_valid (B, Tp) bool ->
		(pre-norm output (B, T, H), this segment's [(K, V)]); trace (a list): gets the residual
		stream (B, T, H) after each layer (flow_probe.py's layer probes).
		The residual stream and the norms are f32; everything else runs in the dtype of the
		frozen weights (bf16 for training: no mixed-dtype elementwise ops, which are slow on the
		CPU; f32 for --check, where this is llamo_ref's arithmetic). GQA without copying K/V:
		the rep query heads of one kv head are stacked along the rows."""
		cfg = self.cfg
		B, T, H = x.shape
		nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
		rep = nh // nkv
		cdt = self.text["layers"][0]["q_proj"].dtype
		cos, sin = self.rope(pos)
		cos, sin = cos.to(cdt), sin.to(cdt)
		allowed = torch.ones(T, T, dtype=torch.bool).tril()[None].expand(B, T, T)
		if past is not None:
			allowed = torch.cat([past_valid[:, None, :].expand(B, T, past_valid.shape[1]), allowed], -1)
		mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))[:, None, None]  # (B, 1, 1, T, Tall)
		mi = motion.reshape(-1).nonzero().squeeze(1) if motion is not None else None
		tw = self.m.motion_model.layers
		kvs = []
		for l, lt in enumerate(self.text["layers"]):
			lm = tw[l]
			a = self.norm(x, motion, lt["input_layernorm"], lm.input_layernorm.weight).reshape(B * T, H).to(cdt)
			q = self.lin(a, lt["q_proj"], lm.self_attn.q_proj, mi).view(B, T, nh, hd).transpose(1, 2)
			k = self.lin(a, lt["k_proj"], lm.self_attn.k_proj, mi).view(B, T, nkv, hd).transpose(1, 2)
			v = self.lin(a, lt["v_proj"], lm.self_attn.v_proj, mi).view(B, T, nkv, hd).transpose(1, 2)
			q = q * cos + torch.cat((-q[..., hd // 2:], q[..., :hd // 2]), -1) * sin
			k = k * cos + torch.cat((-k[..., hd // 2:], k[..., :hd // 2]), -1) * sin
			kvs.append((k, v))
			if past is not None:
				k = torch.cat([past[l][0].to(cdt), k], 2)
				v = torch.cat([past[l][1].to(cdt), v], 2)
			qg = q.reshape(B, nkv, rep * T, hd)                                  # head h = kv head h // rep
			sc = torch.matmul(qg, k.transpose(2, 3)).float().view(B, nkv, rep, T, -1)
			p = torch.softmax(sc * hd ** -0.5 + mask, -1, dtype=torch.float32).to(cdt)
			o = torch.matmul(p.view(B, nkv, rep * T, -1), v).view(B, nh, T, hd).transpose(1, 2).reshape(B * T, nh * hd)
			x = x + self.lin(o, lt["o_proj"], lm.self_attn.o_proj, mi).view(B, T, H).float()
			b = self.norm(x, motion, lt["post_attention_layernorm"], lm.post_attention_layernorm.weight).reshape(B * T, H).to(cdt)
			g = self.lin(b, lt["gate_proj"], lm.mlp.gate_proj, mi, lt["gate_proj_t"])
			u = self.lin(b, lt["up_proj"], lm.mlp.up_proj, mi, lt["up_proj_t"])
			x = x + self.lin(F.silu(g) * u, lt["down_proj"], lm.mlp.down_proj, mi).view(B, T, H).float()
			if trace is not None:
				trace.append(x)
		return x, kvs

	def final(self, x, motion):
		return self.norm(x, motion, self.text["norm"], self.m.motion_model.norm.weight)


# ---------------------------------------------------------------------------------------------
# Batches


def normalize_caption(t):
	t = t.strip()
	t = t[0].upper() + t[1:]
	return t if t.endswith(".") else t + "."


class Batcher:
	"""Length-bucketed batches of training clips (as train_llamo.Batcher) in the ChatML layouts.
	A sequence: (sys K/V, shared) + pre (text ids after SYS up to [BOM], no gradient) + post
	(latents, then text ids for motion to text)."""

	def __init__(self, data, tok, cfg, rng, batch=16, dropout=0.1, mix=MIX):
		self.d, self.tok, self.cfg, self.rng = data, tok, cfg, rng
		self.batch, self.dropout, self.mix = batch, dropout, mix
		self.order = sorted(data.train, key=lambda i: data.n[i])
		t2m, m2t = cfg.t2m_template, cfg.m2t_template
		self.t2m_pre, self.t2m_suf = t2m.split("{prompt}")
		self.m2t_pre, self.m2t_suf = m2t.split("{motion}")
		self.sys_ids = tok(self.m2t_pre)
		assert tok(self.t2m_pre) == self.sys_ids

	def t2m(self, prompt, z):
		ids = self.tok(self.cfg.t2m_template.replace("{prompt}", prompt))
		S = len(self.sys_ids)
		assert ids[:S] == self.sys_ids, "the prompt changed the tokens of the system prefix"
		return {"kind": "t2m", "pre": ids[S:] + [self.cfg.bom_token_id], "z": z, "post_ids": [], "n_ans": 0}

	def m2t(self, prompt, z, answer):
		suf = self.tok(self.m2t_suf.replace("{prompt}", prompt))
		ans = self.tok(answer) + self.cfg.eos_token_ids[:1]
		return {"kind": "m2t", "pre": [self.cfg.bom_token_id], "z": z,
			"post_ids": [self.cfg.eom_token_id] + suf + ans, "n_ans": len(ans)}

	def sample(self):
		r = self.rng
		start = r.randrange(0, max(1, len(self.order) - self.batch))
		out = []
		for i in self.order[start:start + self.batch]:
			z = self.d.clip(i)
			c, s = int(self.d.content[i]), int(self.d.style[i])
			u = r.random()
			if u < self.mix["t2m"]:
				cap = captions.caption(c, s, r)
				out.append(self.t2m("" if r.random() < self.dropout else cap, z))
			elif u < self.mix["t2m"] + self.mix["caption"]:
				p = M2T_PROMPT if r.random() < 0.7 else r.choice(M2T_PROMPT_VARIANTS)
				out.append(self.m2t(p, z, normalize_caption(captions.caption(c, s, r))))
			else:
				q, a, _ = questions.ask(c, s, r)
				out.append(self.m2t(q, z, a))
		return out


# ---------------------------------------------------------------------------------------------
# Forward and losses


def flow_forward(fh, x, t, c):
	"""llamo_ref.FlowHead.forward (MAR SimpleMLPAdaLN) that also runs under CPU bf16 autocast:
	torch 1.13 has no autocast rule for layer_norm, so the residual stream is kept in f32 and the
	layer norms see f32 (the Linears run in bf16). In f32 it is FlowHead.forward."""
	W = fh.input_proj.weight.shape[0]
	sy = F.silu(fh.condition(t, c))
	h = fh.input_proj(x).float()
	for blk in fh.res_blocks:
		shift, scale, gate = blk.adaLN_modulation[1](sy).float().chunk(3, -1)
		hn = F.layer_norm(h, (W,), blk.in_ln.weight, blk.in_ln.bias, blk.in_ln.eps)
		h = h + gate * blk.mlp(hn * (1 + scale) + shift).float()
	shift, scale = fh.final_layer.adaLN_modulation[1](sy).float().chunk(2, -1)
	hn = F.layer_norm(h, (W,), None, None, fh.final_layer.norm_final.eps)
	return fh.final_layer.linear(hn * (1 + scale) + shift).float()


class Trainer:
	def __init__(self, cfgd, text, motion, tok, bf16=True):
		self.cfgd, self.cfg = cfgd, llamo_ref.Config(cfgd)
		self.text, self.m, self.tok = text, motion, tok
		self.stack = Stack(self.cfg, text, motion)
		self.bf16 = bf16
		t2m_pre = self.cfg.t2m_template.split("{prompt}")[0]
		self.sys_ids = tok(t2m_pre)
		with torch.no_grad(), self.autocast():
			ids = torch.as_tensor(self.sys_ids)[None]
			pos = torch.arange(len(self.sys_ids))[None]
			_, self.sys_kv = self.stack.segment(text["emb"][ids], None, pos)

	def autocast(self):
		return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)

	def forward(self, seqs, aug=0.0, keep_kv=False, trace=None):
		"""-> (h_bom (B, H): final-normed state at [BOM]; h (B, Tq, H): final-normed states of the
		post segment; post_ids (B, Tq); motion (B, Tq)). trace (a list): gets the prompt segment's
		residual stream after each layer (Stack.segment)."""
		cfg, L = self.cfg, self.cfg.latent_dim
		B = len(seqs)
		S = len(self.sys_ids)
		Tp = max(len(s["pre"]) for s in seqs)
		pre = torch.zeros(B, Tp, dtype=torch.long)
		pre_valid = torch.zeros(B, Tp, dtype=torch.bool)
		for b, s in enumerate(seqs):
			pre[b, :len(s["pre"])] = torch.as_tensor(s["pre"])
			pre_valid[b, :len(s["pre"])] = True
		plen = pre_valid.sum(1)
		past = [(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in self.sys_kv]
		past_valid = torch.ones(B, S, dtype=torch.bool)
		with torch.no_grad(), self.autocast():
			x, kv = self.stack.segment(self.text["emb"][pre], None, S + torch.arange(Tp)[None].expand(B, Tp),
						   past, past_valid, trace=trace)
			h_bom = self.stack.final(x[torch.arange(B), plen - 1], None).float()
		past = [(torch.cat([pk, k.to(pk.dtype)], 2), torch.cat([pv, v.to(pv.dtype)], 2))
			for (pk, pv), (k, v) in zip(past, kv)]
		past_valid = torch.cat([past_valid, pre_valid], 1)
		Tq = max(len(s["z"]) + len(s["post_ids"]) for s in seqs)
		ids = torch.zeros(B, Tq, dtype=torch.long)
		lat = torch.zeros(B, Tq, L)
		motion = torch.zeros(B, Tq, dtype=torch.bool)
		for b, s in enumerate(seqs):
			n = len(s["z"])
			lat[b, :n] = s["z"]
			motion[b, :n] = True
			ids[b, n:n + len(s["post_ids"])] = torch.as_tensor(s["post_ids"], dtype=torch.long)
		lat_in = lat
		if aug > 0:
			sig = torch.tensor([aug * random.random() if (s["kind"] == "t2m" and random.random() < 0.5) else 0.0
					    for s in seqs])
			lat_in = lat + sig[:, None, None] * torch.randn_like(lat) * motion[..., None]
		pos = S + plen[:, None] + torch.arange(Tq)[None]
		with self.autocast():
			x = self.text["emb"][ids]
			mflat = motion.reshape(-1)
			mi = mflat.nonzero().squeeze(1)
			za = self.m.motion_adapter(lat_in.reshape(-1, L)[mi]).float()
			x = x.reshape(B * Tq, -1).index_copy(0, mi, za).view(B, Tq, -1)
			x, kv = self.stack.segment(x, motion, pos, past, past_valid)
			h = self.stack.final(x, motion).float()
		if keep_kv:   # for decoding: every K/V so far, which of them are real, the next position
			n = torch.tensor([len(s["z"]) + len(s["post_ids"]) for s in seqs])
			past = [(torch.cat([pk, k.to(pk.dtype)], 2), torch.cat([pv, v.to(pv.dtype)], 2))
				for (pk, pv), (k, v) in zip(past, kv)]
			past_valid = torch.cat([past_valid, torch.arange(Tq)[None] < n[:, None]], 1)
			return h, n, past, past_valid, S + plen + n
		return h_bom, h, ids, lat, motion

	@torch.no_grad()
	def greedy(self, seqs, max_new=40):
		"""Greedy decoding after each sequence (motion to text, 4.7: argmax, stop on an eos id):
		-> [new ids without the eos]. Batched, with the K/V kept."""
		B = len(seqs)
		h, n, past, past_valid, pos = self.forward(seqs, keep_kv=True)
		last = h[torch.arange(B), n - 1]
		out, done = [[] for _ in range(B)], [False] * B
		eos = set(self.cfg.eos_token_ids)
		for _ in range(max_new):
			with self.autocast():
				nxt = F.linear(last, self.text["emb_lm"]).float().argmax(-1)
			for b in range(B):
				if not done[b]:
					if int(nxt[b]) in eos:
						done[b] = True
					else:
						out[b].append(int(nxt[b]))
			if all(done):
				break
			with self.autocast():
				x, kv = self.stack.segment(self.text["emb"][nxt][:, None], None, pos[:, None], past, past_valid)
				last = self.stack.final(x[:, 0], None).float()
			past = [(torch.cat([pk, k.to(pk.dtype)], 2), torch.cat([pv, v.to(pv.dtype)], 2))
				for (pk, pv), (k, v) in zip(past, kv)]
			past_valid = torch.cat([past_valid, torch.ones(B, 1, dtype=torch.bool)], 1)
			pos = pos + 1
		return out

	def losses(self, seqs, aug=0.0, exit_pos_weight=4.0, flow_mul=1, want=("flow", "exit", "lm")):
		h_bom, h, ids, lat, motion = self.forward(seqs, aug)
		fc, fz, ex, ey, lh, ly = [], [], [], [], [], []
		for b, s in enumerate(seqs):
			n = len(s["z"])
			if s["kind"] == "t2m":
				fc.append(torch.cat([h_bom[b:b + 1], h[b, :n - 1]]))   # [BOM], z_0 .. z_{n-2} -> z_0 .. z_{n-1}
				fz.append(lat[b, :n])
				ex.append(h[b, :n])                                      # states at z_0 .. z_{n-1}
				y = torch.zeros(n)
				y[-1] = 1
				ey.append(y)
			else:
				T = n + len(s["post_ids"])
				k = s["n_ans"]
				lh.append(h[b, T - k - 1:T - 1])
				ly.append(ids[b, T - k:T])
		out = {}
		with self.autocast():
			if fc and "flow" in want:
				c = self.m.motion_projector(torch.cat(fc)).float()
				z = torch.cat(fz)
				if flow_mul > 1:
					c, z = c.repeat(flow_mul, 1), z.repeat(flow_mul, 1)
				t = torch.sigmoid(torch.randn(z.shape[0]))
				noise = torch.randn_like(z)
				v = flow_forward(self.m.flow_head, (1 - t[:, None]) * noise + t[:, None] * z, t, c)
				out["flow"] = F.mse_loss(v, z - noise)
			if ex and "exit" in want:
				x = torch.cat(ex)
				for i, l in enumerate(self.m.exit_head.layers):
					x = l(x)
					if i + 1 < len(self.m.exit_head.layers):
						x = F.silu(x)
				out["exit"] = F.binary_cross_entropy_with_logits(x.float().squeeze(-1), torch.cat(ey),
										 pos_weight=torch.tensor(exit_pos_weight))
			if lh and "lm" in want:
				logits = F.linear(torch.cat(lh), self.text["emb_lm"]).float()
				out["lm"] = F.cross_entropy(logits, torch.cat(ly))
		return out


# ---------------------------------------------------------------------------------------------
# --check: the batched training forward (LoRA unmerged) against llamo_ref on merged weights


def check(a):
	torch.set_num_threads(1)
	cfgd = make_config()
	text, sd = load_text(BASE, torch.float32)
	tok = Tok()
	torch.manual_seed(0)
	m = Motion(llamo_ref.Config(cfgd))
	init_motion(m, text)
	g = torch.Generator().manual_seed(1)
	with torch.no_grad():     # a twin that differs from the text branch, heads not at their init
		for name, p in m.named_parameters():
			if name.endswith("lora_B"):
				p.copy_(torch.randn(p.shape, generator=g) * 0.02)
			elif name.startswith("motion_model.") and name.endswith("norm.weight"):
				p.mul_(1 + 0.1 * torch.randn(p.shape, generator=g))
			elif name.startswith("motion_adapter."):
				p.add_(torch.randn(p.shape, generator=g) * 0.02)
	tr = Trainer(cfgd, text, m, tok, bf16=False)
	rng = random.Random(0)
	data = train_llamo.MotionData()
	bt = Batcher(data, tok, tr.cfg, rng)
	clips = [i for i in data.train if 3 <= data.n[i] <= 10][:4]
	seqs = [bt.t2m("a person walks forward", data.clip(clips[0])), bt.t2m("", data.clip(clips[1])),
		bt.m2t(M2T_PROMPT, data.clip(clips[2]), "An old man waves with the left hand."),
		bt.m2t("Which hand does the person use?", data.clip(clips[3]), "The left hand.")]
	t0 = time.time()
	with torch.no_grad():
		h_bom, h, ids, lat, motion = tr.forward(seqs)
	t_batch = time.time() - t0
	with torch.no_grad():     # the f32 noise floor: the same code, sequence 0 alone instead of in the batch
		_, h0, _, _, _ = tr.forward(seqs[:1])
	n0 = len(seqs[0]["z"])
	floor = float((h[0, :n0] - h0[0, :n0]).norm() / h0[0, :n0].norm())
	# the reference: llamo_ref.LlamoModel with the text weights as imported (F16 -> f32) and the
	# twin merged: W_text + B A (float64 product, rounded to f32)
	ref = llamo_ref.LlamoModel(llamo_ref.Config(cfgd))
	full = {k: v.float() for k, v in sd.items()}
	msd = m.state_dict()
	for i in range(tr.cfg.num_hidden_layers):
		for grp, name in PROJ:
			p = "layers.%d.%s.%s." % (i, grp, name)
			full["motion_model." + p + "weight"] = merge_lora(full["model." + p + "weight"], msd["motion_model." + p + "lora_A"],
									 msd["motion_model." + p + "lora_B"])
	for k, v in msd.items():
		if "lora_" not in k:
			full[k] = v
	missing, unexpected = ref.load_state_dict(full, strict=False)
	missing = [k for k in missing if not k.startswith("vae.")]
	assert not missing and not unexpected, (missing[:3], unexpected[:3])
	worst = 0.0
	t0 = time.time()
	S = len(tr.sys_ids)
	for b, s in enumerate(seqs):
		seq = [("text", tr.sys_ids + s["pre"]), ("motion", s["z"])]
		if s["post_ids"]:
			seq.append(("text", s["post_ids"]))
		with torch.no_grad():
			hr, _ = ref.forward_seq(seq)
		n_post = len(s["z"]) + len(s["post_ids"])
		for what, mine, theirs in (("[BOM]", h_bom[b], hr[S + len(s["pre"]) - 1]),
					   ("post", h[b, :n_post], hr[S + len(s["pre"]):])):
			err = float((mine - theirs).norm() / theirs.norm())
			worst = max(worst, err)
			print("# seq %d (%s, %d latents) %-6s relative error %.2e" % (b, s["kind"], len(s["z"]), what, err))
		if s["kind"] == "m2t":
			k = s["n_ans"]
			lg_r = ref.logits(hr[-k - 1:-1])
			lg_m = F.linear(h[b, n_post - k - 1:n_post - 1], text["emb_lm"])
			err = float((lg_m - lg_r).norm() / lg_r.norm())
			worst = max(worst, err)
			print("# seq %d answer logits relative error %.2e" % (b, err))
	print("# batched forward %.1f s, reference %.1f s; f32 noise floor (sequence 0 alone vs in the batch, "
	      "same code) %.2e" % (t_batch, time.time() - t0, floor))
	# greedy motion to text (--eval's decoder, K/V kept) against llamo_ref.caption_m2t (recomputes all)
	t0 = time.time()
	sq = bt.m2t("Which hand does the person use?", data.clip(clips[3]), "")
	sq["post_ids"] = sq["post_ids"][:-1]
	mine = tr.greedy([sq, seqs[0]], max_new=12)[0]
	suf = tok(bt.m2t_suf.replace("{prompt}", "Which hand does the person use?"))
	theirs, _ = ref.caption_m2t(tr.sys_ids, data.clip(clips[3]), suf, max_new_tokens=12)
	same_greedy = mine == theirs[:len(mine)] and (len(mine) == 12 or len(mine) == len(theirs))
	print("# greedy decoding (batched, K/V kept) %s llamo_ref.caption_m2t: %r (%.1f s)" % (
		"==" if same_greedy else "!=", tok.t.decode(mine), time.time() - t0))
	with torch.no_grad():
		xx, tt, cc = torch.randn(8, 32, generator=g), torch.rand(8, generator=g), torch.randn(8, 256, generator=g)
		for p_ in m.flow_head.parameters():
			p_.add_(torch.randn(p_.shape, generator=g) * 0.02)
		e = float((flow_forward(m.flow_head, xx, tt, cc) - m.flow_head(xx, tt, cc)).abs().max())
	worst_flow = e
	print("# flow_forward vs FlowHead.forward (f32): max |diff| %.2e" % e)
	# the losses run and give gradients to the twin only
	tr.m.zero_grad()
	ls = tr.losses(seqs)
	sum(ls.values()).backward()
	gl = float(sum(p.grad.norm() for n, p in m.named_parameters() if "lora_A" in n and p.grad is not None))
	print("# losses %s; |grad lora_A| %.3g; text weights require grad: %s" % (
		" ".join("%s %.4f" % kv for kv in sorted(ls.items())), gl,
		any(t.requires_grad for t in text["layers"][0].values())))
	ok = worst < 1e-5 and worst_flow < 1e-5 and same_greedy
	print("%s - training forward (batched, LoRA unmerged) vs llamo_ref on merged weights, f32: worst relative "
	      "error %.2e (bound 1e-5); greedy decoding the same ids" % ("ok" if ok else "not ok", worst))
	return 0 if ok else 1


# ---------------------------------------------------------------------------------------------
# Training


def cosine_lr(step, total, base, warm):
	if step < warm:
		return base * (step + 1) / warm
	return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


HEADS = ("motion_adapter.", "motion_projector.", "flow_head.", "exit_head.")
# The paper's Table 1 as train_llamo.py runs it: s1 aligns the adapter and heads with the twin
# frozen (= the text branch); s2 trains everything (the joint stage, the bulk of the steps); s3
# anneals the adapter and heads on text to motion only, backbone frozen.
STAGES = {
	"s1": {"train": HEADS, "mix": MIX, "want": ("flow", "exit", "lm"), "lr": 3e-4, "warmup": 50, "aug": 1.0, "steps": 300},
	"s2": {"train": ("motion_model.",) + HEADS, "mix": MIX, "want": ("flow", "exit", "lm"), "lr": 2e-4, "warmup": 100, "aug": 1.0, "steps": 5200},
	"s3": {"train": HEADS, "mix": {"t2m": 1.0, "caption": 0.0, "question": 0.0}, "want": ("flow", "exit"),
	       "lr": 3e-5, "warmup": 10, "aug": 0.0, "steps": 500},
}


def task_mix(text):
	"""--mix T,C,Q: three shares >= 0 that sum to 1 (argparse type)."""
	try:
		x = tuple(float(v) for v in text.split(","))
	except ValueError:
		x = ()
	if len(x) != 3 or min(x) < 0 or abs(sum(x) - 1) > 1e-6 or not all(math.isfinite(v) for v in x):
		raise argparse.ArgumentTypeError("want three shares >= 0 that sum to 1, e.g. 0.55,0.15,0.3; got %r" % text)
	return x


def param_groups(m, lr, trainable):
	"""The trainable tensors (prefixes `trainable`; the others get requires_grad False): LoRA and
	twin norms at lr, adapter / projector / exit head at 3 lr, the flow head (started from the
	default model's) at 1.5 lr."""
	groups = {"twin": [], "heads": [], "flow": []}
	for n, p in m.named_parameters():
		p.requires_grad = n.startswith(trainable)
		if p.requires_grad:
			groups["flow" if n.startswith("flow_head.") else "twin" if n.startswith("motion_model.") else "heads"].append(p)
	return [g for g in ({"name": "twin", "params": groups["twin"], "base_lr": lr},
			    {"name": "heads", "params": groups["heads"], "base_lr": 3 * lr},
			    {"name": "flow", "params": groups["flow"], "base_lr": 1.5 * lr}) if g["params"]]


def save_ckpt(path, m, opt, step, extra):
	os.makedirs(os.path.dirname(path), exist_ok=True)
	tmp = path + ".part"
	torch.save({"motion": m.state_dict(), "opt": opt.state_dict(), "step": step,
		    "py_rng": extra["rng"].getstate(), "py_global": random.getstate(),
		    "torch_rng": torch.get_rng_state(), "args": extra["args"], "hist": extra["hist"]}, tmp)
	os.replace(tmp, path)


def save_weights(path, m, step, steps, cfgd):
	"""The trained tensors only (F32, ~44 MB at rank 16): what a later session needs to go on
	(optimizer state is lost: --resume-weights restarts AdamW's moments at the saved step); the
	metadata keep the rank and the text to motion layout (layout_of reads them back)."""
	tmp = path + ".part"
	lc = cfgd["llamo"]
	st.save(tmp, {k: v.detach().float().contiguous() for k, v in m.state_dict().items()},
		{"step": step, "steps": steps, "base": "SmolLM2-135M-Instruct", "rank": lc["motion_lora_rank"],
		 "t2m_template": lc["t2m_template"]})
	os.replace(tmp, path)


def layout_of(src):
	"""(rank, t2m_template) of a save_weights file or a checkpoint name under CKPT: the rank from
	the lora_A shapes, the layout from the file's metadata or the run's arguments (None: the
	default layout, as every file written before the option existed)."""
	if src.endswith(".safetensors"):
		sd, meta = st.load(src)
		tmpl = meta.get("t2m_template")
	else:
		d = torch.load(os.path.join(CKPT, src + ".pt"))
		sd, tmpl = d["motion"], d["args"].get("t2m_template")
	rank = next(v.shape[0] for k, v in sd.items() if k.endswith("lora_A"))
	return int(rank), tmpl or None


def t2m_layout(suffix, base=BASE):
	"""The text to motion layout with `suffix` (Python escapes decoded) after {prompt} instead of
	the chat template's end of the user turn and start of the assistant's; None for no suffix."""
	if not suffix:
		return None
	return templates(base)[0].split("{prompt}")[0] + "{prompt}" + suffix.encode().decode("unicode_escape")


def load_motion(m, src):
	"""Loads src into m: a .safetensors file of save_weights (F32, or a BF16 copy of one, upcast
	here), or a checkpoint name under CKPT; returns (its step, the path)."""
	if src.endswith(".safetensors"):
		sd, meta = st.load(src)
		m.load_state_dict({k: v.float() for k, v in sd.items()})
		return int(meta.get("step", 0)), src
	path = os.path.join(CKPT, src + ".pt")
	d = torch.load(path)
	m.load_state_dict(d["motion"])
	return d["step"], path


@torch.no_grad()
def bom_stats(tr, bt, per_pair=8, seed=0):
	"""(mu, inv, spread) of the text branch's final-normed state at [BOM] over per_pair training
	phrasings of captions.py per label pair (fixed seed, so a resumed run gets the same): mu (H) the
	mean, inv (H) 1 / max(deviation, median deviation) per dimension (the floor keeps the motion
	positions, which the projector also reads, from dimensions that barely vary at [BOM]), spread
	the mean squared deviation over the squared mean. Frozen weights only: the same for every stage."""
	r = random.Random(seed)
	prompts = [captions.caption(c, s_, r) for c in range(len(captions.CONTENTS))
		   for s_ in range(len(captions.STYLES)) for _ in range(per_pair)]
	z = torch.zeros(1, tr.cfg.latent_dim)
	h = torch.cat([tr.forward([bt.t2m(p, z) for p in prompts[i:i + 32]])[0].float()
		       for i in range(0, len(prompts), 32)])
	mu, sd = h.mean(0), h.std(0)
	inv = 1.0 / torch.clamp(sd, min=float(sd.median()))
	spread = float((h - mu).pow(2).sum(-1).mean() / mu.pow(2).sum())
	return mu, inv, spread


def sha256(path):
	import hashlib
	with open(path, "rb") as f:
		return hashlib.sha256(f.read()).hexdigest()


def train(a):
	torch.set_num_threads(a.threads)
	rank, tmpl = a.rank or RANK, t2m_layout(a.t2m_suffix)
	src0 = a.resume_weights or a.init or (a.name or a.stage) if (a.resume_weights or a.init or a.resume) else None
	if src0:   # a continuation keeps the shape and the layout of what it starts from
		rank0, tmpl0 = layout_of(src0)
		if (a.rank and a.rank != rank0) or (a.t2m_suffix and tmpl != tmpl0):
			raise SystemExit("train_smol: %s has rank %d and layout %r; --rank / --t2m-suffix disagree" % (src0, rank0, tmpl0))
		rank, tmpl = rank0, tmpl0
	cfgd = make_config(rank=rank, t2m_template=tmpl)
	cfg = llamo_ref.Config(cfgd)
	text, _ = load_text(BASE, torch.float32 if a.f32 else torch.bfloat16)
	tok = Tok()
	torch.manual_seed(a.seed)       # LoRA A's init
	m = Motion(cfg, r=rank)
	src = init_motion(m, text, default_dir=a.flow_init, seed=a.seed)
	train_llamo.MIRROR = a.mirror
	data = train_llamo.MotionData()
	rng = random.Random(a.seed)
	random.seed(a.seed + 10)
	torch.manual_seed(a.seed)
	stage = STAGES[a.stage]
	lr = a.lr or stage["lr"]
	warm = stage["warmup"] if a.warmup is None else a.warmup
	name = a.name or a.stage
	path = os.path.join(CKPT, name + ".pt")
	d = torch.load(path) if a.resume and not a.resume_weights else None
	if d is not None:
		# a resumed run keeps its schedule length, noise augmentation and projector parameterization
		# unless told otherwise
		was = d["args"]
		a.steps = was["steps"] if a.steps is None else a.steps
		a.aug = was["aug"] if a.aug is None else a.aug
		a.standardize_bom = a.standardize_bom or was.get("standardize_bom", False)
	if a.aug is None:
		a.aug = stage["aug"]
	if a.steps is None:
		a.steps = stage["steps"]
	groups = param_groups(m, lr, stage["train"])
	opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
	params = [p for g in groups for p in g["params"]]
	step, hist = 0, []
	vae_sha = sha256(VAE)
	if a.resume_weights:
		step, _ = load_motion(m, a.resume_weights)
		log("resume from weights: %s at step %d (optimizer moments start fresh)" % (a.resume_weights, step))
	elif a.resume:
		m.load_state_dict(d["motion"])
		opt.load_state_dict(d["opt"])
		step, hist = d["step"], d.get("hist", [])
		rng.setstate(d["py_rng"])
		random.setstate(d["py_global"])
		torch.set_rng_state(d["torch_rng"])
		log("resume: %s at step %d" % (path, step))
		if d["args"].get("vae_sha256", vae_sha) != vae_sha:
			log("WARNING: %s changed since this run started (latents and VAE may not match)" % VAE)
	elif a.init:
		_, src = load_motion(m, a.init)
		log("stage %s starts from %s" % (a.stage, src))
	else:
		log("start: flow head from %s; %d trainable tensors, %.2f M parameters (twin LoRA rank %d: %.2f M)" % (
			src, len(params), sum(p.numel() for p in params) / 1e6, rank,
			sum(p.numel() for n, p in m.named_parameters() if "lora_" in n) / 1e6))
	a.vae_sha256 = vae_sha
	a.t2m_template = tmpl
	log("train %s (%s): steps %d (schedule), batch %d, lr %g (%s), aug %g, mirror %s, bf16 %s, %d train clips, "
	    "%d trainable tensors; latents %s, VAE %s sha256 %s; load %s" % (
		a.stage, name, a.steps, a.batch, lr, ", ".join("%s %g" % (g["name"], g["base_lr"]) for g in groups), a.aug,
		a.mirror, not a.f32, len(data.train), len(params), train_llamo.LATENTS, VAE, vae_sha[:12],
		" ".join("%.2f" % x for x in os.getloadavg())))
	tr = Trainer(cfgd, text, m, tok, bf16=not a.f32)
	mix = stage["mix"]
	if a.mix:
		mix = dict(zip(MIX, a.mix))
		log("task mix: text to motion %g, caption %g, question %g (--mix)" % a.mix)
	bt = Batcher(data, tok, cfg, rng, batch=a.batch, mix=mix)
	if a.standardize_bom:
		mu, inv, spread = bom_stats(tr, bt)
		m.motion_projector.standardize(mu, inv)
		log("projector trained on standardized [BOM] states: across-prompt spread %.4f of the squared norm; "
		    "|mu| %.1f, inv %.2f .. %.2f" % (spread, float(mu.norm()), float(inv.min()), float(inv.max())))
	t0 = time.time()
	t_ck = t0
	acc, ntok, npost, t_acc = {}, 0, 0, time.time()
	start = step
	if step >= a.steps:
		log("%s is at step %d of %d already: nothing to train" % (path, step, a.steps))
		if a.weights_out:
			save_weights(a.weights_out, m, step, a.steps, cfgd)
			log("wrote %s (step %d)" % (a.weights_out, step))
	while step < a.steps and (a.stop_at is None or step < a.stop_at):
		for g in opt.param_groups:
			g["lr"] = cosine_lr(step, a.steps, g["base_lr"], warm)
		seqs = bt.sample()
		ls = tr.losses(seqs, aug=a.aug, flow_mul=a.flow_mul, want=stage["want"])
		loss = sum(ls.values())
		opt.zero_grad(set_to_none=True)
		loss.backward()
		torch.nn.utils.clip_grad_norm_(params, 1.0)
		opt.step()
		step += 1
		for k, v in ls.items():
			acc.setdefault(k, []).append(float(v))
		npost += sum(len(s["z"]) + len(s["post_ids"]) for s in seqs)
		ntok += sum(len(tr.sys_ids) + len(s["pre"]) + len(s["z"]) + len(s["post_ids"]) for s in seqs)
		if step % a.log_every == 0 or step == a.steps:
			dt = time.time() - t_acc
			avg = {k: sum(v) / len(v) for k, v in acc.items()}
			hist.append((step, avg))
			log("step %d/%d %s | %.0f trained tok/s (%.0f with the prompts) | %.1f s/step | load %.2f (%.0f s)" % (
				step, a.steps, " ".join("%s %.4f" % kv for kv in sorted(avg.items())), npost / dt, ntok / dt,
				dt / a.log_every, os.getloadavg()[0], time.time() - t0))
			acc, ntok, npost, t_acc = {}, 0, 0, time.time()
		done = time.time() - t0 > a.minutes * 60 or (a.stop_at is not None and step >= a.stop_at)
		if time.time() - t_ck > a.ckpt_minutes * 60 or done or step == a.steps:
			save_ckpt(path, m, opt, step, {"rng": rng, "args": vars(a), "hist": hist})
			if a.weights_out:
				save_weights(a.weights_out, m, step, a.steps, cfgd)
			t_ck = time.time()
			log("checkpoint %s%s (step %d)" % (path, " and " + a.weights_out if a.weights_out else "", step))
		if done:
			log("%s: %d steps this run (%d..%d) in %.0f s" % ("time limit" if a.stop_at is None or step < a.stop_at else "--stop-at",
				step - start, start, step, time.time() - t0))
			break


# ---------------------------------------------------------------------------------------------
# Motion to text on validation clips (Python side, before the C programs can load this model)


def evaluate(a):
	"""Captions (m2t_prompt) and the held-out questions of questions.eval_items on validation clips
	(one per label pair and source, up to --eval-clips), greedy, judged by captions.parse_caption
	(content) and questions.is_correct; prints per kind accuracy and a few answers."""
	torch.set_num_threads(a.threads)
	rank, tmpl = layout_of(a.src)
	cfgd = make_config(rank=rank, t2m_template=tmpl)
	cfg = llamo_ref.Config(cfgd)
	text, _ = load_text(BASE, torch.float32 if a.f32 else torch.bfloat16)
	tok = Tok()
	m = Motion(cfg, r=rank)
	step, path = load_motion(m, a.src)
	train_llamo.MIRROR = False
	data = train_llamo.MotionData()
	tr = Trainer(cfgd, text, m, tok, bf16=not a.f32)
	bt = Batcher(data, tok, cfg, random.Random(0))
	vi = {}
	for i in np.nonzero(data.val)[0]:
		vi.setdefault((int(data.content[i]), int(data.style[i])), i)
	clips = [vi[k] for k in sorted(vi)][:a.eval_clips]
	items = []   # (clip, prompt, kind)
	for i in clips:
		c, s_ = int(data.content[i]), int(data.style[i])
		items.append((i, M2T_PROMPT, "caption"))
		items += [(i, q, k) for q, _, k in questions.eval_items(c, s_)]
	t0 = time.time()
	res = {}
	shown = 0
	for j in range(0, len(items), a.batch):
		chunk = items[j:j + a.batch]
		seqs = [bt.m2t(q, data.clip(i), "") for i, q, _ in chunk]
		for sq in seqs:                # no answer: drop the eos that m2t() put after it
			sq["post_ids"] = sq["post_ids"][:-1]
		outs = tr.greedy(seqs)
		for (i, q, k), o in zip(chunk, outs):
			ans = tok.t.decode(o).strip()
			lab = (int(data.content[i]), int(data.style[i]))
			ok = captions.parse_caption(ans)[0] == lab[0] if k == "caption" else questions.is_correct(k, ans, lab)
			kk = "yesno" if k.startswith("yesno:") else k
			res.setdefault(kk, []).append(ok)
			if shown < a.show:
				shown += 1
				log("eval %s/%s %s: %r -> %r (%s)" % (CONTENTS_[lab[0]], STYLES_[lab[1]], k, q, ans, "right" if ok else "wrong"))
	allq = [x for k, v in res.items() if k != "caption" for x in v]
	log("eval %s (step %d), %d validation clips, %.0f s: caption content %.3f (%d); questions %.3f (%d): %s" % (
		path, step, len(clips), time.time() - t0, np.mean(res.get("caption", [0])), len(res.get("caption", [])),
		np.mean(allq) if allq else 0, len(allq),
		" ".join("%s %.2f" % (k, np.mean(v)) for k, v in sorted(res.items()) if k != "caption")))


CONTENTS_, STYLES_ = captions.CONTENTS, captions.STYLES


# ---------------------------------------------------------------------------------------------
# Export


def export(a):
	rank, tmpl = layout_of(a.src)
	cfgd = make_config(rank=rank, t2m_template=tmpl)
	cfg = llamo_ref.Config(cfgd)
	m = Motion(cfg, r=rank)
	step, path = load_motion(m, a.src)
	dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.dtype]
	tensors = {k: v.detach().to(dt) for k, v in m.state_dict().items()}
	vae, _ = st.load(VAE)
	norm = {"mean": vae.pop("mean").float(), "std": vae.pop("std").float()}
	tensors.update({k: v.to(dt) for k, v in vae.items()})
	lc = dict(cfgd["llamo"])
	lc["flow_head"] = dict(lc["flow_head"], guidance_scale=a.scale)
	out = os.path.abspath(a.export)
	save_motion_dir(out, tensors, lc, BASE, norm, SKELETON)
	if os.path.exists(CARD):
		shutil.copyfile(CARD, os.path.join(out, "README.md"))
	# read back: every tensor as written, nothing of the text branch
	back, _ = st.load(os.path.join(out, "model.safetensors"))
	assert set(back) == set(tensors), "export: tensors differ"
	assert not any(k.startswith("model.") for k in back)
	worst = max(float((back[k].float() - tensors[k].float()).abs().max()) for k in tensors)
	log("export: %s from %s (step %d), %d tensors, %.1f MB, read back max |diff| %.2e, base_model %s" % (
		out, path, step, len(back), os.path.getsize(os.path.join(out, "model.safetensors")) / 1e6, worst,
		read_json(os.path.join(out, "config.json"))["llamo"].get("base_model")))


def main():
	global LOG
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--check", action="store_true", help="training forward against llamo_ref (f32) and exit")
	ap.add_argument("--export", metavar="DIR", help="write a model directory from the checkpoint (with runs/smol/model-card.md as its README.md) and exit")
	ap.add_argument("--scale", type=float, default=3.0, help="--export: guidance scale written")
	ap.add_argument("--eval", action="store_true", help="motion to text on validation clips: captions and held-out "
			"questions, greedy, judged (checkpoint --from)")
	ap.add_argument("--eval-clips", type=int, default=70, help="--eval: validation clips (one per label pair)")
	ap.add_argument("--show", type=int, default=12, help="--eval: answers printed")
	ap.add_argument("--stage", default="s2", choices=sorted(STAGES), help="s1 heads only, s2 joint (default), s3 head annealing")
	ap.add_argument("--name", help="checkpoint name under $LLAMO_SMOL_CKPT (/tmp/llamo-smol); default the stage")
	ap.add_argument("--init", metavar="SRC", help="start this stage from a checkpoint name or a --weights-out file (step 0)")
	ap.add_argument("--from", dest="src", default="s3", metavar="SRC", help="--export: checkpoint name or weights file (default s3)")
	ap.add_argument("--resume", action="store_true", help="continue the checkpoint (weights, optimizer, step, rngs)")
	ap.add_argument("--weights-out", metavar="FILE", help="also write the trained tensors (F32 safetensors) at every checkpoint")
	ap.add_argument("--resume-weights", metavar="FILE", help="continue from such a file at its step (fresh optimizer): "
			"another machine, without the /tmp checkpoint")
	ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"], help="--export: dtype of the motion-side tensors")
	ap.add_argument("--steps", type=int, help="the stage's total steps, the cosine schedule's length (default s1 300, s2 5200, s3 500)")
	ap.add_argument("--minutes", type=float, default=1e9, help="stop this run after so many minutes (checkpointed)")
	ap.add_argument("--stop-at", type=int, metavar="STEP", help="stop this run at this step of the schedule (checkpointed), "
		"e.g. to continue it with other data (--resume without --mirror)")
	ap.add_argument("--ckpt-minutes", type=float, default=5.0)
	ap.add_argument("--batch", type=int, default=16)
	ap.add_argument("--mix", type=task_mix, metavar="T,C,Q", help="the shares of text to motion, caption and question "
			"sequences in a batch (default s1, s2 %s; s3 text to motion only); give it again with --resume" %
			",".join("%g" % v for v in MIX.values()))
	ap.add_argument("--rank", type=int, help="a new run: the twin's LoRA rank (default %d; a continuation keeps its source's)" % RANK)
	ap.add_argument("--t2m-suffix", help="a new run: the text after {prompt} in the text to motion layout instead of the "
			"chat template's '<|im_end|>\\n<|im_start|>assistant\\n' (Python escapes decoded; kept with the weights)")
	ap.add_argument("--lr", type=float, help="base rate (default per stage: s1 3e-4, s2 2e-4, s3 3e-5)")
	ap.add_argument("--warmup", type=int, help="default per stage: 50, 100, 10")
	ap.add_argument("--aug", type=float, help="noise augmentation of the motion history, max sigma (default per stage: 1, 1, 0)")
	ap.add_argument("--flow-mul", type=int, default=4, help="flow-loss noise draws per latent")
	ap.add_argument("--mirror", action="store_true", help="also the mirrored clips with mirrored labels")
	ap.add_argument("--flow-init", default=DEFAULT, metavar="DIR", help="start the flow head from this model directory's where the shapes match (default models/default)")
	ap.add_argument("--standardize-bom", action="store_true",
			help="train the projector's first layer on [BOM] states standardized over training captions "
			     "(folded into it when saved: the files and the model are unchanged)")
	ap.add_argument("--seed", type=int, default=31)
	ap.add_argument("--threads", type=int, default=1)
	ap.add_argument("--f32", action="store_true", help="no bf16 autocast (frozen weights in f32)")
	ap.add_argument("--log-every", type=int, default=10)
	ap.add_argument("--log", default=LOG, help="log file (default train/runs/smol/log.txt; '' for none)")
	a = ap.parse_args()
	if a.mix and a.stage == "s3":
		ap.error("--mix: s3 trains on text to motion only")
	LOG = a.log
	torch.set_num_threads(a.threads)
	if a.check:
		LOG = None
		sys.exit(check(a))
	if a.export:
		export(a)
		return
	if a.eval:
		evaluate(a)
		return
	train(a)


if __name__ == "__main__":
	main()
