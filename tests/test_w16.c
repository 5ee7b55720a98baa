/* test_w16: the CPU backend's 16-bit weights (lib/cpu/ops_w16.c) against float32 weights holding
 * the same values widened: linear for 1 to 6 and 67 rows (the direct kernel and the widened
 * blocks), widths that are and are not multiples of 8, BF16 and F16; embed row for row; and a
 * model file of BF16 weights kept 16-bit by lm_be_load_weight. Products agree to float rounding
 * (the sums run in another order than OpenBLAS's); the gather is exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "cpu/cpu.h"
#include "safetensors.h"
#include "tap.h"

static uint32_t seed = 1;
static float rnd(void)
{
	seed = seed * 1664525u + 1013904223u;
	return ((seed >> 8) / 16777216.0f) * 2 - 1;
}

/* w16(n) holding random values of dtype, and wf(n) their float32 values. */
static void make(uint16_t *w16, float *wf, size_t n, int dtype)
{
	for (size_t i = 0; i < n; i++) {
		float v = rnd();
		if (dtype == LM_DT_BF16) {
			w16[i] = lm_f32_to_bf16(v);
			wf[i] = lm_bf16_to_f32(w16[i]);
		} else { /* an F16 value by rounding through a multiple of 2^-11 in [-1, 1] */
			float q = roundf(v * 1024) / 1024;
			uint32_t b;
			memcpy(&b, &q, 4);
			int e = (int)((b >> 23) & 0xff) - 127 + 15;
			uint16_t h = (uint16_t)(((b >> 16) & 0x8000) | (q == 0 ? 0 : ((e << 10) | ((b >> 13) & 0x3ff))));
			w16[i] = h;
			wf[i] = lm_f16_to_f32(h);
		}
	}
}

static void check_linear(int dtype, int n, int in, int out)
{
	const lm_backend *be = &lm_backend_cpu;
	size_t nw = (size_t)in * out;
	uint16_t *w16 = malloc(nw * 2);
	float *wf = malloc(nw * 4), *x = malloc((size_t)n * in * 4), *b = malloc(out * 4);
	float *y16 = malloc((size_t)n * out * 4), *yf = malloc((size_t)n * out * 4);
	make(w16, wf, nw, dtype);
	for (int i = 0; i < n * in; i++)
		x[i] = rnd();
	for (int i = 0; i < out; i++)
		b[i] = rnd();
	lm_weight *a = be->upload_weight16(w16, dtype, nw), *f = be->upload_weight(wf, nw);
	be->linear(y16, x, a, b, n, in, out);
	be->linear(yf, x, f, b, n, in, out);
	/* two float32 sums of the same in terms differ by at most 2 in eps sum|x w| (+ the bias) */
	double worst = 0, maxabs = 0;
	for (int r = 0; r < n; r++)
		for (int o = 0; o < out; o++) {
			double sabs = fabs(b[o]);
			for (int k = 0; k < in; k++)
				sabs += fabs(x[(size_t)r * in + k] * wf[(size_t)o * in + k]);
			double d = fabs(y16[(size_t)r * out + o] - yf[(size_t)r * out + o]);
			worst = fmax(worst, d / (2.0 * (in + 1) * 1.1920929e-7 * sabs));
			maxabs = fmax(maxabs, d);
		}
	ok(worst <= 1, "linear %s, %d rows of %d -> %d: max |16-bit - float32| %.2e, %.2f of the rounding bound",
	   dtype == LM_DT_BF16 ? "BF16" : "F16", n, in, out, maxabs, worst);
	be->release_weight(a);
	be->release_weight(f);
	free(w16), free(wf), free(x), free(b), free(y16), free(yf);
}

static void check_embed(int dtype)
{
	const lm_backend *be = &lm_backend_cpu;
	int V = 50, d = 19;
	uint16_t w16[50 * 19];
	float wf[50 * 19], y16[4 * 19], yf[4 * 19];
	make(w16, wf, (size_t)V * d, dtype);
	int32_t ids[4] = {0, 49, 7, 7};
	lm_weight *a = be->upload_weight16(w16, dtype, (size_t)V * d), *f = be->upload_weight(wf, (size_t)V * d);
	be->embed(y16, a, ids, 4, d);
	be->embed(yf, f, ids, 4, d);
	ok(!memcmp(y16, yf, sizeof yf), "embed %s: rows widened exactly", dtype == LM_DT_BF16 ? "BF16" : "F16");
	be->release_weight(a);
	be->release_weight(f);
}

/* A BF16 tensor in a model file is kept 16-bit (keep16), an F32 one and keep16 = 0 are not. */
static void check_load(void)
{
	const lm_backend *be = &lm_backend_cpu;
	/* a hand-made safetensors file: one BF16 [2, 3] tensor "w" and one F32 [2, 3] tensor "f" */
	const char *hdr = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
			  "\"f\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]}}";
	size_t hl = strlen(hdr);
	unsigned char buf[512] = {0};
	uint64_t n = hl;
	memcpy(buf, &n, 8);
	memcpy(buf + 8, hdr, hl);
	uint16_t w16[6];
	float wf[6], f32[6];
	make(w16, wf, 6, LM_DT_BF16);
	for (int i = 0; i < 6; i++)
		f32[i] = rnd();
	memcpy(buf + 8 + hl, w16, 12);
	memcpy(buf + 8 + hl + 12, f32, 24);
	lm_safetensors *sf;
	lm_status st = {0};
	int64_t shape[2] = {2, 3};
	lm_weight *a = NULL, *b = NULL, *c = NULL;
	int rc = lm_st_open_mem(&sf, buf, 8 + hl + 36, "mem.safetensors", &st);
	if (!ok(rc == 0, "a safetensors file with a BF16 and an F32 tensor opens: %s", rc ? st.msg : "ok"))
		return;
	rc = lm_be_load_weight(be, sf, "test", "w", 2, shape, 1, &a, &st) ||
	     lm_be_load_weight(be, sf, "test", "w", 2, shape, 0, &b, &st) ||
	     lm_be_load_weight(be, sf, "test", "f", 2, shape, 1, &c, &st);
	ok(rc == 0 && a->dtype == LM_DT_BF16 && !memcmp(a->data, w16, 12), "BF16 weight kept 16-bit, its bits as in the file");
	ok(rc == 0 && b->dtype == LM_DT_F32 && !memcmp(b->data, wf, 24), "keep16 = 0: widened to float32 at load");
	ok(rc == 0 && c->dtype == LM_DT_F32 && !memcmp(c->data, f32, 24), "an F32 weight stays float32");
	be->release_weight(a);
	be->release_weight(b);
	be->release_weight(c);
	lm_st_close(sf);
}

int main(void)
{
	int rows[] = {1, 2, 3, 4, 5, 6, 67};
	for (int d = 0; d < 2; d++) {
		int dt = d ? LM_DT_F16 : LM_DT_BF16;
		for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
			check_linear(dt, rows[i], 64, 37);
		check_linear(dt, 2, 61, 300); /* a width that is no multiple of 8 */
		check_linear(dt, 1, 576, 3000); /* large enough to run on several threads */
		check_embed(dt);
	}
	check_load();
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}
