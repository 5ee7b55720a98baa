#!/usr/bin/env python3
"""Where text-to-motion loses the style: in the latents the heads generate, or in decoding them.

For a model directory, generates --per-pair training phrasings of every (content, style) pair
with the C programs (llamo-t2m, seed k for prompt k as make eval), and scores each generation
three ways:

  latent       the latent classifier of train_llamo.guidance_check (an MLP on pooled latents,
               trained on the training clips' latents of this model's VAE) on the generated latents
  round trip   the same classifier on `vae-dec | vae-enc` of those latents (what the decoded
               motion still carries, read in the latent space)
  decoded      make eval's classifier (classifier.py, on the features of the decoded BVH)

Both classifiers also score the real validation takes (their ceiling). Also the style reach: per
clip the pooled latent (mean and deviation over the clip), projected on the line from the real
training clips' pooled mean of (content, normal) to that of (content, style); 1 is as far from
normal as the real clips of the style on average, 0 is normal. Printed per style for the
generations and for the real validation takes (a shortfall of the generations is a style made
too weakly). The latents of the
model's VAE are computed here once (torch, from the model's vae.* tensors) and cached in
LLAMO_WORK as latents-<sha>.npz.

    cd train && LLAMO_WORK=/tmp/llamo-train-vae /usr/bin/python3 style_gap.py --model ../models/default

Prints a JSON object on stdout, progress on stderr. Issue 10 (train/runs/vae10/heads-s3n-eval.md).
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import captions  # noqa: E402
import dataset  # noqa: E402
import eval as ev  # noqa: E402


def latents_for(model):
	"""Latents (encoder means) of every clip with the model's VAE -> cached npz path."""
	import train_vae
	mfile = os.path.join(model, "model.safetensors")
	h = hashlib.sha256()
	with open(mfile, "rb") as f:
		for block in iter(lambda: f.read(1 << 20), b""):
			h.update(block)
	path = os.path.join(dataset.WORK, "latents-%s.npz" % h.hexdigest()[:12])
	if os.path.exists(path):
		return path
	cfg = json.load(open(os.path.join(model, "config.json")))
	data = dataset.Data()
	vae = train_vae.llamo_ref.CausalVAE(train_vae.vae_cfg(cfg["llamo"]["vae"]["width"], data.feats.shape[1]))
	train_vae.load_init(vae, model)
	vae.eval()
	mean, std = (s.astype(np.float32) for s in data.stats())
	with torch.no_grad():
		train_vae.write_latents(vae, data, mean, std, path, ev.log)
	return path


def pooled(z):
	"""(n, 32) latents of one clip -> (64,) their mean and deviation over the clip."""
	z = np.asarray(z, np.float64)
	return np.concatenate([z.mean(0), z.std(0) if len(z) > 1 else np.zeros(z.shape[1])])


