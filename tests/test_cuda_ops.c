/* test_cuda_ops: every op of the CUDA backend (kernels/) against the CPU op it mirrors
 * (lib/cpu/), on fresh random inputs, outputs poisoned with NaN before each run.
 *
 * Bounds are relative L2 errors, |got - want| / |want| over the whole output, written at each check:
 *  - float32 paths (norms, RoPE, attention, elementwise, the adaLN ops): 1e-5 (the CUDA and glibc
 *    exp/erf/sin/cos differ by an ulp or two; sums run in another order);
 *  - pure data movement (gather, copy, relu, add, upsample): 0, bit for bit;
 *  - products: against the CPU with the same bfloat16-rounded weights, 1e-5 where the CUDA side
 *    keeps float32 activations (up to 8 rows: one warp per output) and 1e-2 where cuBLAS takes
 *    bfloat16 activations (more rows); against the CPU's float32 weights, 1e-2 (bfloat16 weights
 *    have 8 significant bits: about 2e-3 relative per product).
 * Without a GPU (or without a CUDA build) it prints "1..0 # SKIP"; with LLAMO_REQUIRE_GPU set
 * (make test-cuda) that is a failure instead. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "cpu/cpu.h"
#include "tap.h"

static const lm_backend *cu, *cpu = &lm_backend_cpu;

/* ---- random inputs, bfloat16 rounding, comparisons ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float urand(float lo, float hi) /* uniform in [lo, hi) (xorshift64*) */
{
	rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
	uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
	return lo + (hi - lo) * (float)((r >> 40) * (1.0 / 16777216.0));
}

static float *rnd(size_t n, float lo, float hi)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = urand(lo, hi);
	return p;
}

/* float32 rounded to bfloat16 (nearest even) and back: what upload_weight keeps on the GPU */
static float *bf16_round(const float *x, size_t n)
{
	float *y = malloc((n ? n : 1) * sizeof *y);
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
		memcpy(&y[i], &u, 4);
	}
	return y;
}

static float *dev(const float *host, size_t n) { return lm_be_upload_new(cu, host, n); }
static lm_weight *devw(const float *host, size_t n) { return lm_be_upload_weight(cu, host, n); }

static void poison(float *d, size_t n)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = NAN;
	cu->upload(d, p, n);
	free(p);
}

static float *get(const float *d, size_t n)
{
	float *h = malloc((n ? n : 1) * sizeof *h);
	cu->download(h, d, n);
	return h;
}

/* got (device) against want (host): rel L2 <= bound; a NaN anywhere fails */
static int check(const float *d_got, const float *want, size_t n, double bound, const char *what)
{
	float *got = get(d_got, n);
	double num = 0, den = 0;
	int nan = 0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(got[i]) || isnan(want[i]))
			nan = 1;
		double e = (double)got[i] - want[i];
		num += e * e, den += (double)want[i] * want[i];
	}
	double rel = den > 0 ? sqrt(num / den) : sqrt(num);
	int pass = !nan && n > 0 && (bound == 0 ? num == 0 : rel <= bound);
	ok(pass, "%s: rel L2 %.3g (bound %g)%s", what, rel, bound, nan ? ", NaN in the output" : "");
	free(got);
	return pass;
}

/* ---- products ---- */

static void test_linear(int n, int in, int out, int bias)
{
	float *x = rnd((size_t)n * in, -1, 1), *w = rnd((size_t)out * in, -0.5f, 0.5f);
	float *b = bias ? rnd(out, -1, 1) : NULL, *wr = bf16_round(w, (size_t)out * in);
	float *want = malloc((size_t)n * out * sizeof *want), *want_r = malloc((size_t)n * out * sizeof *want);
	cpu->linear(want, x, cpu_f32_weight(w), b, n, in, out);
	cpu->linear(want_r, x, cpu_f32_weight(wr), b, n, in, out);
	float *dx = dev(x, (size_t)n * in), *db = bias ? dev(b, out) : NULL;
	lm_weight *dw = devw(w, (size_t)out * in);
	float *dy = cu->alloc((size_t)n * out);
	poison(dy, (size_t)n * out);
	cu->linear(dy, dx, dw, db, n, in, out);
	char what[160];
	int f32x = n <= 8; /* the warp-per-output path keeps float32 activations */
	snprintf(what, sizeof what, "linear %dx%d -> %d%s vs CPU with the same bf16 weights", n, in, out,
		 bias ? " + bias" : "");
	check(dy, want_r, (size_t)n * out, f32x ? 1e-5 : 1e-2, what);
	snprintf(what, sizeof what, "linear %dx%d -> %d%s vs CPU with f32 weights", n, in, out, bias ? " + bias" : "");
	check(dy, want, (size_t)n * out, 1e-2, what);
	cu->release(dx), cu->release_weight(dw), cu->release(dy);
	if (db)
		cu->release(db);
	free(x), free(w), free(b), free(wr), free(want), free(want_r);
}

