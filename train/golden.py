"""golden.py: writes the golden tensors the C tests compare against (tests/golden/).

    cd train && /usr/bin/python3 golden.py

Deterministic: one thread, fixed seeds; running it twice gives identical files. Writes
  tests/golden/tiny/          the tiny test model, F32 (make_model.py --preset tiny, seed 0)
  tests/golden/tiny-bf16/     the same weights stored as BF16
  tests/golden/rng.safetensors, backbone.safetensors, heads.safetensors, vae.safetensors,
  generate.safetensors        (tensor names: tests/golden/README.md)
"""
import os
import shutil
import sys

import torch
from tokenizers import Tokenizer

import st
import make_model
from llamo_ref import LlamoModel, PlainLlama
from torch_rng import MT19937

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "tests", "golden")

RNG_SEEDS = [0, 42, 1234567890123]
RNG_SIZES = [1, 5, 16, 17, 32, 100]
GEN_PROMPT = "a person waves the left hand"
GEN_SEEDS = range(100)   # the first seed meeting the conditions of write_generate is used
M2T_MAX_NEW = 16
EXIT_MARGIN = 0.02   # every exit probability is at least this far from the threshold
LOGIT_MARGIN = 0.01  # every greedy m2t step: top-1 logit minus top-2 at least this


def i32(x):
	return torch.as_tensor(x, dtype=torch.int32).contiguous()


def write_models():
	"""tests/golden/tiny (F32), tiny-bf16 and tiny-f16 (BF16 and F16 copies); returns (model F32,
	model from BF16, model from F16)."""
	tiny = os.path.join(GOLDEN, "tiny")
	bf = os.path.join(GOLDEN, "tiny-bf16")
	hf = os.path.join(GOLDEN, "tiny-f16")
	for d in (tiny, bf, hf):
		if os.path.exists(d):
			shutil.rmtree(d)
	model = make_model.build("tiny", os.path.join(tiny, "tokenizer.json"), seed=0)
	make_model.write(model, tiny, "tiny", "f32")
	make_model.write(model, bf, "tiny", "bf16")
	make_model.write(model, hf, "tiny", "f16")
	m32 = LlamoModel.load_dir(tiny)
	mbf = LlamoModel.load_dir(bf)
	mhf = LlamoModel.load_dir(hf)
	for k, v in m32.state_dict().items():   # the F32 file holds exactly the built weights
		assert torch.equal(v, model.state_dict()[k]), k
	return m32, mbf, mhf


def write_rng():
	t, meta = {}, {"seeds": ",".join(map(str, RNG_SEEDS)), "sizes": ",".join(map(str, RNG_SIZES))}
	for seed in RNG_SEEDS:
		for n in RNG_SIZES:
			g = torch.Generator().manual_seed(seed)
			t[f"randn_s{seed}_n{n}"] = torch.randn(n, generator=g)
	g = torch.Generator().manual_seed(42)
	t["randn_s42_seq"] = torch.cat([torch.randn(32, generator=g) for _ in range(4)])
	for seed in RNG_SEEDS:
		# raw mt19937 outputs, from the pure-Python engine; checked against torch: the generator
		# state right after manual_seed, and randint(0, 2^32 - 1), which is u32 % (2^32 - 1)
		mt = MT19937(seed)
		raw = [mt.u32() for _ in range(16)]
		g = torch.Generator().manual_seed(seed)
		r = torch.randint(0, 2 ** 32 - 1, (16,), generator=g, dtype=torch.int64).tolist()
		assert r == [x % (2 ** 32 - 1) for x in raw], f"mt19937 seed {seed}"
		state = torch.Generator().manual_seed(seed).get_state()
		words = state[24:24 + 624 * 8].view(torch.int64).tolist()   # legacy_pod.state[624] (u64)
		assert words == MT19937(seed).mt, f"mt19937 state seed {seed}"
		t[f"u32_s{seed}"] = torch.tensor(raw, dtype=torch.int64)
	st.save(os.path.join(GOLDEN, "rng.safetensors"), t, meta)


