"""test_ref.py: internal consistency checks of the PyTorch reference (run by hand, not in CI).

    cd train && /usr/bin/python3 test_ref.py

Prints TAP. Checks: tensor names against docs/model-format.md section 3, the MoT promise, the
vectorized backbone against an independent position-by-position kv-cache forward written from
the equations of 4.1, causality, llama3 RoPE against a float64 reading of 4.1, the flow head
against a literal reading of 4.3, precomputed adaLN modulations against per-step ones, the
streaming VAE decoder against the whole decode, torch's generator against torch_rng.py, the
safetensors writer (BF16 round trip), the tokenizer's reproducibility, and that
tests/golden/ is what golden.py computes from tests/golden/tiny.
"""
import math
import os
import re
import sys
import tempfile

import torch
import torch.nn.functional as F

import st
import make_tokenizer
from llamo_ref import LlamoModel, PlainLlama, StreamingDecoder, rope_inv_freq, euler_sample
from torch_rng import MT19937, randn_scalar

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(ROOT, "tests", "golden")
TINY = os.path.join(GOLDEN, "tiny")

n_test, n_fail = 0, 0


def ok(cond, name):
	global n_test, n_fail
	n_test += 1
	if not cond:
		n_fail += 1
	print(f"{'ok' if cond else 'not ok'} {n_test} - {name}")


def maxdiff(a, b):
	return float((a.float() - b.float()).abs().max())


def close(a, b, tol, name):
	d = maxdiff(a, b)
	ok(d <= tol, f"{name}: max |diff| {d:.3g} <= {tol:g}")


def doc_names(cfg):
	"""Every tensor name of docs/model-format.md section 3 for this config."""
	doc = open(os.path.join(ROOT, "docs", "model-format.md")).read()
	sec = doc[doc.index("## 3."):doc.index("## 4.")]
	names = []
	for line in sec.splitlines():
		base = None
		for tokn in line.split():
			if re.match(r"^(model|motion_model|motion_adapter|motion_projector|flow_head|exit_head|vae|lm_head)\.", tokn):
				base = tokn
				names.append(tokn)
			elif tokn.startswith(".") and base:   # ".bias" or ".fc1.bias" relative to base
				parts = base.split(".")
				keep = len(parts) - tokn.count(".")
				names.append(".".join(parts[:keep]) + tokn)
	rng = {"{i}": range(cfg.num_hidden_layers), "{j}": range(cfg.flow_depth), "{s}": range(cfg.vae_down_t),
	       "{r}": range(cfg.vae_depth), "{1,2,3}": [1, 2, 3]}
	nine = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
		"self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
		"mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]
	out = set()
	for n in names:
		if n.startswith("lm_head") and cfg.tie_word_embeddings:
			continue
		if n.endswith(".<the"):
			n = "motion_model.layers.{i}.NINE"
		todo = [n]
		for key, vals in rng.items():
			todo = [t.replace(key, str(v), 1) for t in todo for v in vals] if key in n else todo
		for t in todo:
			if t.endswith("NINE"):
				out.update(t[:-4] + x for x in nine)
			else:
				out.add(t)
	return out