static void test_embed(void)
{
	int V = 50, d = 40, n = 7;
	int32_t ids[7] = {0, 49, 3, 3, 17, 48, 1};
	float *t = rnd((size_t)V * d, -2, 2), *tr = bf16_round(t, (size_t)V * d);
	float *want = malloc((size_t)n * d * sizeof *want), *want_r = malloc((size_t)n * d * sizeof *want);
	cpu->embed(want, cpu_f32_weight(t), ids, n, d);
	cpu->embed(want_r, cpu_f32_weight(tr), ids, n, d);
	lm_weight *dt = devw(t, (size_t)V * d);
	float *dtf = dev(t, (size_t)V * d), *dy = cu->alloc((size_t)n * d);
	poison(dy, (size_t)n * d);
	cu->embed(dy, dt, ids, n, d);
	check(dy, want_r, (size_t)n * d, 0, "embed: bf16 table rows, exactly the rounded weights");
	check(dy, want, (size_t)n * d, 4e-3, "embed: vs the f32 table (bf16 rounding, 2^-9 relative at most)");
	poison(dy, (size_t)n * d);
	cu->gather(dy, dtf, ids, n, d);
	check(dy, want, (size_t)n * d, 0, "gather: f32 rows bit for bit");
	/* more ids than one launch carries (CU_ARG_MAX = 256) */
	int m = 600;
	int32_t *many = malloc(m * sizeof *many);
	for (int i = 0; i < m; i++)
		many[i] = (i * 7) % V;
	float *wm = malloc((size_t)m * d * sizeof *wm), *dm = cu->alloc((size_t)m * d);
	cpu->gather(wm, t, many, m, d);
	poison(dm, (size_t)m * d);
	cu->gather(dm, dtf, many, m, d);
	check(dm, wm, (size_t)m * d, 0, "gather: 600 rows (three launches)");
	cu->release_weight(dt), cu->release(dtf), cu->release(dy), cu->release(dm);
	free(t), free(tr), free(want), free(want_r), free(many), free(wm);
}

/* ---- norms, RoPE, attention ---- */

static void test_norms(void)
{
	int n = 3, d = 300;
	size_t nd = (size_t)n * d;
	float *x = rnd(nd, -2, 4), *w = rnd(d, 0.5f, 1.5f), *b = rnd(d, -1, 1), *want = malloc(nd * sizeof *want);
	float *dx = dev(x, nd), *dw = dev(w, d), *db = dev(b, d), *dy = cu->alloc(nd);
	cpu->rmsnorm(want, x, w, n, d, 1e-5f);
	poison(dy, nd);
	cu->rmsnorm(dy, dx, dw, n, d, 1e-5f);
	check(dy, want, nd, 1e-5, "rmsnorm 3x300");
	cu->rmsnorm(dx, dx, dw, n, d, 1e-5f);
	check(dx, want, nd, 1e-5, "rmsnorm in place");
	cu->upload(dx, x, nd);
	cpu->layernorm(want, x, w, b, n, d, 1e-6f);
	poison(dy, nd);
	cu->layernorm(dy, dx, dw, db, n, d, 1e-6f);
	check(dy, want, nd, 1e-5, "layernorm 3x300 with weight and bias (inputs centred near 1)");
	cpu->layernorm(want, x, NULL, NULL, n, d, 1e-6f);
	poison(dy, nd);
	cu->layernorm(dy, dx, NULL, NULL, n, d, 1e-6f);
	check(dy, want, nd, 1e-5, "layernorm without affine (the flow head's final norm)");
	cu->layernorm(dx, dx, NULL, NULL, n, d, 1e-6f);
	check(dx, want, nd, 1e-5, "layernorm in place");
	cu->release(dx), cu->release(dw), cu->release(db), cu->release(dy);
	free(x), free(w), free(b), free(want);
}

