"""golden_trained.py: golden tensors of the trained default model (models/default), for
tests/test_trained.c: the C library must reproduce the PyTorch reference (llamo_ref.py) on the
real weights, not only on the random tiny model.

    cd train && /usr/bin/python3 golden_trained.py     # writes ../tests/golden/trained.safetensors

Everything is computed by llamo_ref.LlamoModel.load_dir(models/default) (BF16 weights upcast to
F32, F32 math, one thread) on real inputs: a real validation clip of the Bandai-Namco data
(its features normalized by the model's statistics) and its VAE latents. Contents (names and
shapes in tests/golden/README.md, section trained.safetensors):

  mixed sequence  ids_a = t2m prompt + [BOM], latents = the clip's first 6 latents,
                  ids_b = [EOM] + tok("Caption:") -> hidden, logits (every position)
  heads           adapter / projector / exit on rows of that sequence, one flow-head evaluation
                  at t = 0, 0.3, 0.77, 1 with the real conditions, a guided and an unguided
                  50-step sample from the real conditions of the prompt and the empty prompt
  vae             a 64-frame window of the clip -> mu, logvar, decode(mu)
  generate        t2m of GEN_PROMPT (guided, the model's scale) for at most GEN_MAX latents with
                  the first seed whose exit probabilities all stay clear of the threshold;
                  m2t greedy caption of the clip's latents (exact ids; every greedy step's top-1
                  logit beats the second by LOGIT_MARGIN)
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import st  # noqa: E402
from llamo_ref import LlamoModel  # noqa: E402

MODEL = os.path.join(ROOT, "models", "default")
OUT = os.path.join(ROOT, "tests", "golden", "trained.safetensors")
FEATURES = os.path.join(os.environ.get("LLAMO_WORK", "/tmp/llamo-train"), "features.npz")
GEN_PROMPT = "an old person waves with the right hand"
GEN_MAX = 12
EXIT_MARGIN = 0.02
LOGIT_MARGIN = float(os.environ.get("GOLDEN_LOGIT_MARGIN", "0.05"))
M2T_MAX_NEW = 32


def i32(x):
	return torch.as_tensor(x, dtype=torch.int32).reshape(-1)


def val_clips(m):
	"""Validation clips with at least 96 frames, those of the wave-right-hand / elderly pair
	first: (name, normalized features (T, F))."""
	z = np.load(FEATURES)
	off, val = z["offsets"], z["val"]
	ids = [i for i in np.nonzero(val)[0] if off[i + 1] - off[i] >= 96]
	ids.sort(key=lambda i: (z["content"][i] != 6 or z["style"][i] != 1, i))
	for i in ids:
		f = torch.from_numpy(z["feats"][off[i]:off[i + 1]].astype(np.float32))
		yield str(z["names"][i]), (f - m.mean) / m.std


def main():
	import argparse
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--model", default=MODEL)
	ap.add_argument("--out", default=OUT)
	a = ap.parse_args()
	torch.set_num_threads(1)
	torch.use_deterministic_algorithms(True)
	from tokenizers import Tokenizer
	m = LlamoModel.load_dir(a.model)
	m.eval()
	cfg = m.cfg
	# a model on a base (docs/model-format.md 1: base_model) has the base's tokenizer
	tk = Tokenizer.from_file(os.path.join(a.model, cfg.base_model or ".", "tokenizer.json"))

	def tok(s):
		return tk.encode(s, add_special_tokens=False).ids

	t, meta = {}, {"model": os.path.relpath(a.model, ROOT), "prompt": GEN_PROMPT}
	with torch.no_grad():
		clips = val_clips(m)
		name, feats = next(clips)
		meta["clip"] = name
		# VAE on a 64-frame window (frames 16..79)
		win = feats[16:80].contiguous()
		mu, logvar = m.vae.encode(win)
		t.update({"vae_feats": win, "vae_mu": mu, "vae_logvar": logvar, "vae_decoded": m.vae.decode(mu)})
		zc, _ = m.vae.encode(feats)
		# mixed sequence
		ids_a = tok(cfg.t2m_template.replace("{prompt}", GEN_PROMPT)) + [cfg.bom_token_id]
		pre, suf = m.m2t_texts()   # {prompt} (if any) = the config's m2t_prompt
		ids_b = [cfg.eom_token_id] + tok(suf)
		lat = zc[:6].contiguous()
		h, motion = m.forward_seq([("text", ids_a), ("motion", lat), ("text", ids_b)])
		t.update({"ids_a": i32(ids_a), "latents": lat, "ids_b": i32(ids_b), "motion_mask": i32(motion.int()),
			  "hidden": h, "logits": m.logits(h)})
		# heads on real rows
		nb = len(ids_a)
		rows = h[nb - 1:nb + 3].contiguous()          # [BOM] and three motion states
		t["adapter_in"] = zc[6:10].contiguous()
		t["adapter_out"] = m.motion_adapter(t["adapter_in"])
		t["projector_in"] = rows
		t["projector_out"] = m.motion_projector(rows)
		t["exit_in"] = h[nb:nb + 6].contiguous()
		t["exit_out"] = m.exit_head(t["exit_in"])
		g = torch.Generator().manual_seed(505)
		t["flow_x"] = torch.randn(4, cfg.latent_dim, generator=g)
		t["flow_t"] = torch.tensor([0.0, 0.3, 0.77, 1.0])
		t["flow_c"] = t["projector_out"]
		t["flow_v"] = m.flow_head(t["flow_x"], t["flow_t"], t["flow_c"])
		uncond = tok(cfg.t2m_template.replace("{prompt}", "")) + [cfg.bom_token_id]
		hu, _ = m.forward_seq([("text", uncond)])
		t["sample_noise"] = torch.randn(cfg.latent_dim, generator=g)
		t["sample_c"] = t["projector_out"][0].contiguous()
		t["sample_u"] = m.motion_projector(hu[-1:])[0]
		s, S = cfg.guidance_scale, cfg.euler_steps
		t["sample_out_cfg"] = m.sample_latent(t["sample_noise"], t["sample_c"], t["sample_u"], s, S)
		t["sample_out_nocfg"] = m.sample_latent(t["sample_noise"], t["sample_c"], None, 1.0, S)
		meta.update({"scale": repr(s), "steps": str(S)})
		# generation
		for seed in range(0, 200):
			r = {}
			z = m.generate_t2m(ids_a, uncond, seed, s, S, GEN_MAX, record=r)
			ps = [float(p) for p in r["exit_p"][1:]] + ([r["exit_p_stop"]] if r["exit_p_stop"] is not None else [])
			if all(abs(p - cfg.exit_threshold) >= EXIT_MARGIN for p in ps):
				break
		else:
			raise SystemExit("golden_trained: no seed with clear exit probabilities")
		t.update({"cond_ids": i32(ids_a), "uncond_ids": i32(uncond), "gen_latents": z, "gen_exit_p": r["exit_p"]})
		meta.update({"seed": str(seed), "max_tokens": str(GEN_MAX), "threshold": repr(cfg.exit_threshold),
			     "n": str(z.shape[0]), "stopped": "true" if r["exit_p_stop"] is not None else "false"})
		if r["exit_p_stop"] is not None:
			t["gen_exit_p_stop"] = torch.tensor([r["exit_p_stop"]])
		# motion to text on the clip's latents (or the next validation clip's, until every greedy
		# step is clear)
		m2t_clip = name
		for k in range(30):
			mz = zc[:min(len(zc), 40)].contiguous()
			rc = {}
			cap, eos = m.caption_m2t(tok(pre), mz, tok(suf), M2T_MAX_NEW, record=rc)
			if min(rc["margins"]) >= LOGIT_MARGIN:
				break
			m2t_clip, f = next(clips)
			zc, _ = m.vae.encode(f)
		else:
			raise SystemExit("golden_trained: no clip with clear m2t greedy margins")
		meta["m2t_clip"] = m2t_clip
		t.update({"m2t_latents": mz, "m2t_prefix_ids": i32(tok(pre)), "m2t_suffix_ids": i32(tok(suf)),
			  "m2t_caption_ids": i32(cap)})
		meta.update({"m2t_max_new_tokens": str(M2T_MAX_NEW), "m2t_stopped_on_eos": "true" if eos else "false",
			     "m2t_caption": tk.decode(cap).strip(), "m2t_min_logit_margin": "%.4f" % min(rc["margins"])})
	t = {k: (v.contiguous() if v.dtype == torch.int32 else v.float().contiguous()) for k, v in t.items()}
	st.save(a.out, t, meta)
	print("golden_trained: wrote %s (%d tensors, %.0f KB); t2m: %s latents (%s), seed %s; m2t: '%s'" % (
		a.out, len(t), os.path.getsize(a.out) / 1024, meta["n"], "stopped" if meta["stopped"] == "true" else
		"ran to max_tokens", meta["seed"], meta["m2t_caption"]))


if __name__ == "__main__":
	sys.exit(main())