def rmsnorm(x, w, eps):
	return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def incremental_forward(m, seq):
	"""Position by position with a kv cache, straight from the equations of 4.1 (independent
	of llamo_ref's vectorized code): final-normed states (T, H)."""
	cfg = m.cfg
	x_all, motion = m.embed(seq)
	nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
	half = hd // 2
	inv = rope_inv_freq(cfg)
	Lyr = cfg.num_hidden_layers
	kc = [[] for _ in range(Lyr)]
	vc = [[] for _ in range(Lyr)]
	outs = []

	def rope(v, p):   # v (heads, hd)
		ang = torch.tensor(float(p), dtype=torch.float32) * inv
		c, s = torch.cos(ang), torch.sin(ang)
		x1, x2 = v[:, :half], v[:, half:]
		return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=1)

	for p in range(x_all.shape[0]):
		x = x_all[p]
		br = m.motion_model if motion[p] else m.model
		for l in range(Lyr):
			W = br.layers[l]
			a = rmsnorm(x, W.input_layernorm.weight, cfg.rms_norm_eps)
			q = (W.self_attn.q_proj.weight @ a).view(nh, hd)
			k = (W.self_attn.k_proj.weight @ a).view(nkv, hd)
			v = (W.self_attn.v_proj.weight @ a).view(nkv, hd)
			q, k = rope(q, p), rope(k, p)
			kc[l].append(k)
			vc[l].append(v)
			K, V = torch.stack(kc[l]), torch.stack(vc[l])   # (p+1, nkv, hd)
			att = torch.empty(nh, hd)
			for h in range(nh):
				kv = h // (nh // nkv)
				sc = (K[:, kv] @ q[h]) / math.sqrt(hd)
				att[h] = torch.softmax(sc, 0) @ V[:, kv]
			x = x + W.self_attn.o_proj.weight @ att.reshape(-1)
			b = rmsnorm(x, W.post_attention_layernorm.weight, cfg.rms_norm_eps)
			x = x + W.mlp.down_proj.weight @ (F.silu(W.mlp.gate_proj.weight @ b) * (W.mlp.up_proj.weight @ b))
		outs.append(rmsnorm(x, br.norm.weight, cfg.rms_norm_eps))
	return torch.stack(outs)


