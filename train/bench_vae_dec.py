"""bench_vae_dec.py: motion frames per second of bin/vae-dec (latents -> BVH, as a user runs it)
for a VAE of a given width, on this machine (issue 10: >= 3,000 frames/s on the 2-core CPU).

For each width: a model directory (models/default with a random-weight VAE of that width, BF16
as the bundled model stores it, or --vae FILE for trained weights), a latent stream of --latents
latents (one latent per frame, as vae-enc and llamo-t2m write them), and the wall time of
`vae-dec -o /dev/null` on it (best of --runs; process start and model loading included), and of a
one-latent stream (the fixed cost).

    /usr/bin/python3 bench_vae_dec.py --widths 192,256,320 [--latents 2500] [--threads 1,2]
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import llamo_ref  # noqa: E402
import st  # noqa: E402
import train_vae as tv  # noqa: E402


def latent_stream(n, L=32, seed=0):
    z = np.random.default_rng(seed).standard_normal((n, L)).astype("<f4")
    out = [b"LLAMO1 kind=latent width=%d elem=f32 rate=7.5\n" % L,
           struct.pack("<4sBBHIIIiII", b"LMF1", 6, 0, 0, 0, 0, 0, 0, 1, 0)]
    for i in range(n):
        out.append(struct.pack("<4sBBHIIIiII", b"LMF1", 3, 2, 0, 1, L, 0, i, 0, 0) + z[i].tobytes())
    out.append(struct.pack("<4sBBHIIIiII", b"LMF1", 6, 0, 0, 0, 0, 0, n, 2, 0))
    return b"".join(out)


def model_dir(out, width=None, vae=None, dtype=torch.bfloat16):
    src = os.path.join(ROOT, "models", "default")
    os.makedirs(out, exist_ok=True)
    for f in ("tokenizer.json", "skeleton.bvh", "normalization.safetensors"):
        shutil.copyfile(os.path.join(src, f), os.path.join(out, f))
    if vae:
        vt, _ = st.load(vae)
        vt = {k: v for k, v in vt.items() if k.startswith("vae.")}
    else:
        torch.manual_seed(0)
        m = llamo_ref.CausalVAE(tv.vae_cfg(width))
        vt = {"vae." + k: v.detach() for k, v in m.state_dict().items()}
    width = vt["vae.encoder.conv_in.weight"].shape[0]
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["llamo"]["vae"]["width"] = width
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    sd, meta = st.load(os.path.join(src, "model.safetensors"))
    sd = {k: v for k, v in sd.items() if not k.startswith("vae.")}
    sd.update(vt)
    st.save(os.path.join(out, "model.safetensors"), {k: v.float().to(dtype).contiguous() for k, v in sd.items()}, meta)
    return width


def timed(cmd, inp, env, runs):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, input=inp, stdout=subprocess.DEVNULL, check=True, env=env)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="192,256")
    ap.add_argument("--vae", help="trained vae.safetensors instead of random weights (its width)")
    ap.add_argument("--latents", type=int, default=2500)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    big, one = latent_stream(a.latents), latent_stream(1)
    res = []
    with tempfile.TemporaryDirectory(prefix="llamo-benchvae-") as tmp:
        for w in ([None] if a.vae else [int(x) for x in a.widths.split(",")]):
            d = os.path.join(tmp, "w%s" % w)
            width = model_dir(d, w, a.vae)
            for th in [int(x) for x in a.threads.split(",")]:
                env = dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th))
                cmd = [os.path.join(ROOT, "bin", "vae-dec"), "-m", d, "--device", "cpu"]
                t1 = timed(cmd, one, env, a.runs)
                tb = timed(cmd, big, env, a.runs)
                frames = 4 * a.latents
                r = {"width": width, "threads": th, "frames": frames, "seconds": tb, "fixed_seconds": t1,
                     "frames_per_s": frames / tb, "frames_per_s_without_fixed": frames / max(tb - t1, 1e-9)}
                res.append(r)
                print("width %d, %d thread(s): %d frames in %.3f s (one latent: %.3f s) -> %.0f frames/s "
                      "(%.0f without the fixed cost)" % (width, th, frames, tb, t1, r["frames_per_s"],
                                                        r["frames_per_s_without_fixed"]), flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
