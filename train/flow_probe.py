"""flow_probe.py: how much the prompt and the motion history condition the flow head.

    LLAMO_LATENTS=/tmp/llamo-train-vae/latents_vae10.npz /usr/bin/python3 flow_probe.py \
        --smol runs/smol/s3-weights.safetensors --small /work/ckpt-vae10/s3r.pt

For each model: text to motion sequences of validation clips (--per-pair clips of each of the 70
label pairs, one caption each), the flow-matching loss of train_llamo.losses evaluated with a fixed
grid of t (0.1 .. 0.9) and fixed noise, so that only the conditioning differs between rows:

  own       the clip's caption
  other     a caption of another content and another style
  empty     the empty prompt (the unconditional branch of guidance)

each with the history as it is (sigma 0) and with the input latents plus sigma N(0, 1) (targets
clean; the noise augmentation of training, fixed sigma). Reported for the first latent (predicted
from [BOM]: the prompt is all it has) and for the later ones. A model that reads its prompt has
other - own well above 0; one that reads its history has a later-latent loss far under the first's.
The losses are in the latents' own units (compare models on the same latents only).
"""
import argparse
import os
import random
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("LLAMO_WORK", "/tmp/llamo-train-vae")
os.environ.setdefault("LLAMO_LATENTS", os.path.join(os.environ["LLAMO_WORK"], "latents_vae10.npz"))

import captions  # noqa: E402
import train_llamo  # noqa: E402

TS = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])


def items(data, per_pair, seed=5):
	"""[(clip, own caption, other caption)] of validation clips, per_pair per label pair."""
	rng = random.Random(seed)
	by = {}
	for i in np.nonzero(data.val)[0]:
		by.setdefault((int(data.content[i]), int(data.style[i])), []).append(int(i))
	out = []
	for (c, s) in sorted(by):
		for i in by[(c, s)][:per_pair]:
			c2 = rng.choice([x for x in range(len(captions.CONTENTS)) if x != c])
			s2 = rng.choice([x for x in range(len(captions.STYLES)) if x != s])
			out.append((i, captions.caption(c, s, rng), captions.caption(c2, s2, rng)))
	return out


def flow_loss(fh_fn, c, z, seed):
	"""Mean over TS of |v(x_t, t, c) - (z - noise)|^2 per row: c (N, C), z (N, L) -> (N,)."""
	g = torch.Generator().manual_seed(seed)
	noise = torch.randn(z.shape, generator=g)
	out = []
	for t in TS:
		tt = torch.full((z.shape[0],), float(t))
		v = fh_fn((1 - t) * noise + t * z, tt, c)
		out.append(((v - (z - noise)) ** 2).mean(-1))
	return torch.stack(out).mean(0)


def noised(z, sigma, seed):
	g = torch.Generator().manual_seed(seed)
	return z + sigma * torch.randn(z.shape, generator=g)


class Small:
	"""train_llamo's model (models/default's shapes) from a train_llamo checkpoint."""

	def __init__(self, ckpt):
		self.tok = train_llamo.Tok(os.path.join(os.path.dirname(ckpt), "tokenizer.json"))
		self.model = train_llamo.init_model(train_llamo.make_config(self.tok.t.get_vocab_size()))
		d = torch.load(ckpt)
		self.model.load_state_dict(d["state"], strict=False)
		self.model.eval()
		self.cfg = self.model.cfg

	def conditions(self, prompts, zin):
		"""-> [(N_i, C)] the projector's conditions for z_0 .. z_{n-1} of each sequence."""
		cfg = self.cfg
		seqs, heads = [], []
		for p, z in zip(prompts, zin):
			head = self.tok(cfg.t2m_template.replace("{prompt}", p)) + [cfg.bom_token_id]
			seqs.append([("text", head), ("motion", z), ("text", [cfg.eom_token_id])])
			heads.append(len(head))
		ids, lat, motion, _ = train_llamo.pad_batch(seqs, cfg.latent_dim)
		h = train_llamo.batch_forward(self.model, ids, lat, motion)
		return [self.model.motion_projector(h[b, hl - 1:hl - 1 + len(z)]) for b, (hl, z) in enumerate(zip(heads, zin))]

	def flow(self, x, t, c):
		return self.model.flow_head(x, t, c)

	def bom_states(self, prompts):
		"""-> (B, H) final-normed states at [BOM], (B, C) the projector's conditions of z_0."""
		cfg = self.cfg
		seqs = [[("text", self.tok(cfg.t2m_template.replace("{prompt}", p)) + [cfg.bom_token_id])] for p in prompts]
		ids, lat, motion, _ = train_llamo.pad_batch(seqs, cfg.latent_dim)
		h = train_llamo.batch_forward(self.model, ids, lat, motion)
		h = torch.stack([h[b, len(sq[0][1]) - 1] for b, sq in enumerate(seqs)])
		return h, self.model.motion_projector(h)


