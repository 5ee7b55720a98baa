/* motion.c: BVH <-> the 8 + 12N motion features (see motion.h and docs/motion.md).
 *
 * Follows Li-xingXiao/272-dim-Motion-Representation (representation_272.py for the features,
 * recover_visualize.py recover_from_local_rotation for the way back), with two changes for
 * skeletons whose rest pose is not SMPL's identity T-pose, as DESIGN.md section 2 asks:
 *   - rotations are taken relative to the rest pose, in world-aligned form:
 *       Q_j = G_j G_rest_j^T          (G: global rotation, G_rest: the same in the rest pose)
 *     so every joint's rotation is the identity in the rest pose, as in SMPL;
 *   - the heading is the yaw of Q_root applied to the rest pose's forward direction.
 * Everything is computed in double; the features are stored as float.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "motion.h"

/* ---- small 3x3 helpers (row-major) ---- */

static void mul33(const double *a, const double *b, double *out)
{
	double r[9];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++)
			r[i * 3 + k] = a[i * 3] * b[k] + a[i * 3 + 1] * b[3 + k] + a[i * 3 + 2] * b[6 + k];
	memcpy(out, r, sizeof r);
}

/* out = a^T b */
static void mul33_tn(const double *a, const double *b, double *out)
{
	double r[9];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++)
			r[i * 3 + k] = a[i] * b[k] + a[3 + i] * b[3 + k] + a[6 + i] * b[6 + k];
	memcpy(out, r, sizeof r);
}

/* out = a b^T */
static void mul33_nt(const double *a, const double *b, double *out)
{
	double r[9];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++)
			r[i * 3 + k] = a[i * 3] * b[k * 3] + a[i * 3 + 1] * b[k * 3 + 1] + a[i * 3 + 2] * b[k * 3 + 2];
	memcpy(out, r, sizeof r);
}

static void mulv(const double *R, const double *v, double *out)
{
	double r[3];
	for (int i = 0; i < 3; i++)
		r[i] = R[i * 3] * v[0] + R[i * 3 + 1] * v[1] + R[i * 3 + 2] * v[2];
	memcpy(out, r, sizeof r);
}

/* Rotation about +Y by a (radians): the 272-dim code's rot_yaw. It turns +Z towards +X. */
static void rot_yaw(double a, double R[9])
{
	double c = cos(a), s = sin(a);
	double m[9] = {c, 0, s, 0, 1, 0, -s, 0, c};
	memcpy(R, m, sizeof m);
}

/* double -> float, saturating (a finite double beyond the float range is undefined behaviour) */
static float to_f32(double v)
{
	return v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : (float)v;
}

/* 6D = the first two rows (pytorch3d matrix_to_rotation_6d). */
static void mat_to_6d(const double *R, float *d)
{
	for (int i = 0; i < 6; i++)
		d[i] = to_f32(R[i]);
}

/* pytorch3d rotation_6d_to_matrix: Gram-Schmidt on the two rows, third row = b1 x b2.
 * Degenerate input (zero or parallel rows) still gives a rotation. */
static void mat_from_6d(const float *d, double *R)
{
	double a1[3] = {d[0], d[1], d[2]}, a2[3] = {d[3], d[4], d[5]};
	double n1 = sqrt(a1[0] * a1[0] + a1[1] * a1[1] + a1[2] * a1[2]);
	double b1[3] = {1, 0, 0}, b2[3];
	if (n1 > 1e-12)
		for (int i = 0; i < 3; i++)
			b1[i] = a1[i] / n1;
	double dot = b1[0] * a2[0] + b1[1] * a2[1] + b1[2] * a2[2];
	for (int i = 0; i < 3; i++)
		b2[i] = a2[i] - dot * b1[i];
	double n2 = sqrt(b2[0] * b2[0] + b2[1] * b2[1] + b2[2] * b2[2]);
	if (!(n2 > 1e-12)) { /* any unit vector orthogonal to b1 */
		int m = fabs(b1[0]) < 0.5 ? 0 : fabs(b1[1]) < 0.5 ? 1 : 2;
		double e[3] = {0, 0, 0};
		e[m] = 1;
		double dm = b1[m];
		for (int i = 0; i < 3; i++)
			b2[i] = e[i] - dm * b1[i];
		n2 = sqrt(b2[0] * b2[0] + b2[1] * b2[1] + b2[2] * b2[2]);
	}
	for (int i = 0; i < 3; i++)
		b2[i] /= n2;
	R[0] = b1[0], R[1] = b1[1], R[2] = b1[2];
	R[3] = b2[0], R[4] = b2[1], R[5] = b2[2];
	R[6] = b1[1] * b2[2] - b1[2] * b2[1];
	R[7] = b1[2] * b2[0] - b1[0] * b2[2];
	R[8] = b1[0] * b2[1] - b1[1] * b2[0];
}

