/* test_vae.c: the causal VAE (lib/vae.c) and its CPU ops (lib/cpu/ops_conv.c).
 *
 * 1. cpu_conv1d / cpu_upsample2 against the definition (double-accumulated loops) on random data,
 *    including the one-row (sgemv), kernel-1, strided, dilated, blocked and no-output cases.
 * 2. A random small VAE written to a temporary safetensors file, against a whole-sequence
 *    reference written here from docs/model-format.md 4.4 (zero left padding, naive convs), at
 *    lengths that cross the library's 256-frame blocks; streaming decode = whole decode; causality;
 *    T % 4 frames dropped; T < 4 refused; load errors for a missing tensor and a wrong shape.
 * 3. The PyTorch golden (train/golden.py -> tests/golden/vae.safetensors with the tiny model in
 *    tests/golden/tiny): encode(feats) = mu, logvar; decode(mu) = decoded; streaming = decoded.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "backend.h"
#include "config.h"
#include "cpu/cpu.h"
#include "safetensors.h"
#include "tap.h"
#include "vae.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) /* uniform in [-1, 1) */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (float)((rng_state >> 40) * (1.0 / (1ull << 23)) - 1.0);
}

static float *frand_new(size_t n, float scale)
{
	float *p = malloc((n ? n : 1) * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = frand() * scale;
	return p;
}

/* y(T_out, cout) of a causal conv over x(T, cin) with P zero rows padded on the left (P = 0:
 * x already padded), the definition term by term, double accumulation. */
static float *ref_conv(const float *x, int T, const float *w, const float *b, int cin, int cout, int k,
		       int stride, int dil, int P, int *T_out)
{
	int span = (k - 1) * dil + 1;
	int n = T + P < span ? 0 : (T + P - span) / stride + 1;
	float *y = malloc(((size_t)n * cout + 1) * sizeof(float));
	for (int t = 0; t < n; t++)
		for (int o = 0; o < cout; o++) {
			double s = b ? b[o] : 0;
			for (int j = 0; j < k; j++) {
				int row = t * stride + j * dil - P;
				if (row < 0)
					continue;
				for (int i = 0; i < cin; i++)
					s += (double)w[((size_t)o * cin + i) * k + j] * x[(size_t)row * cin + i];
			}
			y[(size_t)t * cout + o] = (float)s;
		}
	*T_out = n;
	return y;
}

/* ---- 1. the ops ---- */

static void check_conv(int T_in, int cin, int cout, int k, int stride, int dil, int bias)
{
	float *x = frand_new((size_t)T_in * cin, 1), *w = frand_new((size_t)cout * cin * k, 0.5f);
	float *b = bias ? frand_new(cout, 1) : NULL;
	int n;
	float *want = ref_conv(x, T_in, w, b, cin, cout, k, stride, dil, 0, &n);
	float *got = malloc(((size_t)n * cout + 1) * sizeof(float));
	lm_backend_cpu.conv1d(got, x, cpu_f32_weight(w), b, T_in, cin, cout, k, stride, dil);
	char what[160];
	snprintf(what, sizeof what, "conv1d T_in %d cin %d cout %d k %d stride %d dil %d%s -> T_out %d vs loops",
		 T_in, cin, cout, k, stride, dil, bias ? "" : " no bias", n);
	/* float32 rounding of a sum of cin*k products grows like its square root */
	close_f32(got, want, (long)n * cout, 2e-6 * sqrt((double)cin * k), 1e-4, what);
	free(x), free(w), free(b), free(want), free(got);
}

static void test_ops(void)
{
	check_conv(20, 7, 5, 3, 1, 1, 1);
	check_conv(30, 6, 9, 3, 1, 9, 1);  /* dilated, as a res block's conv1 */
	check_conv(22, 8, 8, 4, 2, 1, 1);  /* the encoder's stride-2 conv */
	check_conv(23, 8, 3, 4, 2, 1, 0);  /* odd length: the last row is never read */
	check_conv(13, 10, 11, 1, 1, 1, 1); /* kernel 1: a per-row product */
	check_conv(19, 16, 12, 3, 1, 9, 1); /* exactly one output row (the sgemv path) */
	check_conv(702, 1024, 3, 3, 1, 1, 1); /* more rows than one block of gathered windows */

	float sentinel[4] = {7, 7, 7, 7}, x[10] = {0}, w[6] = {0};
	lm_backend_cpu.conv1d(sentinel, x, cpu_f32_weight(w), NULL, 4, 1, 2, 3, 1, 2); /* needs 5 rows */
	ok(sentinel[0] == 7 && sentinel[3] == 7, "conv1d with T_in < (k-1)*dil+1 writes nothing");

	int T = 5, c = 3;
	float *in = frand_new((size_t)T * c, 1), up[30];
	lm_backend_cpu.upsample2(up, in, T, c);
	int same = 1;
	for (int t = 0; t < 2 * T; t++)
		for (int i = 0; i < c; i++)
			same &= up[t * c + i] == in[(t / 2) * c + i];
	ok(same, "upsample2 (5, 3) -> (10, 3): y[t] = x[t/2] exactly");
	free(in);
}

/* ---- 2. a random VAE against the reference written here ---- */

#define MAXT 256
typedef struct synth {
	int F, K, L, down_t, depth, growth;
	int n;
	lm_st_out t[MAXT];
	char names[MAXT][96];
} synth;

static void synth_add(synth *s, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, float scale)
{
	lm_st_out *o = &s->t[s->n];
	snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
	o->name = s->names[s->n];
	o->ndim = ndim;
	o->shape[0] = d0, o->shape[1] = d1, o->shape[2] = d2;
	size_t n = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
	o->data = frand_new(n, scale);
	s->n++;
}

static const float *synth_get(const synth *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const float *synth_get(const synth *s, const char *fmt, ...)
{
	char name[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->t[i].name, name))
			return s->t[i].data;
	fprintf(stderr, "test_vae: no tensor %s\n", name);
	exit(1);
}

static void synth_conv(synth *s, const char *prefix, int cin, int cout, int k)
{
	char name[96];
	float scale = 1.0f / sqrtf((float)cin * k); /* torch's default init bound */
	snprintf(name, sizeof name, "%s.weight", prefix);
	synth_add(s, name, 3, cout, cin, k, scale);
	snprintf(name, sizeof name, "%s.bias", prefix);
	synth_add(s, name, 1, cout, 0, 0, scale);
}

static void synth_linear(synth *s, const char *prefix, int in, int out)
{
	char name[96];
	snprintf(name, sizeof name, "%s.weight", prefix);
	synth_add(s, name, 2, out, in, 0, 1.0f / sqrtf(in));
	snprintf(name, sizeof name, "%s.bias", prefix);
	synth_add(s, name, 1, out, 0, 0, 1.0f / sqrtf(in));
}

static void synth_make(synth *s)
{
	char p[96];
	int K = s->K;
	synth_conv(s, "vae.encoder.conv_in", s->F, K, 3);
	for (int st = 0; st < s->down_t; st++) {
		snprintf(p, sizeof p, "vae.encoder.down.%d.conv", st);
		synth_conv(s, p, K, K, 4);
		for (int r = 0; r < s->depth; r++) {
			snprintf(p, sizeof p, "vae.encoder.down.%d.res.%d.conv1", st, r);
			synth_conv(s, p, K, K, 3);
			snprintf(p, sizeof p, "vae.encoder.down.%d.res.%d.conv2", st, r);
			synth_conv(s, p, K, K, 1);
		}
	}
	synth_conv(s, "vae.encoder.conv_out", K, K, 3);
	synth_linear(s, "vae.encoder.proj", K, 2 * s->L);
	synth_linear(s, "vae.decoder.proj", s->L, K);
	synth_conv(s, "vae.decoder.conv_in", K, K, 3);
	for (int st = 0; st < s->down_t; st++) {
		for (int r = 0; r < s->depth; r++) {
			snprintf(p, sizeof p, "vae.decoder.up.%d.res.%d.conv1", st, r);
			synth_conv(s, p, K, K, 3);
			snprintf(p, sizeof p, "vae.decoder.up.%d.res.%d.conv2", st, r);
			synth_conv(s, p, K, K, 1);
		}
		snprintf(p, sizeof p, "vae.decoder.up.%d.conv", st);
		synth_conv(s, p, K, K, 3);
	}
	synth_conv(s, "vae.decoder.conv_mid", K, K, 3);
	synth_conv(s, "vae.decoder.conv_out", K, s->F, 3);
}

/* x(T, cin) -> (T_out, cout) through the synthetic conv `prefix` with causal padding */
static float *ref_cconv(const synth *s, const char *prefix, const float *x, int T, int cin, int cout,
			int k, int stride, int dil, int *T_out)
{
	const float *w = synth_get(s, "%s.weight", prefix), *b = synth_get(s, "%s.bias", prefix);
	return ref_conv(x, T, w, b, cin, cout, k, stride, dil, (k - 1) * dil + 1 - stride, T_out);
}

static void ref_relu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0 ? x[i] : 0;
}

