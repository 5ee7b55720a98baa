/* test_bvh.c: the BVH reader, writer, Euler angles and forward kinematics (lib/bvh.c).
 *
 * - every file in tests/data parses; writing it and reading it back gives the same hierarchy and
 *   the same values within the writer's rounding (5e-7), and a second write is byte-identical;
 * - the writer's format: tabs, "Frames: N" equal to the data lines, "Frame Time: 0.033333";
 * - every malformed input gives LM_EDATA and a message "t.bvh:LINE: ..." with the right line;
 * - Euler angles <-> matrices for the six orders (1e-9), gimbal lock included; a small FK by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bvh.h"
#include "tap.h"

static lm_bvh A, B;

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)len + 1);
	*n = fread(buf, 1, (size_t)len, f);
	buf[*n] = 0;
	fclose(f);
	return buf;
}

static char *write_mem(const lm_bvh *b, size_t *n)
{
	char *buf = NULL;
	lm_status st = {0};
	FILE *f = open_memstream(&buf, n);
	int rc = lm_bvh_write(b, f, &st);
	fclose(f);
	if (rc)
		diag("write failed: %s", st.msg);
	return buf;
}

static int count_data_lines(const char *text)
{
	const char *p = strstr(text, "Frame Time:");
	int n = 0;
	p = p ? strchr(p, '\n') : NULL;
	while (p && p[1]) {
		const char *e = strchr(p + 1, '\n');
		if (!e)
			e = p + 1 + strlen(p + 1);
		if (e > p + 1)
			n++;
		p = *e ? e : NULL;
	}
	return n;
}

static void test_file(const char *path, int want_joints, int want_channels)
{
	lm_status st = {0};
	FILE *f = fopen(path, "rb");
	if (!ok(f != NULL, "open %s", path))
		return;
	int rc = lm_bvh_read(&A, f, path, &st);
	fclose(f);
	if (!ok(rc == 0, "parse %s%s%s", path, rc ? ": " : "", rc ? st.msg : ""))
		return;
	size_t n;
	char *orig = slurp(path, &n);
	int lines = count_data_lines(orig);
	ok(A.njoints == want_joints && A.nchannels == want_channels && A.nframes == lines,
	   "%s: %d joints (want %d), %d channels (want %d), %d frames = %d data lines", path, A.njoints,
	   want_joints, A.nchannels, want_channels, A.nframes, lines);
	ok(fabs(A.frame_time - 1.0 / 30) < 1e-6, "%s: frame time %.7f is 1/30 within 1e-6", path, A.frame_time);
	free(orig);

	size_t n1, n2;
	char *t1 = write_mem(&A, &n1);
	rc = lm_bvh_parse(&B, t1, n1, "rewritten", &st);
	if (!ok(rc == 0, "%s: re-read the written text%s%s", path, rc ? ": " : "", rc ? st.msg : "")) {
		free(t1);
		lm_bvh_free(&A);
		return;
	}
	int same = A.njoints == B.njoints && A.nchannels == B.nchannels && A.nframes == B.nframes;
	double dmax = 0;
	for (int j = 0; same && j < A.njoints; j++) {
		lm_bvh_joint *a = &A.joints[j], *b = &B.joints[j];
		same = strcmp(a->name, b->name) == 0 && a->parent == b->parent && a->nchan == b->nchan &&
		       memcmp(a->chan, b->chan, (size_t)a->nchan) == 0 && a->has_end == b->has_end;
		for (int i = 0; i < 3; i++)
			dmax = fmax(dmax, fmax(fabs(a->offset[i] - b->offset[i]), fabs(a->end[i] - b->end[i])));
	}
	for (long i = 0; same && i < (long)A.nframes * A.nchannels; i++)
		dmax = fmax(dmax, fabs(A.motion[i] - B.motion[i]));
	dmax = fmax(dmax, fabs(A.frame_time - B.frame_time));
	ok(same && dmax <= 5e-7, "%s: write then read: same hierarchy, max value change %.3g (tol 5e-7)", path, dmax);
	char *t2 = write_mem(&B, &n2);
	ok(n1 == n2 && memcmp(t1, t2, n1) == 0, "%s: second write is byte-identical (%zu bytes)", path, n1);
	ok(strstr(t1, "\nFrame Time: 0.033333\n") != NULL, "%s: writes exactly \"Frame Time: 0.033333\"", path);
	char want[64];
	snprintf(want, sizeof want, "\nFrames: %d\n", A.nframes);
	ok(strstr(t1, want) && count_data_lines(t1) == A.nframes, "%s: writes \"Frames: %d\" and %d data lines",
	   path, A.nframes, count_data_lines(t1));
	ok(strstr(t1, "\n\tOFFSET ") && strstr(t1, "\n\t\tOFFSET ") && !strstr(t1, "\n "),
	   "%s: tabs for indentation, no leading spaces", path);
	free(t1);
	free(t2);
	lm_bvh_free(&A);
	lm_bvh_free(&B);
}

/* ---- malformed inputs ---- */