/* ---- the skeleton ---- */

int lm_feature_dim(const lm_skeleton *sk)
{
	return 8 + 12 * sk->njoints;
}

/* Side of a joint name and its mirror name: +1 left, -1 right, 0 neither.
 * Markers: suffix _L/_R .L/.R (any case), prefix L_/R_ (any case), Left/Right anywhere (any
 * case), or a prefix L/R followed by an upper-case letter (CMU's LHipJoint). */
static int mirror_name(const char *name, char out[LM_BVH_NAME])
{
	size_t n = strlen(name);
	snprintf(out, LM_BVH_NAME, "%s", name);
	if (n >= 3 && (name[n - 2] == '_' || name[n - 2] == '.')) {
		char c = name[n - 1];
		if (c == 'L' || c == 'l' || c == 'R' || c == 'r') {
			int left = c == 'L' || c == 'l';
			out[n - 1] = left ? (c == 'L' ? 'R' : 'r') : (c == 'R' ? 'L' : 'l');
			return left ? 1 : -1;
		}
	}
	if (n >= 3 && name[1] == '_' && strchr("LlRr", name[0])) {
		int left = name[0] == 'L' || name[0] == 'l';
		out[0] = left ? (name[0] == 'L' ? 'R' : 'r') : (name[0] == 'R' ? 'L' : 'l');
		return left ? 1 : -1;
	}
	const char *l = strcasestr(name, "left"), *r = strcasestr(name, "right");
	if (l && !r) {
		size_t k = (size_t)(l - name);
		int up = l[0] == 'L', allup = up && l[1] == 'E';
		snprintf(out, LM_BVH_NAME, "%.*s%s%s", (int)k, name, allup ? "RIGHT" : up ? "Right" : "right", l + 4);
		return 1;
	}
	if (r && !l) {
		size_t k = (size_t)(r - name);
		int up = r[0] == 'R', allup = up && r[1] == 'I';
		snprintf(out, LM_BVH_NAME, "%.*s%s%s", (int)k, name, allup ? "LEFT" : up ? "Left" : "left", r + 5);
		return -1;
	}
	if (n >= 2 && (name[0] == 'L' || name[0] == 'R') && name[1] >= 'A' && name[1] <= 'Z') {
		out[0] = name[0] == 'L' ? 'R' : 'L';
		return name[0] == 'L' ? 1 : -1;
	}
	return 0;
}

static int depth_of(const lm_bvh *h, int j)
{
	int d = 0;
	for (; h->joints[j].parent >= 0; j = h->joints[j].parent)
		d++;
	return d;
}

static int is_ancestor(const lm_bvh *h, int a, int j)
{
	for (; j >= 0; j = h->joints[j].parent)
		if (j == a)
			return 1;
	return 0;
}

/* Rest-pose forward direction on the ground: cross(across, up) with across = (left hip - right
 * hip) + (left shoulder - right shoulder), as HumanML3D's motion_process.py does it. The hips are
 * the mirror pair of the root's children, the shoulders the shallowest mirror pair outside the
 * hips' subtrees. Without such pairs: every mirror pair; without any: +Z. */
