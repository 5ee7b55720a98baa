/* test_motion.c: the motion representation (lib/motion.c) on the Bandai-Namco skeleton.
 *
 * - tests/data/skeleton_bn.bvh loads as 21 joints, F = 260, 100 units per metre, facing +Z;
 * - round trip BVH -> features -> BVH text -> BVH: the global joint positions (skeleton offsets)
 *   come back within 1 mm after the one rigid ground-plane move the features leave out (frame 0
 *   is put at x = z = 0 facing +Z); printed: max and mean error in mm, and the error against the
 *   file's own position channels. On the 3 clips in tests/data, and on 20 clips extracted from
 *   $LLAMO_SHARED/data/bandai-namco-ds2.tar.xz when that is there (skipped otherwise);
 *   LLAMO_BN_DIR=<dir of .bvh> runs every clip in that directory as well;
 * - a clip holding the rest pose gives zero velocities and differences, identity 6D everywhere,
 *   and the rest positions;
 * - turning and moving a clip on the ground leaves its features unchanged;
 * - random features -> BVH -> features -> BVH -> features is stable, non-root rotations come
 *   back as Gram-Schmidt of the input 6D;
 * - errors: wrong frame rate, a missing joint, a non-finite feature, a missing skeleton file.
 */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "motion.h"
#include "tap.h"

#define SKELETON "tests/data/skeleton_bn.bvh"
static const char *CLIPS[] = {
	"tests/data/bn_raise-up-both-hands_active_025.bvh",
	"tests/data/bn_walk-turn-left_feminine_001_f068-107.bvh",
	"tests/data/bn_wave-left-hand_normal_001_f000-039.bvh",
};
/* near the start of the tarball, so tar --occurrence=1 stops early */
static const char *TAR_CLIPS[] = {
	"run_feminine_021", "walk-turn-left_active_041", "raise-up-both-hands_elderly_006",
	"raise-up-right-hand_active_033", "raise-up-left-hand_masculine_009", "walk_active_024",
	"raise-up-left-hand_normal_002", "run_active_049", "wave-right-hand_masculine_009",
	"raise-up-right-hand_youthful_025", "raise-up-both-hands_masculine_029",
	"wave-both-hands_active_029", "wave-both-hands_youthful_010", "raise-up-both-hands_normal_057",
	"walk-turn-right_masculine_007", "run_youthful_028", "raise-up-both-hands_masculine_006",
	"raise-up-both-hands_active_030", "wave-both-hands_normal_020", "walk_youthful_025",
};
#define TAR_PREFIX "Bandai-Namco-Research-Motiondataset-2/data/dataset-2_"

static lm_skeleton sk;
static lm_bvh clip, rt;

static int load(const char *path, lm_bvh *b)
{
	lm_status st = {0};
	FILE *f = fopen(path, "rb");
	int rc = f ? lm_bvh_read(b, f, path, &st) : LM_ENOINPUT;
	if (f)
		fclose(f);
	if (rc)
		diag("%s: %s", path, f ? st.msg : "cannot open");
	return rc;
}

/* features -> BVH text -> parsed BVH, as vae-dec writes it and a user reads it */
static int to_bvh_text(const float *x, int T, lm_bvh *out)
{
	lm_status st = {0};
	lm_bvh tmp;
	char *buf = NULL;
	size_t n = 0;
	if (lm_motion_to_bvh(&sk, x, T, &tmp, &st)) {
		diag("to_bvh: %s", st.msg);
		return -1;
	}
	FILE *f = open_memstream(&buf, &n);
	int rc = lm_bvh_write(&tmp, f, &st);
	fclose(f);
	lm_bvh_free(&tmp);
	if (!rc)
		rc = lm_bvh_parse(out, buf, n, "roundtrip", &st);
	if (rc)
		diag("write/parse: %s", st.msg);
	free(buf);
	return rc;
}

typedef struct stats {
	int clips;
	long frames, n;
	double max, sum, own_max, feat_max;
	int failed;
} stats;

