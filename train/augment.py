"""Augmentations of the motion features (docs/motion.md) for the VAE and the motion model (issue 10):

- Left-right mirroring (mirror). In the feature space (mirror_features): the mirror is S = diag(-1, 1, 1)
  (after heading removal the character faces +Z and its left is +X): root velocity x -> -x,
  heading change phi -> -phi, positions and their differences: the _L/_R joints swapped and x
  negated, rotations relative to the rest pose Q -> S Q S of the swapped joint (6D rows
  (a0, a1, a2), (b0, b1, b2) -> (a0, -a1, -a2), (-b0, b1, b2)). This is exact for rotations and
  root, but the skeleton's rest pose (a real standing frame) is not exactly symmetric, so the
  mirrored rotations put the joints a little away from the mirrored positions. mirror_c makes it
  exact for the skeleton: the mirrored features go to BVH through bin/vae-dec (which writes the
  BVH from the root channels and the rotations only, docs/motion.md 5) and come back through
  bin/vae-enc --features, so positions and differences are forward kinematics of the mirrored
  rotations on the skeleton, as for every real clip. mirror_c(mirror_c(x)) == x up to the
  round trip (docs/motion.md 7), measured by `augment.py --check`.
  Labels: MIRROR_CONTENT swaps wave-left-hand / wave-right-hand, walk-turn-left /
  walk-turn-right, raise-up-left-hand / raise-up-right-hand; the others stay.
- Speed perturbation (resample): the clip's global root path and heading (integrated), its
  heading-free joint positions and its rotations (6D, re-orthonormalized) are linearly
  interpolated at times start + i * s, and the velocity, heading-change and difference
  features are taken again from the resampled frames.
- Random heading: the features do not contain the heading at all (docs/motion.md 4: velocities
  in the previous frame's heading frame, heading changes, heading-free positions, the root
  rotation with the heading removed), so turning a clip about Y leaves its features unchanged
  to float rounding: nothing to augment.

    /usr/bin/python3 augment.py --build      # WORK/features_mirror.npz (every clip mirrored)
    /usr/bin/python3 augment.py --check      # mirror twice == identity, the mirrored wave's moving wrist, speed(1) == identity
"""
import argparse
import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import dataset  # noqa: E402
from features import FEATURES, rows_of  # noqa: E402

JOINTS = ["Hips", "Spine", "Chest", "Neck", "Head", "Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L",
          "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R", "UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L",
          "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R"]
N = len(JOINTS)
FDIM = 8 + 12 * N
POS = slice(8, 8 + 3 * N)
DPOS = slice(8 + 3 * N, 8 + 6 * N)
ROT = slice(8 + 6 * N, 8 + 12 * N)
MIRROR_CONTENT = {c: c for c in dataset.CONTENTS}
for a, b in [("wave-left-hand", "wave-right-hand"), ("walk-turn-left", "walk-turn-right"),
             ("raise-up-left-hand", "raise-up-right-hand")]:
    MIRROR_CONTENT[a], MIRROR_CONTENT[b] = b, a
MIRROR_CONTENT_IDX = np.array([dataset.CONTENTS.index(MIRROR_CONTENT[c]) for c in dataset.CONTENTS])
MIRROR_CACHE = os.path.join(dataset.WORK, "features_mirror.npz")


def swap_perm():
    """joint index -> index of its mirror joint (_L <-> _R, others themselves)."""
    p = []
    for n in JOINTS:
        if n.endswith("_L"):
            p.append(JOINTS.index(n[:-2] + "_R"))
        elif n.endswith("_R"):
            p.append(JOINTS.index(n[:-2] + "_L"))
        else:
            p.append(JOINTS.index(n))
    return np.array(p)


PERM = swap_perm()


def mirror_features(f):
    """(T, F) -> (T, F) mirrored in the feature space (see the module doc)."""
    f = np.asarray(f)
    g = f.copy()
    T = len(f)
    g[:, 0] = -f[:, 0]
    g[:, 4] = -f[:, 4]                                   # 6D of Ry(phi): row 0 (c, 0, s), row 1 (0, 1, 0)
    g[:, 3] = -f[:, 3]
    g[:, 5] = -f[:, 5]
    for sl in (POS, DPOS):
        p = f[:, sl].reshape(T, N, 3)[:, PERM].copy()
        p[..., 0] = -p[..., 0]
        g[:, sl] = p.reshape(T, 3 * N)
    r = f[:, ROT].reshape(T, N, 6)[:, PERM].copy()
    r[..., 1], r[..., 2], r[..., 3] = -r[..., 1], -r[..., 2], -r[..., 3]
    g[:, ROT] = r.reshape(T, 6 * N)
    return g


