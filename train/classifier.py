"""The motion classifier of make eval: content (10) and style (7) of a clip's motion features.

It is the judge of text to motion (eval.py): trained on the training takes only, its accuracy on
the real validation takes is the ceiling that generated motions are compared with, and its pooled
embedding is the space of the Frechet distance between generated and real motion (as FID uses an
Inception network's, and HumanML3D's FID a motion encoder's).

Model: the features normalized with the training mean/std, every second frame (15 fps), three
1-D convolutions (kernel 5, width 128, GELU; the last two with stride 2), the mean and the max
over time of the valid frames, a 64-wide embedding (Linear + LayerNorm) and one linear head per
label. Trained with Adam on random crops (70-100% of a clip, at least 16 frames) plus small
Gaussian noise; fixed seed; cached under $LLAMO_WORK (/tmp/llamo-train) keyed by the settings
and the feature cache, so make eval trains it once (about two minutes on the 2-core CPU).

    /usr/bin/python3 classifier.py [--retrain]   # train (or load) and print validation accuracy
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402

SETTINGS = {"version": 1, "width": 128, "emb": 64, "stride": 2, "epochs": 25, "batch": 32, "lr": 2e-3,
            "crop": 0.7, "min_len": 16, "noise": 0.05, "seed": 0}


class MotionClassifier(nn.Module):
    """x (B, T, F) raw features, lengths (B,) frames -> content logits (B, 10), style logits (B, 7),
    embedding (B, emb). Normalizes with the buffers mean/std (F,) itself."""

    def __init__(self, dim, width=128, emb=64, stride=2, ncontent=10, nstyle=7):
        super().__init__()
        self.stride = stride
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.c1 = nn.Conv1d(dim, width, 5, padding=2)
        self.c2 = nn.Conv1d(width, width, 5, stride=2, padding=2)
        self.c3 = nn.Conv1d(width, width, 5, stride=2, padding=2)
        self.proj = nn.Linear(2 * width, emb)
        self.norm = nn.LayerNorm(emb)
        self.content = nn.Linear(emb, ncontent)
        self.style = nn.Linear(emb, nstyle)

    def embed(self, x, lengths):
        x = ((x - self.mean) / self.std)[:, ::self.stride].transpose(1, 2)  # (B, F, T')
        n = (lengths + self.stride - 1) // self.stride
        h = F.gelu(self.c1(x))
        h = F.gelu(self.c2(h))
        n = (n + 1) // 2
        h = F.gelu(self.c3(h))
        n = (n + 1) // 2
        valid = torch.arange(h.shape[2])[None, :] < n[:, None]  # (B, T'')
        m = valid[:, None, :].float()
        mean = (h * m).sum(2) / m.sum(2).clamp(min=1)
        mx = h.masked_fill(~valid[:, None, :], -1e9).max(2).values
        return self.norm(self.proj(torch.cat([mean, mx], 1)))

    def forward(self, x, lengths):
        e = self.embed(x, lengths)
        return self.content(e), self.style(e), e


def pad(clips):
    """[(T_i, F) arrays] -> (B, max T, F) float tensor, lengths (B,) long."""
    T = max(len(c) for c in clips)
    x = np.zeros((len(clips), T, clips[0].shape[1]), np.float32)
    for i, c in enumerate(clips):
        x[i, :len(c)] = c
    return torch.from_numpy(x), torch.tensor([len(c) for c in clips])


def train(data, settings=SETTINGS, log=sys.stderr):
    """Trains on data's training takes; returns the model (eval mode)."""
    s = settings
    torch.manual_seed(s["seed"])
    rng = np.random.default_rng(s["seed"])
    mean, std = data.stats()
    model = MotionClassifier(data.feats.shape[1], s["width"], s["emb"], s["stride"])
    model.mean.copy_(torch.tensor(mean, dtype=torch.float32))
    model.std.copy_(torch.tensor(std, dtype=torch.float32))
    ids = data.train_ids()
    clips = [data.clip(i) for i in ids]
    yc, ys = torch.tensor(data.content[ids]), torch.tensor(data.style[ids])
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"], weight_decay=1e-4)
    steps = s["epochs"] * ((len(ids) + s["batch"] - 1) // s["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, s["lr"], total_steps=steps)
    t0 = time.time()
    model.train()
    for ep in range(s["epochs"]):
        # batches of similar length: sort a noisy length so the batches change every epoch
        order = np.argsort([len(c) * rng.uniform(0.8, 1.25) for c in clips])
        batches = [order[k:k + s["batch"]] for k in range(0, len(order), s["batch"])]
        rng.shuffle(batches)
        tot = correct_c = correct_s = 0
        for b in batches:
            crops = []
            for i in b:
                c = clips[i]
                n = max(min(len(c), s["min_len"]), int(len(c) * rng.uniform(s["crop"], 1)))
                o = rng.integers(0, len(c) - n + 1)
                crops.append(c[o:o + n])
            x, lengths = pad(crops)
            x = x + s["noise"] * torch.randn_like(x) * model.std
            lc, ls, _ = model(x, lengths)
            loss = F.cross_entropy(lc, yc[b]) + F.cross_entropy(ls, ys[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += len(b)
            correct_c += (lc.argmax(1) == yc[b]).sum().item()
            correct_s += (ls.argmax(1) == ys[b]).sum().item()
        print("classifier: epoch %d/%d train acc content %.3f style %.3f (%.0f s)" % (
            ep + 1, s["epochs"], correct_c / tot, correct_s / tot, time.time() - t0), file=log)
    model.eval()
    return model


@torch.no_grad()
def predict(model, clips, batch=64):
    """[(T_i, F) arrays] -> content (n,), style (n,) predicted indices, embeddings (n, emb) numpy."""
    order = np.argsort([len(c) for c in clips])
    pc, ps, emb = np.zeros(len(clips), np.int64), np.zeros(len(clips), np.int64), None
    for k in range(0, len(order), batch):
        b = order[k:k + batch]
        x, lengths = pad([clips[i] for i in b])
        lc, ls, e = model(x, lengths)
        if emb is None:
            emb = np.zeros((len(clips), e.shape[1]), np.float64)
        pc[b], ps[b], emb[b] = lc.argmax(1).numpy(), ls.argmax(1).numpy(), e.numpy()
    return pc, ps, emb


def cache_path(settings=SETTINGS, features=dataset.CACHE):
    st = os.stat(features)
    key = json.dumps([settings, st.st_size, int(st.st_mtime)], sort_keys=True)
    return os.path.join(dataset.WORK, "classifier-%s.pt" % hashlib.sha1(key.encode()).hexdigest()[:12])


def load_or_train(data, retrain=False, settings=SETTINGS, log=sys.stderr):
    """The classifier for these settings and this feature cache: loaded from dataset.WORK, or
    trained (and saved there). Returns (model, path, trained now?)."""
    path = cache_path(settings)
    model = MotionClassifier(data.feats.shape[1], settings["width"], settings["emb"], settings["stride"])
    if os.path.exists(path) and not retrain:
        model.load_state_dict(torch.load(path))
        model.eval()
        return model, path, False
    model = train(data, settings, log)
    torch.save(model.state_dict(), path + ".tmp")
    os.replace(path + ".tmp", path)
    return model, path, True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--retrain", action="store_true", help="train even when a cached model exists")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--epochs", type=int, help="override the number of epochs (a separate cache entry)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    settings = dict(SETTINGS, **({"epochs": a.epochs} if a.epochs else {}))
    data = dataset.Data()
    t0 = time.time()
    model, path, trained = load_or_train(data, a.retrain, settings)
    print("classifier: %s %s in %.0f s" % ("trained" if trained else "loaded", path, time.time() - t0))
    ids = data.val_ids()
    pc, ps, _ = predict(model, [data.clip(i) for i in ids])
    print("classifier: validation takes (%d clips): content %.1f%%, style %.1f%%, both %.1f%%" % (
        len(ids), 100 * np.mean(pc == data.content[ids]), 100 * np.mean(ps == data.style[ids]),
        100 * np.mean((pc == data.content[ids]) & (ps == data.style[ids]))))


if __name__ == "__main__":
    main()