static void rest_forward(lm_skeleton *sk)
{
	const lm_bvh *h = &sk->hier;
	int hipL = -1, hipR = -1, shL = -1, shR = -1;
	double across[3] = {0, 0, 0}, all[3] = {0, 0, 0};
	for (int j = 0; j < h->njoints; j++) {
		char m[LM_BVH_NAME];
		if (mirror_name(h->joints[j].name, m) != 1)
			continue;
		int k = lm_bvh_find(h, m);
		if (k < 0)
			continue;
		for (int i = 0; i < 3; i++)
			all[i] += sk->rest_gpos[j][i] - sk->rest_gpos[k][i];
		if (h->joints[j].parent == 0 && h->joints[k].parent == 0 && hipL < 0)
			hipL = j, hipR = k;
	}
	for (int j = 0; j < h->njoints; j++) {
		char m[LM_BVH_NAME];
		if (mirror_name(h->joints[j].name, m) != 1)
			continue;
		int k = lm_bvh_find(h, m);
		if (k < 0 || j == hipL || (hipL >= 0 && (is_ancestor(h, hipL, j) || is_ancestor(h, hipR, j))))
			continue;
		if (shL < 0 || depth_of(h, j) < depth_of(h, shL))
			shL = j, shR = k;
	}
	if (hipL >= 0)
		for (int i = 0; i < 3; i++)
			across[i] += sk->rest_gpos[hipL][i] - sk->rest_gpos[hipR][i];
	if (shL >= 0)
		for (int i = 0; i < 3; i++)
			across[i] += sk->rest_gpos[shL][i] - sk->rest_gpos[shR][i];
	if (hipL < 0 && shL < 0)
		memcpy(across, all, sizeof across);
	/* cross(across, +Y) = (-across_z, 0, across_x): left = +X gives forward = +Z */
	double fx = -across[2], fz = across[0], n = hypot(fx, fz);
	sk->forward[0] = n > 1e-9 ? fx / n : 0;
	sk->forward[1] = 0;
	sk->forward[2] = n > 1e-9 ? fz / n : 1;
}

/* Is every channel of joint j zero in every frame? */
static int channels_zero(const lm_bvh *b, int j)
{
	int c = 0;
	for (int k = 0; k < j; k++)
		c += b->joints[k].nchan;
	for (int t = 0; t < b->nframes; t++)
		for (int i = 0; i < b->joints[j].nchan; i++)
			if (b->motion[(size_t)t * b->nchannels + c + i] != 0)
				return 0;
	return 1;
}

static int only_child(const lm_bvh *b, int j)
{
	int n = 0, child = -1;
	for (int k = j + 1; k < b->njoints; k++)
		if (b->joints[k].parent == j)
			n++, child = k;
	return n == 1 ? child : -1;
}

int lm_skeleton_from_bvh(lm_skeleton *sk, const lm_bvh *b, const char *name, lm_status *st)
{
	memset(sk, 0, sizeof *sk);
	if (b->nframes < 1 || b->njoints < 1)
		return lm_fail(st, LM_EDATA, "%s: a skeleton needs a rest-pose frame", name);
	int r = 0, child;
	while ((child = only_child(b, r)) >= 0 && channels_zero(b, r))
		r = child;
	int N = b->njoints - r;
	static const double zero[3];
	double *G = malloc(sizeof(double) * 12 * b->njoints), *P = G ? G + 9 * b->njoints : NULL;
	if (!G)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", name);
	lm_bvh_fk(b, 0, G, P);

	/* one Euler order: the root's, else the first joint's with rotations, else ZXY */
	strcpy(sk->order, "ZXY");
	for (int j = r; j < b->njoints; j++) {
		char o[4];
		if (lm_bvh_rot_order(&b->joints[j], o) == 3) {
			memcpy(sk->order, o, sizeof o);
			break;
		}
	}

	lm_bvh *h = &sk->hier;
	h->njoints = N;
	h->frame_time = 1.0 / LM_MOTION_FPS;
	int c = 0;
	for (int j = 0; j < r; j++)
		c += b->joints[j].nchan;
	for (int k = 0; k < N; k++) {
		const lm_bvh_joint *src = &b->joints[r + k];
		lm_bvh_joint *dst = &h->joints[k];
		*dst = *src;
		dst->parent = k == 0 ? -1 : src->parent - r;
		/* the rest frame's local translation: position channels replace the OFFSET */
		for (int i = 0; i < src->nchan; i++)
			if (src->chan[i] >= 'x' && src->chan[i] <= 'z')
				dst->offset[src->chan[i] - 'x'] = b->motion[c + i];
		c += src->nchan;
		if (k == 0)
			memcpy(dst->offset, zero, sizeof zero);
		/* a zero End Site (as in the Bandai-Namco data) continues the bone by half its length:
		 * Blender's importer reports a zero-length bone otherwise */
		if (dst->has_end && !dst->end[0] && !dst->end[1] && !dst->end[2])
			for (int i = 0; i < 3; i++)
				dst->end[i] = 0.5 * dst->offset[i];
		int n = 0;
		if (k == 0)
			dst->chan[n++] = 'x', dst->chan[n++] = 'y', dst->chan[n++] = 'z';
		for (int i = 0; i < 3; i++)
			dst->chan[n++] = sk->order[i];
		dst->nchan = n;
		h->nchannels += n;
		memcpy(sk->rest_grot[k], G + 9 * (r + k), 9 * sizeof(double));
		memcpy(sk->rest_gpos[k], P + 3 * (r + k), 3 * sizeof(double));
		sk->map[k] = r + k;
	}
	free(G);
	sk->njoints = N;

	/* units from the rest pose's height: under 10 -> metres, under 1000 -> cm, else mm */
	double lo = sk->rest_gpos[0][1], hi = lo;
	for (int k = 1; k < N; k++)
		lo = fmin(lo, sk->rest_gpos[k][1]), hi = fmax(hi, sk->rest_gpos[k][1]);
	sk->scale = hi - lo < 10 ? 1 : hi - lo < 1000 ? 100 : 1000;
	rest_forward(sk);
	return 0;
}