static float *ref_linear(const float *x, int n, const float *w, const float *b, int in, int out)
{
	float *y = malloc((size_t)n * out * sizeof(float));
	for (int t = 0; t < n; t++)
		for (int o = 0; o < out; o++) {
			double acc = b[o];
			for (int i = 0; i < in; i++)
				acc += (double)w[(size_t)o * in + i] * x[(size_t)t * in + i];
			y[(size_t)t * out + o] = (float)acc;
		}
	return y;
}

static void ref_res_stack(const synth *s, const char *prefix, float *x, int T)
{
	char p[128];
	int K = s->K, dil = 1, n;
	size_t sz = (size_t)T * K;
	for (int r = 1; r < s->depth; r++)
		dil *= s->growth;
	for (int r = 0; r < s->depth; r++, dil /= s->growth) {
		float *a = malloc(sz * sizeof(float));
		memcpy(a, x, sz * sizeof(float));
		ref_relu(a, sz);
		snprintf(p, sizeof p, "%s.res.%d.conv1", prefix, r);
		float *h = ref_cconv(s, p, a, T, K, K, 3, 1, dil, &n);
		ref_relu(h, sz);
		snprintf(p, sizeof p, "%s.res.%d.conv2", prefix, r);
		float *g = ref_cconv(s, p, h, T, K, K, 1, 1, 1, &n);
		for (size_t i = 0; i < sz; i++)
			x[i] += g[i];
		free(a), free(h), free(g);
	}
}

