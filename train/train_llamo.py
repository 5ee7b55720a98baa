"""train_llamo.py: trains the default llamo model on Bandai-Namco (issue 3) with the paper's recipe,
scaled to a 2-core CPU, on top of llamo_ref.py's modules (their math unchanged).

    /usr/bin/python3 train_llamo.py --stage all          # tok, lm, s1, s2, s3, export (the recipe, RECIPE)
    /usr/bin/python3 train_llamo.py --stage s2 --minutes 20

Stages (checkpoints in /tmp/llamo-train/llamo/, log and loss curves in runs/llamo/):
  tok     byte-level BPE tokenizer (Llama 3 layout, make_tokenizer.py's pipeline) trained on the
          training captions (captions.py, training templates only) plus make_tokenizer's general
          English; vocabulary 1024.
  lm      no pretrained LLM can be downloaded: the text branch (`model.*`, a small Llama) is
          pretrained as a language model on captions, in the layouts the model sees with a
          paraphrase standing in for the motion (lm_batch), so that it learns to read the
          motion slot and the prompt in context. Then frozen.
  s1      the motion twin is initialised from the text branch; adapter, projector, flow head and
          exit head are trained, the whole backbone frozen (paper Table 1, stage 1); text to
          motion : motion to text = 0.8 : 0.2.
  s2      joint: text to motion (flow matching + exit) : motion to text (next token on the caption)
          = 0.8 : 0.2 per batch; the motion branch, adapter and heads trained, the text branch
          frozen; caption dropout 10% (the prompt replaced by the empty prompt); noise
          augmentation of the motion history (losses(), --aug).
  conditioning  teacher-forced check that the conditions are used (conditioning_check).
  s3      head annealing: backbone frozen, adapter/projector/flow/exit heads at a lower learning
          rate decaying to 0.
  export  models/default (BF16 weights), with the VAE and normalization of train/runs/vae.
  frombundled  a trained model directory (--from-dir) as checkpoint "bundled" (then s2 / s3
          --init bundled), or with --text-only its text branch alone as checkpoint "lm" (then s1
          to s3 rebuild the twin and the heads on new latents; issue 10).

Sequences follow docs/model-format.md 4.6 / 4.7: t2m = tok(t2m_template % caption) [BOM] z_0..z_{n-1}
[EOM]: the state at [BOM] predicts z_0, the state at z_{j-1} predicts z_j (flow loss); the exit
head reads the same states and is trained to 1 at the state after z_{n-1} and 0 at the states
after z_0..z_{n-2}. m2t = tok(prefix) [BOM] z.. [EOM] tok(suffix) tok(" " + caption) <eot>, with
the LM loss on the caption tokens and <eot>. Whole clips are used (at most 116 latents = 15.5 s
in this data; batches are bucketed by length, so there is little padding).

Flow matching (rectified flow as 4.3): x_t = (1 - t) noise + t z, target velocity z - noise,
t logit-normal(0, 1). Latents are the VAE encoder means (train_vae.py writes them).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import captions  # noqa: E402
import make_model  # noqa: E402
import make_tokenizer  # noqa: E402
import st  # noqa: E402
from llamo_ref import Config, LlamoModel, rope_cos_sin  # noqa: E402

WORK = os.environ.get("LLAMO_WORK", "/tmp/llamo-train")
CKPT = os.environ.get("LLAMO_CKPT", os.path.join(WORK, "llamo"))
RUN = os.environ.get("LLAMO_RUN", os.path.join(HERE, "runs", "llamo"))
LATENTS = os.environ.get("LLAMO_LATENTS", os.path.join(WORK, "latents.npz"))
VAE = os.environ.get("LLAMO_VAE", os.path.join(HERE, "runs", "vae", "vae.safetensors"))
TOKENIZER = os.path.join(CKPT, "tokenizer.json")
OUT = os.path.join(ROOT, "models", "default")
SKELETON = os.path.join(ROOT, "tests", "data", "skeleton_bn.bvh")

SIZES = {
	"vocab": 1024, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
	"num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
	"adapter": 256, "projector": 256, "condition": 256, "flow_width": 512, "flow_depth": 3,
	"exit_hidden": 128, "vae_width": 256,
}


def log(msg):
	os.makedirs(RUN, exist_ok=True)
	line = time.strftime("%H:%M:%S ") + msg
	print(line, flush=True)
	with open(os.path.join(RUN, "log.txt"), "a") as f:
		f.write(line + "\n")


# ---------------------------------------------------------------------------------------------
# Tokenizer


def tokenizer_corpus(seed=1234):
	rng = random.Random(seed)
	out = [captions.caption(c, s, rng) for _ in range(150) for c in range(10) for s in range(7)]
	out += ["Caption: " + x for x in out[:2000]]
	out += make_tokenizer.general_sentences(random.Random(seed), 3000)
	return out


def build_tokenizer(path, vocab):
	from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
	tok = Tokenizer(models.BPE(ignore_merges=True, byte_fallback=False))
	tok.pre_tokenizer = pre_tokenizers.Sequence([
		pre_tokenizers.Split(Regex(make_tokenizer.LLAMA3_REGEX), behavior="isolated", invert=False),
		pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
	])
	tok.decoder = decoders.ByteLevel()
	trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=make_tokenizer.SPECIALS,
				      show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
				      min_frequency=1)
	tok.train_from_iterator(tokenizer_corpus(), trainer)
	tok.post_processor = processors.Sequence([
		processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
		processors.TemplateProcessing(single="<|begin_of_text|> $A",
					      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
					      special_tokens=[("<|begin_of_text|>", 0)]),
	])
	os.makedirs(os.path.dirname(path), exist_ok=True)
	make_tokenizer.save(tok, path)


class Tok:
	def __init__(self, path=TOKENIZER):
		from tokenizers import Tokenizer
		self.t = Tokenizer.from_file(path)
		self.cache = {}

	def __call__(self, text):
		ids = self.cache.get(text)
		if ids is None:
			ids = self.t.encode(text, add_special_tokens=False).ids
			self.cache[text] = ids
		return ids


# ---------------------------------------------------------------------------------------------
# Config and model


def make_config(vocab):
	"""make_model.BASE_CONFIG (the tiny test model's config) with the sizes of SIZES."""
	s = SIZES
	return make_model.merge(make_model.BASE_CONFIG, {
		"vocab_size": vocab, "hidden_size": s["hidden_size"], "intermediate_size": s["intermediate_size"],
		"num_hidden_layers": s["num_hidden_layers"], "num_attention_heads": s["num_attention_heads"],
		"num_key_value_heads": s["num_key_value_heads"], "head_dim": s["head_dim"],
		"llamo": {
			"adapter_hidden_size": s["adapter"], "projector_hidden_size": s["projector"],
			"condition_size": s["condition"],
			"flow_head": {"width": s["flow_width"], "depth": s["flow_depth"]},
			"exit_head": {"hidden_size": s["exit_hidden"]},
			"vae": {"width": s["vae_width"]},
			"max_motion_tokens": 116,
		},
	})


def init_model(cfgd, seed=0):
	"""HF Llama-style init: N(0, 0.02) linears/embeddings, norms 1, biases 0; flow head as MAR
	(adaLN modulations and the final linear zero, so the head starts as velocity 0)."""
	torch.manual_seed(seed)
	m = LlamoModel(Config(cfgd))
	with torch.no_grad():
		for name, p in m.named_parameters():
			if name.startswith("vae."):
				continue
			if p.dim() >= 2:
				torch.nn.init.normal_(p, 0.0, 0.02)
			elif "norm" in name or "_ln" in name:
				p.fill_(1.0)
			else:
				p.zero_()
		for n_, p in m.flow_head.named_parameters():
			if p.dim() >= 2 and not ("adaLN" in n_ or "final_layer.linear" in n_):
				torch.nn.init.xavier_uniform_(p)
			if "adaLN_modulation" in n_ or "final_layer.linear" in n_:
				p.zero_()
		torch.nn.init.normal_(m.flow_head.time_embed.mlp[0].weight, 0, 0.02)
		torch.nn.init.normal_(m.flow_head.time_embed.mlp[2].weight, 0, 0.02)
	return m


# ---------------------------------------------------------------------------------------------
# Batched MoT forward: the computation of llamo_ref.layer_forward for a batch of right-padded
# sequences (padding sits after every real position, so the causal mask hides it).


def _branch(x, ti, mi, ft, fm):
	"""x (N, D) rows; ti, mi: row indices of text / motion rows."""
	if mi.numel() == 0:
		return ft(x)
	yt, ym = ft(x[ti]), fm(x[mi])
	y = x.new_zeros((x.shape[0], yt.shape[1]))
	return y.index_copy(0, ti, yt).index_copy(0, mi, ym)


def batch_forward(model, ids, lat, motion):
	"""ids (B, T) long (any id at motion rows), lat (B, T, L) (zeros at text rows), motion (B, T)
	bool -> final-normed states (B, T, H)."""
	cfg = model.cfg
	B, T = ids.shape
	H, nh, nkv, hd = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
	mflat = motion.reshape(-1)
	ti = (~mflat).nonzero().squeeze(1)
	mi = mflat.nonzero().squeeze(1)
	x = model.model.embed_tokens.weight[ids.reshape(-1)]
	if mi.numel():
		za = model.motion_adapter(lat.reshape(-1, cfg.latent_dim)[mi])
		x = x.index_copy(0, mi, za)
	cos, sin = rope_cos_sin(model.inv_freq, T)
	mask = torch.full((T, T), float("-inf")).triu(1)
	for lt, lm in zip(model.model.layers, model.motion_model.layers):
		a = _branch(x, ti, mi, lt.input_layernorm, lm.input_layernorm)
		q = _branch(a, ti, mi, lt.self_attn.q_proj, lm.self_attn.q_proj).view(B, T, nh, hd).transpose(1, 2)
		k = _branch(a, ti, mi, lt.self_attn.k_proj, lm.self_attn.k_proj).view(B, T, nkv, hd).transpose(1, 2)
		v = _branch(a, ti, mi, lt.self_attn.v_proj, lm.self_attn.v_proj).view(B, T, nkv, hd).transpose(1, 2)
		q = q * cos + torch.cat((-q[..., hd // 2:], q[..., :hd // 2]), -1) * sin
		k = k * cos + torch.cat((-k[..., hd // 2:], k[..., :hd // 2]), -1) * sin
		rep = nh // nkv
		k = k.repeat_interleave(rep, dim=1)
		v = v.repeat_interleave(rep, dim=1)
		p = torch.softmax(q @ k.transpose(2, 3) * hd ** -0.5 + mask, -1)
		o = (p @ v).transpose(1, 2).reshape(B * T, nh * hd)
		x = x + _branch(o, ti, mi, lt.self_attn.o_proj, lm.self_attn.o_proj)
		b = _branch(x, ti, mi, lt.post_attention_layernorm, lm.post_attention_layernorm)
		x = x + _branch(b, ti, mi, lt.mlp, lm.mlp)
	h = _branch(x, ti, mi, model.model.norm, model.motion_model.norm)
	return h.view(B, T, H)


# ---------------------------------------------------------------------------------------------
# Data


MIRROR = False  # --mirror: also the mirrored training clips, with mirrored labels (issue 10)


class MotionData:
	"""Latents (VAE encoder means) and labels of every clip, split as dataset.py. With MIRROR, the
	mirrored clips (augment.py; their latents in LATENTS with _mirror, written by train_vae.py
	--mirror) follow the originals, labelled augment.MIRROR_CONTENT (wave-left-hand <->
	wave-right-hand, turns, raises); only their training takes are used."""

	def __init__(self):
		z = np.load(LATENTS)
		self.lat, self.off = torch.from_numpy(z["latents"].astype(np.float32)), z["offsets"]
		lab = np.load(os.path.join(WORK, "features.npz"))
		self.content, self.style, self.val = lab["content"], lab["style"], lab["val"]
		if MIRROR:
			import augment
			zm = np.load(LATENTS[:-4] + "_mirror.npz")
			assert np.array_equal(zm["offsets"], self.off), "mirrored latents do not match the clips"
			self.lat = torch.cat([self.lat, torch.from_numpy(zm["latents"].astype(np.float32))])
			self.off = np.concatenate([self.off, self.off[1:] + self.off[-1]])
			self.content = np.concatenate([self.content, augment.MIRROR_CONTENT_IDX[self.content]])
			self.style = np.concatenate([self.style, self.style])
			self.val = np.concatenate([self.val, self.val])
		self.n = np.diff(self.off)
		self.train = [i for i in np.nonzero(~self.val)[0] if self.n[i] >= 1]

	def clip(self, i):
		return self.lat[self.off[i]:self.off[i + 1]]


def pad_batch(seqs, L):
	"""seqs: lists of segments ("text", ids) / ("motion", z (n, L)) -> ids, lat, motion (B, T)."""
	T = max(sum(len(v) for _, v in s) for s in seqs)
	B = len(seqs)
	ids = torch.zeros(B, T, dtype=torch.long)
	lat = torch.zeros(B, T, L)
	motion = torch.zeros(B, T, dtype=torch.bool)
	valid = torch.zeros(B, T, dtype=torch.bool)
	for b, s in enumerate(seqs):
		p = 0
		for kind, v in s:
			n = len(v)
			if kind == "text":
				ids[b, p:p + n] = torch.as_tensor(v)
			else:
				lat[b, p:p + n] = v
				motion[b, p:p + n] = True
			valid[b, p:p + n] = True
			p += n
	return ids, lat, motion, valid


class Batcher:
	"""Length-bucketed batches of training clips: each batch draws clips of similar length."""

	def __init__(self, data, tok, cfg, rng, batch=32, m2t_frac=0.2, dropout=0.1):
		self.d, self.tok, self.cfg, self.rng = data, tok, cfg, rng
		self.batch, self.m2t_frac, self.dropout = batch, m2t_frac, dropout
		self.order = sorted(data.train, key=lambda i: data.n[i])
		self.pre, self.suf = cfg.m2t_template.split("{motion}")

	def sample(self):
		r = self.rng
		start = r.randrange(0, max(1, len(self.order) - self.batch))
		clips = self.order[start:start + self.batch]
		cfg, tok = self.cfg, self.tok
		seqs, metas = [], []
		for i in clips:
			z = self.d.clip(i)
			c, s = int(self.d.content[i]), int(self.d.style[i])
			cap = captions.caption(c, s, r)
			if r.random() < self.m2t_frac:
				head = tok(self.pre) + [cfg.bom_token_id]
				tail = [cfg.eom_token_id] + tok(self.suf)
				capids = tok(" " + cap) + [4]
				seqs.append([("text", head), ("motion", z), ("text", tail + capids)])
				metas.append(("m2t", len(head), len(z), len(head) + len(z) + len(tail), len(capids)))
			else:
				prompt = "" if r.random() < self.dropout else cap
				head = tok(cfg.t2m_template.replace("{prompt}", prompt)) + [cfg.bom_token_id]
				seqs.append([("text", head), ("motion", z), ("text", [cfg.eom_token_id])])
				metas.append(("t2m", len(head), len(z), 0, 0))
		return seqs, metas


def losses(model, seqs, metas, flow_mul=1, exit_pos_weight=4.0, want=("flow", "exit", "lm"), aug=0.0):
	"""Flow-matching, exit and caption LM losses of a batch (see the module doc).
	aug > 0: noise augmentation of the motion history in text to motion: half of the t2m
	sequences see their input latents (the adapter's input, not the flow targets) plus
	sigma * N(0, 1), sigma ~ U(0, aug), so that the next latent cannot be read off the history
	alone and the prompt must carry the content (as in cascaded and autoregressive diffusion)."""
	cfg = model.cfg
	ids, lat, motion, _ = pad_batch(seqs, cfg.latent_dim)
	lat_in = lat
	if aug > 0:
		sig = torch.tensor([aug * random.random() if (m[0] == "t2m" and random.random() < 0.5) else 0.0
				    for m in metas])
		lat_in = lat + sig[:, None, None] * torch.randn_like(lat) * motion[..., None]
	h = batch_forward(model, ids, lat_in, motion)
	fb, fp, fz, eb, ep, ey, lb, lp, ly = [], [], [], [], [], [], [], [], []
	for b, (kind, hl, n, cs, cn) in enumerate(metas):
		if kind == "t2m":
			pos = torch.arange(hl - 1, hl - 1 + n)          # [BOM] .. z_{n-2}: predict z_0 .. z_{n-1}
			fb.append(torch.full((n,), b)); fp.append(pos); fz.append(lat[b, hl:hl + n])
			epos = torch.arange(hl, hl + n)                   # states after z_0 .. z_{n-1}
			eb.append(torch.full((n,), b)); ep.append(epos)
			y = torch.zeros(n); y[-1] = 1
			ey.append(y)
		else:
			pos = torch.arange(cs - 1, cs - 1 + cn)           # predict the caption tokens and eot
			lb.append(torch.full((cn,), b)); lp.append(pos); ly.append(ids[b, cs:cs + cn])
	out = {}
	if fb and "flow" in want:
		hb = h[torch.cat(fb), torch.cat(fp)]
		z = torch.cat(fz)
		c = model.motion_projector(hb)
		if flow_mul > 1:
			c, z = c.repeat(flow_mul, 1), z.repeat(flow_mul, 1)
		t = torch.sigmoid(torch.randn(z.shape[0]))
		noise = torch.randn_like(z)
		xt = (1 - t[:, None]) * noise + t[:, None] * z
		v = model.flow_head(xt, t, c)
		out["flow"] = F.mse_loss(v, z - noise)
	if eb and "exit" in want:
		he = h[torch.cat(eb), torch.cat(ep)]
		x = he
		for i, l in enumerate(model.exit_head.layers):
			x = l(x)
			if i + 1 < len(model.exit_head.layers):
				x = F.silu(x)
		y = torch.cat(ey)
		out["exit"] = F.binary_cross_entropy_with_logits(x.squeeze(-1), y,
								 pos_weight=torch.tensor(exit_pos_weight))
	if lb and "lm" in want:
		hl_ = h[torch.cat(lb), torch.cat(lp)]
		out["lm"] = F.cross_entropy(model.logits(hl_), torch.cat(ly))
	return out


# ---------------------------------------------------------------------------------------------
# Stages


def lm_batch(tok, cfg, rng, B):
	"""Text-branch pretraining batch: (ids, targets) of B caption sequences in three layouts,
	LM loss on every token after <bot>:
	  plain  "<bot>{A}<eot>"                          the prompt of text to motion
	  t2m    "<bot>{A}<bom>{B}<eom>"                  a paraphrase B stands where the motion goes
	  m2t    "<bot><bom>{A}<eom>Caption: {B}<eot>"    the caption B restates what sits in the slot
	A and B are independent phrasings of one (content, style) pair, so predicting B means reading
	the labels out of A: the frozen text branch learns to look into the motion slot (m2t) and the
	motion twin, initialised from it, starts out looking back at the prompt (t2m)."""
	seqs = []
	pre, suf = cfg.m2t_template.split("{motion}")
	bom, eom, eot = cfg.bom_token_id, cfg.eom_token_id, 4
	for _ in range(B):
		c, s = rng.randrange(10), rng.randrange(7)
		a, b = captions.caption(c, s, rng), captions.caption(c, s, rng)
		u = rng.random()
		if u < 0.3:
			ids = tok(cfg.t2m_template.replace("{prompt}", a)) + [eot]
		elif u < 0.65:
			ids = tok(cfg.t2m_template.replace("{prompt}", a)) + [bom] + tok(" " + b) + [eom]
		else:
			ids = tok(pre) + [bom] + tok(" " + a) + [eom] + tok(suf) + tok(" " + b) + [eot]
		seqs.append(ids)
	T = max(len(s) for s in seqs)
	ids = torch.zeros(B, T, dtype=torch.long)
	tgt = torch.full((B, T), -100, dtype=torch.long)
	for b, s in enumerate(seqs):
		ids[b, :len(s)] = torch.as_tensor(s)
		tgt[b, :len(s) - 1] = torch.as_tensor(s[1:])
	return ids, tgt


def cosine_lr(step, total, base, warm=100):
	if step < warm:
		return base * (step + 1) / warm
	return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def save_ckpt(model, name, hist, extra=None):
	"""Writes CKPT/name.pt (every non-VAE tensor, the loss history) whole or not at all: a run
	killed while saving leaves no truncated checkpoint for runs/vae10/rebuild.sh to take as done."""
	os.makedirs(CKPT, exist_ok=True)
	path = os.path.join(CKPT, name + ".pt")
	torch.save({"state": {k: v for k, v in model.state_dict().items() if not k.startswith("vae.")},
		    "hist": hist, "extra": extra or {}}, path + ".part")
	os.replace(path + ".part", path)
	with open(os.path.join(RUN, "hist_%s.json" % name), "w") as f:
		json.dump(hist, f)


def load_ckpt(model, name):
	d = torch.load(os.path.join(CKPT, name + ".pt"))
	model.load_state_dict(d["state"], strict=False)
	return d


def stage_lm(model, tok, a):
	cfg = model.cfg
	rng = random.Random(11)
	torch.manual_seed(11)
	params = list(model.model.parameters())

	def step(_):
		ids, tgt = lm_batch(tok, cfg, rng, 64)
		motion = torch.zeros_like(ids, dtype=torch.bool)
		h = batch_forward(model, ids, torch.zeros(*ids.shape, cfg.latent_dim), motion)
		return {"lm": F.cross_entropy(model.logits(h).view(-1, cfg.vocab_size), tgt.view(-1), ignore_index=-100)}
	groups = [{"params": params, "base_lr": 1e-3, "lr": 1e-3}]
	return run_steps("lm", groups, params, step, a.minutes, a.steps or 1500, 100)


def freeze(model, trainable):
	for n, p in model.named_parameters():
		p.requires_grad = any(n.startswith(t) for t in trainable)
	return [p for p in model.parameters() if p.requires_grad]


HEADS = ("motion_adapter.", "motion_projector.", "flow_head.", "exit_head.")


def stage_motion(name, model, tok, a, trainable, lr, head_lr=None, warm=100, want=("flow", "exit", "lm"),
		 m2t_frac=0.2, aug=0.0, reseed=0):
	data = MotionData()
	seed = {"s1": 21, "s2": 22, "s3": 23}[name] + 100 * reseed   # reseed: a continuation draws new batches
	rng = random.Random(seed)
	random.seed(seed + 10)
	torch.manual_seed(seed)
	bt = Batcher(data, tok, model.cfg, rng, batch=a.batch, m2t_frac=m2t_frac)
	freeze(model, trainable)
	groups = []
	for t in trainable:
		ps = [p for n, p in model.named_parameters() if n.startswith(t)]
		base = head_lr if (head_lr and t in HEADS) else lr
		groups.append({"params": ps, "base_lr": base, "lr": base})
	params = [p for g in groups for p in g["params"]]

	def step(_):
		seqs, metas = bt.sample()
		return losses(model, seqs, metas, flow_mul=a.flow_mul, want=want, aug=aug)

	return run_steps(name, groups, params, step, a.minutes, a.steps or 3000, warm)


def run_steps(name, groups, params, step_fn, minutes, max_steps, warm):
	"""AdamW over groups ({"params", "base_lr"}) for max_steps or `minutes` of wall time (the
	cosine schedule is laid out over max_steps); returns the loss history [(step, {name: mean})]."""
	opt = torch.optim.AdamW(groups, betas=(0.9, 0.95), weight_decay=0.0)
	hist, t0, acc = [], time.time(), {}
	step = 0
	for step in range(max_steps):
		for g in opt.param_groups:
			g["lr"] = cosine_lr(step, max_steps, g["base_lr"], warm)
		ls = step_fn(step)
		loss = sum(ls.values())
		opt.zero_grad(set_to_none=True)
		loss.backward()
		torch.nn.utils.clip_grad_norm_(params, 1.0)
		opt.step()
		for k, v in ls.items():
			acc.setdefault(k, []).append(float(v))
		if (step + 1) % 25 == 0 or step + 1 == max_steps:
			avg = {k: sum(v) / len(v) for k, v in acc.items()}
			hist.append((step + 1, avg))
			acc = {}
			log("%s step %d/%d %s (%.0f s)" % (name, step + 1, max_steps,
						       " ".join("%s %.4f" % kv for kv in sorted(avg.items())),
						       time.time() - t0))
		if time.time() - t0 > minutes * 60:
			log("%s: time limit after %d steps" % (name, step + 1))
			break
	log("%s: %d steps in %.0f s" % (name, step + 1, time.time() - t0))
	return hist


def plot(names):
	import matplotlib
	matplotlib.use("Agg")
	import matplotlib.pyplot as plt
	fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5))
	for ax, n in zip(np.atleast_1d(axes), names):
		p = os.path.join(RUN, "hist_%s.json" % n)
		if not os.path.exists(p):
			continue
		hist = json.load(open(p))
		keys = sorted({k for _, d in hist for k in d})
		for k in keys:
			xs = [s for s, d in hist if k in d]
			ax.plot(xs, [d[k] for s, d in hist if k in d], label=k)
		ax.set_title(n)
		ax.set_xlabel("step")
		ax.set_yscale("log")
		ax.legend()
	fig.tight_layout()
	fig.savefig(os.path.join(RUN, "loss.png"), dpi=80)


# ---------------------------------------------------------------------------------------------
# Export and the guidance check


def latest_ckpt():
	for n in ("s3c", "s4", "s3", "s2", "s1"):
		if os.path.exists(os.path.join(CKPT, n + ".pt")):
			return n
	raise SystemExit("train_llamo: no checkpoint of s1/s2/s3 yet")


def export(out, ckpt, scale, dtype=torch.bfloat16, readme=None):
	"""Writes the model directory: the backbone and heads of checkpoint `ckpt`, the VAE and the
	normalization of train/runs/vae, the tokenizer, the Bandai-Namco skeleton."""
	vae, _ = st.load(VAE)
	SIZES["vae_width"] = int(vae["vae.encoder.conv_in.weight"].shape[0])
	model, tk = new_model()
	load_ckpt(model, ckpt)
	with torch.no_grad():
		model.mean = vae.pop("mean").float()
		model.std = vae.pop("std").float()
		sd = {k: v.float() for k, v in vae.items()}
		missing = set(k for k in model.state_dict() if k.startswith("vae.")) - set(sd)
		if missing:
			raise SystemExit("train_llamo: %s lacks %s" % (VAE, sorted(missing)[:3]))
		model.load_state_dict(sd, strict=False)
	model.cfg.raw["llamo"]["flow_head"]["guidance_scale"] = scale
	model.cfg.guidance_scale = scale
	model.tokenizer_path = TOKENIZER
	model.skeleton_path = SKELETON
	model.save_dir(out, dtype, readme)
	return model


def pooled(z):
	"""Clip descriptor for the quick guidance check: mean, std, first and last latent, length."""
	z = torch.as_tensor(z, dtype=torch.float32)
	return torch.cat([z.mean(0), z.std(0) if len(z) > 1 else torch.zeros(z.shape[1]), z[0], z[-1],
			  torch.tensor([len(z) / 30.0])])


def latent_classifier(data):
	"""A small MLP on pooled latents -> (content, style) logits, trained on the training clips."""
	torch.manual_seed(5)
	X = torch.stack([pooled(data.clip(i)) for i in data.train])
	yc = torch.as_tensor(data.content[data.train])
	ys = torch.as_tensor(data.style[data.train])
	mu, sd = X.mean(0), X.std(0) + 1e-6
	net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, 17))
	opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=0.05)
	for _ in range(600):
		o = net((X - mu) / sd)
		loss = F.cross_entropy(o[:, :10], yc) + F.cross_entropy(o[:, 10:], ys)
		opt.zero_grad()
		loss.backward()
		opt.step()
	vi = [i for i in np.nonzero(data.val)[0] if data.n[i] >= 1]
	with torch.no_grad():
		o = net((torch.stack([pooled(data.clip(i)) for i in vi]) - mu) / sd)
	acc = (float((o[:, :10].argmax(1).numpy() == data.content[vi]).mean()),
	       float((o[:, 10:].argmax(1).numpy() == data.style[vi]).mean()))
	return (lambda zs: net((torch.stack([pooled(z) for z in zs]) - mu) / sd)), acc


def read_latent_streams(raw):
	"""framedump JSON lines -> {stream: (n, L) array}."""
	out = {}
	for line in raw.splitlines():
		d = json.loads(line)
		if d.get("type") == "latent":
			out.setdefault(d["stream"], []).extend(d["data"])
	return {k: np.array(v, np.float32) for k, v in out.items()}


def guidance_check(ckpt, scales, per_pair=2):
	"""Generates per_pair prompts of every (content, style) pair with the C programs at each
	scale and scores them with the latent classifier; returns {scale: (content acc, style acc,
	stop fraction)} and the classifier's accuracy on real validation clips."""
	import subprocess
	data = MotionData()
	clf, real = latent_classifier(data)
	log("guidance check: latent classifier on real validation clips: content %.3f style %.3f" % real)
	cand = os.path.join(CKPT, "cand")
	export(cand, ckpt, 1.0)
	prompts, labels = [], []
	for c in range(10):
		for s in range(7):
			for p in captions.eval_prompts(c, s)[:per_pair]:
				prompts.append(p)
				labels.append((c, s))
	res = {}
	maxn = int(data.n.max())
	for scale in scales:
		t0 = time.time()
		r = subprocess.run("%s/bin/llamo-t2m -m %s --cfg %g --seed 1 | %s/bin/framedump" % (ROOT, cand, scale, ROOT),
				   shell=True, input="\n".join(prompts) + "\n", capture_output=True, text=True, check=True)
		zs = read_latent_streams(r.stdout)
		lst = [zs.get(k, np.zeros((1, 32), np.float32)) for k in range(len(prompts))]
		with torch.no_grad():
			o = clf(lst)
		ca = float(np.mean([int(o[k, :10].argmax()) == labels[k][0] for k in range(len(lst))]))
		sa = float(np.mean([int(o[k, 10:].argmax()) == labels[k][1] for k in range(len(lst))]))
		stop = float(np.mean([len(z) < maxn for z in lst]))
		res[scale] = (ca, sa, stop)
		log("guidance %.1f: content %.3f style %.3f stops %.2f mean length %.1f latents (%.0f s)" % (
			scale, ca, sa, stop, np.mean([len(z) for z in lst]), time.time() - t0))
	return res, real


def conditioning_check(ckpt, n=64):
	"""How much the backbone uses its conditioning, on n validation clips (teacher forced):
	flow loss with the clip's own caption, another pair's caption and the empty prompt (at the
	first latent and over all latents), and the caption loss of motion to text with the clip's
	own motion and with another clip's. Equal numbers mean the condition is ignored."""
	model, tok = new_model()
	load_ckpt(model, ckpt)
	model.eval()
	data, cfg = MotionData(), model.cfg
	rng = random.Random(0)
	vi = rng.sample([i for i in np.nonzero(data.val)[0] if data.n[i] >= 2], n)
	lab = [(int(data.content[i]), int(data.style[i])) for i in vi]
	own = [captions.caption(c, s, rng) for c, s in lab]
	other = [captions.caption((c + 3) % 10, (s + 2) % 7, rng) for c, s in lab]

	def flow(prompts, first):
		seqs = []
		for i, p in zip(vi, prompts):
			head = tok(cfg.t2m_template.replace("{prompt}", p)) + [cfg.bom_token_id]
			seqs.append((head, data.clip(i)))
		ids, lat, motion, _ = pad_batch([[("text", h), ("motion", z)] for h, z in seqs], cfg.latent_dim)
		g = torch.Generator().manual_seed(0)
		with torch.no_grad():
			h = batch_forward(model, ids, lat, motion)
			err = []
			for b, (head, z) in enumerate(seqs):
				m = 1 if first else len(z)
				c = model.motion_projector(h[b, len(head) - 1:len(head) - 1 + m]).repeat(16, 1)
				zz = z[:m].repeat(16, 1)
				t = torch.sigmoid(torch.randn(zz.shape[0], generator=g))
				e = torch.randn(zz.shape, generator=g)
				v = model.flow_head((1 - t[:, None]) * e + t[:, None] * zz, t, c)
				err.append(float(((v - (zz - e)) ** 2).mean()))
		return float(np.mean(err))

	pre, suf = cfg.m2t_template.split("{motion}")

	def m2t(shift):
		seqs, metas = [], []
		for j in range(n):
			z = data.clip(vi[(j + shift) % n])
			head, tail = tok(pre) + [cfg.bom_token_id], [cfg.eom_token_id] + tok(suf)
			capids = tok(" " + own[j]) + [4]
			seqs.append([("text", head), ("motion", z), ("text", tail + capids)])
			metas.append(("m2t", len(head), len(z), len(head) + len(z) + len(tail), len(capids)))
		with torch.no_grad():
			return float(losses(model, seqs, metas, want=("lm",))["lm"])

	r = {"first": [flow(own, True), flow(other, True), flow([""] * n, True)],
	     "all": [flow(own, False), flow(other, False), flow([""] * n, False)],
	     "m2t": [m2t(0), m2t(7)]}
	log("conditioning %s: flow at z_0 own/other/empty %.4f %.4f %.4f; all latents %.4f %.4f %.4f; "
	    "caption loss own/other motion %.4f %.4f" % ((ckpt,) + tuple(r["first"] + r["all"] + r["m2t"])))
	return r


# The stages of the bundled model, as `--stage all` runs them (steps, not minutes, so a rerun
# with the same seeds takes the same path; 1 thread per job was fastest on the shared 2 cores).
RECIPE = [
	("tok", []),
	("lm", ["--steps", "1500"]),
	("s1", ["--steps", "300"]),
	("conditioning", ["--ckpt", "s1"]),
	("s2", ["--steps", "3000"]),
	("conditioning", ["--ckpt", "s2"]),
	("s2", ["--init", "s2", "--name", "s2b", "--steps", "1500"]),            # two continuations at
	("s2", ["--init", "s2b", "--name", "s2c", "--reseed", "2", "--steps", "2000"]),  # half the rate
	("s3", ["--init", "s2c", "--name", "s3c", "--steps", "500"]),
	("conditioning", ["--ckpt", "s3c"]),
	("export", ["--ckpt", "s3c"]),
	("plot", []),
]


def new_model():
	tk = Tok()
	cfgd = make_config(tk.t.get_vocab_size())
	return init_model(cfgd), tk


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--stage", required=True, choices=["all", "tok", "lm", "s1", "s2", "s3", "guidance", "conditioning", "export", "plot", "frombundled"])
	ap.add_argument("--mirror", action="store_true", help="s1/s2/s3: also train on the mirrored clips with mirrored labels")
	ap.add_argument("--from-dir", default=OUT, help="frombundled: the model directory to start from")
	ap.add_argument("--text-only", action="store_true", help="frombundled: keep only its text branch, as checkpoint lm (then s1 trains a new twin and new heads)")
	ap.add_argument("--ckpt", help="checkpoint to export or check (default: the latest stage)")
	ap.add_argument("--scale", type=float, default=3.0, help="guidance scale written by export")
	ap.add_argument("--scales", default="1,2,3,4.5")
	ap.add_argument("--out", default=OUT)
	ap.add_argument("--init", help="s2 / s3: start from this checkpoint instead of s1 / s2")
	ap.add_argument("--name", help="s2 / s3: save the checkpoint under this name instead of s2 / s3")
	ap.add_argument("--reseed", type=int, help="s2: batch seed offset (default 1 with --init, else 0)")
	ap.add_argument("--lr", type=float, help="s2: the backbone's peak rate (default 3e-4, 1.5e-4 with --init); the heads' is 5/3 of it")
	ap.add_argument("--minutes", type=float, default=1e9)
	ap.add_argument("--steps", type=int, default=0)
	ap.add_argument("--batch", type=int, default=32)
	ap.add_argument("--flow-mul", type=int, default=1)
	ap.add_argument("--threads", type=int, default=2)
	ap.add_argument("--aug", type=float, default=1.0, help="s1/s2: noise augmentation of the motion history (max sigma)")
	a = ap.parse_args()
	torch.set_num_threads(a.threads)
	global MIRROR
	MIRROR = a.mirror
	t0 = time.time()
	if a.stage == "frombundled":
		# issue 10: rebuild the heads of a trained model on new latents without the whole recipe:
		# its tokenizer and every non-VAE tensor become checkpoint "bundled" (then s2 / s3 --init bundled)
		import shutil
		os.makedirs(CKPT, exist_ok=True)
		shutil.copyfile(os.path.join(a.from_dir, "tokenizer.json"), TOKENIZER)
		model, tk = new_model()
		sd, _ = st.load(os.path.join(a.from_dir, "model.safetensors"))
		sd = {k: v.float() for k, v in sd.items() if not k.startswith("vae.")}
		missing, unexpected = model.load_state_dict(sd, strict=False)
		missing = [k for k in missing if not k.startswith("vae.")]
		if missing or unexpected:
			raise SystemExit("train_llamo: %s: missing %s unexpected %s" % (a.from_dir, missing[:3], unexpected[:3]))
		if a.text_only:  # a fresh rebuild: the text branch as the "lm" checkpoint, then s1 ... s3
			sd = {k: v for k, v in model.state_dict().items() if k.startswith("model.")}
			torch.save({"state": sd, "hist": [], "extra": {"from": a.from_dir, "text_only": True}},
				   os.path.join(CKPT, "lm.pt"))
			log("frombundled --text-only: the text branch of %s -> %s" % (a.from_dir, os.path.join(CKPT, "lm.pt")))
			return
		save_ckpt(model, "bundled", [], {"from": a.from_dir})
		log("frombundled: %s -> %s" % (a.from_dir, os.path.join(CKPT, "bundled.pt")))
		return
	if a.stage == "all":
		import subprocess
		for stage, args in RECIPE:
			cmd = [sys.executable, os.path.abspath(__file__), "--stage", stage, "--threads", str(a.threads)] + args
			log("all: " + " ".join(cmd[1:]))
			subprocess.run(cmd, check=True)
		return
	if a.stage == "tok":
		build_tokenizer(TOKENIZER, SIZES["vocab"])
		log("tok: %s vocab %d" % (TOKENIZER, Tok().t.get_vocab_size()))
		return
	model, tk = new_model()
	if a.stage == "lm":
		hist = stage_lm(model, tk, a)
		save_ckpt(model, "lm", hist)
	elif a.stage == "s1":
		load_ckpt(model, "lm")
		with torch.no_grad():
			for lt, lm in zip(model.model.layers, model.motion_model.layers):
				lm.load_state_dict(lt.state_dict())
			model.motion_model.norm.load_state_dict(model.model.norm.state_dict())
		hist = stage_motion("s1", model, tk, a, HEADS, 1e-3, aug=a.aug)
		save_ckpt(model, "s1", hist)
	elif a.stage == "s2":
		# --init s3 --name s4: a continuation of stage 2 from a later checkpoint, at a lower rate
		load_ckpt(model, a.init or "s1")
		lr = a.lr or (3e-4 if not a.init else 1.5e-4)
		hist = stage_motion("s2", model, tk, a, ("motion_model.",) + HEADS, lr, head_lr=lr * 5 / 3, aug=a.aug,
				    reseed=a.reseed if a.reseed is not None else int(bool(a.init)))
		save_ckpt(model, a.name or "s2", hist)
	elif a.stage == "s3":
		load_ckpt(model, a.init or "s2")
		hist = stage_motion("s3", model, tk, a, HEADS, 1e-4, warm=10, want=("flow", "exit"), m2t_frac=0.0)
		save_ckpt(model, a.name or "s3", hist)
	elif a.stage == "guidance":
		guidance_check(a.ckpt or latest_ckpt(), [float(x) for x in a.scales.split(",")])
	elif a.stage == "conditioning":
		conditioning_check(a.ckpt or latest_ckpt())
	elif a.stage == "export":
		readme = open(os.path.join(RUN, "MODEL_CARD.md")).read() if os.path.exists(os.path.join(RUN, "MODEL_CARD.md")) else None
		export(a.out, a.ckpt or latest_ckpt(), a.scale, readme=readme)
		log("export: %s from %s, guidance %g, %.1f MB" % (a.out, a.ckpt or latest_ckpt(), a.scale, sum(
			os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out)) / 1e6))
	elif a.stage == "plot":
		plot([n for n in ("lm", "s1", "s2", "s2b", "s2c", "s3", "s3c", "s4") if os.path.exists(os.path.join(RUN, "hist_%s.json" % n))])
		return
	log("stage %s: wall %.0f s" % (a.stage, time.time() - t0))


if __name__ == "__main__":
	main()