int lm_skeleton_load(lm_skeleton *sk, const char *path, lm_status *st)
{
	static lm_bvh zero_bvh;
	lm_bvh *b = malloc(sizeof *b);
	memset(sk, 0, sizeof *sk);
	if (!b)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", path);
	*b = zero_bvh;
	FILE *f = fopen(path, "rb");
	int rc;
	if (!f)
		rc = lm_fail(st, LM_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
	else {
		rc = lm_bvh_read(b, f, path, st);
		fclose(f);
	}
	if (!rc)
		rc = lm_skeleton_from_bvh(sk, b, path, st);
	lm_bvh_free(b);
	free(b);
	return rc;
}

void lm_skeleton_free(lm_skeleton *sk)
{
	lm_bvh_free(&sk->hier);
	sk->njoints = 0;
}

int lm_skeleton_match(const lm_skeleton *sk, const lm_bvh *b, int *map, lm_status *st)
{
	for (int k = 0; k < sk->njoints; k++) {
		const char *nm = sk->hier.joints[k].name;
		map[k] = lm_bvh_find(b, nm);
		if (map[k] < 0)
			return lm_fail(st, LM_EDATA, "the BVH has no joint '%s' of the skeleton", nm);
		int p = sk->hier.joints[k].parent;
		if (p >= 0 && (map[k] == map[p] || !is_ancestor(b, map[p], map[k])))
			return lm_fail(st, LM_EDATA, "joint '%s' is not below '%s' in the BVH", nm,
				       sk->hier.joints[p].name);
	}
	return 0;
}

/* ---- poses ---- */

/* Frame t of b on the skeleton: global rotations Gs (N, 9) from b's channels, positions ps (N, 3)
 * in metres from b's root position and the skeleton's offsets. G, P: scratch (b->njoints). */
static void skeleton_pose(const lm_skeleton *sk, const lm_bvh *b, const int *map, int t, double *G,
			  double *P, double *Gs, double *ps)
{
	lm_bvh_fk(b, t, G, P);
	for (int k = 0; k < sk->njoints; k++) {
		memcpy(Gs + 9 * k, G + 9 * map[k], 9 * sizeof(double));
		int p = sk->hier.joints[k].parent;
		if (p < 0) {
			for (int i = 0; i < 3; i++)
				ps[3 * k + i] = P[3 * map[k] + i] / sk->scale;
			continue;
		}
		double o[3];
		mulv(Gs + 9 * p, sk->hier.joints[k].offset, o);
		for (int i = 0; i < 3; i++)
			ps[3 * k + i] = ps[3 * p + i] + o[i] / sk->scale;
	}
}

typedef struct scratch {
	double *G, *P;   /* (b joints, 9), (b joints, 3) */
	double *Gs, *ps; /* (N, 9), (N, 3) */
	int map[LM_BVH_MAX_JOINTS];
} scratch;

static int scratch_init(scratch *s, const lm_skeleton *sk, const lm_bvh *b, lm_status *st)
{
	int rc = lm_skeleton_match(sk, b, s->map, st);
	if (rc)
		return rc;
	s->G = malloc(sizeof(double) * 12 * ((size_t)b->njoints + sk->njoints));
	if (!s->G)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	s->P = s->G + 9 * b->njoints;
	s->Gs = s->P + 3 * b->njoints;
	s->ps = s->Gs + 9 * sk->njoints;
	return 0;
}

int lm_bvh_positions(const lm_skeleton *sk, const lm_bvh *b, double **pos, lm_status *st)
{
	scratch s;
	int rc = scratch_init(&s, sk, b, st), N = sk->njoints;
	*pos = NULL;
	if (rc)
		return rc;
	double *out = malloc(sizeof(double) * 3 * N * ((size_t)b->nframes + 1));
	if (!out) {
		free(s.G);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	for (int t = 0; t < b->nframes; t++) {
		skeleton_pose(sk, b, s.map, t, s.G, s.P, s.Gs, s.ps);
		memcpy(out + (size_t)t * 3 * N, s.ps, sizeof(double) * 3 * N);
	}
	free(s.G);
	*pos = out;
	return 0;
}

/* ---- BVH -> features ---- */

/* Heading angle of a world-aligned root rotation Q: the yaw of Q f (f = rest forward) minus the
 * yaw of f, so the rest pose has heading 0. Keeps prev when Q f is vertical. */
static double heading_of(const lm_skeleton *sk, const double *Q, double prev)
{
	double f[3];
	mulv(Q, sk->forward, f);
	if (hypot(f[0], f[2]) < 1e-6)
		return prev;
	return atan2(f[0], f[2]) - atan2(sk->forward[0], sk->forward[2]);
}

int lm_motion_from_bvh(const lm_skeleton *sk, const lm_bvh *b, float **feat, int *nframes, lm_status *st)
{
	int N = sk->njoints, D = lm_feature_dim(sk), rc;
	*feat = NULL;
	*nframes = 0;
	if (fabs(b->frame_time * LM_MOTION_FPS - 1) > 1e-3)
		return lm_fail(st, LM_EDATA, "the BVH runs at %.4g fps; the model needs %d (resample it first)",
			       1 / b->frame_time, LM_MOTION_FPS);
	if (b->nframes < 1)
		return lm_fail(st, LM_EDATA, "the BVH has no frames");
	scratch s;
	if ((rc = scratch_init(&s, sk, b, st)))
		return rc;
	float *x = calloc((size_t)b->nframes * D, sizeof *x);
	double *prev = malloc(sizeof(double) * 3 * N); /* previous frame's position features */
	if (!x || !prev) {
		free(x), free(prev), free(s.G);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	double theta_prev = 0, Hprev[9], root_prev[3] = {0, 0, 0};
	for (int t = 0; t < b->nframes; t++) {
		float *f = x + (size_t)t * D;
		double *Gs = s.Gs, *ps = s.ps, Q0[9], H[9];
		skeleton_pose(sk, b, s.map, t, s.G, s.P, Gs, ps);
		mul33_nt(Gs, sk->rest_grot[0], Q0); /* Q_root = G_root G_rest_root^T */
		double theta = heading_of(sk, Q0, theta_prev);
		rot_yaw(-theta, H); /* H_t removes the heading */
		double root[3] = {ps[0], ps[1], ps[2]};
		/* [0:2] root velocity in the previous heading frame; [2:8] heading change H_t H_{t-1}^T */
		if (t == 0) {
			f[2] = 1, f[6] = 1;
		} else {
			double v[3] = {root[0] - root_prev[0], 0, root[2] - root_prev[2]}, hv[3], D6[9];
			mulv(Hprev, v, hv);
			f[0] = to_f32(hv[0]), f[1] = to_f32(hv[2]);
			rot_yaw(theta_prev - theta, D6);
			mat_to_6d(D6, f + 2);
		}
		/* [8:8+3N] positions: root xz at the origin, heading removed, y absolute;
		 * [8+3N:8+6N] their change since the previous frame (zero at frame 0) */
		for (int k = 0; k < N; k++) {
			double d[3] = {ps[3 * k] - root[0], ps[3 * k + 1], ps[3 * k + 2] - root[2]}, q[3];
			mulv(H, d, q);
			for (int i = 0; i < 3; i++) {
				f[8 + 3 * k + i] = to_f32(q[i]);
				if (t > 0)
					f[8 + 3 * N + 3 * k + i] = to_f32(q[i] - prev[3 * k + i]);
				prev[3 * k + i] = q[i];
			}
		}
		/* [8+6N:8+12N] rotations: root H_t Q_root; others Q_parent^T Q_j */
		for (int k = 0; k < N; k++) {
			double Qk[9], R[9];
			int p = sk->hier.joints[k].parent;
			if (p < 0) {
				mul33(H, Q0, R);
			} else {
				double Qp[9];
				mul33_nt(Gs + 9 * p, sk->rest_grot[p], Qp);
				mul33_nt(Gs + 9 * k, sk->rest_grot[k], Qk);
				mul33_tn(Qp, Qk, R);
			}
			mat_to_6d(R, f + 8 + 6 * N + 6 * k);
		}
		theta_prev = theta;
		memcpy(Hprev, H, sizeof H);
		memcpy(root_prev, root, sizeof root);
	}
	free(prev);
	free(s.G);
	*feat = x;
	*nframes = b->nframes;
	return 0;
}

/* ---- features -> BVH ---- */

int lm_motion_to_bvh(const lm_skeleton *sk, const float *feat, int nframes, lm_bvh *out, lm_status *st)
{
	int N = sk->njoints, D = lm_feature_dim(sk);
	*out = sk->hier;
	out->motion = NULL;
	out->nframes = 0;
	out->frame_time = 1.0 / LM_MOTION_FPS;
	if (nframes < 0)
		return lm_fail(st, LM_EDATA, "negative frame count %d", nframes);
	for (size_t i = 0; i < (size_t)nframes * D; i++)
		if (!isfinite(feat[i]))
			return lm_fail(st, LM_EDATA, "feature %zu of frame %zu is not finite", i % D, i / D);
	int C = out->nchannels;
	double *m = nframes ? malloc(sizeof(double) * (size_t)nframes * C) : NULL;
	double *G = malloc(sizeof(double) * 9 * N);
	if ((nframes && !m) || !G) {
		free(m), free(G);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	double theta = 0, root[3] = {0, 0, 0}, HTprev[9];
	for (int t = 0; t < nframes; t++) {
		const float *f = feat + (size_t)t * D;
		double *row = m + (size_t)t * C;
		/* heading: theta_t = theta_{t-1} - phi_t, phi_t the yaw of the heading change */
		double phi = (f[2] == 0 && f[4] == 0) ? 0 : atan2(f[4], f[2]);
		theta -= phi;
		double HT[9]; /* H_t^T adds the heading back */
		rot_yaw(theta, HT);
		/* root: sum of velocities, each turned back by the previous frame's heading */
		double v[3] = {f[0], 0, f[1]}, w[3];
		if (t > 0)
			mulv(HTprev, v, w);
		else
			memcpy(w, v, sizeof w);
		root[0] += w[0], root[2] += w[2];
		root[1] = f[8 + 1];
		/* rotations: Q_root = H_t^T R_root, Q_j = Q_parent R_j; G_j = Q_j G_rest_j */
		for (int k = 0; k < N; k++) {
			double R[9], Q[9];
			int p = sk->hier.joints[k].parent;
			mat_from_6d(f + 8 + 6 * N + 6 * k, R);
			if (p < 0) {
				mul33(HT, R, Q);
			} else {
				double Qp[9];
				mul33_nt(G + 9 * p, sk->rest_grot[p], Qp); /* Q_p = G_p G_rest_p^T */
				mul33(Qp, R, Q);
			}
			mul33(Q, sk->rest_grot[k], G + 9 * k);
		}
		/* channels: root position (file units) and Euler angles of L_j = G_parent^T G_j */
		int c = 0;
		for (int i = 0; i < 3; i++)
			row[c++] = root[i] * sk->scale;
		for (int k = 0; k < N; k++) {
			double L[9];
			int p = sk->hier.joints[k].parent;
			if (p < 0)
				memcpy(L, G, sizeof L);
			else
				mul33_tn(G + 9 * p, G + 9 * k, L);
			lm_mat_to_euler(sk->order, L, row + c);
			c += 3;
		}
		memcpy(HTprev, HT, sizeof HT);
	}
	free(G);
	out->motion = m;
	out->nframes = nframes;
	return 0;
}

void lm_fit_ground(const double *p, const double *q, int N, double *a, double c1[2], double c2[2])
{
	double sdot = 0, scr = 0;
	c1[0] = c1[1] = c2[0] = c2[1] = 0;
	for (int k = 0; k < N; k++)
		c1[0] += p[3 * k] / N, c1[1] += p[3 * k + 2] / N, c2[0] += q[3 * k] / N, c2[1] += q[3 * k + 2] / N;
	for (int k = 0; k < N; k++) {
		double ax = p[3 * k] - c1[0], az = p[3 * k + 2] - c1[1];
		double bx = q[3 * k] - c2[0], bz = q[3 * k + 2] - c2[1];
		sdot += ax * bx + az * bz;
		scr += az * bx - ax * bz;
	}
	*a = atan2(scr, sdot);
}