/* feats(T, F), T a multiple of 4 -> (T/4, 2L) */
static float *ref_encode(const synth *s, const float *feats, int T)
{
	char p[128];
	int K = s->K, n;
	float *x = ref_cconv(s, "vae.encoder.conv_in", feats, T, s->F, K, 3, 1, 1, &n), *y;
	ref_relu(x, (size_t)T * K);
	for (int st = 0; st < s->down_t; st++) {
		snprintf(p, sizeof p, "vae.encoder.down.%d.conv", st);
		y = ref_cconv(s, p, x, T, K, K, 4, 2, 1, &T);
		free(x), x = y;
		snprintf(p, sizeof p, "vae.encoder.down.%d", st);
		ref_res_stack(s, p, x, T);
	}
	y = ref_cconv(s, "vae.encoder.conv_out", x, T, K, K, 3, 1, 1, &n);
	free(x);
	x = ref_linear(y, T, synth_get(s, "vae.encoder.proj.weight"), synth_get(s, "vae.encoder.proj.bias"),
		       K, 2 * s->L);
	free(y);
	return x;
}

/* z(n, L) -> (4n, F) */
static float *ref_decode(const synth *s, const float *z, int n)
{
	char p[128];
	int K = s->K, T = n, m;
	float *h = ref_linear(z, n, synth_get(s, "vae.decoder.proj.weight"),
			      synth_get(s, "vae.decoder.proj.bias"), s->L, K);
	float *x = ref_cconv(s, "vae.decoder.conv_in", h, T, K, K, 3, 1, 1, &m), *y;
	free(h);
	ref_relu(x, (size_t)T * K);
	for (int st = 0; st < s->down_t; st++) {
		snprintf(p, sizeof p, "vae.decoder.up.%d", st);
		ref_res_stack(s, p, x, T);
		y = malloc((size_t)2 * T * K * sizeof(float));
		for (int t = 0; t < 2 * T; t++)
			memcpy(y + (size_t)t * K, x + (size_t)(t / 2) * K, K * sizeof(float));
		free(x);
		T *= 2;
		snprintf(p, sizeof p, "vae.decoder.up.%d.conv", st);
		x = ref_cconv(s, p, y, T, K, K, 3, 1, 1, &m);
		free(y);
	}
	y = ref_cconv(s, "vae.decoder.conv_mid", x, T, K, K, 3, 1, 1, &m);
	free(x);
	ref_relu(y, (size_t)T * K);
	x = ref_cconv(s, "vae.decoder.conv_out", y, T, K, s->F, 3, 1, 1, &m);
	free(y);
	return x;
}

