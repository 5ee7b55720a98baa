"""train_vae.py: trains the causal motion VAE (llamo_ref.CausalVAE, docs/model-format.md 4.4) on the
Bandai-Namco features (dataset.Data), the paper's recipe (LLaMo 3.2, MotionStreamer's causal TAE):

    z = mu + sigma * eps,  sigma ~ U(0, 0.01) per sample (not predicted; the logvar half of the
    encoder's projection is kept for the format but unused)
    loss = weighted smooth-L1 reconstruction of the normalized features
         + velocity (frame difference) term on the joint positions
         + root trajectory term (root velocity and heading integrated over the window, metres)
         + 1e-4 * mean(mu^2)

    /usr/bin/python3 train_vae.py --width 256 --minutes 30 --out runs/vae

Writes OUT/log.txt, OUT/loss.png, OUT/vae.pt (best by validation reconstruction),
OUT/vae.safetensors (vae.* tensors + mean, std, F32), OUT/normalization.safetensors and
LATENTS (default /tmp/llamo-train/latents.npz: encoder mu of every clip, written atomically;
an early version after --early-latents minutes). `--eval-only` reloads OUT/vae.pt and prints the
validation numbers (eval_numbers below).
"""
import argparse
import json
import math
import os
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402
import llamo_ref  # noqa: E402
import st  # noqa: E402

N_JOINTS = 21
POS = slice(8, 8 + 3 * N_JOINTS)
DPOS = slice(8 + 3 * N_JOINTS, 8 + 6 * N_JOINTS)
ROT = slice(8 + 6 * N_JOINTS, 8 + 12 * N_JOINTS)
FPS = 30


def vae_cfg(width, feature_dim=260):
	return types.SimpleNamespace(vae_width=width, vae_down_t=2, vae_depth=3, vae_growth=3,
				     latent_dim=32, feature_dim=feature_dim)


# ---------------------------------------------------------------------------------------------
# Batched forward passes: the same modules and the same computation as llamo_ref.Encoder.forward
# and Decoder.forward (which take one sequence), over a batch. Causal, so padding a sequence at
# its end changes none of its earlier outputs.


def encode_batch(vae, x):
	"""x (B, T, F) normalized, T % 4 == 0 -> (mu, logvar) (B, T/4, L)."""
	e = vae.encoder
	h = F.relu(e.conv_in(x.transpose(1, 2)))
	for s in e.down:
		h = s(h)
	h = e.proj(e.conv_out(h).transpose(1, 2))
	L = h.shape[-1] // 2
	return h[..., :L], h[..., L:]


def decode_batch(vae, z):
	"""z (B, n, L) -> (B, 4n, F) normalized."""
	d = vae.decoder
	h = F.relu(d.conv_in(d.proj(z).transpose(1, 2)))
	for s in d.up:
		h = s(h)
	h = F.relu(d.conv_mid(h))
	return d.conv_out(h).transpose(1, 2)


# ---------------------------------------------------------------------------------------------
# Motion geometry (docs/motion.md section 5), differentiable, in torch


def root_trajectory(raw):
	"""raw (B, T, F) features in their units -> (global root xz (B, T, 2) metres, theta (B, T))."""
	phi = torch.atan2(raw[..., 4], raw[..., 2])     # heading change per frame (a_t[2], a_t[0])
	theta = -torch.cumsum(phi, 1)                    # theta'_t = theta'_{t-1} - atan2(...)
	th_prev = F.pad(theta[:, :-1], (1, 0))           # theta'_{t-1}, 0 for the first frame
	c, s = torch.cos(th_prev), torch.sin(th_prev)
	vx, vz = raw[..., 0], raw[..., 1]
	# H'_{t-1}^T v with H = Ry(-theta): Ry(theta) v = (c vx + s vz, -s vx + c vz)
	step = torch.stack([c * vx + s * vz, -s * vx + c * vz], -1)
	return torch.cumsum(step, 1), theta


def global_positions(raw):
	"""raw (B, T, F) -> global joint positions (B, T, J, 3) metres (root xz integrated)."""
	root, theta = root_trajectory(raw)
	p = raw[..., POS].reshape(*raw.shape[:2], N_JOINTS, 3)
	c, s = torch.cos(theta)[..., None], torch.sin(theta)[..., None]
	x = c * p[..., 0] + s * p[..., 2] + root[..., None, 0]
	z = -s * p[..., 0] + c * p[..., 2] + root[..., None, 1]
	return torch.stack([x, p[..., 1], z], -1)