def tok(tk, text):
	return tk.encode(text, add_special_tokens=False).ids


def write_backbone(m, mbf, mhf, tk):
	cfg = m.cfg
	g = torch.Generator().manual_seed(101)
	words = tok(tk, "a person runs")[:3]
	assert len(words) == 3
	ids_a = [cfg.bos_token_id] + words + [cfg.bom_token_id]
	latents = torch.randn(3, cfg.latent_dim, generator=g)
	ids_b = [cfg.eom_token_id, tok(tk, "Caption")[0]]
	seq = [("text", ids_a), ("motion", latents), ("text", ids_b)]
	h, motion = m.forward_seq(seq)
	logits = m.logits(h)
	hbf, _ = mbf.forward_seq(seq)
	hhf, _ = mhf.forward_seq(seq)
	text_ids = ([cfg.bos_token_id] + tok(tk, "the man walks forward slowly and"))[:7]
	assert len(text_ids) == 7
	plain = PlainLlama(m.cfg)
	plain.load_state_dict({k: v for k, v in m.state_dict().items() if k.startswith(("model.", "lm_head."))})
	th, tl = plain(text_ids)
	mh, _ = m.forward_seq([("text", text_ids)])
	assert torch.equal(mh, th) and torch.equal(m.logits(mh), tl), "MoT promise broken"
	t = {
		"ids_a": i32(ids_a), "latents": latents, "ids_b": i32(ids_b),
		"motion_mask": i32(motion.int()), "hidden": h, "logits": logits,
		"text_ids": i32(text_ids), "text_hidden": th, "text_logits": tl,
		"hidden_bf16": hbf, "hidden_f16": hhf, "inv_freq": m.inv_freq.clone(),
	}
	st.save(os.path.join(GOLDEN, "backbone.safetensors"), t, {"model": "tiny", "model_bf16": "tiny-bf16", "model_f16": "tiny-f16"})


def write_heads(m):
	cfg = m.cfg
	g = torch.Generator().manual_seed(202)
	L, H, C = cfg.latent_dim, cfg.hidden_size, cfg.condition_size
	t = {}
	t["adapter_in"] = torch.randn(4, L, generator=g)
	t["adapter_out"] = m.motion_adapter(t["adapter_in"])
	t["projector_in"] = torch.randn(4, H, generator=g)
	t["projector_out"] = m.motion_projector(t["projector_in"])
	t["exit_in"] = torch.randn(4, H, generator=g)
	t["exit_out"] = m.exit_head(t["exit_in"])
	t["flow_x"] = torch.randn(4, L, generator=g)
	t["flow_t"] = torch.tensor([0.0, 0.3, 0.77, 1.0])
	t["flow_c"] = torch.randn(4, C, generator=g)
	t["flow_v"] = m.flow_head(t["flow_x"], t["flow_t"], t["flow_c"])
	t["sample_noise"] = torch.randn(L, generator=g)
	t["sample_c"] = torch.randn(C, generator=g)
	t["sample_u"] = torch.randn(C, generator=g)
	s, S = cfg.guidance_scale, cfg.euler_steps
	t["sample_out_cfg"] = m.sample_latent(t["sample_noise"], t["sample_c"], t["sample_u"], s, S)
	t["sample_out_nocfg"] = m.sample_latent(t["sample_noise"], t["sample_c"], None, 1.0, S)
	st.save(os.path.join(GOLDEN, "heads.safetensors"), t,
		{"model": "tiny", "scale": repr(s), "steps": str(S)})


def write_vae(m):
	cfg = m.cfg
	g = torch.Generator().manual_seed(303)
	feats = torch.randn(24, cfg.feature_dim, generator=g)
	mu, logvar = m.vae.encode(feats)
	decoded = m.vae.decode(mu)
	st.save(os.path.join(GOLDEN, "vae.safetensors"),
		{"feats": feats, "mu": mu, "logvar": logvar, "decoded": decoded}, {"model": "tiny"})


def clear(ps, stop, thr):
	return all(abs(float(p) - thr) >= EXIT_MARGIN for p in list(ps) + [stop])


