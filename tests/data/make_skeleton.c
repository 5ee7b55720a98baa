/* make_skeleton.c: writes skeleton_bn.bvh, the model skeleton, from one Bandai-Namco clip.
 *
 *   gcc -std=c11 -D_GNU_SOURCE -Ilib tests/data/make_skeleton.c lib/bvh.c lib/motion.c \
 *       lib/status.c -lm -o /tmp/make_skeleton
 *   /tmp/make_skeleton .../dataset-2_raise-up-both-hands_normal_001.bvh > tests/data/skeleton_bn.bvh
 *
 * The hierarchy is the clip's below joint_Root (Hips-rooted, 21 joints) with the file's OFFSETs;
 * the root gets 6 channels, every other joint 3, all in the clip's order (ZXY). The one frame is
 * the clip's first (a neutral standing pose) with the heading turned to face +Z (forward from
 * hips and shoulders, as lm_skeleton_from_bvh computes it) and the hips put at x = z = 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "motion.h"

static lm_bvh clip, out;
static lm_skeleton sk;

int main(int argc, char **argv)
{
	lm_status st = {0};
	FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
	if (!f || lm_bvh_read(&clip, f, argv[1], &st) || lm_skeleton_from_bvh(&sk, &clip, argv[1], &st)) {
		fprintf(stderr, "make_skeleton: %s\n", f ? st.msg : "usage: make_skeleton clip.bvh");
		return 1;
	}
	fclose(f);
	int N = sk.njoints;
	out = sk.hier;
	for (int k = 1; k < N; k++) /* the file's OFFSETs (its position channels agree within 1e-5) */
		for (int i = 0; i < 3; i++)
			out.joints[k].offset[i] = clip.joints[sk.map[k]].offset[i];
	static double G[LM_BVH_MAX_JOINTS * 9], P[LM_BVH_MAX_JOINTS * 3];
	lm_bvh_fk(&clip, 0, G, P);
	double th = atan2(sk.forward[0], sk.forward[2]), c = cos(-th), s = sin(-th);
	double Y[9] = {c, 0, s, 0, 1, 0, -s, 0, c}, R[9], row[6 + 3 * LM_BVH_MAX_JOINTS];
	const double *Gh = G + 9 * sk.map[0];
	for (int i = 0; i < 3; i++) /* R = Y Gh: the hips' rotation facing +Z */
		for (int k = 0; k < 3; k++)
			R[3 * i + k] = Y[3 * i] * Gh[k] + Y[3 * i + 1] * Gh[3 + k] + Y[3 * i + 2] * Gh[6 + k];
	row[0] = 0, row[1] = P[3 * sk.map[0] + 1], row[2] = 0;
	lm_mat_to_euler(sk.order, R, row + 3);
	for (int k = 1; k < N; k++) { /* local rotation L = G_parent^T G_k */
		const double *Gp = G + 9 * sk.map[out.joints[k].parent], *Gk = G + 9 * sk.map[k];
		double L[9];
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				L[3 * i + j] = Gp[i] * Gk[j] + Gp[3 + i] * Gk[3 + j] + Gp[6 + i] * Gk[6 + j];
		lm_mat_to_euler(sk.order, L, row + 3 + 3 * k);
	}
	out.nframes = 1;
	out.motion = row;
	if (lm_bvh_write(&out, stdout, &st)) {
		fprintf(stderr, "make_skeleton: %s\n", st.msg);
		return 1;
	}
	return 0;
}