static void split_cols(const float *out, int n, int L, float *mu, float *lv)
{
	for (int i = 0; i < n; i++) {
		memcpy(mu + (size_t)i * L, out + (size_t)i * 2 * L, L * sizeof(float));
		memcpy(lv + (size_t)i * L, out + (size_t)i * 2 * L + L, L * sizeof(float));
	}
}

static void test_synthetic(void)
{
	static synth s = {.F = 20, .K = 16, .L = 4, .down_t = 2, .depth = 3, .growth = 3};
	synth_make(&s);
	char path[] = "/tmp/test_vae_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		ok(0, "mkstemp for the synthetic model");
		return;
	}
	close(fd);
	lm_status st = {0};
	lm_safetensors *sf = NULL;
	int rc = lm_st_write_f32(path, s.t, s.n, &st);
	if (!rc)
		rc = lm_st_open(&sf, path, &st);
	unlink(path);
	if (!ok(rc == 0, "synthetic VAE (F 20, K 16, L 4, %d tensors) written and opened: %s", s.n,
		rc ? st.msg : "ok"))
		return;
	lm_config c = {0};
	c.feature_dim = s.F, c.vae_width = s.K, c.latent_dim = s.L;
	c.vae_down_t = s.down_t, c.vae_depth = s.depth, c.vae_dilation_growth = s.growth;
	lm_vae v;
	rc = lm_vae_load(&v, &c, sf, &lm_backend_cpu, &st);
	if (!ok(rc == 0, "lm_vae_load synthetic: %s", rc ? st.msg : "ok"))
		return;

	/* encode 603 frames: three 256-frame blocks, the last 3 frames dropped */
	int T = 603, L = s.L, n = 0;
	float *feats = frand_new((size_t)T * s.F, 1.5f), *mu = NULL, *lv = NULL;
	rc = lm_vae_encode_posterior(&v, feats, T, &mu, &lv, &n, &st);
	ok(rc == 0 && n == 150, "encode 603 frames -> %d latents (want 150): %s", n, rc ? st.msg : "ok");
	float *ro = ref_encode(&s, feats, 600);
	float *rmu = malloc((size_t)150 * L * sizeof(float)), *rlv = malloc((size_t)150 * L * sizeof(float));
	split_cols(ro, 150, L, rmu, rlv);
	if (!rc) {
		close_f32(mu, rmu, 150L * L, 1e-5, 1e-4, "synthetic encode mu (150, 4) vs whole-sequence loops");
		close_f32(lv, rlv, 150L * L, 1e-5, 1e-4, "synthetic encode logvar (150, 4) vs loops");
	}

	/* causality and dropped frames: 12 and 14 frames give the first 3 latents */
	for (int Tp = 12; Tp <= 14; Tp += 2) {
		float *m2 = NULL;
		int n2 = 0;
		rc = lm_vae_encode(&v, feats, Tp, &m2, &n2, &st);
		ok(rc == 0 && n2 == 3, "encode %d frames -> %d latents (want 3)", Tp, n2);
		if (!rc) {
			char what[96];
			snprintf(what, sizeof what, "encode of the first %d frames = first 3 latents of 603", Tp);
			close_f32(m2, mu, 3L * L, 1e-6, 1e-5, what);
		}
		free(m2);
	}
	float *m4 = NULL;
	int n4 = -1;
	rc = lm_vae_encode(&v, feats, 3, &m4, &n4, &st);
	ok(rc == LM_EDATA && !m4 && n4 == 0, "encode 3 frames -> LM_EDATA (%d): %s", rc, st.msg);
	rc = lm_vae_encode(&v, feats, 4, &m4, &n4, &st);
	ok(rc == 0 && n4 == 1, "encode 4 frames -> 1 latent");
	free(m4);

	/* decode 150 latents (three 64-latent blocks) vs loops; streaming vs whole */
	int N = 150;
	float *z = frand_new((size_t)N * L, 1.0f);
	float *dec = malloc((size_t)4 * N * s.F * sizeof(float)), *sdec = malloc((size_t)4 * N * s.F * sizeof(float));
	rc = lm_vae_decode(&v, z, N, dec, &st);
	ok(rc == 0, "decode 150 latents: %s", rc ? st.msg : "ok");
	float *rdec = ref_decode(&s, z, N);
	close_f32(dec, rdec, 4L * N * s.F, 1e-5, 1e-4, "synthetic decode (600, 20) vs whole-sequence loops");
	lm_vae_stream *vs = NULL;
	rc = lm_vae_stream_init(&vs, &v, &st);
	ok(rc == 0, "stream init: %s", rc ? st.msg : "ok");
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (int i = 0; i < N && !rc; i++)
			rc = lm_vae_stream_step(vs, z + (size_t)i * L, sdec + (size_t)i * 4 * s.F, &st);
		close_f32(sdec, dec, 4L * N * s.F, 1e-5, 1e-5,
			  pass ? "streaming decode after lm_vae_stream_reset = whole decode"
			       : "streaming decode, 150 steps of 1 latent -> 4 frames = whole decode");
		lm_vae_stream_reset(vs);
	}
	lm_vae_stream_free(vs);
	ok(lm_vae_decode(&v, z, 0, dec, &st) == 0, "decode 0 latents: nothing to do");
	ok(lm_vae_decode(&v, z, -1, dec, &st) == LM_EDATA, "decode -1 latents -> LM_EDATA: %s", st.msg);
	lm_vae_free(&v);
	lm_vae_free(&v); /* a second free is harmless */

	/* load errors name the tensor */
	c.vae_width = 17;
	rc = lm_vae_load(&v, &c, sf, &lm_backend_cpu, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "vae.encoder.conv_in.weight"),
	   "width 17 against a width-16 file -> LM_EDATA: %s", st.msg);
	c.vae_width = 16;
	c.vae_down_t = 3;
	rc = lm_vae_load(&v, &c, sf, &lm_backend_cpu, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "vae.encoder.down.2"), "down_t 3 against a 2-stage file -> LM_EDATA: %s",
	   st.msg);
	lm_vae_free(&v);

	free(feats), free(mu), free(lv), free(ro), free(rmu), free(rlv);
	free(z), free(dec), free(sdec), free(rdec);
	for (int i = 0; i < s.n; i++)
		free((void *)s.t[i].data);
	lm_st_close(sf);
}

