"""train_vae.py: trains the causal motion VAE (llamo_ref.CausalVAE, docs/model-format.md 4.4) on the
Bandai-Namco features (dataset.Data), the paper's recipe (LLaMo 3.2, MotionStreamer's causal TAE):

    z = mu + sigma * eps,  sigma ~ U(0, 0.01) per sample (not predicted; the logvar half of the
    encoder's projection is kept for the format but unused)
    loss = weighted smooth-L1 reconstruction of the normalized features
         + velocity (frame difference) term on the joint positions
         + root trajectory term (root velocity and heading integrated over the window, metres)
         + 1e-4 * mean(mu^2)
    issue 10 adds (all off by default, see --w-fk ... --w-facc):
         + what the BVH holds: joint positions by forward kinematics of the decoded rotations
           (fk_local; vae-dec writes the BVH from the rotations, the position features are not
           used), heading-free (--w-fk) and root-aligned with the heading integrated over the
           window (--w-groot, make eval's measure), metres
         + their global velocity (m/s, --w-gvel) and acceleration (m/s^2, --w-gacc) errors
         + second differences of the normalized features (--w-facc)
    and augmentation (augment.py): --mirror (left-right mirrored clips), --p-speed (resampled at
    0.8 to 1.25 times the speed); random heading changes nothing in these features.
    --exclude-style STYLE trains without any take of STYLE (leave-one-style-out; the style's
    clips are measured as the held-out set, the normalization comes from the other styles).
    --freeze-encoder --shrink R (issue 10, a decoder fine-tune): only the decoder trains, so the
    latents (and a motion model's heads trained on them) stay bit for bit; a share --p-shrink of
    the windows is decoded from z' = m + (1 - r)(z - m), r ~ U(0, R), m the mean training latent,
    against the real motion, so that a style the flow head renders too weakly still decodes as
    that style. Use --select last with it (validation sees unchanged latents only). Tried in
    runs/vae10/heads-s3n-eval.md, "Sixth try": it restores a motion weakened as a whole, but
    the heads' misses are a style short along its own direction, and text to motion did not change.
    --init-model DIR starts from a model directory's VAE; --resume continues OUT/last.pt
    (written every --ckpt-minutes; the cosine schedule runs over --minutes of training in all).

    /usr/bin/python3 train_vae.py --width 256 --minutes 30 --out runs/vae

Writes OUT/log.txt, OUT/loss.png, OUT/vae.pt (best by validation: --select), OUT/last.pt (resume),
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


# joint parents of the Bandai-Namco skeleton (docs/motion.md 1; checked against the position
# features by fk_check)
PARENTS = [-1, 0, 1, 2, 3, 2, 5, 6, 7, 2, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19]


def rest_offsets(model_dir=None):
	"""(N, 3) rest-pose bone vectors prest_k - prest_parent (metres, world = heading-free frame of the
	rest pose), from the position features of the skeleton's own first frame (bin/vae-enc --features)."""
	from features import bvh_features
	d = model_dir or os.path.join(os.path.dirname(HERE), "models", "default")
	p = bvh_features(os.path.join(d, "skeleton.bvh"))[0, POS].reshape(N_JOINTS, 3).astype(np.float64)
	off = np.zeros_like(p)
	for k in range(1, N_JOINTS):
		off[k] = p[k] - p[PARENTS[k]]
	return torch.from_numpy(off.astype(np.float32))


def fk_local(raw, off):
	"""raw (B, T, F) features -> heading-free joint positions (B, T, J, 3) by forward kinematics of
	the rotation features and the root height (what the BVH written by vae-dec holds,
	docs/motion.md 5): Q_0 = GS(rot_0), Q_k = Q_parent GS(rot_k), p_0 = (0, y, 0),
	p_k = p_parent + Q_parent (prest_k - prest_parent)."""
	B, T = raw.shape[:2]
	R = rot6d_to_matrix(raw[..., ROT].reshape(B, T, N_JOINTS, 6))
	Q = [None] * N_JOINTS
	P = [None] * N_JOINTS
	zero = torch.zeros_like(raw[..., 8])
	P[0] = torch.stack([zero, raw[..., 9], zero], -1)
	Q[0] = R[:, :, 0]
	for k in range(1, N_JOINTS):
		q = Q[PARENTS[k]]
		Q[k] = q @ R[:, :, k]
		P[k] = P[PARENTS[k]] + (q @ off[k].to(raw.dtype)[:, None])[..., 0]
	return torch.stack(P, 2)