def write_generate(m, tk):
	cfg = m.cfg
	cond = tok(tk, cfg.t2m_template.replace("{prompt}", GEN_PROMPT)) + [cfg.bom_token_id]
	uncond = tok(tk, cfg.t2m_template.replace("{prompt}", "")) + [cfg.bom_token_id]
	s, S, maxt = cfg.guidance_scale, cfg.euler_steps, cfg.max_motion_tokens
	for seed in GEN_SEEDS:
		# wanted: with and without guidance, a stop on its own before max_tokens after at least
		# 6 (guided) / 4 (unguided) latents, every exit probability clear of the threshold
		r, r1 = {}, {}
		z = m.generate_t2m(cond, uncond, seed, s, S, maxt, record=r)
		z1 = m.generate_t2m(cond, uncond, seed, 1.0, S, maxt, record=r1)
		if all(rec["exit_p_stop"] is not None and nmin <= zz.shape[0] < maxt and
		       clear(rec["exit_p"][1:], rec["exit_p_stop"], cfg.exit_threshold)
		       for rec, zz, nmin in ((r, z, 6), (r1, z1, 4))):
			break
	else:
		raise SystemExit("golden: no seed gives a usable generation; widen GEN_SEEDS")
	prefix, suffix = m.split_template(cfg.m2t_template, "{motion}")
	pre_ids, suf_ids = tok(tk, prefix), tok(tk, suffix)
	for m2t_seed in range(400, 500):   # the first latents whose greedy steps are all clear
		g = torch.Generator().manual_seed(m2t_seed)
		mz = torch.randn(5, cfg.latent_dim, generator=g)
		rc = {}
		cap, eos = m.caption_m2t(pre_ids, mz, suf_ids, M2T_MAX_NEW, record=rc)
		if min(rc["margins"]) >= LOGIT_MARGIN:
			break
	else:
		raise SystemExit("golden: no m2t latents with clear greedy margins")
	t = {
		"cond_ids": i32(cond), "uncond_ids": i32(uncond),
		"latents": z, "exit_p": r["exit_p"], "exit_p_stop": torch.tensor([r["exit_p_stop"]]),
		"latents_nocfg": z1, "exit_p_nocfg": r1["exit_p"],
		"exit_p_stop_nocfg": torch.tensor([r1["exit_p_stop"]]),
		"m2t_latents": mz, "m2t_prefix_ids": i32(pre_ids), "m2t_suffix_ids": i32(suf_ids),
		"m2t_caption_ids": i32(cap),
	}
	meta = {
		"model": "tiny", "prompt": GEN_PROMPT, "seed": str(seed), "scale": repr(s),
		"steps": str(S), "max_tokens": str(maxt), "threshold": repr(cfg.exit_threshold),
		"n": str(z.shape[0]), "n_nocfg": str(z1.shape[0]),
		"m2t_max_new_tokens": str(M2T_MAX_NEW), "m2t_stopped_on_eos": "true" if eos else "false",
		"m2t_caption": tk.decode(cap, skip_special_tokens=False).strip(),
		"m2t_min_logit_margin": "%.4f" % min(rc["margins"]),
	}
	st.save(os.path.join(GOLDEN, "generate.safetensors"), t, meta)
	return z.shape[0], z1.shape[0], cap, eos


def main():
	torch.set_num_threads(1)
	torch.use_deterministic_algorithms(True)
	os.makedirs(GOLDEN, exist_ok=True)
	with torch.no_grad():
		m, mbf, mhf = write_models()
		tk = Tokenizer.from_file(os.path.join(GOLDEN, "tiny", "tokenizer.json"))
		write_rng()
		write_backbone(m, mbf, mhf, tk)
		write_heads(m)
		write_vae(m)
		n, n1, cap, eos = write_generate(m, tk)
	print(f"golden: wrote {GOLDEN} (t2m: {n} latents, {n1} without guidance; m2t: {len(cap)} tokens, "
	      f"{'eos' if eos else 'no eos'})")


if __name__ == "__main__":
	sys.exit(main())