static void test_rope(int n, int heads, int hd, int pos0)
{
	size_t m = (size_t)n * heads * hd;
	float *x = rnd(m, -1, 1), *inv = malloc((hd / 2) * sizeof *inv);
	for (int i = 0; i < hd / 2; i++)
		inv[i] = 1.0f / powf(500000.0f, (float)(2 * i) / hd);
	float *dx = dev(x, m), *dinv = dev(inv, hd / 2);
	cpu->rope(x, n, heads, hd, pos0, inv);
	cu->rope(dx, n, heads, hd, pos0, dinv);
	char what[96];
	snprintf(what, sizeof what, "rope %d rows x %d heads x %d at position %d", n, heads, hd, pos0);
	check(dx, x, m, 1e-5, what);
	cu->release(dx), cu->release(dinv);
	free(x), free(inv);
}

static void test_attention(int n, int pos0, int nh, int nkv, int hd)
{
	int max_pos = pos0 + n + 3; /* rows past the filled ones hold garbage: never read */
	size_t kvn = (size_t)max_pos * nkv * hd, qn = (size_t)n * nh * hd;
	float *q = rnd(qn, -1, 1), *k = rnd(kvn, -1, 1), *v = rnd(kvn, -1, 1), *want = malloc(qn * sizeof *want);
	for (size_t i = (size_t)(pos0 + n) * nkv * hd; i < kvn; i++)
		k[i] = 1e30f, v[i] = NAN;
	cpu->attention(want, q, k, v, n, pos0, nh, nkv, hd);
	float *dq = dev(q, qn), *dk = dev(k, kvn), *dv = dev(v, kvn), *dy = cu->alloc(qn);
	poison(dy, qn);
	cu->attention(dy, dq, dk, dv, n, pos0, nh, nkv, hd);
	char what[128];
	snprintf(what, sizeof what, "attention %d queries at %d, %d heads over %d kv heads, head_dim %d", n, pos0,
		 nh, nkv, hd);
	check(dy, want, qn, 1e-5, what);
	cu->release(dq), cu->release(dk), cu->release(dv), cu->release(dy);
	free(q), free(k), free(v), free(want);
}

/* ---- elementwise and the flow head's ops ---- */

static void test_elementwise(void)
{
	size_t n = 1000;
	float *x = rnd(n, -6, 6), *g = rnd(n, -6, 6), *want = malloc(n * sizeof *want);
	float *dx = dev(x, n), *dg = dev(g, n), *dy = cu->alloc(n);
	struct {
		const char *name;
		void (*c)(float *, size_t), (*d)(float *, size_t);
		double bound;
	} un[] = {
		{"silu", cpu->silu, cu->silu, 1e-5},
		{"gelu (erf)", cpu->gelu, cu->gelu, 1e-5},
		{"relu", cpu->relu, cu->relu, 0},
		{"sigmoid", cpu->sigmoid, cu->sigmoid, 1e-5},
	};
	for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) {
		memcpy(want, x, n * sizeof *want);
		un[i].c(want, n);
		cu->upload(dy, x, n);
		un[i].d(dy, n);
		check(dy, want, n, un[i].bound, un[i].name);
	}
	cpu->swiglu(want, g, x, n);
	poison(dy, n);
	cu->swiglu(dy, dg, dx, n);
	check(dy, want, n, 1e-5, "swiglu");
	memcpy(want, x, n * sizeof *want);
	cpu->add(want, g, n);
	cu->upload(dy, x, n);
	cu->add(dy, dg, n);
	check(dy, want, n, 0, "add");
	poison(dy, n);
	cu->copy(dy, dx, n);
	check(dy, x, n, 0, "copy");
	float *z = cu->alloc(n), *zeros = calloc(n, sizeof *zeros);
	check(z, zeros, n, 0, "alloc gives zeroed memory");
	cu->release(dx), cu->release(dg), cu->release(dy), cu->release(z);
	free(x), free(g), free(want), free(zeros);
}