def flow_literal(fh, x, t, c):
	"""docs 4.3 read literally, with explicit layer norms."""
	def ln(h, w=None, b=None):
		mu = h.mean(-1, keepdim=True)
		var = ((h - mu) ** 2).mean(-1, keepdim=True)
		y = (h - mu) / torch.sqrt(var + 1e-6)
		return y * w + b if w is not None else y
	R = fh.time_embed.frequency_embedding_size
	f = torch.exp(-math.log(10000) * torch.arange(R // 2, dtype=torch.float32) / (R // 2))
	temb = torch.cat([torch.cos(t[:, None] * f), torch.sin(t[:, None] * f)], -1)
	lin = lambda mod, v: v @ mod.weight.t() + mod.bias
	y = lin(fh.time_embed.mlp[2], F.silu(lin(fh.time_embed.mlp[0], temb))) + lin(fh.cond_embed, c)
	h = lin(fh.input_proj, x)
	for blk in fh.res_blocks:
		shift, scale, gate = lin(blk.adaLN_modulation[1], F.silu(y)).chunk(3, -1)
		u = ln(h, blk.in_ln.weight, blk.in_ln.bias) * (1 + scale) + shift
		h = h + gate * lin(blk.mlp[2], F.silu(lin(blk.mlp[0], u)))
	shift, scale = lin(fh.final_layer.adaLN_modulation[1], F.silu(y)).chunk(2, -1)
	return lin(fh.final_layer.linear, ln(h) * (1 + scale) + shift)


def main():
	torch.set_num_threads(1)
	torch.set_grad_enabled(False)
	m = LlamoModel.load_dir(TINY)
	cfg = m.cfg
	g = torch.Generator().manual_seed(7)

	# names
	want, have = doc_names(cfg), set(m.state_dict())
	ok(want == have, f"state_dict keys == docs section 3 ({len(have)} tensors; missing "
	   f"{sorted(want - have)[:3]}, extra {sorted(have - want)[:3]})")
	for k, v in m.state_dict().items():
		if "vae." in k and v.dim() == 3:
			assert v.shape[0] in (cfg.vae_width, cfg.feature_dim)

	# MoT promise
	ids = torch.randint(0, cfg.vocab_size, (9,), generator=g).tolist()
	plain = PlainLlama(cfg)
	plain.load_state_dict({k: v for k, v in m.state_dict().items() if k.startswith("model.")}, strict=True)
	th, tl = plain(ids)
	mh, _ = m.forward_seq([("text", ids)])
	ok(torch.equal(th, mh) and torch.equal(tl, m.logits(mh)),
	   "MoT forward on text-only ids == PlainLlama (no motion weights at all), bit for bit")
	m2 = LlamoModel.load_dir(TINY)
	for p in m2.motion_model.parameters():
		p.mul_(-3.0)
	ok(torch.equal(m2.forward_seq([("text", ids)])[0], mh), "text-only output ignores the motion weights")

	# vectorized backbone == incremental position-by-position forward (mixed sequence)
	z = torch.randn(4, cfg.latent_dim, generator=g)
	seq = [("text", [cfg.bos_token_id] + ids[:3] + [cfg.bom_token_id]), ("motion", z),
	       ("text", [cfg.eom_token_id] + ids[3:6])]
	h, motion = m.forward_seq(seq)
	close(incremental_forward(m, seq), h, 2e-5, "backbone == incremental kv-cache forward (4.1 literal)")
	h_pre, _ = m.forward_seq(seq[:2])
	close(h[:h_pre.shape[0]], h_pre, 2e-5, "causal: a prefix's states do not depend on what follows")
	ok(not torch.equal(m2.forward_seq(seq)[0], h), "mixed sequence uses the motion weights")

	# RoPE llama3 against a float64 reading of the formula in 4.1
	rs = cfg.rope_scaling
	inv64, wls = [], []
	for i in range(cfg.head_dim // 2):
		f = cfg.rope_theta ** (-2 * i / cfg.head_dim)
		wl = 2 * math.pi / f
		wls.append(wl)
		lo, hi = rs["original_max_position_embeddings"] / rs["low_freq_factor"], rs["original_max_position_embeddings"] / rs["high_freq_factor"]
		if wl > lo:
			f = f / rs["factor"]
		elif wl >= hi:
			sm = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
			f = (1 - sm) * f / rs["factor"] + sm * f
		inv64.append(f)
	inv64 = torch.tensor(inv64, dtype=torch.float64)
	rel = float(((m.inv_freq.double() - inv64) / inv64).abs().max())
	ok(rel < 1e-6, f"llama3 inv_freq (float32, HF) vs float64 formula: max rel diff {rel:.2g} < 1e-6")
	wl = torch.tensor(wls)
	n_med = int(((wl >= 2048) & (wl <= 8192)).sum())
	ok(n_med >= 1 and int((wl > 8192).sum()) >= 1, f"tiny head_dim exercises all three llama3 bands ({n_med} medium)")

	# heads
	x = torch.randn(5, cfg.latent_dim, generator=g)
	t = torch.tensor([0.0, 0.1, 0.5, 0.93, 1.0])
	c = torch.randn(5, cfg.condition_size, generator=g)
	close(m.flow_head(x, t, c), flow_literal(m.flow_head, x, t, c), 1e-5, "flow head == literal 4.3")
	noise = torch.randn(cfg.latent_dim, generator=g)
	cc, cu = torch.randn(cfg.condition_size, generator=g), torch.randn(cfg.condition_size, generator=g)
	for s in (3.0, 1.0):
		a = euler_sample(m.flow_head, noise, cc, cu, s, cfg.euler_steps, precompute=True)
		b = euler_sample(m.flow_head, noise, cc, cu, s, cfg.euler_steps, precompute=False)
		close(a, b, 1e-5, f"euler_sample scale {s}: precomputed modulations == per step")
	p = m.exit_head(torch.randn(6, cfg.hidden_size, generator=g))
	ok(p.shape == (6,) and bool(((p > 0) & (p < 1)).all()), "exit head gives probabilities (n)")

	# VAE
	feats = torch.randn(26, cfg.feature_dim, generator=g)
	mu, logvar = m.vae.encode(feats)
	ok(mu.shape == (6, cfg.latent_dim) and logvar.shape == mu.shape, "encode: 26 frames -> 6 latents (2 dropped)")
	mu2, _ = m.vae.encode(feats[:12])
	close(mu[:3], mu2, 1e-5, "encoder is causal (first 12 frames -> the same 3 latents)")
	whole = m.vae.decode(mu)
	sd = StreamingDecoder(m.vae.decoder)
	stream = torch.cat([sd.step(mu[i]) for i in range(mu.shape[0])])
	ok(whole.shape == (24, cfg.feature_dim), "decode: 6 latents -> 24 frames")
	close(stream, whole, 1e-5, "streaming decode (latent by latent) == whole decode")

	# generation sanity: the golden metadata agree with a rerun
	gt, gm = st.load(os.path.join(GOLDEN, "generate.safetensors"))
	zz = m.generate_t2m(gt["cond_ids"].tolist(), gt["uncond_ids"].tolist(), int(gm["seed"]))
	ok(torch.equal(zz, gt["latents"]), f"generate_t2m reproduces generate.safetensors ({zz.shape[0]} latents)")

	# rng
	allok = True
	for seed in (0, 42, 1234567890123):
		gen = torch.Generator().manual_seed(seed)
		mt, cache = MT19937(seed), [None]
		for n in (1, 3, 5, 15):   # consecutive calls: the cached second sample carries over
			allok &= torch.equal(torch.randn(n, generator=gen), torch.tensor(randn_scalar(mt, n, cache)))
	ok(allok, "torch.randn n < 16 == torch_rng.randn_scalar, bit for bit (cache kept across calls)")

	# safetensors writer
	with tempfile.TemporaryDirectory() as d:
		tt = {"a": torch.randn(3, 5, generator=g).to(torch.bfloat16), "b": torch.arange(7, dtype=torch.int32),
		      "c": torch.randn(2, generator=g).half(), "d": torch.tensor([2 ** 40], dtype=torch.int64)}
		st.save(os.path.join(d, "x.safetensors"), tt, {"k": "v"})
		back, meta = st.load(os.path.join(d, "x.safetensors"))
		ok(all(torch.equal(tt[k], back[k]) and tt[k].dtype == back[k].dtype for k in tt) and meta == {"k": "v"},
		   "safetensors round trip (BF16, I32, F16, I64, metadata)")
		raw = open(os.path.join(d, "x.safetensors"), "rb").read()
		ok(int.from_bytes(raw[:8], "little") % 8 == 0, "header length is a multiple of 8")
		# tokenizer reproducible
		tp = os.path.join(d, "tok.json")
		make_tokenizer.save(make_tokenizer.build(512), tp)
		ok(open(tp, "rb").read() == open(os.path.join(TINY, "tokenizer.json"), "rb").read(),
		   "make_tokenizer.py --vocab 512 reproduces tests/golden/tiny/tokenizer.json")

	# bf16 model = the f32 weights rounded
	mb = LlamoModel.load_dir(os.path.join(GOLDEN, "tiny-bf16"))
	ok(all(torch.equal(v.to(torch.bfloat16).float(), mb.state_dict()[k]) for k, v in m.state_dict().items()),
	   "tiny-bf16 holds the tiny weights rounded to BF16")

	# goldens are what the reference computes now
	bt, _ = st.load(os.path.join(GOLDEN, "backbone.safetensors"))
	h, _ = m.forward_seq([("text", bt["ids_a"].tolist()), ("motion", bt["latents"]), ("text", bt["ids_b"].tolist())])
	ok(torch.equal(h, bt["hidden"]), "backbone.safetensors hidden reproduces")
	vt, _ = st.load(os.path.join(GOLDEN, "vae.safetensors"))
	ok(torch.equal(m.vae.decode(vt["mu"]), vt["decoded"]), "vae.safetensors decoded reproduces")

	print(f"1..{n_test}")
	if n_fail:
		print(f"# {n_fail} of {n_test} failed")
	return 1 if n_fail else 0


if __name__ == "__main__":
	sys.exit(main())