/* ---- 3. the PyTorch golden ---- */

static float *golden(const lm_safetensors *sf, const char *name, int64_t d0, int64_t d1)
{
	int64_t shape[2] = {d0, d1};
	float *p = NULL;
	lm_status st = {0};
	if (lm_st_load_f32(sf, name, 2, shape, &p, &st))
		diag("%s", st.msg);
	return p;
}

/* The same weights stored as BF16 (tests/golden/tiny-bf16) load, converted to F32, and decode to
 * within the weights' rounding (2^-9 relative): normalized L2 error below 2e-2. */
static void test_bf16(const float *feats, const float *gdec, int T, int F)
{
	lm_status st = {0};
	lm_config c;
	lm_safetensors *sf = NULL;
	lm_vae v;
	int rc = lm_config_load(&c, "tests/golden/tiny-bf16/config.json", &st);
	if (!rc)
		rc = lm_st_open(&sf, "tests/golden/tiny-bf16/model.safetensors", &st);
	if (!rc)
		rc = lm_vae_load(&v, &c, sf, &lm_backend_cpu, &st);
	if (!ok(rc == 0, "golden bf16: tiny-bf16 VAE loads: %s", rc ? st.msg : "ok")) {
		if (sf)
			lm_st_close(sf);
		return;
	}
	float *mu = NULL, *dec = malloc((size_t)T * F * sizeof(float));
	int n = 0;
	rc = lm_vae_encode(&v, feats, T, &mu, &n, &st);
	if (!rc)
		rc = lm_vae_decode(&v, mu, n, dec, &st);
	double num = 0, den = 0;
	for (long i = 0; !rc && i < (long)4 * n * F; i++) {
		num += ((double)dec[i] - gdec[i]) * ((double)dec[i] - gdec[i]);
		den += (double)gdec[i] * gdec[i];
	}
	double rel = rc ? 1 : sqrt(num / (den + 1e-30));
	ok(rc == 0 && rel < 2e-2, "golden bf16: decode(encode(feats)) vs F32 PyTorch decoded: normalized L2 error %.3g (< 2e-2)",
	   rel);
	free(mu), free(dec);
	lm_vae_free(&v);
	lm_st_close(sf);
}