static void test_head_ops(void)
{
	int n = 2, d = 50, ms = 170;
	size_t nd = (size_t)n * d, nm = (size_t)n * ms;
	float *x = rnd(nd, -2, 2), *mod = rnd(nm, -1, 1), *h = rnd(nd, -2, 2), *want = malloc(nd * sizeof *want);
	float *dx = dev(x, nd), *dmod = dev(mod, nm), *dh = dev(h, nd), *dy = cu->alloc(nd);
	cpu->modulate(want, x, mod + 3, mod + 60, n, d, ms);
	poison(dy, nd);
	cu->modulate(dy, dx, dmod + 3, dmod + 60, n, d, ms);
	check(dy, want, nd, 1e-6, "modulate, rows 170 floats apart");
	cu->modulate(dx, dx, dmod + 3, dmod + 60, n, d, ms);
	check(dx, want, nd, 1e-6, "modulate in place");
	memcpy(want, x, nd * sizeof *want);
	cpu->gated_add(want, mod + 110, h, n, d, ms);
	cu->upload(dx, x, nd);
	cu->gated_add(dx, dmod + 110, dh, n, d, ms);
	check(dx, want, nd, 1e-6, "gated_add");

	int L = 37;
	float *vc = rnd(L, -3, 3), *vu = rnd(L, -3, 3), *z = rnd(L, -1, 1), *wz = malloc(L * sizeof *wz);
	float *dvc = dev(vc, L), *dvu = dev(vu, L), *dz = dev(z, L);
	memcpy(wz, z, L * sizeof *wz);
	cpu->euler_cfg(wz, vc, vu, 3.0f, 0.02f, L);
	cu->euler_cfg(dz, dvc, dvu, 3.0f, 0.02f, L);
	check(dz, wz, L, 1e-6, "euler_cfg with guidance");
	cpu->euler_cfg(wz, vc, NULL, 1.0f, 0.02f, L);
	cu->euler_cfg(dz, dvc, NULL, 1.0f, 0.02f, L);
	check(dz, wz, L, 1e-6, "euler_cfg without the unconditional row");

	int dims[3] = {256, 7, 16}, ns[3] = {5, 3, 300};
	for (int c = 0; c < 3; c++) {
		int m = ns[c], dim = dims[c];
		float *t = rnd(m, 0, 1), *wt = malloc((size_t)m * dim * sizeof *wt), *dt = cu->alloc((size_t)m * dim);
		cpu->timestep_embedding(wt, t, m, dim);
		poison(dt, (size_t)m * dim);
		cu->timestep_embedding(dt, t, m, dim);
		char what[96];
		snprintf(what, sizeof what, "timestep_embedding %d steps x %d", m, dim);
		check(dt, wt, (size_t)m * dim, 1e-5, what);
		cu->release(dt);
		free(t), free(wt);
	}
	cu->release(dx), cu->release(dmod), cu->release(dh), cu->release(dy);
	cu->release(dvc), cu->release(dvu), cu->release(dz);
	free(x), free(mod), free(h), free(want), free(vc), free(vu), free(z), free(wz);
}

/* ---- convolution ---- */

static void test_conv(int T_in, int cin, int cout, int k, int stride, int dil)
{
	int T_out = (T_in - (k - 1) * dil - 1) / stride + 1;
	size_t nx = (size_t)T_in * cin, nw = (size_t)cout * cin * k, ny = (size_t)T_out * cout;
	float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(cout, -1, 1), *wr = bf16_round(w, nw);
	float *want = malloc(ny * sizeof *want), *want_r = malloc(ny * sizeof *want);
	cpu->conv1d(want, x, cpu_f32_weight(w), b, T_in, cin, cout, k, stride, dil);
	cpu->conv1d(want_r, x, cpu_f32_weight(wr), b, T_in, cin, cout, k, stride, dil);
	float *dx = dev(x, nx), *db = dev(b, cout), *dy = cu->alloc(ny);
	lm_weight *dw = devw(w, nw);
	poison(dy, ny);
	cu->conv1d(dy, dx, dw, db, T_in, cin, cout, k, stride, dil);
	char what[160];
	int f32x = T_out <= 8;
	snprintf(what, sizeof what, "conv1d T %d -> %d, %d -> %d channels, k %d stride %d dil %d, same bf16 weights",
		 T_in, T_out, cin, cout, k, stride, dil);
	check(dy, want_r, ny, f32x ? 1e-5 : 1e-2, what);
	snprintf(what, sizeof what, "conv1d T %d -> %d, k %d stride %d dil %d vs f32 weights", T_in, T_out, k, stride,
		 dil);
	check(dy, want, ny, 1e-2, what);
	cu->release(dx), cu->release_weight(dw), cu->release(db), cu->release(dy);
	free(x), free(w), free(b), free(wr), free(want), free(want_r);
}

