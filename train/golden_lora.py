"""golden_lora.py: the golden files of a motion model over a base model with its twin stored as
LoRA (docs/model-format.md 1 and 3.1), from the tiny test model tests/golden/tiny:

    cd train && /usr/bin/python3 golden_lora.py

Writes (deterministic: two runs give identical files)
  tests/golden/tiny-base/         the tiny model's text branch as a text-only model (F32):
                                  config.json without "llamo", model.* tensors, tokenizer.json
  tests/golden/tiny-lora/         a motion model over ../tiny-base (save_motion_dir): the tiny
                                  model's motion-side tensors, every twin projection as
                                  lora_A [4, in] / lora_B [out, 4] (random, seed 1)
  tests/golden/tiny-lora-merged/  the same model as one ordinary directory, the twin merged by
                                  merge_lora (text + merged twin + heads + VAE, F32)
  tests/golden/lora.safetensors   merges in F16 and BF16 (w_*, a_*, b_*, merged_*) and a case
                                  where rounding twice (through float32) would differ
tests/test_lora.c loads tiny-lora and tiny-lora-merged in C and checks that they run the same
bits, and that the C merge equals these merges bit for bit.
"""
import os
import shutil
import sys

import numpy as np
import torch

import st
from llamo_ref import (LlamoModel, MOTION_PREFIXES, TWIN_PROJECTIONS, merge_lora, round_f64,
		       save_motion_dir)

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "tests", "golden")
RANK = 4


def fresh(d):
	if os.path.exists(d):
		shutil.rmtree(d)
	os.makedirs(d)
	return d


def write_base(tiny, m):
	"""tiny-base: the text branch of the tiny model as a stock (text-only) Llama directory."""
	import json
	base = fresh(os.path.join(GOLDEN, "tiny-base"))
	raw = dict(m.cfg.raw)
	del raw["llamo"]
	with open(os.path.join(base, "config.json"), "w") as f:
		json.dump(raw, f, indent=2)
		f.write("\n")
	text = {k: v.contiguous() for k, v in m.state_dict().items() if k.startswith(("model.", "lm_head."))}
	st.save(os.path.join(base, "model.safetensors"), text, {"format": "pt"})
	shutil.copyfile(os.path.join(tiny, "tokenizer.json"), os.path.join(base, "tokenizer.json"))
	return base, text


def lora_factors(m):
	"""Random A (r, in) ~ N(0, 1/in) and B (out, r) ~ N(0, 0.2^2) for every twin projection."""
	g = torch.Generator().manual_seed(1)
	out = {}
	for i in range(m.cfg.num_hidden_layers):
		for p in TWIN_PROJECTIONS:
			name = f"motion_model.layers.{i}.{p}"
			o, n = m.state_dict()[name + ".weight"].shape
			out[name + ".lora_A"] = torch.randn(RANK, n, generator=g) / n ** 0.5
			out[name + ".lora_B"] = torch.randn(o, RANK, generator=g) * 0.2
	return out


def write_lora_models(tiny, m):
	base, text = write_base(tiny, m)
	lora = lora_factors(m)
	twin = {n[:-len(".lora_A")] + ".weight" for n in lora if n.endswith(".lora_A")}
	motion = {k: v for k, v in m.state_dict().items() if k.startswith(MOTION_PREFIXES) and k not in twin}
	motion.update(lora)
	d = fresh(os.path.join(GOLDEN, "tiny-lora"))
	save_motion_dir(d, motion, m.cfg.raw["llamo"], base, {"mean": m.mean, "std": m.std},
			os.path.join(tiny, "skeleton.bvh"))
	# the same model, merged, as one ordinary directory
	full = LlamoModel(m.cfg)
	sd = dict(m.state_dict())
	for t in twin:
		p = t[:-len(".weight")]
		sd[t] = merge_lora(text["model." + t[len("motion_model."):]], lora[p + ".lora_A"], lora[p + ".lora_B"])
	full.load_state_dict(sd, strict=True)
	full.mean, full.std = m.mean, m.std
	full.tokenizer_path = os.path.join(tiny, "tokenizer.json")
	full.skeleton_path = os.path.join(tiny, "skeleton.bvh")
	merged = fresh(os.path.join(GOLDEN, "tiny-lora-merged"))
	full.save_dir(merged)
	# the reference reads both as the same model
	a, b = LlamoModel.load_dir(d).state_dict(), LlamoModel.load_dir(merged).state_dict()
	assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
	changed = max(float((sd[t] - m.state_dict()[t.replace("motion_model.", "model.", 1)]).abs().max()) for t in twin)
	return len(twin), changed


def write_merges():
	"""lora.safetensors: 16-bit merges, checked against numpy's direct double-to-half rounding."""
	g = torch.Generator().manual_seed(2)
	t = {}
	for dt, tag in ((torch.float16, "f16"), (torch.bfloat16, "bf16")):
		w = (torch.randn(24, 40, generator=g) * 0.1).to(dt)
		a = (torch.randn(3, 40, generator=g) / 40 ** 0.5).to(dt)
		b = (torch.randn(24, 3, generator=g) * 0.2).to(torch.float32)
		t[f"w_{tag}"], t[f"a_{tag}"], t[f"b_{tag}"] = w, a, b
		t[f"merged_{tag}"] = merge_lora(w, a, b)
	acc = t["w_f16"].double() + t["b_f16"].double() @ t["a_f16"].double()
	ref = torch.from_numpy(acc.numpy().astype(np.float16))  # numpy: one rounding from double
	# the float64 sum order may differ from a matrix product's in the last bit, not after rounding
	assert torch.equal(ref, t["merged_f16"]), "merge_lora's F16 rounding differs from numpy's"
	# 1 + 2^-11 + 2^-40: once to F16 it is 1 + 2^-10; through float32 it would be a tie, so 1
	t["w_tie"] = torch.tensor([[1.0]], dtype=torch.float16)
	t["a_tie"] = torch.tensor([[2.0 ** -11], [2.0 ** -40]], dtype=torch.float32).reshape(2, 1)
	t["b_tie"] = torch.tensor([[1.0, 1.0]], dtype=torch.float32)
	t["merged_tie"] = merge_lora(t["w_tie"], t["a_tie"], t["b_tie"])
	assert float(t["merged_tie"]) == 1 + 2 ** -10
	assert float((t["w_tie"].double() + 2.0 ** -11 + 2.0 ** -40).to(torch.float16)) == 1.0
	x = torch.randn(100000, generator=g, dtype=torch.float64) * torch.exp2(torch.randint(-30, 18, (100000,), generator=g).double())
	with np.errstate(over="ignore"):  # both give infinities beyond 65504
		assert torch.equal(round_f64(x, torch.float16), torch.from_numpy(x.numpy().astype(np.float16)))
	st.save(os.path.join(GOLDEN, "lora.safetensors"), {k: v.contiguous() for k, v in t.items()},
		{"rank": "3", "tie": "1 + 2^-11 + 2^-40 -> F16 0x3c01 (1 + 2^-10)"})


def main():
	torch.set_num_threads(1)
	tiny = os.path.join(GOLDEN, "tiny")
	with torch.no_grad():
		m = LlamoModel.load_dir(tiny)
		n, changed = write_lora_models(tiny, m)
		write_merges()
	print(f"golden_lora: wrote tiny-base, tiny-lora ({n} twin projections as rank-{RANK} LoRA; the "
	      f"merged twin differs from the text weights by up to {changed:.3f}), tiny-lora-merged, lora.safetensors")


if __name__ == "__main__":
	sys.exit(main())
