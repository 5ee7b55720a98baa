"""make_model.py: builds a model directory (docs/model-format.md section 1) with random weights.

    /usr/bin/python3 make_model.py --preset tiny --out ../tests/golden/tiny
    /usr/bin/python3 make_model.py --preset default --dtype bf16 --out ../models/default

--preset tiny is the test model; --preset default is the bundled model until a trained one lands.
Weights are random (fixed --seed), initialized so that every activation stays O(1) and every
tensor matters to the output (see init_weights). The exit head is calibrated so that p is about
0.3 on average and varies with the input: generation runs a few steps, then stops on its own.
"""
import argparse
import copy
import json
import math
import os
import re

import torch

import st
from llamo_ref import Config, LlamoModel
import make_tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SKELETON = os.path.join(ROOT, "tests", "data", "skeleton_bn.bvh")
DATASET = os.path.join(ROOT, "..", "shared", "data", "bandai-namco-ds2.tar.xz")

BASE_CONFIG = {
	"model_type": "llama",
	"vocab_size": 512, "hidden_size": 64, "intermediate_size": 172,
	"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
	"rms_norm_eps": 1e-5, "rope_theta": 500000.0,
	"rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
			 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
	"max_position_embeddings": 2048, "tie_word_embeddings": True,
	"bos_token_id": 0, "eos_token_id": [1, 4],
	"torch_dtype": "float32",
	"llamo": {
		"latent_dim": 32,
		"adapter_hidden_size": 64, "projector_hidden_size": 64, "condition_size": 64,
		"flow_head": {"width": 64, "depth": 2, "frequency_embedding_size": 256,
			      "euler_steps": 50, "guidance_scale": 3.0},
		"exit_head": {"hidden_size": 64, "num_layers": 5, "threshold": 0.5},
		"vae": {"width": 32, "down_t": 2, "depth": 3, "dilation_growth_rate": 3},
		"motion": {"fps": 30, "downsample": 4, "joints": 21, "feature_dim": 260},
		"bom_token_id": 2, "eom_token_id": 3,
		"max_motion_tokens": 16,
		"t2m_template": "<|begin_of_text|>{prompt}",
		"m2t_template": "<|begin_of_text|>{motion}Caption:",
	},
}

PRESETS = {
	"tiny": {"tokenizer_vocab": 512, "config": {}},
	"default": {"tokenizer_vocab": 4096, "config": {
		"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
		"num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
		"llamo": {"adapter_hidden_size": 256, "projector_hidden_size": 256, "condition_size": 256,
			  "flow_head": {"width": 256, "depth": 3, "euler_steps": 50, "guidance_scale": 3.0},
			  "exit_head": {"hidden_size": 128},
			  "vae": {"width": 128},
			  "max_motion_tokens": 75}}},
}

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def merge(a, b):
	out = copy.deepcopy(a)
	for k, v in b.items():
		out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
	return out


def preset_config(name, vocab_size):
	cfg = merge(BASE_CONFIG, PRESETS[name]["config"])
	cfg["vocab_size"] = vocab_size
	return cfg


@torch.no_grad()
def init_weights(model, g):
	"""Linear and conv weights N(0, 1/fan_in) (activations stay O(1)); embeddings N(0, 0.3^2)
	(so the layers, not the input embedding, dominate the last state: greedy decoding of the
	tied LM head then does not just repeat the input token);
	RMSNorm/LayerNorm weights 1 + 0.1 N(0, 1) and every bias 0.1 N(0, 1), so that a norm weight
	or a bias ignored by an implementation changes the output noticeably."""
	for name, p in model.named_parameters():
		if name.endswith("embed_tokens.weight"):
			p.copy_(0.3 * torch.randn(p.shape, generator=g))
		elif p.dim() == 1 and re.search(r"(norm|_ln|layernorm)\.weight$", name):
			p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
		elif name.endswith(".bias"):
			p.copy_(0.1 * torch.randn(p.shape, generator=g))
		elif p.dim() >= 2:
			fan_in = p[0].numel()
			p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
		else:
			raise ValueError(f"init_weights: no rule for {name}")


@torch.no_grad()
def calibrate_exit(model, g, target_p=0.3, logit_std=0.8):
	"""Scales the exit head's last layer so that its logit has std logit_std over motion states
	of random sequences, and sets its bias so that the mean logit is logit(target_p)."""
	cfg = model.cfg
	hs = []
	for _ in range(4):
		ids = torch.randint(5, cfg.vocab_size, (6,), generator=g).tolist()
		z = torch.randn(8, cfg.latent_dim, generator=g)
		h, motion = model.forward_seq([("text", [cfg.bos_token_id] + ids + [cfg.bom_token_id]), ("motion", z)])
		hs.append(h[motion])
		hs.append(h[-1:])
	h = torch.cat(hs)
	layers = model.exit_head.layers
	for l in layers[:-1]:
		h = torch.nn.functional.silu(l(h))
	last = layers[-1]
	raw = (h @ last.weight.t()).squeeze(-1)
	last.weight.mul_(logit_std / float(raw.std()))
	raw = (h @ last.weight.t()).squeeze(-1)
	last.bias.fill_(math.log(target_p / (1 - target_p)) - float(raw.mean()))