static void roundtrip(const char *label, lm_bvh *b, stats *s, int verbose)
{
	lm_status st = {0};
	float *x = NULL, *x2 = NULL;
	double *p1 = NULL, *p2 = NULL;
	int T, T2, N = sk.njoints, D = lm_feature_dim(&sk), map[LM_BVH_MAX_JOINTS];
	if (lm_motion_from_bvh(&sk, b, &x, &T, &st)) {
		ok(0, "%s: features: %s", label, st.msg);
		s->failed++;
		return;
	}
	if (to_bvh_text(x, T, &rt) || lm_bvh_positions(&sk, b, &p1, &st) ||
	    lm_bvh_positions(&sk, &rt, &p2, &st) || lm_skeleton_match(&sk, b, map, &st) ||
	    lm_motion_from_bvh(&sk, &rt, &x2, &T2, &st) || T2 != T || rt.nframes != T) {
		ok(0, "%s: round trip failed: %s", label, st.msg);
		s->failed++;
		goto out;
	}
	double ang, c1[2], c2[2];
	lm_fit_ground(p1, p2, N, &ang, c1, c2);
	double cs = cos(ang), sn = sin(ang), emax = 0, esum = 0, own = 0, fmax_ = 0;
	for (int t = 0; t < T; t++) {
		double P[LM_BVH_MAX_JOINTS * 3];
		lm_bvh_fk(b, t, NULL, P); /* the file's own channels */
		for (int k = 0; k < N; k++) {
			const double *a = p1 + ((size_t)t * N + k) * 3, *q = p2 + ((size_t)t * N + k) * 3;
			const double *o = P + 3 * map[k];
			double ax = a[0] - c1[0], az = a[2] - c1[1];
			double r[3] = {cs * ax + sn * az + c2[0], a[1], -sn * ax + cs * az + c2[1]};
			double ox = o[0] / sk.scale - c1[0], oz = o[2] / sk.scale - c1[1];
			double ro[3] = {cs * ox + sn * oz + c2[0], o[1] / sk.scale, -sn * ox + cs * oz + c2[1]};
			double e = 0, eo = 0;
			for (int i = 0; i < 3; i++)
				e += (r[i] - q[i]) * (r[i] - q[i]), eo += (ro[i] - q[i]) * (ro[i] - q[i]);
			e = sqrt(e) * 1000, eo = sqrt(eo) * 1000;
			emax = fmax(emax, e), esum += e, own = fmax(own, eo);
		}
	}
	for (long i = 0; i < (long)T * D; i++)
		fmax_ = fmax(fmax_, fabs(x[i] - x2[i]));
	int placed = fabs(p2[0]) < 1e-6 && fabs(p2[2]) < 1e-6;
	s->clips++, s->frames += T, s->n += (long)T * N, s->sum += esum;
	s->max = fmax(s->max, emax), s->own_max = fmax(s->own_max, own), s->feat_max = fmax(s->feat_max, fmax_);
	if (emax >= 1 || own >= 1 || fmax_ > 1e-4 || !placed)
		s->failed++;
	if (verbose || emax >= 1 || own >= 1 || fmax_ > 1e-4 || !placed)
		ok(emax < 1 && own < 1 && fmax_ <= 1e-4 && placed,
		   "%s: %d frames, dim %d: round trip max %.2g mm, mean %.2g mm (tol 1 mm); vs the file's own "
		   "channels max %.2g mm; features again: max diff %.2g (tol 1e-4); frame 0 root at x = z = 0",
		   label, T, D, emax, esum / ((double)T * N), own, fmax_);
out:
	free(x), free(x2), free(p1), free(p2);
	lm_bvh_free(&rt);
}

static void test_skeleton(void)
{
	lm_status st = {0};
	int rc = lm_skeleton_load(&sk, SKELETON, &st);
	if (!ok(rc == 0, "load %s%s%s", SKELETON, rc ? ": " : "", rc ? st.msg : "")) {
		done_testing();
		exit(1);
	}
	ok(sk.njoints == 21 && lm_feature_dim(&sk) == 260 && strcmp(sk.hier.joints[0].name, "Hips") == 0,
	   "skeleton: %d joints rooted at %s, feature dim %d (want 21, Hips, 260)", sk.njoints,
	   sk.hier.joints[0].name, lm_feature_dim(&sk));
	ok(sk.scale == 100 && strcmp(sk.order, "ZXY") == 0, "scale %g file units per metre (want 100), order %s (want ZXY)",
	   sk.scale, sk.order);
	ok(fabs(sk.forward[0]) < 1e-6 && sk.forward[1] == 0 && fabs(sk.forward[2] - 1) < 1e-9,
	   "rest forward (%.2g, %g, %.9f) is +Z within 1e-6", sk.forward[0], sk.forward[1], sk.forward[2]);
	int ch = sk.hier.joints[0].nchan == 6 && sk.hier.nchannels == 6 + 3 * 20;
	for (int k = 1; k < sk.njoints; k++)
		ch = ch && sk.hier.joints[k].nchan == 3 && memcmp(sk.hier.joints[k].chan, "ZXY", 3) == 0;
	ok(ch, "writer hierarchy: root 6 channels, the other 20 joints 3 rotation channels ZXY");
}