static const char *VALID =
	"HIERARCHY\n"                                                             /* 1 */
	"ROOT Hips\n"                                                             /* 2 */
	"{\n"                                                                     /* 3 */
	"\tOFFSET 0 0 0\n"                                                        /* 4 */
	"\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n" /* 5 */
	"\tJOINT Spine\n"                                                         /* 6 */
	"\t{\n"                                                                   /* 7 */
	"\t\tOFFSET 0 10 0\n"                                                     /* 8 */
	"\t\tCHANNELS 3 Zrotation Xrotation Yrotation\n"                          /* 9 */
	"\t\tEnd Site\n"                                                          /* 10 */
	"\t\t{\n"                                                                 /* 11 */
	"\t\t\tOFFSET 0 5 0\n"                                                    /* 12 */
	"\t\t}\n"                                                                 /* 13 */
	"\t}\n"                                                                   /* 14 */
	"}\n"                                                                     /* 15 */
	"MOTION\n"                                                                /* 16 */
	"Frames: 2\n"                                                             /* 17 */
	"Frame Time: 0.0333333\n"                                                 /* 18 */
	"0 90 0 0 0 0 10 20 30\n"                                                 /* 19 */
	"1 91 2 90 0 0 0 0 0\n";                                                  /* 20 */

/* VALID with line `line` (1-based) replaced by `repl` (NULL: deleted; may hold several lines). */
static char *edit(int line, const char *repl)
{
	size_t cap = strlen(VALID) + (repl ? strlen(repl) : 0) + 2;
	char *out = malloc(cap), *o = out;
	const char *p = VALID;
	for (int l = 1; *p; l++) {
		const char *e = strchr(p, '\n');
		size_t n = (size_t)(e - p) + 1;
		if (l != line) {
			memcpy(o, p, n);
			o += n;
		} else if (repl) {
			o += sprintf(o, "%s\n", repl);
		}
		p += n;
	}
	*o = 0;
	return out;
}

static void expect_error(const char *text, int line, const char *what)
{
	lm_status st = {0};
	char want[32];
	int rc = lm_bvh_parse(&A, text, strlen(text), "t.bvh", &st);
	snprintf(want, sizeof want, "t.bvh:%d: ", line);
	ok(rc == LM_EDATA && strncmp(st.msg, want, strlen(want)) == 0, "error %s: rc %d, \"%s\" (want LM_EDATA at line %d)",
	   what, rc, rc ? st.msg : "", line);
	lm_bvh_free(&A);
}