def placeholder_skeleton(path):
	"""Writes the hierarchy of the first clip of the Bandai-Namco archive with one rest-pose frame
	(positions = offsets, rotations 0). Used only until tests/data/skeleton_bn.bvh exists."""
	import tarfile
	with tarfile.open(DATASET, "r|xz") as t:
		for m in t:
			if m.name.endswith(".bvh"):
				text = t.extractfile(m).read().decode()
				break
	hier = text[:text.index("MOTION")]
	vals = []
	for line in hier.splitlines():
		w = line.split()
		if w and w[0] == "OFFSET":
			off = w[1:4]
		if w and w[0] == "CHANNELS":
			for ch in w[2:]:
				vals.append(off["XYZ".index(ch[0])] if ch.endswith("position") else "0.0")
	with open(path, "w") as f:
		f.write(hier + "MOTION\nFrames: 1\nFrame Time: 0.0333333\n" + " ".join(vals) + "\n")


def model_card(cfg, preset, dtype, skeleton_placeholder, stats):
	n = cfg["num_hidden_layers"]
	return f"""# llamo {preset} model (random weights)

**The weights of this model are random.** It has the exact shapes, names and computation of a
llamo model (docs/model-format.md), so every program runs on it end to end, but the motion it
generates is noise and its captions are meaningless. It stands in until the trained model lands.

- Built by `train/make_model.py --preset {preset} --dtype {dtype}` (fixed seed; reproducible).
- Backbone: Llama with a motion twin (Mixture-of-Transformers), {n} layers, hidden {cfg["hidden_size"]},
  {cfg["num_attention_heads"]} heads / {cfg["num_key_value_heads"]} kv heads, vocabulary {cfg["vocab_size"]}
  (a small byte-level BPE tokenizer trained by `train/make_tokenizer.py` on caption-like sentences).
- Heads: flow head width {cfg["llamo"]["flow_head"]["width"]}, depth {cfg["llamo"]["flow_head"]["depth"]};
  causal VAE width {cfg["llamo"]["vae"]["width"]}, latent {cfg["llamo"]["latent_dim"]}.
- normalization.safetensors: {"from " + os.path.basename(stats) if stats else "mean 0 / std 1 (placeholder statistics)"}.
- skeleton.bvh: the Bandai-Namco Research Motiondataset-2 skeleton{" (placeholder: the first clip's hierarchy with a rest-pose frame)" if skeleton_placeholder else ""}.

## License and attribution

The skeleton (skeleton.bvh) comes from the Bandai-Namco-Research-Motiondataset
(https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset), Copyright
Bandai Namco Research Inc., licensed under CC BY-NC 4.0
(https://creativecommons.org/licenses/by-nc/4.0/): non-commercial use only, with attribution.
Models trained on that dataset inherit its non-commercial terms.
"""


def build(preset, tokenizer, seed=0, stats=None):
	"""Returns a LlamoModel with random weights and tokenizer_path set. tokenizer: the path of a
	tokenizer.json; trained (make_tokenizer.py, the preset's vocabulary) and written there when
	the file does not exist."""
	vocab = PRESETS[preset]["tokenizer_vocab"]
	if not os.path.exists(tokenizer):
		os.makedirs(os.path.dirname(os.path.abspath(tokenizer)), exist_ok=True)
		make_tokenizer.save(make_tokenizer.build(vocab), tokenizer)
	from tokenizers import Tokenizer
	tk = Tokenizer.from_file(tokenizer)
	cfgd = preset_config(preset, tk.get_vocab_size())
	ids = {s: tk.token_to_id(s) for s in make_tokenizer.SPECIALS}
	cfgd["bos_token_id"] = ids["<|begin_of_text|>"]
	cfgd["eos_token_id"] = [ids["<|end_of_text|>"], ids["<|eot_id|>"]]
	cfgd["llamo"]["bom_token_id"] = ids["<|begin_of_motion|>"]
	cfgd["llamo"]["eom_token_id"] = ids["<|end_of_motion|>"]
	torch.manual_seed(seed)
	model = LlamoModel(Config(cfgd))
	g = torch.Generator().manual_seed(seed)
	init_weights(model, g)
	calibrate_exit(model, g)
	if stats:
		s, _ = st.load(stats)
		model.mean, model.std = s["mean"].float(), s["std"].float()
	model.tokenizer_path = tokenizer
	return model


def write(model, out, preset, dtype_name, stats=None):
	os.makedirs(out, exist_ok=True)
	placeholder = not os.path.exists(SKELETON)
	if placeholder:
		placeholder_skeleton(os.path.join(out, "skeleton.bvh"))
		model.skeleton_path = None
	else:
		model.skeleton_path = SKELETON
	model.save_dir(out, DTYPES[dtype_name], model_card(model.cfg.raw, preset, dtype_name, placeholder, stats))
	return placeholder


def main():
	ap = argparse.ArgumentParser(description="builds a random-weight llamo model directory")
	ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
	ap.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
	ap.add_argument("--seed", type=int, default=0)
	ap.add_argument("--stats", help="safetensors file with mean/std [F] feature statistics")
	ap.add_argument("--tokenizer", help="an existing tokenizer.json (default: train one into --out)")
	ap.add_argument("--out", required=True)
	a = ap.parse_args()
	tok = a.tokenizer or os.path.join(a.out, "tokenizer.json")
	if not a.tokenizer and os.path.exists(tok):
		os.remove(tok)  # retrain: the directory is rebuilt from scratch
	model = build(a.preset, tok, a.seed, a.stats)
	placeholder = write(model, a.out, a.preset, a.dtype, a.stats)
	size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
	print(f"{a.out}: {a.preset} model, {sum(p.numel() for p in model.parameters())} parameters, "
	      f"{size / 1e6:.1f} MB{' (placeholder skeleton)' if placeholder else ''}")


if __name__ == "__main__":
	main()
