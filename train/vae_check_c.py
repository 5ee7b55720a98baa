"""vae_check_c.py: the trained VAE through the C programs, on the validation takes.

Builds a model directory (models/default with the trained vae.* tensors, the vae width in
config.json and the trained normalization), then for every validation clip runs

    bin/vae-enc clip.bvh | bin/vae-dec > out.bvh          (and vae-dec --features)

and measures out.bvh against the clip: both read back to features by bin/vae-enc --features
(exact to 1e-4 mm, docs/motion.md 7), so the joint positions compared are those of forward
kinematics on the BVH's rotations (local: heading-free, root xz at the origin; global: the root
integrated from its velocities and heading, both clips starting at the same place and facing).
Also prints how far the C decoder's features are from PyTorch's (train_vae.reconstruct).

    /usr/bin/python3 vae_check_c.py [--vae runs/vae/vae.safetensors] [--dtype f32|bf16] [--clips N]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402
import features  # noqa: E402
import llamo_ref  # noqa: E402
import st  # noqa: E402
import train_vae as tv  # noqa: E402

ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "bin")


def build_model_dir(vae_path, out, dtype, src=None):
	"""The model directory src (default models/default) with the trained VAE and normalization;
	every tensor in dtype."""
	src = src or os.path.join(ROOT, "models", "default")
	os.makedirs(out, exist_ok=True)
	for f in ("tokenizer.json", "skeleton.bvh"):
		shutil.copyfile(os.path.join(src, f), os.path.join(out, f))
	vt, _ = st.load(vae_path)
	width = vt["vae.encoder.conv_in.weight"].shape[0]
	with open(os.path.join(src, "config.json")) as f:
		cfg = json.load(f)
	cfg["llamo"]["vae"]["width"] = width
	cfg["torch_dtype"] = {"f32": "float32", "bf16": "bfloat16"}[dtype]
	with open(os.path.join(out, "config.json"), "w") as f:
		json.dump(cfg, f, indent=2)
		f.write("\n")
	sd, meta = st.load(os.path.join(src, "model.safetensors"))
	td = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]
	sd = {k: v for k, v in sd.items() if not k.startswith("vae.")}
	sd.update({k: v for k, v in vt.items() if k.startswith("vae.")})
	sd = {k: v.float().to(td).contiguous() for k, v in sd.items()}
	st.save(os.path.join(out, "model.safetensors"), sd, meta)
	st.save(os.path.join(out, "normalization.safetensors"), {"mean": vt["mean"], "std": vt["std"]})
	return width


def run(cmd, inp=None):
	return subprocess.run(cmd, input=inp, stdout=subprocess.PIPE, check=True).stdout


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--vae", default=os.path.join(HERE, "runs", "vae", "vae.safetensors"))
	ap.add_argument("--model-dir", default="/tmp/llamo-vae-model")
	ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
	ap.add_argument("--clips", type=int, default=0, help="first N validation clips (0: all)")
	a = ap.parse_args()
	torch.set_num_threads(1)
	width = build_model_dir(a.vae, a.model_dir, a.dtype)
	m = ["-m", a.model_dir]
	data = dataset.Data()
	items = dataset.clips()
	ids = data.val_ids()
	if a.clips:
		ids = ids[:a.clips]
	vt, _ = st.load(a.vae)
	mean, std = vt["mean"].numpy(), vt["std"].numpy()
	vae = llamo_ref.CausalVAE(tv.vae_cfg(width))
	vae.load_state_dict({k[4:]: v.float() for k, v in vt.items() if k.startswith("vae.")})
	vae.eval()
	if a.dtype == "bf16":
		for p in vae.parameters():
			p.data = p.data.bfloat16().float()
	acc = np.zeros(8)
	dmax, t_dec, frames = 0.0, 0.0, 0
	for n, k in enumerate(ids):
		path = items[k][0]
		lat = run([os.path.join(BIN, "vae-enc")] + m + [path])
		t = time.time()
		bvh = run([os.path.join(BIN, "vae-dec")] + m, lat)
		t_dec += time.time() - t
		fc = run([os.path.join(BIN, "vae-dec"), "--features"] + m, lat)
		fc = features.rows_of(fc, features.FEATURES, required=True)
		tmp = os.path.join(a.model_dir, "out.bvh")
		with open(tmp, "wb") as f:
			f.write(bvh)
		rec = features.bvh_features(tmp, a.model_dir)
		real = data.clip(k)[:len(rec)]
		acc += tv.clip_metrics(real, rec)
		frames += len(rec)
		(real_py, rec_py), = tv.reconstruct(vae, data, [k], mean, std)
		dmax = max(dmax, float(np.abs((rec_py - fc) / std).max()))
		if (n + 1) % 50 == 0:
			print("vae_check_c: %d/%d clips" % (n + 1, len(ids)), file=sys.stderr)
	res = {"clips": len(ids), "frames": frames, "width": width, "dtype": a.dtype,
	       "mpjpe_local_mm": 1000 * acc[1] / acc[0], "mpjpe_global_mm": 1000 * acc[2] / acc[0],
	       "rot_err_deg": acc[3] / acc[4], "jerk_real": acc[5] / acc[7], "jerk_rec": acc[6] / acc[7],
	       "c_vs_torch_max_norm_diff": dmax,
	       "vae_dec_frames_per_s_incl_load": frames / t_dec}
	print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}))


if __name__ == "__main__":
	main()
