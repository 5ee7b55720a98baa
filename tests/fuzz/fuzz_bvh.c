/* fuzz_bvh.c: libFuzzer target for the BVH reader and writer (lib/bvh.c) and, when the input is a
 * usable skeleton, the motion representation both ways (lib/motion.c).
 *
 * The input is parsed with lm_bvh_parse; on success it is written to a memory stream, read back
 * (must succeed), and its skeleton (frame 0 as the rest pose) is built from it; then the input
 * itself, forced to 30 fps, goes through lm_motion_from_bvh, lm_motion_to_bvh and
 * lm_bvh_positions. Any crash, leak or undefined behaviour is a bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "bvh.h"
#include "motion.h"

static lm_bvh b, again, out;
static lm_skeleton sk;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lm_status st = {0};
	if (lm_bvh_parse(&b, (const char *)data, size, "fuzz", &st))
		return 0;
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	if (f) {
		int rc = lm_bvh_write(&b, f, &st);
		fclose(f);
		if (!rc && lm_bvh_parse(&again, text, n, "rewritten", &st))
			abort(); /* what the writer writes, the reader must read */
		lm_bvh_free(&again);
		free(text);
	}
	if (b.nframes >= 1 && lm_skeleton_from_bvh(&sk, &b, "fuzz", &st) == 0) {
		float *x = NULL;
		double *pos = NULL;
		int T;
		b.frame_time = 1.0 / LM_MOTION_FPS;
		if (lm_motion_from_bvh(&sk, &b, &x, &T, &st) == 0) {
			if (lm_motion_to_bvh(&sk, x, T, &out, &st) == 0 && lm_bvh_positions(&sk, &out, &pos, &st) == 0)
				free(pos);
			lm_bvh_free(&out);
			free(x);
		}
		lm_skeleton_free(&sk);
	}
	lm_bvh_free(&b);
	return 0;
}