static void test_clips(void)
{
	stats s = {0};
	for (int i = 0; i < 3; i++) {
		if (load(CLIPS[i], &clip)) {
			ok(0, "load %s", CLIPS[i]);
			continue;
		}
		roundtrip(CLIPS[i], &clip, &s, 1);
		lm_bvh_free(&clip);
	}
}

static void summary(const char *what, stats *s)
{
	ok(s->failed == 0 && s->clips > 0,
	   "%s: %d clips, %ld frames: round trip max %.3g mm, mean %.3g mm (tol 1 mm); vs own channels max "
	   "%.3g mm; features again max diff %.3g",
	   what, s->clips, s->frames, s->max, s->n ? s->sum / s->n : 0, s->own_max, s->feat_max);
}

static void test_tarball(void)
{
	const char *shared = getenv("LLAMO_SHARED");
	char tar[1024], dir[] = "/tmp/llamo-test-motion-XXXXXX", cmd[8192];
	snprintf(tar, sizeof tar, "%s/data/bandai-namco-ds2.tar.xz", shared ? shared : "../shared");
	if (access(tar, R_OK) != 0) {
		ok(1, "20 clips from the data tarball # SKIP %s not found", tar);
		return;
	}
	if (!mkdtemp(dir)) {
		ok(1, "20 clips from the data tarball # SKIP no temporary directory");
		return;
	}
	int n = snprintf(cmd, sizeof cmd, "timeout 15 tar -xJf '%s' -C '%s' --occurrence=1", tar, dir);
	for (int i = 0; i < 20; i++)
		n += snprintf(cmd + n, sizeof cmd - n, " '" TAR_PREFIX "%s.bvh'", TAR_CLIPS[i]);
	snprintf(cmd + n, sizeof cmd - n, " 2>/dev/null");
	int rc = system(cmd);
	stats s = {0};
	for (int i = 0; i < 20; i++) {
		char path[2048];
		snprintf(path, sizeof path, "%s/" TAR_PREFIX "%s.bvh", dir, TAR_CLIPS[i]);
		if (access(path, R_OK) == 0 && load(path, &clip) == 0) {
			roundtrip(TAR_CLIPS[i], &clip, &s, 0);
			lm_bvh_free(&clip);
		}
		unlink(path);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	if (s.clips < 20 && rc != 0) {
		ok(1, "20 clips from the data tarball # SKIP tar failed or took over 15 s (%d clips read)", s.clips);
		return;
	}
	summary("20 clips from the data tarball", &s);
}

static void test_dir(void)
{
	const char *d = getenv("LLAMO_BN_DIR");
	if (!d)
		return;
	char pat[1024];
	glob_t g;
	snprintf(pat, sizeof pat, "%s/*.bvh", d);
	stats s = {0};
	if (glob(pat, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			if (load(g.gl_pathv[i], &clip) == 0) {
				roundtrip(g.gl_pathv[i], &clip, &s, 0);
				lm_bvh_free(&clip);
			}
		globfree(&g);
	}
	summary("LLAMO_BN_DIR", &s);
}

/* A clip that holds the skeleton's rest frame 10 times. */
static void test_rest_clip(void)
{
	lm_status st = {0};
	lm_bvh *b = &clip;
	if (load(SKELETON, b))
		return;
	int C = b->nchannels, T = 10, N = sk.njoints, D = lm_feature_dim(&sk);
	double *m = malloc(sizeof(double) * C * T);
	for (int t = 0; t < T; t++)
		memcpy(m + (size_t)t * C, b->motion, sizeof(double) * C);
	free(b->motion);
	b->motion = m, b->nframes = T;
	float *x;
	int n;
	int rc = lm_motion_from_bvh(&sk, b, &x, &n, &st);
	if (!ok(rc == 0 && n == T, "rest clip: features of %d frames (want %d)", rc ? -1 : n, T)) {
		lm_bvh_free(b);
		return;
	}
	static const float id6[6] = {1, 0, 0, 0, 1, 0};
	double vel = 0, head = 0, dif = 0, rot = 0, pos = 0;
	for (int t = 0; t < T; t++) {
		const float *f = x + (size_t)t * D;
		vel = fmax(vel, fmax(fabs(f[0]), fabs(f[1])));
		for (int i = 0; i < 6; i++)
			head = fmax(head, fabs(f[2 + i] - id6[i]));
		for (int k = 0; k < N; k++) {
			for (int i = 0; i < 3; i++) {
				double want = sk.rest_gpos[k][i] / sk.scale - (i != 1 ? sk.rest_gpos[0][i] / sk.scale : 0);
				pos = fmax(pos, fabs(f[8 + 3 * k + i] - want));
				dif = fmax(dif, fabs(f[8 + 3 * N + 3 * k + i]));
			}
			for (int i = 0; i < 6; i++)
				rot = fmax(rot, fabs(f[8 + 6 * N + 6 * k + i] - id6[i]));
		}
	}
	ok(vel < 1e-6 && dif < 1e-6, "rest clip: root velocity max %.2g, position differences max %.2g (want 0, tol 1e-6)", vel, dif);
	ok(head < 1e-6 && rot < 1e-6, "rest clip: heading change and all 21 rotations are identity 6D: max err %.2g, %.2g (tol 1e-6)",
	   head, rot);
	ok(pos < 1e-6, "rest clip: positions are the rest pose's (root at (0, %.4f, 0) m): max err %.2g m (tol 1e-6)",
	   x[8 + 1], pos);
	free(x);
	lm_bvh_free(b);
}

/* Turning a clip by 70 degrees about Y and moving it on the ground changes no feature. */
static void test_invariance(void)
{
	lm_status st = {0};
	if (load(CLIPS[1], &clip))
		return;
	float *x, *y;
	int T, T2, hips = lm_bvh_find(&clip, "Hips"), c = 0;
	for (int j = 0; j < hips; j++)
		c += clip.joints[j].nchan;
	lm_motion_from_bvh(&sk, &clip, &x, &T, &st);
	lm_bvh orig;
	load(CLIPS[1], &orig);
	double a = 70 * M_PI / 180, Y[9] = {cos(a), 0, sin(a), 0, 1, 0, -sin(a), 0, cos(a)};
	for (int t = 0; t < clip.nframes; t++) { /* Hips: Xposition Yposition Zposition Zrotation Xrotation Yrotation */
		double *ch = clip.motion + (size_t)t * clip.nchannels + c, R[9], R2[9], p[3];
		lm_euler_to_mat("ZXY", ch + 3, R);
		for (int i = 0; i < 3; i++) {
			p[i] = Y[3 * i] * ch[0] + Y[3 * i + 1] * ch[1] + Y[3 * i + 2] * ch[2];
			for (int k = 0; k < 3; k++)
				R2[3 * i + k] = Y[3 * i] * R[k] + Y[3 * i + 1] * R[3 + k] + Y[3 * i + 2] * R[6 + k];
		}
		ch[0] = p[0] + 123.4, ch[1] = p[1], ch[2] = p[2] - 56.7;
		lm_mat_to_euler("ZXY", R2, ch + 3);
	}
	lm_motion_from_bvh(&sk, &clip, &y, &T2, &st);
	double *p0, *p1;
	lm_bvh_positions(&sk, &clip, &p1, &st);
	lm_bvh_positions(&sk, &orig, &p0, &st);
	ok(fabs(p1[0] - p0[0]) > 0.5 && T2 == T, "the turned clip's root moved: x %.3f -> %.3f m", p0[0], p1[0]);
	free(p0), free(p1);
	lm_bvh_free(&orig);
	close_f32(y, x, (long)T * lm_feature_dim(&sk), 1e-5, 0, "walk turned by 70 deg and moved (1.23, 0, -0.57) m: same features");
	free(x), free(y);
	lm_bvh_free(&clip);
}

static double urand(void)
{
	return rand() / (double)RAND_MAX * 2 - 1;
}

static void test_random(void)
{
	int T = 24, N = sk.njoints, D = lm_feature_dim(&sk);
	float *r = malloc(sizeof(float) * T * D), *f1 = NULL, *f2 = NULL;
	lm_bvh b1, b2;
	lm_status st = {0};
	srand(1234);
	for (int t = 0; t < T; t++) {
		float *f = r + (size_t)t * D;
		for (int i = 0; i < D; i++)
			f[i] = (float)urand();
		f[0] *= 0.05f, f[1] *= 0.05f;
		double h = 0.1 * urand();
		f[2] = (float)cos(h), f[3] = 0.01f * f[3], f[4] = (float)sin(h), f[5] = 0.01f * f[5], f[6] = 1, f[7] *= 0.01f;
		f[8 + 1] = (float)(0.9 + 0.1 * urand());
	}
	int n1 = 0, n2 = 0;
	int rc = to_bvh_text(r, T, &b1) || lm_motion_from_bvh(&sk, &b1, &f1, &n1, &st) || to_bvh_text(f1, n1, &b2) ||
		 lm_motion_from_bvh(&sk, &b2, &f2, &n2, &st);
	if (!ok(rc == 0 && n1 == T && n2 == T, "random features -> BVH -> features -> BVH -> features: %d frames%s%s",
		n2, rc ? ": " : "", rc ? st.msg : "")) {
		free(r), free(f1), free(f2);
		return;
	}
	close_f32(f2, f1, (long)T * D, 1e-4, 0, "random: features are stable after one round trip");
	/* non-root rotations: the Gram-Schmidt rows of the random 6D */
	float *want = malloc(sizeof(float) * T * 6 * (N - 1)), *got = malloc(sizeof(float) * T * 6 * (N - 1));
	float *h1 = malloc(sizeof(float) * T);
	float *h0 = malloc(sizeof(float) * T);
	long m = 0;
	for (int t = 0; t < T; t++) {
		for (int k = 1; k < N; k++) {
			const float *a = r + (size_t)t * D + 8 + 6 * N + 6 * k;
			double n1_ = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]), b1v[3], b2v[3], d = 0, n2_ = 0;
			for (int i = 0; i < 3; i++)
				b1v[i] = a[i] / n1_, d += b1v[i] * a[3 + i];
			for (int i = 0; i < 3; i++)
				b2v[i] = a[3 + i] - d * b1v[i], n2_ += b2v[i] * b2v[i];
			for (int i = 0; i < 3; i++)
				want[m + i] = (float)b1v[i], want[m + 3 + i] = (float)(b2v[i] / sqrt(n2_));
			memcpy(got + m, f1 + (size_t)t * D + 8 + 6 * N + 6 * k, 6 * sizeof(float));
			m += 6;
		}
		h1[t] = f1[(size_t)t * D + 8 + 1];
		h0[t] = r[(size_t)t * D + 8 + 1];
	}
	close_f32(got, want, m, 1e-5, 0, "random: non-root rotations come back as Gram-Schmidt of the input 6D");
	close_f32(h1, h0, T, 1e-6, 0, "random: the root height comes back");
	ok(f1[0] == 0 && f1[1] == 0 && f1[2] == 1 && f1[6] == 1, "random: frame 0 of the re-encoded features has zero velocity and no heading change");
	free(want), free(got), free(h1), free(h0);
	free(r), free(f1), free(f2);
	lm_bvh_free(&b1), lm_bvh_free(&b2);
}

