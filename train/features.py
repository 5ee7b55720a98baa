"""Motion features from BVH through the project's own C code (vae-enc --features), so that
training and inference see identical numbers; and the normalization statistics.

    /usr/bin/python3 features.py --stats ../models/default/normalization.safetensors CLIP.bvh...
    /usr/bin/python3 features.py --stats OUT --dir /path/to/bvh/dir

The frame stream format is man/llamo-frame.5: one header line, then 32-byte frame headers
("LMF1", type, elem, flags, rows, cols, stream, pos, mark, reserved) and little-endian payloads.
"""
import argparse
import glob
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURES = 4


def frame_offsets(data):
    """Yields (type, stream, pos, rows, cols, payload offset, payload bytes) of each frame."""
    nl = data.index(b"\n")
    off = nl + 1
    sizes = {0: 0, 1: 4, 2: 4, 3: 1}
    while off < len(data):
        if data[off:off + 4] == b"LLAM":  # a concatenated stream's header line
            off = data.index(b"\n", off) + 1
            continue
        magic, typ, elem, flags, rows, cols, stream, pos, mark, res = struct.unpack_from("<4sBBHIIIiII", data, off)
        if magic != b"LMF1":
            raise ValueError("bad magic at byte %d" % off)
        off += 32
        n = rows * cols * sizes[elem]
        yield typ, stream, pos, rows, cols, off, n
        off += n


def read_frames(data):
    """Yields (type, stream, pos, rows, cols, payload bytes) from a frame stream."""
    for typ, stream, pos, rows, cols, off, n in frame_offsets(data):
        yield typ, stream, pos, rows, cols, data[off:off + n]


def rows_of(data, typ, required=False):
    """The f32 rows of every frame of this type, concatenated: (n, cols); None if there is none,
    or ValueError if `required`."""
    rows = [np.frombuffer(p, dtype="<f4").reshape(r, c) for t, s, q, r, c, p in read_frames(data) if t == typ]
    if not rows and required:
        raise ValueError("no frame of type %d in the stream" % typ)
    return np.concatenate(rows, 0) if rows else None


def bvh_features(path, model=None):
    """(T, F) float32 features of a BVH file, computed by bin/vae-enc --features."""
    cmd = [os.path.join(ROOT, "bin", "vae-enc"), "--features", path]
    if model:
        cmd += ["-m", model]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return rows_of(out, FEATURES, required=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--dir", help="every *.bvh in this directory")
    ap.add_argument("--model", help="model directory whose skeleton.bvh is used")
    ap.add_argument("--stats", required=True, help="write mean/std [F] here (safetensors)")
    a = ap.parse_args()
    clips = list(a.clips) + (sorted(glob.glob(os.path.join(a.dir, "*.bvh"))) if a.dir else [])
    if not clips:
        sys.exit("features.py: no clips")
    s = s2 = None
    n = 0
    for i, c in enumerate(clips):
        f = bvh_features(c, a.model).astype(np.float64)
        s = f.sum(0) if s is None else s + f.sum(0)
        s2 = (f * f).sum(0) if s2 is None else s2 + (f * f).sum(0)
        n += len(f)
        if (i + 1) % 200 == 0:
            print("features.py: %d/%d clips, %d frames" % (i + 1, len(clips), n), file=sys.stderr)
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean * mean, 0))
    # dimensions that never vary (e.g. frame 0 conventions, a fixed joint) would divide by ~0
    std = np.maximum(std, 1e-3 * max(std.max(), 1e-8) + 1e-4)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import st
    import torch
    st.save(a.stats, {"mean": torch.tensor(mean, dtype=torch.float32), "std": torch.tensor(std, dtype=torch.float32)},
                 metadata={"clips": str(len(clips)), "frames": str(n),
                                    "source": "train/features.py (bin/vae-enc --features)"})
    print("features.py: %d clips, %d frames, feature_dim %d -> %s" % (len(clips), n, len(mean), a.stats), file=sys.stderr)


if __name__ == "__main__":
    main()