static void test_conv_short_and_upsample(void)
{
	/* T_in shorter than the window: no output row is written (the CPU's contract) */
	float x[4] = {1, 2, 3, 4}, w[6] = {1, 1, 1, 1, 1, 1}, sentinel[2] = {42, 43};
	float *dx = dev(x, 4), *dy = dev(sentinel, 2);
	lm_weight *dw = devw(w, 6);
	cu->conv1d(dy, dx, dw, NULL, 4, 1, 2, 3, 1, 2); /* needs 5 rows */
	check(dy, sentinel, 2, 0, "conv1d with too few rows writes nothing");
	cu->release(dx), cu->release_weight(dw), cu->release(dy);

	int T = 9, c = 13;
	float *u = rnd((size_t)T * c, -1, 1), *want = malloc((size_t)2 * T * c * sizeof *want);
	cpu->upsample2(want, u, T, c);
	float *du = dev(u, (size_t)T * c), *dup = cu->alloc((size_t)2 * T * c);
	poison(dup, (size_t)2 * T * c);
	cu->upsample2(dup, du, T, c);
	check(dup, want, (size_t)2 * T * c, 0, "upsample2 9x13 -> 18x13");
	cu->release(du), cu->release(dup);
	free(u), free(want);
}

/* ---- memory, graphs, errors ---- */

static void test_graph(void)
{
	int in = 64, out = 64;
	float *x = rnd(in, -1, 1), *w = rnd((size_t)out * in, -0.2f, 0.2f), *b = rnd(out, -1, 1);
	float *dx = dev(x, in), *db = dev(b, out), *dh = cu->alloc(out);
	lm_weight *dw = devw(w, (size_t)out * in);
	/* the reference: two rounds run op by op */
	for (int r = 0; r < 2; r++) {
		cu->linear(dh, dx, dw, db, 1, in, out);
		cu->silu(dh, out);
		cu->euler_cfg(dx, dh, NULL, 1.0f, 0.1f, in);
	}
	float *want = get(dx, in);
	cu->upload(dx, x, in);
	ok(cu->graph_begin && cu->graph_begin() == 0, "graph_begin starts a capture");
	cu->linear(dh, dx, dw, db, 1, in, out);
	cu->silu(dh, out);
	cu->euler_cfg(dx, dh, NULL, 1.0f, 0.1f, in);
	void *g = cu->graph_end();
	ok(g != NULL, "graph_end gives a graph of linear, silu, euler_cfg");
	float *still = get(dx, in);
	ok(!memcmp(still, x, in * sizeof *x), "recording ran nothing (x unchanged)");
	if (g) {
		cu->graph_launch(g);
		cu->graph_launch(g);
		check(dx, want, in, 0, "two graph launches equal two rounds of the ops, bit for bit");
		cu->graph_free(g);
	}
	cu->release(dx), cu->release_weight(dw), cu->release(db), cu->release(dh);
	free(x), free(w), free(b), free(want), free(still);
}

int main(void)
{
	lm_status st = {0};
	if (lm_backend_get(&cu, "cuda", &st)) {
		if (getenv("LLAMO_REQUIRE_GPU")) {
			ok(0, "CUDA backend available: %s", st.msg);
			return done_testing();
		}
		skip_all("no GPU");
	}
	const char *line = lm_backend_describe(cu);
	ok(!strncmp(line, "cuda: ", 6), "describe: %s", line);

	test_linear(1, 256, 320, 1);  /* decoding: 16-byte loads */
	test_linear(2, 100, 37, 1);   /* guidance pair, in % 8 != 0: scalar loads */
	test_linear(5, 64, 130, 0);
	test_linear(8, 48, 40, 1);
	test_linear(33, 256, 200, 1); /* cuBLAS */
	test_linear(70, 20, 9, 0);
	test_embed();
	test_norms();
	test_rope(3, 4, 16, 7);
	test_rope(2, 8, 64, 3000); /* large angles */
	test_attention(1, 9, 8, 2, 64);   /* decoding, GQA 4:1 */
	test_attention(5, 0, 4, 4, 16);   /* prefill from 0, the tiny model's head_dim */
	test_attention(3, 20, 6, 2, 128); /* 3B/8B head_dim */
	test_attention(2, 300, 4, 1, 40); /* head_dim not a multiple of 32, long cache */
	test_elementwise();
	test_head_ops();
	test_conv(6, 16, 24, 3, 1, 1);   /* streaming step: 4 rows */
	test_conv(5, 20, 8, 3, 1, 2);    /* one row, dilation 2 */
	test_conv(10, 7, 5, 4, 2, 1);    /* stride 2 (the encoder's down conv) */
	test_conv(40, 16, 32, 3, 1, 9);  /* many rows: cuBLAS, dilation 9 */
	test_conv(64, 12, 10, 1, 1, 1);  /* k = 1: a plain product */
	test_conv(3, 8, 8, 1, 1, 1);
	test_conv_short_and_upsample();
	test_graph();
	ok(cu->check && cu->check(&st) == 0, "no asynchronous CUDA error: %s", cu->check ? st.msg : "no check hook");
	return done_testing();
}