class Smol:
	"""train_smol's model (SmolLM2 text branch, LoRA twin) from a weights file or checkpoint."""

	def __init__(self, src, t2m_template=None):
		import train_smol
		self.ts = train_smol
		rank, tmpl = train_smol.layout_of(src)   # the run's twin rank and layout, kept with its weights
		cfgd = train_smol.make_config(rank=rank, t2m_template=tmpl)
		if t2m_template:   # a variant of the layout (same system prefix before {prompt})
			assert t2m_template.split("{prompt}")[0] == cfgd["llamo"]["t2m_template"].split("{prompt}")[0]
			cfgd["llamo"]["t2m_template"] = t2m_template
		cfg = train_smol.llamo_ref.Config(cfgd)
		text, _ = train_smol.load_text(train_smol.BASE, torch.bfloat16)
		tok = train_smol.Tok()
		self.m = train_smol.Motion(cfg, r=rank)
		train_smol.load_motion(self.m, src)
		self.tr = train_smol.Trainer(cfgd, text, self.m, tok)
		self.bt = train_smol.Batcher(_Empty(), tok, cfg, random.Random(0))

	def conditions(self, prompts, zin):
		seqs = [self.bt.t2m(p, z) for p, z in zip(prompts, zin)]
		h_bom, h, _, _, _ = self.tr.forward(seqs)
		with self.tr.autocast():
			return [self.m.motion_projector(torch.cat([h_bom[b:b + 1], h[b, :len(z) - 1]])).float()
				for b, z in enumerate(zin)]

	def flow(self, x, t, c):
		with self.tr.autocast():
			return self.ts.flow_forward(self.m.flow_head, x, t, c).float()

	def layer_states(self, prompts):
		"""-> [(B, H)] the text branch's residual stream at [BOM] after each layer, rms-normed."""
		seqs = [self.bt.t2m(p, torch.zeros(1, self.tr.cfg.latent_dim)) for p in prompts]
		trace = []
		self.tr.forward(seqs, trace=trace)
		n = torch.tensor([len(s["pre"]) for s in seqs])
		out = [x[torch.arange(len(seqs)), n - 1].float() for x in trace]
		return [x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) for x in out]

	def bom_states(self, prompts):
		seqs = [self.bt.t2m(p, torch.zeros(1, self.tr.cfg.latent_dim)) for p in prompts]
		h_bom = self.tr.forward(seqs)[0]
		with self.tr.autocast():
			return h_bom, self.m.motion_projector(h_bom).float()


class _Empty:
	train, n = [], {}


@torch.no_grad()
def probe(model, data, its, sigmas, batch):
	rows = {}
	for sigma in sigmas:
		for kind in ("own", "other", "empty"):
			first, later = [], []
			for j in range(0, len(its), batch):
				chunk = its[j:j + batch]
				zs = [data.clip(i) for i, _, _ in chunk]
				zin = [noised(z, sigma, 1000 + i) if sigma > 0 else z for (i, _, _), z in zip(chunk, zs)]
				prompts = [{"own": o, "other": x, "empty": ""}[kind] for _, o, x in chunk]
				cs = model.conditions(prompts, zin)
				for (i, _, _), c, z in zip(chunk, cs, zs):
					lo = flow_loss(model.flow, c, z, seed=i)
					first.append(float(lo[0]))
					later += [float(v) for v in lo[1:]]
			rows[(sigma, kind)] = (np.mean(first), np.mean(later))
			print("  sigma %.1f %-5s first %.4f later %.4f" % ((sigma, kind) + rows[(sigma, kind)]), flush=True)
	return rows


def fit_probe(x, y, xt, yt, k, steps=500):
	"""Multinomial logistic regression (standardized inputs, L2 1e-3, full-batch Adam) fitted on
	(x, y), accuracy on (xt, yt)."""
	mu, sd = x.mean(0), x.std(0) + 1e-6
	x, xt = (x - mu) / sd, (xt - mu) / sd
	w = torch.zeros(x.shape[1], k, requires_grad=True)
	b = torch.zeros(k, requires_grad=True)
	opt = torch.optim.Adam([w, b], lr=0.05)
	for _ in range(steps):
		loss = torch.nn.functional.cross_entropy(x @ w + b, y) + 1e-3 * (w ** 2).sum()
		opt.zero_grad()
		loss.backward()
		opt.step()
	with torch.no_grad():
		return float(((xt @ w + b).argmax(-1) == yt).float().mean())


