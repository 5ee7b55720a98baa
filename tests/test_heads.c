/* test_heads.c: the adapter, projector, exit head, flow head and Euler sampler (lib/heads.c)
 * against the PyTorch reference (train/llamo_ref.py through train/golden.py), plus properties:
 * the precomputed-modulation sampler equals a naive per-step loop over lm_flow_velocity, guidance
 * with s = 1 equals no guidance, chunked steps and rows equal unchunked ones, and a config that
 * does not fit the weights is refused; the backend-memory variants (lm_adapter_be, ...,
 * lm_flow_sample_be) give the host functions' bits exactly (memcmp), whatever the row count.
 *
 * Reads tests/golden/tiny/{config.json, model.safetensors} and tests/golden/heads.safetensors
 * (argv[1] may name another golden directory). Tolerances: single evaluations atol 1e-5,
 * rtol 1e-4; the 50-step samples accumulate 50 evaluations: atol 1e-4, rtol 1e-4. The C-only
 * comparisons (precomputed vs naive loop, chunked vs whole) differ only by float rounding (BLAS
 * takes gemv for one row and gemm for more, which sum in different orders; guidance amplifies
 * the difference by s): atol 1e-5, rtol 1e-5. Guidance s = 1 vs none is exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "heads.h"
#include "tap.h"

static lm_status st;

/* A float tensor of the golden file as F32 (malloc'd), with its element count and first dim. */
static float *golden(const lm_safetensors *sf, const char *name, long *n, int *rows)
{
	const lm_tensor_info *ti = lm_st_find(sf, name);
	float *p = NULL;
	if (!ti) {
		diag("golden tensor '%s' missing", name);
		return NULL;
	}
	if (lm_st_load_f32(sf, name, ti->ndim, ti->shape, &p, &st)) {
		diag("%s", st.msg);
		return NULL;
	}
	long cnt = 1;
	for (int i = 0; i < ti->ndim; i++)
		cnt *= (long)ti->shape[i];
	if (n)
		*n = cnt;
	if (rows)
		*rows = ti->ndim ? (int)ti->shape[0] : 1;
	return p;
}

static float meta_float(const lm_safetensors *sf, const char *key, float dflt)
{
	const char *s = lm_st_metadata(sf, key);
	return s ? strtof(s, NULL) : dflt;
}

/* out(n*d) = rows of in(m*d) repeated cyclically */
static float *repeat_rows(const float *in, int m, int d, int n)
{
	float *out = malloc((size_t)n * d * sizeof *out);
	for (int i = 0; i < n; i++)
		memcpy(out + (size_t)i * d, in + (size_t)(i % m) * d, d * sizeof *out);
	return out;
}

typedef void (*row_fn)(const lm_heads *, const float *, int, float *);

/* A row-wise head on the golden rows, then on REP rows (more than LM_HEADS_ROWS: chunked). */
static void check_rows(const lm_heads *h, const lm_safetensors *g, row_fn fn, const char *what,
		       const char *in_name, const char *out_name, int din, int dout)
{
	enum { REP = LM_HEADS_ROWS + 9 };
	long nin, nout;
	int rows;
	float *in = golden(g, in_name, &nin, &rows), *want = golden(g, out_name, &nout, NULL);
	if (!in || !want || nin != (long)rows * din || nout != (long)rows * dout) {
		ok(0, "%s: golden %s/%s have the expected shapes", what, in_name, out_name);
		free(in), free(want);
		return;
	}
	float *got = malloc(nout * sizeof *got);
	char msg[128];
	fn(h, in, rows, got);
	snprintf(msg, sizeof msg, "%s (%d rows) vs PyTorch", what, rows);
	close_f32(got, want, nout, 1e-5, 1e-4, msg);

	float *in2 = repeat_rows(in, rows, din, REP), *want2 = repeat_rows(want, rows, dout, REP);
	float *got2 = malloc((size_t)REP * dout * sizeof *got2);
	fn(h, in2, REP, got2);
	snprintf(msg, sizeof msg, "%s over %d rows (chunks of %d) vs PyTorch", what, REP, LM_HEADS_ROWS);
	close_f32(got2, want2, (long)REP * dout, 1e-5, 1e-4, msg);
	free(in), free(want), free(got), free(in2), free(want2), free(got2);
}