static void test_golden(void)
{
	lm_status st = {0};
	lm_config c;
	lm_safetensors *msf = NULL, *gsf = NULL;
	int rc = lm_config_load(&c, "tests/golden/tiny/config.json", &st);
	if (!rc)
		rc = lm_st_open(&msf, "tests/golden/tiny/model.safetensors", &st);
	if (!rc)
		rc = lm_st_open(&gsf, "tests/golden/vae.safetensors", &st);
	if (!ok(rc == 0, "golden: tiny model and tests/golden/vae.safetensors open: %s", rc ? st.msg : "ok"))
		goto out;
	lm_vae v;
	rc = lm_vae_load(&v, &c, msf, &lm_backend_cpu, &st);
	if (!ok(rc == 0, "golden: lm_vae_load tiny (F %d, K %d, L %d): %s", c.feature_dim, c.vae_width,
		c.latent_dim, rc ? st.msg : "ok"))
		goto out;
	int F = v.F, L = v.L;
	const lm_tensor_info *ti = lm_st_find(gsf, "feats");
	int T = ti && ti->ndim == 2 ? (int)ti->shape[0] : 0, N = T / 4;
	float *feats = golden(gsf, "feats", T, F), *gmu = golden(gsf, "mu", N, L);
	float *glv = golden(gsf, "logvar", N, L), *gdec = golden(gsf, "decoded", 4L * N, F);
	if (!ok(T >= 12 && feats && gmu && glv && gdec, "golden: feats [%d, %d], mu, logvar [%d, %d], decoded [%d, %d]",
		T, F, N, L, 4 * N, F))
		goto free_all;
	float *mu = NULL, *lv = NULL, *dec = NULL, *sdec = NULL;
	int n = 0;
	rc = lm_vae_encode_posterior(&v, feats, T, &mu, &lv, &n, &st);
	if (ok(rc == 0 && n == N, "golden: encode %d frames -> %d latents: %s", T, n, rc ? st.msg : "ok")) {
		close_f32(mu, gmu, (long)N * L, 1e-4, 1e-3, "golden: encode mu vs PyTorch");
		close_f32(lv, glv, (long)N * L, 1e-4, 1e-3, "golden: encode logvar vs PyTorch");
	}
	float *m3 = NULL;
	int n3 = 0;
	rc = lm_vae_encode(&v, feats, 14, &m3, &n3, &st);
	if (ok(rc == 0 && n3 == 3, "golden: encode of the first 14 frames -> 3 latents"))
		close_f32(m3, gmu, 3L * L, 1e-4, 1e-3, "golden: causality, encode(first 14 frames) = mu[:3] of PyTorch");
	free(m3);
	dec = malloc((size_t)4 * N * F * sizeof(float));
	sdec = malloc((size_t)4 * N * F * sizeof(float));
	rc = lm_vae_decode(&v, gmu, N, dec, &st);
	if (ok(rc == 0, "golden: decode %d latents: %s", N, rc ? st.msg : "ok"))
		close_f32(dec, gdec, 4L * N * F, 1e-4, 1e-3, "golden: decode(mu) vs PyTorch decoded");
	lm_vae_stream *vs = NULL;
	rc = lm_vae_stream_init(&vs, &v, &st);
	for (int i = 0; i < N && !rc; i++)
		rc = lm_vae_stream_step(vs, gmu + (size_t)i * L, sdec + (size_t)i * 4 * F, &st);
	if (ok(rc == 0, "golden: streaming decode of %d latents: %s", N, rc ? st.msg : "ok")) {
		close_f32(sdec, gdec, 4L * N * F, 1e-4, 1e-3, "golden: streaming decode vs PyTorch decoded");
		close_f32(sdec, dec, 4L * N * F, 1e-5, 1e-5, "golden: streaming decode = whole decode");
	}
	lm_vae_stream_free(vs);
	test_bf16(feats, gdec, T, F);
	free(mu), free(lv), free(dec), free(sdec);
free_all:
	free(feats), free(gmu), free(glv), free(gdec);
	lm_vae_free(&v);
out:
	if (msf)
		lm_st_close(msf);
	if (gsf)
		lm_st_close(gsf);
}

int main(void)
{
	test_ops();
	test_synthetic();
	test_golden();
	return done_testing();
}
