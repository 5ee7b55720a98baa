#!/usr/bin/env python3
"""Does a mirrored clip keep its style? (issue 10: why heads trained with --mirror make some styles weakly)

augment.py's left-right mirror is exact for the skeleton, and the content labels follow it
(wave-left-hand <-> wave-right-hand, ...). The style labels stay, but a performer's style is not
always symmetric. Two readings, per style:

  classifier   make eval's classifier (classifier.py, trained on the real training takes only) on
               the real validation takes and on their mirror (augment.mirror): the share read as
               the clip's own style, and what the mirrored ones are read as
  reach        style_gap.py's style reach (the pooled latent projected on the line from the real
               training clips of (content, normal) to those of (content, style); 1 is the real
               style, 0 normal) of the training clips and of their mirrors, the mirrors measured
               against the centres of their mirrored content

Needs the features (dataset.py), the mirrored features (augment.py --build) and the latents of
both (train_vae.py --mirror --write-latents writes LATENTS and LATENTS with _mirror).

    cd train && LLAMO_WORK=/tmp/llamo-train-vae /usr/bin/python3 mirror_style.py \\
        --latents /tmp/llamo-train-vae/latents_vae10.npz

Prints a table on stdout (train/runs/vae10/heads-s3n-eval.md, "Eighth try").
"""
import argparse
import collections
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import augment  # noqa: E402
import classifier  # noqa: E402
import dataset  # noqa: E402
from style_gap import pooled  # noqa: E402


def reach_table(data, path):
	"""{style: (mean reach of the training clips, of their mirrors)} for the latents in path."""
	z, zm = np.load(path), np.load(path[:-4] + "_mirror.npz")
	off = z["offsets"]
	tr = np.nonzero(~data.val & (np.diff(off) > 0))[0]
	P = {i: pooled(z["latents"][off[i]:off[i + 1]]) for i in tr}
	Pm = {i: pooled(zm["latents"][off[i]:off[i + 1]]) for i in tr}
	normal = dataset.STYLES.index("normal")
	centre = {}
	for c in range(len(dataset.CONTENTS)):
		for s in range(len(dataset.STYLES)):
			centre[c, s] = np.mean([P[i] for i in tr if data.content[i] == c and data.style[i] == s], 0)

	def reach(p, c, s):
		d = centre[c, s] - centre[c, normal]
		return float((p - centre[c, normal]) @ d / (d @ d))
	mc = augment.MIRROR_CONTENT_IDX
	out = {}
	for s, name in enumerate(dataset.STYLES):
		if s != normal:
			out[name] = (np.mean([reach(P[i], data.content[i], s) for i in tr if data.style[i] == s]),
				     np.mean([reach(Pm[i], mc[data.content[i]], s) for i in tr if data.style[i] == s]))
	return out


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--latents", required=True, help="latents npz of the clips (and its _mirror.npz beside it)")
	a = ap.parse_args()
	torch.set_num_threads(1)
	data = dataset.Data()
	model = classifier.load_or_train(data)[0]
	reach = reach_table(data, a.latents)
	print("| style | validation takes | classifier: real / mirrored read as own style | mirrored read as |"
	      " reach: training clips / mirrored |")
	print("|---|---:|---:|---|---:|")
	for s, name in enumerate(dataset.STYLES):
		sel = np.nonzero((data.style == s) & data.val)[0]
		_, pr, _ = classifier.predict(model, [data.clip(i) for i in sel])
		_, pm, _ = classifier.predict(model, [augment.mirror(data.clip(i)) for i in sel])
		read = ", ".join("%s %d" % (dataset.STYLES[k], n) for k, n in collections.Counter(pm).most_common(3))
		r = "%.2f / %.2f" % reach[name] if name in reach else ""
		print("| %s | %d | %.0f%% / %.0f%% | %s | %s |" % (name, len(sel), 100 * np.mean(pr == s),
								    100 * np.mean(pm == s), read, r))


if __name__ == "__main__":
	main()