def style_reach(lat_data, data, vid, z_gen, yc, ys):
	"""Mean reach per style (see the module comment) of the generations (z_gen with labels yc, ys)
	and of the real validation takes vid."""
	normal = dataset.STYLES.index("normal")
	tr = [i for i in lat_data.train if i < len(data.content)]
	P = {i: pooled(lat_data.clip(i)) for i in tr}
	centre = {}
	for c in range(len(dataset.CONTENTS)):
		for s in range(len(dataset.STYLES)):
			m = [P[i] for i in tr if data.content[i] == c and data.style[i] == s]
			centre[c, s] = np.mean(m, 0)

	def reach(p, c, s):
		d = centre[c, s] - centre[c, normal]
		return float((p - centre[c, normal]) @ d / (d @ d))
	out = {}
	for s, name in enumerate(dataset.STYLES):
		if s == normal:
			continue
		g = [reach(pooled(z), c, s) for z, c, t in zip(z_gen, yc, ys) if t == s and len(z) > 0]
		r = [reach(pooled(lat_data.clip(i)), data.content[i], s) for i in vid if data.style[i] == s and lat_data.n[i] > 0]
		out[name] = {"generated": round(float(np.mean(g)), 3), "real_val": round(float(np.mean(r)), 3)}
	return out


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--model", required=True)
	ap.add_argument("--per-pair", type=int, default=2, help="training phrasings per (content, style) pair")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--jobs", type=int, default=1)
	a = ap.parse_args()
	os.environ["LLAMO_LATENTS"] = latents_for(a.model)
	import classifier
	import train_llamo
	lat_data = train_llamo.MotionData()
	clf, lat_real = train_llamo.latent_classifier(lat_data)
	data = dataset.Data()
	model, _, _ = classifier.load_or_train(data)
	vid = data.val_ids()
	vc, vs, _ = classifier.predict(model, [data.clip(i) for i in vid])
	plan = [(c, s, p) for c in range(10) for s in range(7) for p in captions.eval_prompts(c, s)[:a.per_pair]]
	tmp = tempfile.mkdtemp(prefix="style-gap-")
	args = types.SimpleNamespace(model=a.model, seed=a.seed, jobs=a.jobs)
	gen = ev.generate(args, [p for _, _, p in plan], tmp, "gen")
	ev.log("style gap: %d generations in %s" % (len(plan), tmp))
	yc = np.array([c for c, _, _ in plan])
	ys = np.array([s for _, s, _ in plan])
	# generated latents, and the latents of their decodes
	z_gen, z_rt = [], []
	chunk = (len(plan) + a.jobs - 1) // a.jobs
	for k0 in range(0, len(plan), chunk):
		out, _ = ev.run([ev.BIN + "/framedump", os.path.join(tmp, "gen%04d.lmf" % k0)])
		zs = train_llamo.read_latent_streams(out.decode())
		z_gen += [zs.get(j, np.zeros((1, 32), np.float32)) for j in range(min(chunk, len(plan) - k0))]
	for k, (n, f, bvh) in enumerate(gen):
		z = np.zeros((1, 32), np.float32)
		if n > 0 and os.path.exists(bvh):
			out, _ = ev.run([ev.BIN + "/vae-enc", "-m", a.model, bvh, "-o", os.path.join(tmp, "rt.lmf")], env=ev.one_thread())
			out, _ = ev.run([ev.BIN + "/framedump", os.path.join(tmp, "rt.lmf")])
			z = train_llamo.read_latent_streams(out.decode()).get(0, z)
		z_rt.append(z)
	with torch.no_grad():
		og, orr = clf(z_gen), clf(z_rt)
	ok = [k for k, g in enumerate(gen) if g[1] is not None and len(g[1]) > 0]
	pc, ps = np.full(len(plan), -1), np.full(len(plan), -1)
	if ok:
		pc[ok], ps[ok], _ = classifier.predict(model, [gen[k][1] for k in ok])

	def acc(p, y):
		return round(float(np.mean(np.asarray(p) == y)), 4)
	res = {
		"model": a.model, "generations": len(plan), "seed": a.seed,
		"latent_classifier_real_val": {"content": round(lat_real[0], 4), "style": round(lat_real[1], 4)},
		"decoded_classifier_real_val": {"content": acc(vc, data.content[vid]), "style": acc(vs, data.style[vid])},
		"latent": {"content": acc(og[:, :10].argmax(1).numpy(), yc), "style": acc(og[:, 10:].argmax(1).numpy(), ys)},
		"round_trip": {"content": acc(orr[:, :10].argmax(1).numpy(), yc), "style": acc(orr[:, 10:].argmax(1).numpy(), ys)},
		"decoded": {"content": acc(pc, yc), "style": acc(ps, ys)},
		"mean_latents": round(float(np.mean([len(z) for z in z_gen])), 2),
		"latent_std_generated": round(float(np.mean([z.std(0).mean() for z in z_gen if len(z) > 1])), 4),
		"latent_std_real_val": round(float(np.mean([lat_data.clip(i).std(0).mean().item() for i in vid
								 if lat_data.n[i] > 1])), 4),
	}
	res["style_reach"] = style_reach(lat_data, data, vid, z_gen, yc, ys)
	print(json.dumps(res, indent=1))


if __name__ == "__main__":
	main()