@torch.no_grad()
def state_probe(model, n_train, batch, seed=7, layers_too=True):
	"""Linear probes of content and style on the state at [BOM] and on the projector's condition
	of z_0: trained on n_train captions.py training phrasings per label pair, tested on its held-out
	phrasings (captions.HELD_OUT, one of each per pair)."""
	rng = random.Random(seed)
	pairs = [(c, s) for c in range(len(captions.CONTENTS)) for s in range(len(captions.STYLES))]
	tr = [(captions.caption(c, s, rng), c, s) for c, s in pairs for _ in range(n_train)]
	te = [(captions.caption(c, s, rng, split="heldout"), c, s) for c, s in pairs for _ in range(len(captions.HELD_OUT))]

	def states(rows):
		hs, cs = [], []
		for j in range(0, len(rows), batch):
			h, c = model.bom_states([p for p, _, _ in rows[j:j + batch]])
			hs.append(h.float())
			cs.append(c.float())
		return torch.cat(hs), torch.cat(cs)
	(htr, ctr), (hte, cte) = states(tr), states(te)
	probes = [("state at [BOM]", htr, hte), ("condition of z_0", ctr, cte)]
	if layers_too and hasattr(model, "layer_states"):
		def layers(rows):
			out = [model.layer_states([p for p, _, _ in rows[j:j + batch]]) for j in range(0, len(rows), batch)]
			return [torch.cat(x) for x in zip(*out)]
		ltr, lte = layers(tr), layers(te)
		probes += [("text branch's stream at [BOM] after layer %d" % (l + 1), ltr[l], lte[l])
			   for l in range(4, len(ltr), 5)]
	for name, x, xt in probes:
		with torch.enable_grad():
			acc = [fit_probe(x, torch.tensor([r[k] for r in tr]), xt, torch.tensor([r[k] for r in te]), n)
			       for k, n in ((1, len(captions.CONTENTS)), (2, len(captions.STYLES)))]
		print("  linear probe on the %s: content %.1f%%, style %.1f%% (held-out phrasings, %d; trained on %d)" % (
			name, 100 * acc[0], 100 * acc[1], len(te), len(tr)), flush=True)


@torch.no_grad()
def spread(model, batch, seed=0):
	"""How much the state at [BOM] and the projector's condition of z_0 vary across prompts (one
	training caption per label pair): the mean squared deviation from the prompts' mean over the
	squared mean. Near 0: nearly the same input for every prompt."""
	r = random.Random(seed)
	prompts = [captions.caption(c, s, r) for c in range(len(captions.CONTENTS)) for s in range(len(captions.STYLES))]
	hs, cs = zip(*(model.bom_states(prompts[i:i + batch]) for i in range(0, len(prompts), batch)))
	for what, x in (("state at [BOM]", torch.cat(hs).float()), ("condition of z_0", torch.cat(cs).float())):
		mu = x.mean(0)
		print("  spread across prompts, %-17s %.4f" % (what, float((x - mu).pow(2).sum(-1).mean() / mu.pow(2).sum())),
		      flush=True)


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--smol", help="train_smol weights file (or checkpoint name)")
	ap.add_argument("--small", help="train_llamo checkpoint (.pt, its tokenizer.json beside it)")
	ap.add_argument("--per-pair", type=int, default=1)
	ap.add_argument("--sigmas", default="0,1")
	ap.add_argument("--batch", type=int, default=16)
	ap.add_argument("--threads", type=int, default=1)
	ap.add_argument("--probe-captions", type=int, default=0, help="also linear probes of the [BOM] state: training captions per pair")
	ap.add_argument("--no-flow", action="store_true", help="only the linear probes")
	ap.add_argument("--no-layers", action="store_true", help="no probes of the text branch's layers")
	ap.add_argument("--t2m-suffix", action="append", default=[],
			help="smol: also probe the [BOM] state with this text after {prompt} instead of the template's "
			     "(repeatable; Python escapes such as \\n are decoded)")
	a = ap.parse_args()
	torch.set_num_threads(a.threads)
	train_llamo.MIRROR = False
	data = train_llamo.MotionData()
	its = items(data, a.per_pair)
	sigmas = [float(x) for x in a.sigmas.split(",")]
	print("flow_probe: %d validation clips, latents %s" % (len(its), train_llamo.LATENTS))
	for name, src, cls in (("small", a.small, Small), ("smol", a.smol, Smol)):
		if src:
			print("%s: %s" % (name, src), flush=True)
			model = cls(src)
			if not a.no_flow:
				probe(model, data, its, sigmas, a.batch)
			spread(model, a.batch)
			if a.probe_captions:
				state_probe(model, a.probe_captions, a.batch, layers_too=not a.no_layers)
			if name == "smol":
				for suf in a.t2m_suffix:
					print("smol, template suffix %r:" % suf, flush=True)
					state_probe(cls(src, model.ts.t2m_layout(suf)), a.probe_captions or 8, a.batch, layers_too=False)


if __name__ == "__main__":
	main()
