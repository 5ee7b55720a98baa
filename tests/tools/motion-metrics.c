/* motion-metrics: how far one BVH clip is from another on the model's skeleton, for make eval
 * (train/eval.py) and by hand. Global joint positions come from the library's forward kinematics
 * (lm_bvh_positions: the clip's root position and rotations, the skeleton's bone offsets).
 *
 *   motion-metrics [-m DIR | -s SKELETON.bvh] REF.bvh [TEST.bvh]
 *
 * Prints "key value" lines. With one file: frames, jerk. With two (the first is the reference):
 *   frames        T_ref T_test
 *   compared      min(T_ref, T_test): frames 0 .. compared-1 of both are compared
 *   mpjpe_mm      mean over those frames of the mean over joints of |p_test - A p_ref|, mm, where
 *                 A is the one rotation about Y and shift on the ground that best maps the
 *                 reference's frame 0 onto the test's frame 0 (least squares over the joints, as
 *                 tests/test_motion.c): the features leave out where a clip starts and which way it
 *                 faces (docs/motion.md 5), so a decoded clip starts at the origin facing +Z.
 *                 Not root-aligned per frame: drift of the trajectory counts.
 *   mpjpe_root_mm the same with the root subtracted in every frame (root-aligned; A's rotation
 *                 kept), as MotionStreamer's calculate_mpjpe (utils/eval_trans.py) measures its VAE
 *   rot_deg       mean over frames and joints of the geodesic angle (degrees) between the two
 *                 clips' local rotations: parent-relative G_parent^T G_k for every joint but the
 *                 root, and the root's global rotation (the reference's turned by A)
 *   jerk_ref      mean over frames and joints of |d^3 p / dt^3| (m/s^3; third finite difference of
 *   jerk_test     the global positions at 30 fps), over each whole clip ("nan" under 4 frames)
 * Exit status: 0 ok, 64 usage, 65 bad data (not a BVH on the skeleton), 66 missing input,
 * 71 out of memory. A test tool: built into build/tools/, not installed.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "motion.h"

static const char usage[] =
	"usage: motion-metrics [-m DIR | -s SKELETON.bvh] REF.bvh [TEST.bvh]\n"
	"Prints, as 'key value' lines, the frames and jerk (m/s^3) of REF.bvh, or with TEST.bvh the\n"
	"MPJPE in mm (frame 0 aligned by one yaw and ground shift; and root-aligned), the mean\n"
	"geodesic error of the local joint rotations in degrees and both clips' jerk.\n"
	"\n"
	"  -m, --model DIR      take DIR/skeleton.bvh (default: $LLAMO_MODEL or models/default)\n"
	"  -s, --skeleton FILE  the skeleton BVH itself\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 71 out of memory.\n";

typedef struct clip {
	lm_bvh b;
	int T;
	double *pos; /* (T, N, 3) metres */
	int map[LM_BVH_MAX_JOINTS];
} clip;

static void load(clip *c, const lm_skeleton *sk, const char *path)
{
	lm_status st = {0};
	FILE *f = fopen(path, "rb");
	if (!f)
		lm_die(LM_ENOINPUT, "%s: cannot open", path);
	if (lm_bvh_read(&c->b, f, path, &st) || lm_skeleton_match(sk, &c->b, c->map, &st) ||
	    lm_bvh_positions(sk, &c->b, &c->pos, &st)) {
		fclose(f);
		if (st.code == LM_EDATA && !strstr(st.msg, path))
			lm_die(LM_EDATA, "%s: %s", path, st.msg);
		lm_die_status(&st);
	}
	fclose(f);
	c->T = c->b.nframes;
}

/* Mean |third difference| * fps^3 over frames and joints; NaN under 4 frames. */
static double jerk(const double *pos, int T, int N)
{
	double sum = 0, fps3 = (double)LM_MOTION_FPS * LM_MOTION_FPS * LM_MOTION_FPS;
	for (int t = 0; t + 3 < T; t++)
		for (int k = 0; k < N; k++) {
			double e = 0;
			for (int i = 0; i < 3; i++) {
				const double *p = pos + ((size_t)t * N + k) * 3 + i;
				double d = p[9 * N] - 3 * p[6 * N] + 3 * p[3 * N] - p[0];
				e += d * d;
			}
			sum += sqrt(e) * fps3;
		}
	return T < 4 ? NAN : sum / ((double)(T - 3) * N);
}

/* Geodesic angle (radians) between rotations A and B: acos((trace(A^T B) - 1) / 2). */
static double angle(const double *A, const double *B)
{
	double tr = 0;
	for (int i = 0; i < 9; i++)
		tr += A[i] * B[i];
	double c = (tr - 1) / 2;
	return acos(c > 1 ? 1 : c < -1 ? -1 : c);
}

/* C = A^T B (3x3, row-major) */
static void mul_tn(const double *A, const double *B, double *C)
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			C[3 * i + j] = A[i] * B[j] + A[3 + i] * B[3 + j] + A[6 + i] * B[6 + j];
}