def feature_stream(f):
    """bytes of a llamo frame stream (man/llamo-frame.5) carrying the features f in one frame."""
    f = np.ascontiguousarray(f, dtype="<f4")
    head = b"LLAMO1 kind=features width=%d elem=f32 rate=30\n" % f.shape[1]
    return head + struct.pack("<4sBBHIIIiII", b"LMF1", 4, 2, 0, f.shape[0], f.shape[1], 0, 0, 0, 0) + f.tobytes()


def via_c(f, model=None):
    """features -> BVH (bin/vae-dec) -> features (bin/vae-enc --features): the skeleton's own
    forward kinematics of the root channels and rotations of f."""
    m = ["-m", model] if model else []
    bvh = subprocess.run([os.path.join(ROOT, "bin", "vae-dec")] + m, input=feature_stream(f),
                         stdout=subprocess.PIPE, check=True).stdout
    out = subprocess.run([os.path.join(ROOT, "bin", "vae-enc"), "--features"] + m, input=bvh,
                         stdout=subprocess.PIPE, check=True).stdout
    return rows_of(out, FEATURES, required=True)


def mirror_c(f, model=None):
    return via_c(mirror_features(f), model)


def refk(g):
    """Position and difference features of g taken again from its rotations and root height by
    forward kinematics on the skeleton (train_vae.fk_local, the same computation as the C
    library's; `--check` compares it with mirror_c)."""
    import torch
    import train_vae as tv
    r = torch.from_numpy(np.asarray(g, np.float64))[None]
    p = tv.fk_local(r, tv.rest_off_cached().double())[0].numpy().reshape(len(g), 3 * N)
    g = np.array(g, np.float64)
    g[:, POS] = p
    g[:, DPOS] = 0
    g[1:, DPOS] = p[1:] - p[:-1]
    return g.astype(np.float32)


def mirror(f):
    """The mirrored clip: mirror_features, then positions by forward kinematics (refk)."""
    return refk(mirror_features(f))


def build_mirror_cache(path=MIRROR_CACHE, jobs=1):
    """Every clip of dataset.Data mirrored (mirror: rotations and root mirrored, positions by
    forward kinematics on the skeleton), same order and offsets; the mirrored content labels in
    `content`."""
    data = dataset.Data()
    with ThreadPoolExecutor(jobs) as ex:
        out = list(ex.map(lambda i: mirror(data.clip(i)), range(len(data))))
    lens = [len(o) for o in out]
    assert np.array_equal(lens, np.diff(data.offsets)), "mirrored clip lengths differ"
    tmp = path[:-4] + ".tmp.npz"
    np.savez(tmp, feats=np.concatenate(out, 0).astype(np.float32), offsets=data.offsets,
             content=MIRROR_CONTENT_IDX[data.content], style=data.style, take=data.take,
             names=np.array(["mirror:" + str(n) for n in data.names]), val=data.val)
    os.replace(tmp, path)
    return path


# ---- speed perturbation ----

def root_path(f):
    """(T, F) -> global root xz (T, 2) and heading theta (T,) as the decoder integrates them
    (docs/motion.md 5; train_vae.root_trajectory in numpy, float64)."""
    f = np.asarray(f, np.float64)
    phi = np.arctan2(f[:, 4], f[:, 2])
    theta = -np.cumsum(phi)
    thp = np.concatenate([[0.0], theta[:-1]])
    c, s = np.cos(thp), np.sin(thp)
    vx, vz = f[:, 0], f[:, 1]
    step = np.stack([c * vx + s * vz, -s * vx + c * vz], -1)
    return np.cumsum(step, 0), theta


def gram_schmidt6(d):
    a1, a2 = d[..., :3], d[..., 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    a2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-12)
    return np.concatenate([b1, b2], -1)


def resample(f, times, path=None, first_is_start=False):
    """Features of the clip f sampled at the (fractional, increasing) frame times `times`
    (len n >= 1); times[0] >= 1 gives frame 0 a real velocity (from times[0] - (times[1] - times[0])),
    first_is_start gives it the clip-start conventions (zero velocity, identity heading change)."""
    f = np.asarray(f, np.float64)
    T = len(f)
    root, theta = path if path is not None else root_path(f)
    times = np.asarray(times, np.float64)
    dt = times[1] - times[0] if len(times) > 1 else 1.0
    tt = np.concatenate([[times[0] - dt], times])
    tt = np.clip(tt, 0, T - 1)
    i0 = np.minimum(np.floor(tt).astype(int), T - 2) if T > 1 else np.zeros(len(tt), int)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (tt - i0)[:, None]

    def lerp(x):
        return x[i0] * (1 - w) + x[i1] * w
    r = lerp(root)
    th = lerp(theta[:, None])[:, 0]
    g = np.zeros((len(times), f.shape[1]))
    pos = lerp(f[:, POS])
    g[:, POS] = pos[1:]
    g[:, DPOS] = pos[1:] - pos[:-1]
    g[:, ROT] = gram_schmidt6(lerp(f[:, ROT]).reshape(len(tt), N, 6)).reshape(len(tt), 6 * N)[1:]
    # velocity: v_t = Ry(-theta_{t-1}) (r_t - r_{t-1}); heading change phi_t = theta_{t-1} - theta_t
    d = r[1:] - r[:-1]
    c, s = np.cos(th[:-1]), np.sin(th[:-1])
    g[:, 0] = c * d[:, 0] - s * d[:, 1]
    g[:, 1] = s * d[:, 0] + c * d[:, 1]
    phi = th[:-1] - th[1:]
    g[:, 2], g[:, 3], g[:, 4], g[:, 5], g[:, 6], g[:, 7] = np.cos(phi), 0, np.sin(phi), 0, 1, 0
    if first_is_start:
        g[0, 0:2] = 0
        g[0, 2:8] = [1, 0, 0, 0, 1, 0]
        g[0, DPOS] = 0
    return g.astype(np.float32)


