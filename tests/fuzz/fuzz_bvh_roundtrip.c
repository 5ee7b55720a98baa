/* fuzz_bvh_roundtrip.c: the BVH writer's round trip (lib/bvh.c). Whatever the reader accepts, the
 * writer writes and the reader reads back to the same skeleton (names, parents, channels, End
 * Sites), the same frame count, and the same values to the writer's precision (%.6f: within
 * 5e-7 of each value, plus the rounding of the value itself); writing that again gives the same
 * bytes. Any difference aborts. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bvh.h"

static lm_bvh a, b;

static char *write_mem(const lm_bvh *x, size_t *n)
{
	char *text = NULL;
	lm_status st = {0};
	FILE *f = open_memstream(&text, n);
	if (!f)
		return NULL;
	int rc = lm_bvh_write(x, f, &st);
	fclose(f);
	if (rc) {
		free(text);
		return NULL;
	}
	return text;
}

static void same(double x, double y)
{
	if (!(fabs(x - y) <= 5e-7 + 4e-16 * fabs(x)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lm_status st = {0};
	if (lm_bvh_parse(&a, (const char *)data, size, "fuzz", &st))
		return 0;
	size_t n1 = 0, n2 = 0;
	char *t1 = write_mem(&a, &n1), *t2 = NULL;
	if (!t1 || lm_bvh_parse(&b, t1, n1, "written", &st))
		abort(); /* a parsed BVH is consistent: it writes, and what is written reads */
	if (b.njoints != a.njoints || b.nframes != a.nframes || b.nchannels != a.nchannels)
		abort();
	same(a.frame_time, b.frame_time);
	for (int j = 0; j < a.njoints; j++) {
		const lm_bvh_joint *p = &a.joints[j], *q = &b.joints[j];
		if (strcmp(p->name, q->name) || p->parent != q->parent || p->nchan != q->nchan ||
		    memcmp(p->chan, q->chan, (size_t)p->nchan) || p->has_end != q->has_end)
			abort();
		for (int k = 0; k < 3; k++) {
			same(p->offset[k], q->offset[k]);
			if (p->has_end)
				same(p->end[k], q->end[k]);
		}
	}
	for (long i = 0; i < (long)a.nframes * a.nchannels; i++)
		same(a.motion[i], b.motion[i]);
	/* the written form is a fixed point: reading and writing it again gives the same bytes */
	if (!(t2 = write_mem(&b, &n2)) || n2 != n1 || memcmp(t1, t2, n1))
		abort();
	free(t1);
	free(t2);
	lm_bvh_free(&a);
	lm_bvh_free(&b);
	return 0;
}