static void test_errors(void)
{
	lm_status st = {0};
	int rc = lm_bvh_parse(&A, VALID, strlen(VALID), "t.bvh", &st);
	ok(rc == 0 && A.njoints == 2 && A.nframes == 2 && A.nchannels == 9 && A.joints[1].has_end,
	   "the valid template parses: %d joints, %d frames, %d channels", A.njoints, A.nframes, A.nchannels);
	lm_bvh_free(&A);

	struct { int line; const char *repl; int errline; const char *what; } cases[] = {
		{15, NULL, 15, "missing '}' (MOTION inside a joint)"},
		{15, "}\n}", 16, "an extra '}'"},
		{9, "\t\tCHANNEL 3 Zrotation Xrotation Yrotation", 9, "unknown keyword CHANNEL"},
		{9, "\t\tCHANNELS 4 Zrotation Xrotation Yrotation Xposition", 9, "4 channels"},
		{9, "\t\tCHANNELS 3 Zrotation Xrotation", 10, "too few channel names"},
		{9, "\t\tCHANNELS 3 Zrotation Wrotation Yrotation", 9, "channel name Wrotation"},
		{9, "\t\tCHANNELS 3 Zrotation Zrotation Yrotation", 9, "repeated channel"},
		{5, "\tCHANNELS 6 Xposition Yposition Zrotation Zrotation Xrotation Yrotation", 5, "6 channels, Zrotation twice and no Zposition"},
		{17, "Frames: 3", 17, "Frames 3 with 2 data lines"},
		{17, "Frames: 1", 20, "Frames 1 with 2 data lines"},
		{20, "1 91 2 90 0 0 0 0", 20, "8 values for 9 channels"},
		{20, "1 91 2 90 0 0 0 0 0 0", 20, "10 values for 9 channels"},
		{19, "0 9x0 0 0 0 0 10 20 30", 19, "a non-number"},
		{19, "0 nan 0 0 0 0 10 20 30", 19, "nan"},
		{19, "0 inf 0 0 0 0 10 20 30", 19, "inf"},
		{19, "0 1e999 0 0 0 0 10 20 30", 19, "an overflowing number"},
		{19, "0 0x10 0 0 0 0 10 20 30", 19, "a hex number"},
		{18, "Frame Time: 0", 18, "Frame Time 0"},
		{18, "Frame Time: -0.1", 18, "Frame Time < 0"},
		{4, "\tOFFSET 0 a 0", 4, "a non-number OFFSET"},
		{6, "\tJOINT Hips", 6, "a duplicate joint name"},
		{1, "HIERARCH", 1, "a misspelt HIERARCHY"},
		{17, "Frames: -2", 17, "a negative frame count"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = edit(cases[i].line, cases[i].repl);
		expect_error(t, cases[i].errline, cases[i].what);
		free(t);
	}
	expect_error("", 1, "empty input");
	char trunc[200];
	snprintf(trunc, sizeof trunc, "%.*s", (int)(strstr(VALID, "\t\tCHANNELS") - VALID), VALID);
	expect_error(trunc, 9, "end of file inside the hierarchy (on the empty line 9)");

	/* LM_BVH_MAX_JOINTS + 1 joints in a chain: the error names the line of the extra JOINT */
	size_t cap = 64 * (LM_BVH_MAX_JOINTS + 2) + 256;
	char *big = malloc(cap), *o = big;
	o += sprintf(o, "HIERARCHY\nROOT j0\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n");
	for (int j = 1; j <= LM_BVH_MAX_JOINTS; j++)
		o += sprintf(o, "JOINT j%d\n{\nOFFSET 0 1 0\n", j);
	for (int j = 0; j <= LM_BVH_MAX_JOINTS; j++)
		o += sprintf(o, "}\n");
	o += sprintf(o, "MOTION\nFrames: 0\nFrame Time: 0.1\n");
	/* joint j (j >= 1) starts on line 5 + 3 (j - 1) + 1 */
	expect_error(big, 6 + 3 * (LM_BVH_MAX_JOINTS - 1), "more than LM_BVH_MAX_JOINTS joints");
	free(big);
}

/* ---- Euler angles and FK ---- */

static void test_euler(void)
{
	static const char *orders[] = {"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"};
	double worst = 0, worst_angle = 0;
	srand(7);
	for (int o = 0; o < 6; o++) {
		for (int n = 0; n < 2000; n++) {
			double a[3], R[9], back[3], R2[9];
			for (int i = 0; i < 3; i++)
				a[i] = (rand() / (double)RAND_MAX - 0.5) * 360;
			a[1] *= 0.5;
			if (n < 20)
				a[1] = n % 2 ? 90 : -90; /* gimbal lock */
			lm_euler_to_mat(orders[o], a, R);
			lm_mat_to_euler(orders[o], R, back);
			lm_euler_to_mat(orders[o], back, R2);
			for (int i = 0; i < 9; i++)
				worst = fmax(worst, fabs(R[i] - R2[i]));
			if (n >= 20)
				for (int i = 0; i < 3; i++) {
					double d = fabs(remainder(a[i] - back[i], 360));
					worst_angle = fmax(worst_angle, d);
				}
		}
	}
	ok(worst < 1e-9, "euler -> matrix -> euler -> matrix, 6 orders x 2000 (gimbal lock included): max err %.3g (tol 1e-9)", worst);
	ok(worst_angle < 1e-7, "angles come back (middle angle in (-90, 90)): max err %.3g deg (tol 1e-7)", worst_angle);

	double R[9], a[3] = {90, 0, 0};
	lm_euler_to_mat("ZXY", a, R); /* Rz(90): x -> y */
	ok(fabs(R[3] - 1) < 1e-15 && fabs(R[1] + 1) < 1e-15, "Rz(90) maps +X to +Y (R[1][0] = %g, R[0][1] = %g)", R[3], R[1]);
	double b[3] = {10, 20, 30}, Rz[9], Rx[9], Ry[9], M[9], P[9];
	lm_euler_to_mat("Z", (double[]){10, 0, 0}, Rz);
	lm_euler_to_mat("X", (double[]){20, 0, 0}, Rx);
	lm_euler_to_mat("Y", (double[]){30, 0, 0}, Ry);
	lm_euler_to_mat("ZXY", b, R);
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++) {
			M[3 * i + k] = 0;
			for (int j = 0; j < 3; j++)
				M[3 * i + k] += Rz[3 * i + j] * Rx[3 * j + k];
		}
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++) {
			P[3 * i + k] = 0;
			for (int j = 0; j < 3; j++)
				P[3 * i + k] += M[3 * i + j] * Ry[3 * j + k];
		}
	double d = 0;
	for (int i = 0; i < 9; i++)
		d = fmax(d, fabs(P[i] - R[i]));
	ok(d < 1e-15, "ZXY channels give R = Rz Rx Ry (max err %.3g)", d);
}