/* Local rotations of frame t on the skeleton: L (N, 9); the root's is its global rotation. */
static void local_rots(const lm_skeleton *sk, const clip *c, int t, double *G, double *L)
{
	lm_bvh_fk(&c->b, t, G, NULL);
	for (int k = 0; k < sk->njoints; k++) {
		int p = sk->hier.joints[k].parent;
		if (p < 0)
			memcpy(L + 9 * k, G + 9 * c->map[k], sizeof(double) * 9);
		else
			mul_tn(G + 9 * c->map[p], G + 9 * c->map[k], L + 9 * k);
	}
}

static void compare(const lm_skeleton *sk, const clip *r, const clip *s)
{
	int N = sk->njoints, T = r->T < s->T ? r->T : s->T;
	double a, c1[2], c2[2];
	lm_fit_ground(r->pos, s->pos, N, &a, c1, c2);
	double cs = cos(a), sn = sin(a), Y[9] = {cs, 0, sn, 0, 1, 0, -sn, 0, cs}; /* Ry(a) */
	double e = 0, eroot = 0, rot = 0;
	double *G = malloc(sizeof(double) * 9 * (r->b.njoints > s->b.njoints ? r->b.njoints : s->b.njoints));
	double *L1 = malloc(sizeof(double) * 9 * N), *L2 = malloc(sizeof(double) * 9 * N);
	if (!G || !L1 || !L2)
		lm_die(LM_ENOMEM, "out of memory");
	for (int t = 0; t < T; t++) {
		double A[LM_BVH_MAX_JOINTS][3];
		for (int k = 0; k < N; k++) { /* the reference moved by A */
			const double *p = r->pos + ((size_t)t * N + k) * 3;
			double x = p[0] - c1[0], z = p[2] - c1[1];
			A[k][0] = cs * x + sn * z + c2[0], A[k][1] = p[1], A[k][2] = -sn * x + cs * z + c2[1];
		}
		const double *q = s->pos + (size_t)t * N * 3;
		for (int k = 0; k < N; k++) {
			double d = 0, dr = 0;
			for (int i = 0; i < 3; i++) {
				double u = A[k][i] - q[3 * k + i], v = (A[k][i] - A[0][i]) - (q[3 * k + i] - q[i]);
				d += u * u, dr += v * v;
			}
			e += sqrt(d), eroot += sqrt(dr);
		}
		local_rots(sk, r, t, G, L1);
		local_rots(sk, s, t, G, L2);
		double R0[9];
		for (int i = 0; i < 3; i++) /* root: Ry(a) G_ref */
			for (int j = 0; j < 3; j++)
				R0[3 * i + j] = Y[3 * i] * L1[j] + Y[3 * i + 1] * L1[3 + j] + Y[3 * i + 2] * L1[6 + j];
		memcpy(L1, R0, sizeof R0);
		for (int k = 0; k < N; k++)
			rot += angle(L1 + 9 * k, L2 + 9 * k);
	}
	double n = (double)T * N;
	printf("frames %d %d\ncompared %d\n", r->T, s->T, T);
	printf("mpjpe_mm %.4f\nmpjpe_root_mm %.4f\nrot_deg %.4f\n", 1000 * e / n, 1000 * eroot / n,
	       rot / n * 180 / M_PI);
	printf("jerk_ref %.4f\njerk_test %.4f\n", jerk(r->pos, r->T, N), jerk(s->pos, s->T, N));
	free(G), free(L1), free(L2);
}

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"skeleton", required_argument, 0, 's'}, {0, 0, 0, 0}};
	const char *model = NULL, *skel = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "m:s:", opts, NULL)) != -1) {
		if (c == 'm')
			model = optarg;
		else if (c == 's')
			skel = optarg;
		else
			lm_usage_error("unknown option");
	}
	if (argc - optind < 1 || argc - optind > 2)
		lm_usage_error("want one or two BVH files");
	char path[4096];
	if (!skel) {
		snprintf(path, sizeof path, "%s/skeleton.bvh", lm_model_dir(model));
		skel = path;
	}
	lm_status st = {0};
	lm_skeleton sk;
	if (lm_skeleton_load(&sk, skel, &st))
		lm_die_status(&st);
	clip r = {0}, s = {0};
	load(&r, &sk, argv[optind]);
	if (argc - optind == 1) {
		printf("frames %d\njerk %.4f\n", r.T, jerk(r.pos, r.T, sk.njoints));
	} else {
		load(&s, &sk, argv[optind + 1]);
		compare(&sk, &r, &s);
	}
	if (fflush(stdout) || ferror(stdout))
		lm_die(LM_EIO, "write error");
	lm_bvh_free(&r.b), lm_bvh_free(&s.b), free(r.pos), free(s.pos);
	lm_skeleton_free(&sk);
	return 0;
}