static void check_velocity(const lm_heads *h, const lm_safetensors *g)
{
	const lm_config *c = h->cfg;
	int L = c->latent_dim, C = c->condition_size, n;
	long nx, nt, nc, nv;
	float *x = golden(g, "flow_x", &nx, &n), *t = golden(g, "flow_t", &nt, NULL);
	float *cc = golden(g, "flow_c", &nc, NULL), *want = golden(g, "flow_v", &nv, NULL);
	if (!x || !t || !cc || !want || nx != (long)n * L || nt != n || nc != (long)n * C || nv != nx) {
		ok(0, "flow velocity: golden flow_x/t/c/v have the expected shapes");
		goto out;
	}
	float *v = malloc(nv * sizeof *v);
	lm_flow_velocity(h, x, t, cc, n, v);
	close_f32(v, want, nv, 1e-5, 1e-4, "flow velocity (x, t, c rows) vs PyTorch");
	free(v);
out:
	free(x), free(t), free(cc), free(want);
}

/* The sampler written the plain way: one lm_flow_velocity call per step (2 rows when guided). */
static void naive_sample(const lm_heads *h, const float *noise, const float *cc, const float *cu, float s,
			 int steps, float *out)
{
	int L = h->cfg->latent_dim, C = h->cfg->condition_size, G = cu && s != 1.0f ? 2 : 1;
	float *xb = malloc(2 * L * sizeof *xb), *cb = malloc(2 * C * sizeof *cb), *v = malloc(2 * L * sizeof *v);
	float t[2], dt = 1.0f / steps;
	memcpy(cb, cc, C * sizeof *cb);
	if (G == 2)
		memcpy(cb + C, cu, C * sizeof *cb);
	memcpy(out, noise, L * sizeof *out);
	for (int k = 0; k < steps; k++) {
		t[0] = t[1] = (float)((double)k / steps);
		memcpy(xb, out, L * sizeof *xb);
		memcpy(xb + L, out, L * sizeof *xb);
		lm_flow_velocity(h, xb, t, cb, G, v);
		for (int j = 0; j < L; j++) {
			float vj = G == 2 ? v[L + j] + s * (v[j] - v[L + j]) : v[j];
			out[j] += dt * vj;
		}
	}
	free(xb), free(cb), free(v);
}

static void check_sample(lm_heads *h, const lm_safetensors *g)
{
	const lm_config *c = h->cfg;
	int L = c->latent_dim, C = c->condition_size;
	long nn, nc, nu, n1, n2;
	float *noise = golden(g, "sample_noise", &nn, NULL), *cc = golden(g, "sample_c", &nc, NULL);
	float *cu = golden(g, "sample_u", &nu, NULL);
	float *want_cfg = golden(g, "sample_out_cfg", &n1, NULL), *want_no = golden(g, "sample_out_nocfg", &n2, NULL);
	/* train/golden.py writes __metadata__ {"scale", "steps"}; the config's values otherwise */
	float s = meta_float(g, "scale", c->guidance_scale);
	int steps = (int)meta_float(g, "steps", (float)c->euler_steps);
	float got[L], ref[L], other[L];
	char msg[160];
	if (!noise || !cc || !cu || !want_cfg || !want_no || nn != L || nc != C || nu != C || n1 != L || n2 != L) {
		ok(0, "sampler: golden sample_* tensors have the expected shapes");
		goto out;
	}
	diag("sampler: guidance scale %g, %d Euler steps, steps_cap %d", s, steps, h->steps_cap);

	lm_flow_sample(h, noise, cc, cu, s, steps, got);
	snprintf(msg, sizeof msg, "sample with guidance s=%g, %d steps vs PyTorch", s, steps);
	close_f32(got, want_cfg, L, 1e-4, 1e-4, msg);
	naive_sample(h, noise, cc, cu, s, steps, ref);
	close_f32(got, ref, L, 1e-5, 1e-5, "guided: precomputed modulations == naive loop over lm_flow_velocity");

	lm_flow_sample(h, noise, cc, NULL, 1.0f, steps, got);
	snprintf(msg, sizeof msg, "sample without guidance, %d steps vs PyTorch", steps);
	close_f32(got, want_no, L, 1e-4, 1e-4, msg);
	naive_sample(h, noise, cc, NULL, 1.0f, steps, ref);
	close_f32(got, ref, L, 1e-5, 1e-5, "unguided: precomputed modulations == naive loop over lm_flow_velocity");

	lm_flow_sample(h, noise, cc, cu, 1.0f, steps, other);
	close_f32(other, got, L, 0, 0, "guidance s=1 with an unconditional row == no guidance (exact)");

	/* more steps than the scratch holds: chunked modulations, then the same after reserving */
	int many = 2 * h->steps_cap + 7;
	lm_flow_sample(h, noise, cc, cu, s, many, got);
	int rc = lm_heads_reserve(h, many, &st);
	ok(rc == 0 && h->steps_cap >= many, "lm_heads_reserve(%d): steps_cap now %d", many, h->steps_cap);
	lm_flow_sample(h, noise, cc, cu, s, many, ref);
	snprintf(msg, sizeof msg, "%d steps in chunks == in one product", many);
	close_f32(got, ref, L, 1e-5, 1e-5, msg);
	naive_sample(h, noise, cc, cu, s, many, other);
	snprintf(msg, sizeof msg, "%d steps == naive loop", many);
	close_f32(ref, other, L, 1e-5, 1e-5, msg);
out:
	free(noise), free(cc), free(cu), free(want_cfg), free(want_no);
}

