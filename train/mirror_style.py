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
               style, 0 normal) of the real validation takes and of the mirrored training clips,
               the mirrors measured against the centres of their mirrored content

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
from style_gap import style_reach  # noqa: E402


def reach_table(data, path):
	"""{style: (reach of the real validation takes, of the mirrored training clips)} in the latents
	of path, by style_gap.style_reach (the mirrors in the place of its generations)."""
	os.environ["LLAMO_LATENTS"] = path
	import train_llamo
	lat_data = train_llamo.MotionData()
	zm = np.load(path[:-4] + "_mirror.npz")
	lat, off = zm["latents"], zm["offsets"]
	tr = [i for i in lat_data.train if i < len(data.content)]
	r = style_reach(lat_data, data, data.val_ids(), [lat[off[i]:off[i + 1]] for i in tr],
			augment.MIRROR_CONTENT_IDX[data.content[tr]], data.style[tr])
	return {name: (v["real_val"], v["generated"]) for name, v in r.items()}


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--latents", required=True, help="latents npz of the clips (and its _mirror.npz beside it)")
	a = ap.parse_args()
	torch.set_num_threads(1)
	data = dataset.Data()
	model = classifier.load_or_train(data)[0]
	reach = reach_table(data, a.latents)
	print("| style | validation takes | classifier: real / mirrored read as own style | mirrored read as |"
	      " reach: validation takes / mirrored training clips |")
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