static void test_fk(void)
{
	lm_status st = {0};
	if (lm_bvh_parse(&A, VALID, strlen(VALID), "t.bvh", &st)) {
		ok(0, "parse template: %s", st.msg);
		return;
	}
	double G[18], P[6];
	lm_bvh_fk(&A, 0, G, P); /* root at (0, 90, 0), no rotation: Spine at (0, 100, 0) */
	ok(fabs(P[3]) < 1e-12 && fabs(P[4] - 100) < 1e-12 && fabs(P[5]) < 1e-12,
	   "FK frame 0: Spine at (%g, %g, %g), want (0, 100, 0)", P[3], P[4], P[5]);
	lm_bvh_fk(&A, 1, G, P); /* root at (1, 91, 2), Rz(90): offset (0, 10, 0) -> (-10, 0, 0) */
	ok(fabs(P[3] + 9) < 1e-12 && fabs(P[4] - 91) < 1e-12 && fabs(P[5] - 2) < 1e-12,
	   "FK frame 1: Spine at (%g, %g, %g), want (-9, 91, 2)", P[3], P[4], P[5]);
	lm_bvh_free(&A);
}

int main(void)
{
	test_file("tests/data/skeleton_bn.bvh", 21, 66);
	test_file("tests/data/bn_raise-up-both-hands_active_025.bvh", 22, 132);
	test_file("tests/data/bn_walk-turn-left_feminine_001_f068-107.bvh", 22, 132);
	test_file("tests/data/bn_wave-left-hand_normal_001_f000-039.bvh", 22, 132);
	test_errors();
	test_euler();
	test_fk();
	return done_testing();
}