def speed(f, s):
    """The whole clip played s times as fast (s > 1 shorter): round((T - 1) / s) + 1 frames."""
    n = int(round((len(f) - 1) / s)) + 1
    return resample(f, np.arange(n) * s, first_is_start=True)


# ---- checks ----

def check(nclips=12):
    data = dataset.Data()
    rng = np.random.default_rng(0)
    ids = rng.choice(len(data), nclips, replace=False)
    # 1. mirror twice is the identity
    e_feat, e_c, e_pos_fk, e_py = [], [], [], []
    for i in ids:
        x = data.clip(i)
        e_feat.append(np.abs(mirror_features(mirror_features(x)) - x).max())
        m = mirror_c(x)
        mm = mirror_c(m)
        e_c.append(np.abs(mm - x).max())
        e_py.append(np.abs(mirror(x) - m).max())
        # how far forward kinematics of the mirrored rotations puts the joints from the mirrored positions
        mf = mirror_features(x)
        e_pos_fk.append(1000 * np.linalg.norm((m[:, POS] - mf[:, POS]).reshape(len(x), N, 3), axis=-1).mean())
    print("mirror twice, feature space: max abs difference %.2e" % max(e_feat))
    print("mirror twice through the C code (FK on the skeleton): max abs difference %.2e" % max(e_c))
    print("mirror (Python FK, what the cache holds) vs mirror_c (C FK): max abs difference %.2e" % max(e_py))
    print("mirrored positions by FK vs mirrored position features: mean %.2f mm (max over clips %.2f)" % (
        np.mean(e_pos_fk), np.max(e_pos_fk)))
    # 2. the mirrored one-hand waves move the other wrist
    HL, HR = JOINTS.index("Hand_L"), JOINTS.index("Hand_R")
    for cname in ("wave-left-hand", "wave-right-hand", "raise-up-left-hand", "raise-up-right-hand"):
        c = dataset.CONTENTS.index(cname)
        sel = np.nonzero(data.content == c)[0][:20]
        lr, lr_m = [], []
        for i in sel:
            for arr, out in ((data.clip(i), lr), (mirror_c(data.clip(i)), lr_m)):
                p = arr[:, POS].reshape(len(arr), N, 3)
                path = lambda k: np.linalg.norm(np.diff(p[:, k], axis=0), axis=1).sum()
                out.append(path(HL) > path(HR))
        print("%s (%d clips): left wrist moves more than the right in %.0f%%; mirrored (labelled %s): %.0f%%" % (
            cname, len(sel), 100 * np.mean(lr), MIRROR_CONTENT[cname], 100 * np.mean(lr_m)))
    # 3. walk-turn-left turns left; mirrored it turns right
    for cname in ("walk-turn-left", "walk-turn-right"):
        c = dataset.CONTENTS.index(cname)
        sel = np.nonzero(data.content == c)[0][:20]
        t, tm = [], []
        for i in sel:
            t.append(np.degrees(root_path(data.clip(i))[1][-1]))
            tm.append(np.degrees(root_path(mirror_c(data.clip(i)))[1][-1]))
        print("%s: mean total turn %+.0f deg (+ = left, as eval.describe); mirrored %+.0f deg" % (cname, np.mean(t), np.mean(tm)))
    # 4. speed 1 is the identity; speed s keeps the path length
    e1, el = [], []
    for i in ids:
        x = data.clip(i)
        e1.append(np.abs(speed(x, 1.0) - x).max())
        for s in (0.8, 1.25):
            y = speed(x, s)
            a, b = np.linalg.norm(x[:, :2], axis=1).sum(), np.linalg.norm(y[:, :2], axis=1).sum()
            el.append(abs(a - b) / max(a, 1e-3))
    print("speed 1.0: max abs difference %.2e; speed 0.8 / 1.25: root path length changes by %.2f%% on average" % (
        max(e1), 100 * np.mean(el)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args()
    if a.build:
        print("augment: ->", build_mirror_cache(jobs=a.jobs))
    if a.check:
        check()


if __name__ == "__main__":
    main()