def rot6d_to_matrix(d6):
	"""(..., 6) rows a1, a2 -> (..., 3, 3) by Gram-Schmidt (pytorch3d rotation_6d_to_matrix)."""
	a1, a2 = d6[..., :3], d6[..., 3:]
	b1 = F.normalize(a1, dim=-1)
	b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
	return torch.stack([b1, b2, torch.cross(b1, b2, dim=-1)], -2)


# ---------------------------------------------------------------------------------------------
# Data


class Windows:
	"""Random training windows of W frames (W % 4 == 0), normalized, with a mask for clips
	shorter than W (padded at the end). A fraction `p_start` of windows begin at the clip's
	first frame, as whole-clip encoding at inference does."""

	def __init__(self, data, ids, mean, std, W, rng, p_start=0.15):
		self.data, self.ids, self.W, self.rng, self.p_start = data, ids, W, rng, p_start
		self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
		lens = np.diff(data.offsets)[ids]
		self.lens = lens
		self.p = lens / lens.sum()

	def batch(self, B):
		F_ = self.data.feats.shape[1]
		x = np.zeros((B, self.W, F_), np.float32)
		m = np.zeros((B, self.W), np.float32)
		for b, k in enumerate(self.rng.choice(len(self.ids), B, p=self.p)):
			n = self.lens[k]
			if n <= self.W or self.rng.random() < self.p_start:
				s = 0
			else:
				s = self.rng.integers(0, n - self.W + 1)
			seg = self.data.clip(self.ids[k])[s:s + self.W]
			x[b, :len(seg)] = (seg - self.mean) / self.std
			m[b, :len(seg)] = 1
		return torch.from_numpy(x), torch.from_numpy(m)


# ---------------------------------------------------------------------------------------------
# Loss


def part_weights(F_, w_root, w_pos, w_dpos, w_rot):
	w = torch.ones(F_)
	w[:8], w[POS], w[DPOS], w[ROT] = w_root, w_pos, w_dpos, w_rot
	return w


def loss_fn(vae, x, m, mean, std, a):
	"""x (B, T, F) normalized, m (B, T) mask -> (total, dict of parts)."""
	B = x.shape[0]
	mu, _ = encode_batch(vae, x)
	sigma = torch.rand(B, 1, 1) * a.sigma_max
	z = mu + sigma * torch.randn_like(mu)
	y = decode_batch(vae, z)
	mm = m[..., None]
	n = m.sum()
	w = part_weights(x.shape[-1], a.w_root, a.w_pos, a.w_dpos, a.w_rot)
	rec = (F.smooth_l1_loss(y, x, reduction="none", beta=a.beta) * w * mm).sum() / (n * w.sum())
	# velocity of the positions between frames (both frames valid)
	mv = (m[:, 1:] * m[:, :-1])[..., None]
	dy, dx = y[:, 1:, POS] - y[:, :-1, POS], x[:, 1:, POS] - x[:, :-1, POS]
	vel = (F.smooth_l1_loss(dy, dx, reduction="none", beta=a.beta) * mv).sum() / (mv.sum() * dy.shape[-1])
	# root trajectory over the window in metres (padding rows zeroed first so they add nothing)
	ry, rx = y * std + mean, x * std + mean
	rx = rx * mm + (1 - mm) * torch.tensor([0, 0, 1, 0, 0, 0, 1, 0.] + [0] * (x.shape[-1] - 8))
	ry = ry * mm + (1 - mm) * torch.tensor([0, 0, 1, 0, 0, 0, 1, 0.] + [0] * (x.shape[-1] - 8))
	gy, _ = root_trajectory(ry)
	gx, _ = root_trajectory(rx)
	traj = ((gy - gx).abs().sum(-1) * m).sum() / n
	kl = mu.pow(2).mean()
	total = rec + a.w_vel * vel + a.w_traj * traj + a.w_kl * kl
	return total, {"rec": float(rec), "vel": float(vel), "traj_m": float(traj), "mu2": float(kl)}


# ---------------------------------------------------------------------------------------------
# Whole clips: encode, reconstruct, measure


