"""The Bandai-Namco motion data as the training scripts see it: clips, labels, the validation
split by take, and the motion features computed by the project's own C code (bin/vae-enc
--features, through features.py), cached once.

    /usr/bin/python3 dataset.py            # unpack the archive if needed, build the cache, print a summary

Split: within every (content, style) pair the takes are sorted by their number and every take
whose rank r has r % 8 == 3 is validation (12.5%, at least one in ten of every pair), never
trained on. The labels come from the file names dataset-2_{content}_{style}_{NNN}.bvh.
"""
import glob
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("LLAMO_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
ARCHIVE = os.path.join(SHARED, "data", "bandai-namco-ds2.tar.xz")
WORK = os.environ.get("LLAMO_WORK", "/tmp/llamo-train")
DATA_DIR = os.path.join(WORK, "Bandai-Namco-Research-Motiondataset-2", "data")
CACHE = os.path.join(WORK, "features.npz")

CONTENTS = ["walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
            "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand"]
STYLES = ["active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"]
NAME = re.compile(r"dataset-2_(.+)_([a-z]+)_(\d+)\.bvh$")


def unpack():
    """Unpacks the archive into WORK once; returns the directory of the BVH files."""
    if not os.path.isdir(DATA_DIR):
        os.makedirs(WORK, exist_ok=True)
        subprocess.run(["tar", "-xJf", ARCHIVE, "-C", WORK], check=True)
    return DATA_DIR


def clips(data_dir=None):
    """[(path, content index, style index, take number)] sorted by name."""
    out = []
    for p in sorted(glob.glob(os.path.join(data_dir or unpack(), "*.bvh"))):
        m = NAME.search(os.path.basename(p))
        if not m:
            raise ValueError("unexpected clip name " + p)
        out.append((p, CONTENTS.index(m.group(1)), STYLES.index(m.group(2)), int(m.group(3))))
    return out


def split(items):
    """Boolean array: True for validation clips (see the module doc)."""
    val = np.zeros(len(items), bool)
    pairs = {}
    for i, (_, c, s, take) in enumerate(items):
        pairs.setdefault((c, s), []).append((take, i))
    for lst in pairs.values():
        for r, (_, i) in enumerate(sorted(lst)):
            val[i] = r % 8 == 3
    return val


def build_cache(path=CACHE):
    sys.path.insert(0, HERE)
    from features import bvh_features
    items = clips()
    feats, lens = [], []
    for k, (p, _, _, _) in enumerate(items):
        f = bvh_features(p)
        feats.append(f.astype(np.float32))
        lens.append(len(f))
        if (k + 1) % 500 == 0:
            print("dataset: %d/%d clips" % (k + 1, len(items)), file=sys.stderr)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    np.savez(path, feats=np.concatenate(feats, 0), offsets=offsets,
             content=np.array([c for _, c, _, _ in items], np.int64),
             style=np.array([s for _, _, s, _ in items], np.int64),
             take=np.array([t for _, _, _, t in items], np.int64),
             names=np.array([os.path.basename(p) for p, _, _, _ in items]),
             val=split(items))
    return path


class Data:
    """The cached features: clip(i) -> (T, F) float32 array; content, style, take, val arrays."""

    def __init__(self, path=CACHE):
        if not os.path.exists(path):
            build_cache(path)
        z = np.load(path)
        self.feats, self.offsets = z["feats"], z["offsets"]
        self.content, self.style, self.take = z["content"], z["style"], z["take"]
        self.names, self.val = z["names"], z["val"]

    def __len__(self):
        return len(self.content)

    def clip(self, i):
        return self.feats[self.offsets[i]:self.offsets[i + 1]]

    def train_ids(self):
        return np.nonzero(~self.val)[0]

    def val_ids(self):
        return np.nonzero(self.val)[0]

    def stats(self):
        """Mean and std over the training clips' frames (float64)."""
        x = np.concatenate([self.clip(i) for i in self.train_ids()], 0).astype(np.float64)
        mean, std = x.mean(0), x.std(0)
        return mean, np.maximum(std, 1e-3 * std.max() + 1e-4)


if __name__ == "__main__":
    d = Data()
    n = len(d)
    print("dataset: %d clips, %d frames, feature_dim %d; validation %d clips (%d frames)" % (
        n, len(d.feats), d.feats.shape[1], d.val.sum(),
        sum(len(d.clip(i)) for i in d.val_ids())))
    for c in range(len(CONTENTS)):
        for s in range(len(STYLES)):
            m = (d.content == c) & (d.style == s)
            assert (d.val & m).sum() * 10 >= m.sum(), (CONTENTS[c], STYLES[s])