/* Deterministic inputs in [-2, 2) */
static float *test_rows(int n, int d, int seed)
{
	float *x = malloc((size_t)n * d * sizeof *x);
	for (long i = 0; i < (long)n * d; i++)
		x[i] = (float)(((i * 7919 + seed * 104729) % 4001) - 2000) / 1000.0f;
	return x;
}

/* in (host) -> backend buffer of n floats (NULL: zeroed) */
static float *to_be(const lm_backend *be, const float *in, size_t n)
{
	return lm_be_upload_new(be, in, n);
}

typedef void (*row_fn_be)(const lm_heads *, const float *, int, float *);

/* fn_be on backend copies of the rows gives fn's bits, for row counts around LM_HEADS_ROWS. */
static void check_rows_be(const lm_heads *h, row_fn fn, row_fn_be fn_be, const char *what, int din, int dout)
{
	const lm_backend *be = h->be;
	const int counts[] = {1, 2, 5, LM_HEADS_ROWS, LM_HEADS_ROWS + 1, 2 * LM_HEADS_ROWS + 9};
	int bad = 0;
	for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		int n = counts[k];
		float *in = test_rows(n, din, (int)k + 1), *want = malloc((size_t)n * dout * sizeof *want);
		float *got = malloc((size_t)n * dout * sizeof *got);
		float *din_be = to_be(be, in, (size_t)n * din), *dout_be = to_be(be, NULL, (size_t)n * dout);
		fn(h, in, n, want);
		fn_be(h, din_be, n, dout_be);
		be->download(got, dout_be, (size_t)n * dout);
		if (memcmp(got, want, (size_t)n * dout * sizeof *got)) {
			diag("%s_be differs from %s at %d rows", what, what, n);
			bad++;
		}
		be->release(din_be), be->release(dout_be);
		free(in), free(want), free(got);
	}
	ok(!bad, "%s_be on backend memory == %s bit for bit (1 to %d rows)", what, what, 2 * LM_HEADS_ROWS + 9);
}

/* lm_flow_sample_be == lm_flow_sample bit for bit: guided, unguided, s = 1, steps past the
 * scratch's steps_cap, steps < 1, out == noise. */