@torch.no_grad()
def encode_clips(vae, data, ids, mean, std, chunk=32):
	"""mu of every clip in ids (whole clip, T rounded down to a multiple of 4) -> list of (n_i, L)."""
	out = [None] * len(ids)
	lens = np.diff(data.offsets)[ids] // 4 * 4
	order = np.argsort(lens)
	for i in range(0, len(order), chunk):
		grp = order[i:i + chunk]
		T = int(lens[grp].max())
		x = np.zeros((len(grp), T, data.feats.shape[1]), np.float32)
		for b, k in enumerate(grp):
			x[b, :lens[k]] = (data.clip(ids[k])[:lens[k]] - mean) / std
		mu, _ = encode_batch(vae, torch.from_numpy(x))
		for b, k in enumerate(grp):
			out[k] = mu[b, :lens[k] // 4].numpy().copy()
	return out


@torch.no_grad()
def reconstruct(vae, data, ids, mean, std, chunk=32):
	"""(real raw features, reconstructed raw features) per clip, T rounded down to 4."""
	mus = encode_clips(vae, data, ids, mean, std, chunk)
	res = []
	for k, mu in zip(ids, mus):
		y = decode_batch(vae, torch.from_numpy(mu)[None])[0].numpy() * std + mean
		res.append((data.clip(k)[:len(y)].astype(np.float32), y.astype(np.float32)))
	return res


def clip_metrics(real, rec):
	"""Sums over one clip: (frames, local MPJPE sum m, global MPJPE sum m, rot err sum deg,
	joints*frames, jerk real sum, jerk rec sum, jerk frames)."""
	r, y = torch.from_numpy(real)[None].double(), torch.from_numpy(rec)[None].double()
	T = r.shape[1]
	pl = (r[..., POS] - y[..., POS]).reshape(T, N_JOINTS, 3).norm(dim=-1)
	gr, gy = global_positions(r)[0], global_positions(y)[0]
	pg = (gr - gy).norm(dim=-1)
	Rr = rot6d_to_matrix(r[0, :, ROT].reshape(T, N_JOINTS, 6))
	Ry = rot6d_to_matrix(y[0, :, ROT].reshape(T, N_JOINTS, 6))
	tr = (Rr * Ry).sum((-1, -2))  # trace(Rr Ry^T)
	ang = torch.rad2deg(torch.acos(((tr - 1) / 2).clamp(-1, 1)))
	jr = jy = 0.0
	nj = 0
	if T >= 4:
		def jerk(g):
			return ((g[3:] - 3 * g[2:-1] + 3 * g[1:-2] - g[:-3]) * FPS ** 3).norm(dim=-1).mean(-1)
		jr, jy, nj = float(jerk(gr).sum()), float(jerk(gy).sum()), T - 3
	return np.array([T, float(pl.mean(-1).sum()), float(pg.mean(-1).sum()), float(ang.sum()),
			 T * N_JOINTS, jr, jy, nj])


def eval_numbers(vae, data, ids, mean, std):
	"""Validation numbers over the clips ids: MPJPE local / global (mm), rotation error (deg),
	mean jerk real / reconstructed (m/s^3), and the normalized-feature reconstruction MSE."""
	acc = np.zeros(8)
	se, nf = 0.0, 0
	for real, rec in reconstruct(vae, data, ids, mean, std):
		acc += clip_metrics(real, rec)
		se += float((((real - rec) / std) ** 2).sum())
		nf += real.size
	return {"mpjpe_local_mm": 1000 * acc[1] / acc[0], "mpjpe_global_mm": 1000 * acc[2] / acc[0],
		"rot_err_deg": acc[3] / acc[4], "jerk_real": acc[5] / acc[7], "jerk_rec": acc[6] / acc[7],
		"rec_mse_norm": se / nf, "frames": int(acc[0])}


# ---------------------------------------------------------------------------------------------
# Outputs


def export(vae, mean, std, out):
	sd = {"vae." + k: v.detach().float().contiguous() for k, v in vae.state_dict().items()}
	ms = {"mean": torch.from_numpy(mean.astype(np.float32)), "std": torch.from_numpy(std.astype(np.float32))}
	st.save(os.path.join(out, "vae.safetensors"), {**sd, **ms}, {"format": "pt"})
	st.save(os.path.join(out, "normalization.safetensors"), ms)


def write_latents(vae, data, mean, std, path, log):
	t = time.time()
	mus = encode_clips(vae, data, np.arange(len(data)), mean, std)
	offsets = np.concatenate([[0], np.cumsum([len(m) for m in mus])]).astype(np.int64)
	tmp = path[:-4] + ".tmp.npz"
	np.savez(tmp, latents=np.concatenate(mus, 0).astype(np.float32), offsets=offsets)
	os.replace(tmp, path)
	log("latents: %d clips, %d rows -> %s (%.0f s)" % (len(mus), offsets[-1], path, time.time() - t))


def plot(hist, vals, path):
	try:
		import matplotlib
		matplotlib.use("Agg")
		import matplotlib.pyplot as plt
	except ImportError:
		return
	fig, ax = plt.subplots(1, 2, figsize=(11, 4))
	s = [h["step"] for h in hist]
	for key in ("loss", "rec", "vel", "traj_m"):
		ax[0].plot(s, [h[key] for h in hist], label=key)
	ax[0].set_yscale("log")
	ax[0].set_xlabel("step")
	ax[0].set_title("training loss (per logged step, averaged)")
	ax[0].legend()
	if vals:
		vs = [v["step"] for v in vals]
		ax[1].plot(vs, [v["mpjpe_local_mm"] for v in vals], "o-", label="MPJPE local (mm)")
		ax[1].plot(vs, [v["mpjpe_global_mm"] for v in vals], "o-", label="MPJPE global (mm)")
		ax[1].plot(vs, [v["rot_err_deg"] for v in vals], "o-", label="rotation error (deg)")
		ax[1].set_yscale("log")
		ax[1].set_xlabel("step")
		ax[1].set_title("validation (subset)")
		ax[1].legend()
	fig.tight_layout()
	fig.savefig(path, dpi=90)
	plt.close(fig)


# ---------------------------------------------------------------------------------------------


def main():
	p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	p.add_argument("--width", type=int, default=256)
	p.add_argument("--steps", type=int, default=100000, help="at most this many steps")
	p.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget of the training loop")
	p.add_argument("--out", default=os.path.join(HERE, "runs", "vae"))
	p.add_argument("--latents", default=os.path.join(dataset.WORK, "latents.npz"))
	p.add_argument("--early-latents", type=float, default=10.0, help="minutes; <= 0: none")
	p.add_argument("--batch", type=int, default=64)
	p.add_argument("--window", type=int, default=64)
	p.add_argument("--lr", type=float, default=1e-3)
	p.add_argument("--warmup", type=int, default=100)
	p.add_argument("--seed", type=int, default=1)
	p.add_argument("--threads", type=int, default=2)
	p.add_argument("--sigma-max", type=float, default=0.01)
	p.add_argument("--beta", type=float, default=0.02, help="smooth L1 beta (normalized units)")
	p.add_argument("--w-root", type=float, default=4.0)
	p.add_argument("--w-pos", type=float, default=2.0)
	p.add_argument("--w-dpos", type=float, default=1.0)
	p.add_argument("--w-rot", type=float, default=1.0)
	p.add_argument("--w-vel", type=float, default=1.0)
	p.add_argument("--w-traj", type=float, default=1.0, help="per metre of root trajectory error")
	p.add_argument("--w-kl", type=float, default=1e-4)
	p.add_argument("--log-every", type=int, default=20)
	p.add_argument("--val-minutes", type=float, default=3.0)
	p.add_argument("--val-clips", type=int, default=96, help="validation subset during training")
	p.add_argument("--eval-only", action="store_true")
	a = p.parse_args()

	torch.set_num_threads(a.threads)
	torch.manual_seed(a.seed)
	rng = np.random.default_rng(a.seed)
	os.makedirs(a.out, exist_ok=True)
	logf = open(os.path.join(a.out, "log.txt"), "a" if a.eval_only else "w")

	def log(msg):
		print(msg, flush=True)
		logf.write(msg + "\n")
		logf.flush()

	data = dataset.Data()
	mean, std = (s.astype(np.float32) for s in data.stats())
	tmean, tstd = torch.from_numpy(mean), torch.from_numpy(std)
	vae = llamo_ref.CausalVAE(vae_cfg(a.width, data.feats.shape[1]))
	ckpt = os.path.join(a.out, "vae.pt")
	val_ids = data.val_ids()
	if a.eval_only:
		vae.load_state_dict(torch.load(ckpt)["vae"])
		vae.eval()
		log("eval %s on all %d validation clips: %s" % (ckpt, len(val_ids), json.dumps(
			{k: round(v, 4) for k, v in eval_numbers(vae, data, val_ids, mean, std).items()})))
		return
	nparam = sum(p.numel() for p in vae.parameters())
	log("train_vae: %s" % json.dumps(vars(a)))
	log("width %d: %d parameters (%.1f MB f32, %.1f MB bf16); %d train clips, %d val clips" % (
		a.width, nparam, nparam * 4 / 1e6, nparam * 2 / 1e6, len(data.train_ids()), len(val_ids)))
	# the batched forward is the reference forward (one clip)
	with torch.no_grad():
		x = torch.from_numpy((data.clip(0)[:64] - mean) / std)
		mu_ref, _ = vae.encode(x)
		mu_b, _ = encode_batch(vae, x[None])
		assert torch.allclose(mu_ref, mu_b[0], atol=1e-5), "encode_batch differs from the reference"
		assert torch.allclose(vae.decode(mu_ref), decode_batch(vae, mu_ref[None])[0], atol=1e-5)
	vsub = val_ids[np.random.default_rng(123).permutation(len(val_ids))[:a.val_clips]]
	win = Windows(data, data.train_ids(), mean, std, a.window, rng)
	opt = torch.optim.AdamW(vae.parameters(), lr=a.lr, betas=(0.9, 0.99), weight_decay=1e-4)
	t0 = time.time()
	budget = a.minutes * 60
	hist, vals, run = [], [], {}
	best = float("inf")
	early_done = a.early_latents <= 0
	last_val = t0
	step = 0

	def validate():
		nonlocal best, last_val
		vae.eval()
		v = eval_numbers(vae, data, vsub, mean, std)
		vae.train()
		v["step"] = step
		vals.append(v)
		tag = ""
		if v["rec_mse_norm"] < best:
			best = v["rec_mse_norm"]
			torch.save({"vae": vae.state_dict(), "width": a.width, "step": step, "val": v,
				    "mean": mean, "std": std}, ckpt)
			export(vae, mean, std, a.out)
			tag = " (best, saved)"
		log("val step %d: %s%s" % (step, json.dumps({k: round(x, 4) for k, x in v.items()}), tag))
		plot(hist, vals, os.path.join(a.out, "loss.png"))
		last_val = time.time()

	while step < a.steps:
		prog = max(step / a.steps, (time.time() - t0) / budget)
		if prog >= 1:
			break
		lr = a.lr * min(1, (step + 1) / a.warmup) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * prog)))
		for g in opt.param_groups:
			g["lr"] = lr
		x, m = win.batch(a.batch)
		loss, parts = loss_fn(vae, x, m, tmean, tstd, a)
		opt.zero_grad(set_to_none=True)
		loss.backward()
		torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
		opt.step()
		step += 1
		parts["loss"] = float(loss)
		for k, v in parts.items():
			run[k] = run.get(k, 0) + v
		if step % a.log_every == 0:
			h = {k: v / a.log_every for k, v in run.items()}
			h["step"] = step
			hist.append(h)
			run = {}
			log("step %d  %.1f min  lr %.2e  loss %.4f  rec %.4f  vel %.4f  traj %.4f m  mu2 %.3f" % (
				step, (time.time() - t0) / 60, lr, h["loss"], h["rec"], h["vel"], h["traj_m"], h["mu2"]))
		if time.time() - last_val > a.val_minutes * 60:
			validate()
			if not early_done and time.time() - t0 > a.early_latents * 60:
				best_sd = torch.load(ckpt)["vae"]
				cur = {k: v.clone() for k, v in vae.state_dict().items()}
				vae.load_state_dict(best_sd)
				vae.eval()
				write_latents(vae, data, mean, std, a.latents, log)
				vae.load_state_dict(cur)
				vae.train()
				early_done = True
	validate()
	log("trained %d steps in %.1f min" % (step, (time.time() - t0) / 60))
	vae.load_state_dict(torch.load(ckpt)["vae"])
	vae.eval()
	write_latents(vae, data, mean, std, a.latents, log)
	export(vae, mean, std, a.out)
	v = eval_numbers(vae, data, val_ids, mean, std)
	log("final (best checkpoint, step %d) on all %d validation clips: %s" % (
		torch.load(ckpt)["step"], len(val_ids), json.dumps({k: round(x, 4) for k, x in v.items()})))
	plot(hist, vals, os.path.join(a.out, "loss.png"))


if __name__ == "__main__":
	main()
