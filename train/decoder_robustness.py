#!/usr/bin/env python3
"""How much style a VAE's decoder keeps when its latents leave the encoder's manifold.

The heads rebuilt on runs/vae10's latents generate latents whose style a latent classifier reads
at 96 to 98% while make eval's classifier reads the decoded motion at 86%; with the bundled VAE
the two agree (style_gap.py: 97.1% on the latents, 97.9% decoded). This asks the decoders
directly, with no heads: for --per-pair validation takes of every (content, style) pair, the
C programs encode the take (`vae-enc`), Gaussian noise of r times each latent dimension's std
(over the real validation latents of that VAE) is added to every latent, `vae-dec` writes the
BVH and make eval's classifier (classifier.py, on `vae-enc --features` of that BVH) names the
content and the style. A decoder that holds its style further from the data keeps accuracy as
r grows. Also --shrink: z' = m + (1 - r)(z - m), m the mean validation latent (a motion made
"weaker", towards the average), the failure the style misses look like.

    cd train && LLAMO_WORK=/tmp/llamo-train-vae /usr/bin/python3 decoder_robustness.py \\
        --model ../models/default --model /tmp/vae10-dir

(`vae_check_c.build_model_dir(runs/vae10/vae.safetensors, DIR, "bf16")` makes the second.)
Prints a JSON object on stdout, progress on stderr. Issue 10 (train/runs/vae10/heads-s3n-eval.md).
"""
import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402
import eval as ev  # noqa: E402
from features import frame_offsets, rows_of  # noqa: E402

LATENT = 3


def replace_latents(stream, z):
	"""The same stream with its latent payloads replaced, row for row, by z (headers unchanged)."""
	out, k = bytearray(stream), 0
	for typ, _, _, rows, _, off, n in frame_offsets(stream):
		if typ == LATENT:
			out[off:off + n] = z[k:k + rows].astype("<f4").tobytes()
			k += rows
	assert k == len(z)
	return bytes(out)


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--model", action="append", required=True, help="model directory (repeat)")
	ap.add_argument("--levels", default="0,0.25,0.5,1.0", help="r values, comma-separated")
	ap.add_argument("--shrink", action="store_true", help="pull towards the mean latent instead of adding noise")
	ap.add_argument("--per-pair", type=int, default=2)
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--jobs", type=int, default=1)
	a = ap.parse_args()
	import classifier
	data = dataset.Data()
	clf, _, _ = classifier.load_or_train(data)
	ids = [i for c in range(10) for s in range(7)
	       for i in [j for j in data.val_ids() if data.content[j] == c and data.style[j] == s][:a.per_pair]]
	levels = [float(x) for x in a.levels.split(",")]
	tmp = tempfile.mkdtemp(prefix="dec-robust-")
	acc = lambda p, y: round(float(np.mean(np.asarray(p) == y)), 4)
	res = {"clips": len(ids), "perturbation": "shrink" if a.shrink else "noise", "models": {}}
	for model in a.model:
		def encode(i):
			out, _ = ev.run([ev.BIN + "/vae-enc", "-m", model, os.path.join(dataset.DATA_DIR, data.names[i])],
					env=ev.one_thread())
			return i, out
		with ThreadPoolExecutor(a.jobs) as ex:
			enc = dict(ex.map(encode, ids))
		allz = np.concatenate([rows_of(s, LATENT) for s in enc.values()], 0)
		sd, mean = allz.std(0), allz.mean(0)
		row = {"latent_std": round(float(sd.mean()), 4)}
		for r in levels:
			def decode(k_i):
				k, i = k_i
				z = rows_of(enc[i], LATENT)
				if a.shrink:
					z2 = mean + (1.0 - r) * (z - mean)
				else:
					z2 = z + r * sd * np.random.default_rng(a.seed * 100003 + k).standard_normal(z.shape)
				lat, bvh = os.path.join(tmp, "l%d.lmf" % k), os.path.join(tmp, "d%d.bvh" % k)
				with open(lat, "wb") as f:
					f.write(replace_latents(enc[i], z2.astype(np.float32)))
				ev.run([ev.BIN + "/vae-dec", "-m", model, "-o", bvh, lat], env=ev.one_thread())
				return ev.features_of(ev.run([ev.BIN + "/vae-enc", "-m", model, "--features", bvh],
							     env=ev.one_thread())[0])
			with ThreadPoolExecutor(a.jobs) as ex:
				feats = list(ex.map(decode, enumerate(ids)))
			pc, ps, _ = classifier.predict(clf, feats)
			row["r=%g" % r] = {"content": acc(pc, data.content[ids]), "style": acc(ps, data.style[ids])}
			ev.log("%s r=%g: content %.1f%% style %.1f%%" % (model, r, 100 * row["r=%g" % r]["content"],
									100 * row["r=%g" % r]["style"]))
		res["models"][model] = row
	print(json.dumps(res, indent=1))


if __name__ == "__main__":
	main()