def to_global(raw, p):
	"""heading-free positions p (B, T, J, 3) of the features raw -> global positions (root xz and
	heading integrated from the first frame of the window)."""
	root, theta = root_trajectory(raw)
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
	first frame, as whole-clip encoding at inference does. Augmentation (augment.py, issue 10):
	`sources` is a list of feature stores (the clips, and their mirror images through the C code),
	drawn with equal probability; with probability p_speed the window is resampled at a speed
	factor s, log-uniform in [speed_lo, speed_hi]."""

	def __init__(self, data, ids, mean, std, W, rng, p_start=0.15, sources=None, p_speed=0.0,
		     speed_lo=0.8, speed_hi=1.25):
		self.data, self.ids, self.W, self.rng, self.p_start = data, ids, W, rng, p_start
		self.sources = sources or [data]
		self.p_speed, self.speed_lo, self.speed_hi = p_speed, speed_lo, speed_hi
		self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
		lens = np.diff(data.offsets)[ids]
		self.lens = lens
		self.p = lens / lens.sum()
		self.paths = {}

	def path(self, si, i):
		import augment
		key = (si, i)
		if key not in self.paths:
			self.paths[key] = augment.root_path(self.sources[si].clip(i))
		return self.paths[key]

	def batch(self, B):
		import augment
		F_ = self.data.feats.shape[1]
		x = np.zeros((B, self.W, F_), np.float32)
		m = np.zeros((B, self.W), np.float32)
		for b, k in enumerate(self.rng.choice(len(self.ids), B, p=self.p)):
			si = int(self.rng.integers(len(self.sources)))
			clip = self.sources[si].clip(self.ids[k])
			n = self.lens[k]
			start_win = n <= self.W or self.rng.random() < self.p_start
			if self.p_speed > 0 and self.rng.random() < self.p_speed:
				sp = float(np.exp(self.rng.uniform(np.log(self.speed_lo), np.log(self.speed_hi))))
				nout = min(self.W, int((n - 1) / sp) + 1)
				span = (nout - 1) * sp
				s0 = 0.0 if start_win else float(self.rng.uniform(0, n - 1 - span))
				seg = augment.resample(clip, s0 + np.arange(nout) * sp, self.path(si, self.ids[k]),
						       first_is_start=s0 < sp)
			else:
				s = 0 if start_win else self.rng.integers(0, n - self.W + 1)
				seg = clip[s:s + self.W]
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
	if a.freeze_encoder:
		with torch.no_grad():
			mu, _ = encode_batch(vae, x)
	else:
		mu, _ = encode_batch(vae, x)
	sigma = torch.rand(B, 1, 1) * a.sigma_max
	z = mu + sigma * torch.randn_like(mu)
	if a.shrink > 0:
		# a motion made weaker: z' = m + (1 - r)(z - m) towards the mean training latent m, r ~
		# U(0, shrink), in a share p_shrink of the windows; the target stays the real motion
		r = torch.rand(B, 1, 1) * a.shrink * (torch.rand(B, 1, 1) < a.p_shrink)
		z = a.latent_mean + (1 - r) * (z - a.latent_mean)
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
	parts = {"rec": float(rec), "vel": float(vel), "traj_m": float(traj), "mu2": float(kl)}
	if a.w_fk or a.w_groot or a.w_gvel or a.w_gacc or a.w_facc:
		# issue 10: what the BVH holds (forward kinematics of the decoded rotations), in metres,
		# and its velocity (m/s) and acceleration (m/s^2) in global coordinates
		off = a.rest_off
		py, px = fk_local(ry, off), rx[..., POS].reshape(*rx.shape[:2], N_JOINTS, 3)
		fk = ((py - px).norm(dim=-1).mean(-1) * m).sum() / n
		Gy, Gx = to_global(ry, py), to_global(rx, px)
		# root-aligned global positions (heading integrated over the window): what make eval's
		# root-aligned MPJPE measures, heading drift included
		groot = (((Gy - Gy[:, :, :1]) - (Gx - Gx[:, :, :1])).norm(dim=-1).mean(-1) * m).sum() / n
		vy, vx = (Gy[:, 1:] - Gy[:, :-1]) * FPS, (Gx[:, 1:] - Gx[:, :-1]) * FPS
		m1 = m[:, 1:] * m[:, :-1]
		gvel = ((vy - vx).norm(dim=-1).mean(-1) * m1).sum() / m1.sum()
		ay, ax = (vy[:, 1:] - vy[:, :-1]) * FPS, (vx[:, 1:] - vx[:, :-1]) * FPS
		m2 = m1[:, 1:] * m1[:, :-1]
		gacc = ((ay - ax).norm(dim=-1).mean(-1) * m2).sum() / m2.sum()
		# second differences of every normalized feature channel (weighted as rec)
		ddy = y[:, 2:] - 2 * y[:, 1:-1] + y[:, :-2]
		ddx = x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]
		facc = (F.smooth_l1_loss(ddy, ddx, reduction="none", beta=a.beta) * w * m2[..., None]).sum() / (m2.sum() * w.sum())
		total = total + a.w_fk * fk + a.w_groot * groot + a.w_gvel * gvel + a.w_gacc * gacc + a.w_facc * facc
		parts.update(fk_m=float(fk), groot_m=float(groot), gvel=float(gvel), gacc=float(gacc), facc=float(facc))
	return total, parts


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


_REST = []


def rest_off_cached():
	if not _REST:
		_REST.append(rest_offsets())
	return _REST[0]


def clip_metrics(real, rec):
	"""Sums over one clip: (frames, local MPJPE sum m, global MPJPE sum m, rot err sum deg,
	joints*frames, jerk real sum, jerk rec sum, jerk frames, root-aligned MPJPE of forward
	kinematics of the decoded rotations sum m, jerk of those FK positions sum)."""
	r, y = torch.from_numpy(real)[None].double(), torch.from_numpy(rec)[None].double()
	T = r.shape[1]
	pl = (r[..., POS] - y[..., POS]).reshape(T, N_JOINTS, 3).norm(dim=-1)
	gr, gy = global_positions(r)[0], global_positions(y)[0]
	pg = (gr - gy).norm(dim=-1)
	Rr = rot6d_to_matrix(r[0, :, ROT].reshape(T, N_JOINTS, 6))
	Ry = rot6d_to_matrix(y[0, :, ROT].reshape(T, N_JOINTS, 6))
	tr = (Rr * Ry).sum((-1, -2))  # trace(Rr Ry^T)
	ang = torch.rad2deg(torch.acos(((tr - 1) / 2).clamp(-1, 1)))
	off = rest_off_cached().double()
	fr, fy = fk_local(r, off)[0], fk_local(y, off)[0]
	pfk = ((fr - fr[:, :1]) - (fy - fy[:, :1])).norm(dim=-1)
	gfy = to_global(y, fy[None])[0]
	gfr = to_global(r, fr[None])[0]
	pgroot = ((gfr - gfr[:, :1]) - (gfy - gfy[:, :1])).norm(dim=-1)
	jr = jy = jfk = 0.0
	nj = 0
	if T >= 4:
		def jerk(g):
			return ((g[3:] - 3 * g[2:-1] + 3 * g[1:-2] - g[:-3]) * FPS ** 3).norm(dim=-1).mean(-1)
		jr, jy, jfk, nj = float(jerk(gr).sum()), float(jerk(gy).sum()), float(jerk(gfy).sum()), T - 3
	return np.array([T, float(pl.mean(-1).sum()), float(pg.mean(-1).sum()), float(ang.sum()),
			 T * N_JOINTS, jr, jy, nj, float(pfk.mean(-1).sum()), jfk, float(pgroot.mean(-1).sum())])


def eval_numbers(vae, data, ids, mean, std):
	"""Validation numbers over the clips ids: MPJPE local / global (mm) of the decoder's position
	features, rotation error (deg), mean jerk real / reconstructed (m/s^3), the normalized-feature
	reconstruction MSE, and what the BVH holds: root-aligned MPJPE (mm) and jerk of forward
	kinematics of the decoded rotations."""
	acc = np.zeros(11)
	se, nf = 0.0, 0
	for real, rec in reconstruct(vae, data, ids, mean, std):
		acc += clip_metrics(real, rec)
		se += float((((real - rec) / std) ** 2).sum())
		nf += real.size
	return {"mpjpe_local_mm": 1000 * acc[1] / acc[0], "mpjpe_global_mm": 1000 * acc[2] / acc[0],
		"rot_err_deg": acc[3] / acc[4], "jerk_real": acc[5] / acc[7], "jerk_rec": acc[6] / acc[7],
		"mpjpe_fk_root_mm": 1000 * acc[8] / acc[0], "jerk_fk": acc[9] / acc[7],
		"mpjpe_fk_groot_mm": 1000 * acc[10] / acc[0],
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


def style_ids(data, ids, style):
	return ids[data.style[ids] == dataset.STYLES.index(style)]


def load_init(vae, model_dir):
	"""vae.* tensors of a model directory's model.safetensors, or of a vae.safetensors file (any
	dtype), into vae."""
	sd, _ = st.load(model_dir if model_dir.endswith(".safetensors") else os.path.join(model_dir, "model.safetensors"))
	vae.load_state_dict({k[4:]: v.float() for k, v in sd.items() if k.startswith("vae.")})


def main():
	p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	p.add_argument("--width", type=int, default=256)
	p.add_argument("--steps", type=int, default=100000, help="at most this many steps")
	p.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget of the training loop (over all resumptions)")
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
	p.add_argument("--w-fk", type=float, default=0.0, help="per metre of joint position error of forward kinematics of the decoded rotations (heading-free)")
	p.add_argument("--w-groot", type=float, default=0.0, help="per metre of root-aligned global joint position error (FK, heading integrated over the window)")
	p.add_argument("--w-gvel", type=float, default=0.0, help="per m/s of global joint velocity error (FK positions)")
	p.add_argument("--w-gacc", type=float, default=0.0, help="per m/s^2 of global joint acceleration error (FK positions)")
	p.add_argument("--w-facc", type=float, default=0.0, help="smooth L1 of the second differences of the normalized features")
	p.add_argument("--mirror", action="store_true", help="also train on the mirrored clips (augment.py --build)")
	p.add_argument("--p-speed", type=float, default=0.0, help="share of windows resampled at a speed in [0.8, 1.25]")
	p.add_argument("--exclude-style", help="leave this style out of training (every take; all its clips are the held-out set)")
	p.add_argument("--freeze-encoder", action="store_true", help="train the decoder only (the encoder, so the latents and the motion model's heads trained on them, stay as they are)")
	p.add_argument("--shrink", type=float, default=0.0, help="pull the latents of a share --p-shrink of the windows towards the mean training latent by r ~ U(0, SHRINK) (the target stays the real motion): a decoder that keeps a style made too weakly")
	p.add_argument("--p-shrink", type=float, default=0.5)
	p.add_argument("--init-model", help="start from the vae.* tensors of this model directory (or vae.safetensors file)")
	p.add_argument("--ckpt-minutes", type=float, default=5.0, help="write OUT/last.pt (resumable) this often")
	p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt (same arguments)")
	p.add_argument("--log-every", type=int, default=20)
	p.add_argument("--val-minutes", type=float, default=3.0)
	p.add_argument("--val-clips", type=int, default=96, help="validation subset during training")
	p.add_argument("--select", default="fk", choices=["fk", "mse", "last"], help="best checkpoint by the root-aligned MPJPE of the global positions by FK of the decoded rotations and integrated heading (fk; make eval's measure), the normalized MSE, or the last validation (last: for --shrink, whose gain the validation of unchanged latents does not see)")
	p.add_argument("--eval-only", action="store_true")
	p.add_argument("--write-latents", action="store_true", help="only write LATENTS (and with --mirror the mirrored clips' _mirror latents) from OUT/vae.safetensors, e.g. the committed one")
	a = p.parse_args()

	torch.set_num_threads(a.threads)
	torch.manual_seed(a.seed)
	rng = np.random.default_rng(a.seed)
	os.makedirs(a.out, exist_ok=True)
	logf = open(os.path.join(a.out, "log.txt"), "a" if (a.eval_only or a.resume or a.write_latents) else "w")

	def log(msg):
		print(msg, flush=True)
		logf.write(msg + "\n")
		logf.flush()

	data = dataset.Data()
	train_ids, val_ids = data.train_ids(), data.val_ids()
	held = None
	if a.exclude_style:
		sidx = dataset.STYLES.index(a.exclude_style)
		held = np.nonzero(data.style == sidx)[0]               # every take of the style
		train_ids = train_ids[data.style[train_ids] != sidx]
		val_ids = val_ids[data.style[val_ids] != sidx]
		x = np.concatenate([data.clip(i) for i in train_ids], 0).astype(np.float64)
		mean, std = x.mean(0), x.std(0)
		std = np.maximum(std, 1e-3 * std.max() + 1e-4)
		mean, std = mean.astype(np.float32), std.astype(np.float32)
		del x
	else:
		mean, std = (s.astype(np.float32) for s in data.stats())
	tmean, tstd = torch.from_numpy(mean), torch.from_numpy(std)
	a.rest_off = rest_offsets() if (a.w_fk or a.w_groot or a.w_gvel or a.w_gacc or a.w_facc) else None
	vae = llamo_ref.CausalVAE(vae_cfg(a.width, data.feats.shape[1]))
	ckpt = os.path.join(a.out, "vae.pt")
	last = os.path.join(a.out, "last.pt")
	if a.eval_only:
		vae.load_state_dict(torch.load(ckpt)["vae"])
		vae.eval()
		log("eval %s on all %d validation clips: %s" % (ckpt, len(val_ids), json.dumps(
			{k: round(v, 4) for k, v in eval_numbers(vae, data, val_ids, mean, std).items()})))
		if held is not None:
			log("eval %s on all %d clips of the held-out style %s: %s" % (ckpt, len(held), a.exclude_style, json.dumps(
				{k: round(v, 4) for k, v in eval_numbers(vae, data, held, mean, std).items()})))
		return
	if a.write_latents:
		vt, _ = st.load(os.path.join(a.out, "vae.safetensors"))
		mean, std = vt["mean"].numpy(), vt["std"].numpy()
		load_init(vae, os.path.join(a.out, "vae.safetensors"))
		vae.eval()
		write_latents(vae, data, mean, std, a.latents, log)
		if a.mirror:
			import augment
			write_latents(vae, dataset.Data(augment.MIRROR_CACHE), mean, std, a.latents[:-4] + "_mirror.npz", log)
		return
	if a.init_model:
		load_init(vae, a.init_model)
	nparam = sum(p.numel() for p in vae.parameters())
	log("train_vae: %s" % json.dumps({k: v for k, v in vars(a).items() if k not in ("rest_off", "latent_mean")}))
	log("width %d: %d parameters (%.1f MB f32, %.1f MB bf16); %d train clips, %d val clips%s" % (
		a.width, nparam, nparam * 4 / 1e6, nparam * 2 / 1e6, len(train_ids), len(val_ids),
		"; held-out style %s: %d clips" % (a.exclude_style, len(held)) if held is not None else ""))
	# the batched forward is the reference forward (one clip)
	with torch.no_grad():
		x = torch.from_numpy((data.clip(0)[:64] - mean) / std)
		mu_ref, _ = vae.encode(x)
		mu_b, _ = encode_batch(vae, x[None])
		assert torch.allclose(mu_ref, mu_b[0], atol=1e-5), "encode_batch differs from the reference"
		assert torch.allclose(vae.decode(mu_ref), decode_batch(vae, mu_ref[None])[0], atol=1e-5)
		if a.rest_off is not None:  # FK of the rotation features gives the position features
			r = torch.from_numpy(data.clip(0)[None].astype(np.float64))
			e = (fk_local(r, a.rest_off.double()) - r[..., POS].reshape(1, -1, N_JOINTS, 3)).norm(dim=-1).max()
			log("forward kinematics of the rotation features vs the position features: max %.4f mm" % (1000 * float(e)))
			assert e < 1e-3
	sources = [data]
	if a.mirror:
		import augment
		if not os.path.exists(augment.MIRROR_CACHE):
			log("building %s (every clip mirrored through the C code)" % augment.MIRROR_CACHE)
			augment.build_mirror_cache()
		sources.append(dataset.Data(augment.MIRROR_CACHE))
	vsub = val_ids[np.random.default_rng(123).permutation(len(val_ids))[:a.val_clips]]
	hsub = held[np.random.default_rng(123).permutation(len(held))[:a.val_clips]] if held is not None else None
	win = Windows(data, train_ids, mean, std, a.window, rng, sources=sources, p_speed=a.p_speed)
	a.latent_mean = 0.0
	if a.shrink > 0:
		with torch.no_grad():
			a.latent_mean = torch.from_numpy(np.concatenate(encode_clips(vae, data, train_ids, mean, std), 0).mean(0))
		log("shrink: mean training latent from %d clips, |m| %.3f" % (len(train_ids), float(a.latent_mean.norm())))
	if a.freeze_encoder:
		for q in vae.encoder.parameters():
			q.requires_grad_(False)
	trained = [q for q in vae.parameters() if q.requires_grad]
	opt = torch.optim.AdamW(trained, lr=a.lr, betas=(0.9, 0.99), weight_decay=1e-4)
	budget = a.minutes * 60
	hist, vals, run = [], [], {}
	best = float("inf")
	early_done = a.early_latents <= 0
	step = 0
	elapsed0 = 0.0  # training-loop seconds before this process (resume)
	if a.resume:
		c = torch.load(last)
		vae.load_state_dict(c["vae"])
		opt.load_state_dict(c["opt"])
		step, elapsed0, best, hist, vals = c["step"], c["elapsed"], c["best"], c["hist"], c["vals"]
		early_done = c["early_done"]
		rng.bit_generator.state = c["np_rng"]
		torch.set_rng_state(c["torch_rng"])
		log("resumed %s at step %d (%.1f min trained)" % (last, step, elapsed0 / 60))
	t0 = time.time() - elapsed0
	last_val = last_ck = time.time()

	def save_last():
		nonlocal last_ck
		tmp = last + ".tmp"
		torch.save({"vae": vae.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": time.time() - t0,
			    "best": best, "hist": hist, "vals": vals, "early_done": early_done,
			    "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "args": {
				    k: v for k, v in vars(a).items() if k not in ("rest_off", "latent_mean")}}, tmp)
		os.replace(tmp, last)
		last_ck = time.time()

	def validate():
		nonlocal best, last_val
		vae.eval()
		v = eval_numbers(vae, data, vsub, mean, std)
		if hsub is not None:
			h = eval_numbers(vae, data, hsub, mean, std)
			v.update({"heldout_" + k: x for k, x in h.items() if k != "frames"})
		vae.train()
		v["step"] = step
		vals.append(v)
		tag = ""
		score = v["mpjpe_fk_groot_mm"] if a.select == "fk" else v["rec_mse_norm"]
		if score < best or a.select == "last":
			best = score
			torch.save({"vae": vae.state_dict(), "width": a.width, "step": step, "val": v,
				    "mean": mean, "std": std}, ckpt)
			export(vae, mean, std, a.out)
			tag = " (best, saved)"
		log("val step %d: %s%s" % (step, json.dumps({k: round(x, 4) for k, x in v.items()}), tag))
		plot(hist, vals, os.path.join(a.out, "loss.png"))
		last_val = time.time()

	if not a.resume:
		validate()  # the starting point
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
		torch.nn.utils.clip_grad_norm_(trained, 1.0)
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
			extra = "  fk %.4f m  groot %.4f m  gvel %.4f  gacc %.3f  facc %.4f" % (h["fk_m"], h["groot_m"], h["gvel"], h["gacc"], h["facc"]) if "fk_m" in h else ""
			log("step %d  %.1f min  lr %.2e  loss %.4f  rec %.4f  vel %.4f  traj %.4f m  mu2 %.3f%s" % (
				step, (time.time() - t0) / 60, lr, h["loss"], h["rec"], h["vel"], h["traj_m"], h["mu2"], extra))
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
		if time.time() - last_ck > a.ckpt_minutes * 60:
			save_last()
	validate()
	save_last()
	log("trained %d steps in %.1f min" % (step, (time.time() - t0) / 60))
	vae.load_state_dict(torch.load(ckpt)["vae"])
	vae.eval()
	write_latents(vae, data, mean, std, a.latents, log)
	if a.mirror:  # the mirrored clips' latents, for the motion model's training with mirrored labels
		write_latents(vae, sources[1], mean, std, a.latents[:-4] + "_mirror.npz", log)
	export(vae, mean, std, a.out)
	v = eval_numbers(vae, data, val_ids, mean, std)
	log("final (best checkpoint, step %d) on all %d validation clips: %s" % (
		torch.load(ckpt)["step"], len(val_ids), json.dumps({k: round(x, 4) for k, x in v.items()})))
	if held is not None:
		v = eval_numbers(vae, data, held, mean, std)
		log("final on all %d clips of the held-out style %s: %s" % (
			len(held), a.exclude_style, json.dumps({k: round(x, 4) for k, x in v.items()})))
	plot(hist, vals, os.path.join(a.out, "loss.png"))


if __name__ == "__main__":
	main()