static void check_sample_be(const lm_heads *h)
{
	const lm_backend *be = h->be;
	int L = h->cfg->latent_dim, C = h->cfg->condition_size;
	float *noise = test_rows(1, L, 11), *cc = test_rows(1, C, 12), *cu = test_rows(1, C, 13);
	float *want = malloc(L * sizeof *want), *got = malloc(L * sizeof *got);
	float *noise_be = to_be(be, noise, L), *cc_be = to_be(be, cc, C), *cu_be = to_be(be, cu, C);
	float *out_be = to_be(be, NULL, L);
	const struct {
		float s;
		int steps, guided;
	} runs[] = {{2.5f, 10, 1}, {2.5f, 10, 0}, {1.0f, 10, 1}, {3.0f, 2 * h->steps_cap + 3, 1}, {2.0f, 0, 1},
		    {2.0f, 1, 1}};
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		const float *u = runs[r].guided ? cu : NULL, *u_be = runs[r].guided ? cu_be : NULL;
		lm_flow_sample(h, noise, cc, u, runs[r].s, runs[r].steps, want);
		lm_flow_sample_be(h, noise_be, cc_be, u_be, runs[r].s, runs[r].steps, out_be);
		be->download(got, out_be, L);
		ok(!memcmp(got, want, L * sizeof *got), "lm_flow_sample_be == lm_flow_sample bit for bit (s %g, %d steps, %s)",
		   runs[r].s, runs[r].steps, runs[r].guided ? "with an unconditional row" : "conditional only");
	}
	/* in place: out == noise */
	float *x_be = to_be(be, noise, L);
	lm_flow_sample(h, noise, cc, cu, 2.5f, 10, want);
	lm_flow_sample_be(h, x_be, cc_be, cu_be, 2.5f, 10, x_be);
	be->download(got, x_be, L);
	ok(!memcmp(got, want, L * sizeof *got), "lm_flow_sample_be in place (out == noise) == lm_flow_sample");
	be->release(x_be), be->release(noise_be), be->release(cc_be), be->release(cu_be), be->release(out_be);
	free(noise), free(cc), free(cu), free(want), free(got);
}

/* A config whose flow width does not fit the weights must be refused with LM_EDATA. */
static void check_refuse(const lm_config *c, const lm_safetensors *sf)
{
	lm_config bad = *c;
	lm_heads h;
	bad.flow_width += 1;
	int rc = lm_heads_load(&h, &bad, sf, &lm_backend_cpu, &st);
	ok(rc == LM_EDATA, "flow width %d against %d-wide weights is refused: %d (%s)", bad.flow_width,
	   c->flow_width, rc, rc ? st.msg : "loaded");
	bad = *c;
	bad.exit_layers = c->exit_layers + 1 <= LM_EXIT_MAX ? c->exit_layers + 1 : 1;
	rc = lm_heads_load(&h, &bad, sf, &lm_backend_cpu, &st);
	ok(rc == LM_EDATA, "exit head with %d layers against %d is refused: %d (%s)", bad.exit_layers,
	   c->exit_layers, rc, rc ? st.msg : "loaded");
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/golden";
	char cpath[1024], mpath[1024], gpath[1024];
	snprintf(cpath, sizeof cpath, "%s/tiny/config.json", dir);
	snprintf(mpath, sizeof mpath, "%s/tiny/model.safetensors", dir);
	snprintf(gpath, sizeof gpath, "%s/heads.safetensors", dir);

	lm_config cfg;
	lm_safetensors *sf = NULL, *g = NULL;
	lm_heads h;
	if (lm_config_load(&cfg, cpath, &st) || lm_st_open(&sf, mpath, &st) || lm_st_open(&g, gpath, &st)) {
		ok(0, "golden files load: %s", st.msg);
		return done_testing();
	}
	int rc = lm_heads_load(&h, &cfg, sf, &lm_backend_cpu, &st);
	ok(rc == 0, "lm_heads_load %s: %s", mpath, rc ? st.msg : "ok");
	if (rc)
		return done_testing();
	diag("L %d, H %d, C %d, flow width %d x %d blocks, exit %d layers", cfg.latent_dim, cfg.hidden_size,
	     cfg.condition_size, cfg.flow_width, cfg.flow_depth, cfg.exit_layers);

	check_rows(&h, g, lm_adapter, "adapter", "adapter_in", "adapter_out", cfg.latent_dim, cfg.hidden_size);
	check_rows(&h, g, lm_projector, "projector", "projector_in", "projector_out", cfg.hidden_size,
		   cfg.condition_size);
	check_rows(&h, g, lm_exit_prob, "exit head", "exit_in", "exit_out", cfg.hidden_size, 1);
	check_velocity(&h, g);
	check_sample(&h, g);
	check_rows_be(&h, lm_adapter, lm_adapter_be, "lm_adapter", cfg.latent_dim, cfg.hidden_size);
	check_rows_be(&h, lm_projector, lm_projector_be, "lm_projector", cfg.hidden_size, cfg.condition_size);
	check_rows_be(&h, lm_exit_prob, lm_exit_prob_be, "lm_exit_prob", cfg.hidden_size, 1);
	check_sample_be(&h);
	check_refuse(&cfg, sf);

	lm_heads_free(&h);
	lm_st_close(sf);
	lm_st_close(g);
	return done_testing();
}