static void test_errors(void)
{
	lm_status st = {0};
	float *x = NULL;
	int T, rc;
	lm_skeleton sk2;
	rc = lm_skeleton_load(&sk2, "tests/data/no-such-skeleton.bvh", &st);
	ok(rc == LM_ENOINPUT, "missing skeleton file: rc %d (want %d), \"%s\"", rc, LM_ENOINPUT, st.msg);
	if (load(CLIPS[0], &clip))
		return;
	clip.frame_time = 1.0 / 60;
	rc = lm_motion_from_bvh(&sk, &clip, &x, &T, &st);
	ok(rc == LM_EDATA && !x, "60 fps clip: rc %d (want LM_EDATA), \"%s\"", rc, st.msg);
	clip.frame_time = 1.0 / 30;
	strcpy(clip.joints[lm_bvh_find(&clip, "Hand_L")].name, "LeftHand");
	rc = lm_motion_from_bvh(&sk, &clip, &x, &T, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "Hand_L"), "clip without Hand_L: rc %d, \"%s\"", rc, st.msg);
	lm_bvh_free(&clip);
	int D = lm_feature_dim(&sk);
	float *f = calloc((size_t)2 * D, sizeof *f);
	f[D + 17] = NAN;
	rc = lm_motion_to_bvh(&sk, f, 2, &clip, &st);
	ok(rc == LM_EDATA, "a NaN feature: rc %d, \"%s\"", rc, st.msg);
	lm_bvh_free(&clip);
	free(f);
}

int main(void)
{
	test_skeleton();
	test_clips();
	test_rest_clip();
	test_invariance();
	test_random();
	test_errors();
	test_tarball();
	test_dir();
	lm_skeleton_free(&sk);
	return done_testing();
}
