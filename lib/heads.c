/* heads.c: the motion adapter, motion projector and exit head (docs/model-format.md 4.2), and the
 * flow head with its rectified-flow Euler sampler (4.3).
 *
 * The flow head is MAR's SimpleMLPAdaLN (LTH14/mar models/diffloss.py). Its adaLN modulations
 * (every block's shift, scale, gate and the final layer's shift, scale) are functions of
 * y = time_embed(t) + cond_embed(c) only, never of x. So the sampler computes them for all Euler
 * steps and both guidance rows up front: one batched time MLP over the steps, one cond_embed per
 * condition, and one product of silu(y) with every adaLN Linear stacked into a single
 * (depth*3W + 2W, W) matrix. That is exact, and it turns the biggest part of the head's cost
 * from 2*steps matrix-vector products per block into one matrix-matrix product. The ODE loop
 * then only runs input_proj, the blocks' LayerNorm/modulate/MLP/gated residual and the final
 * layer, with the conditional and unconditional rows as one 2-row batch. On a backend with graph
 * hooks (CUDA) that loop is recorded once as one graph and replayed for every later token.
 *
 * Everything goes through the backend table (h->be); weights and scratch live in its memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "heads.h"

#define FLOW_LN_EPS 1e-6f /* MAR ResBlock.in_ln and FinalLayer.norm_final */
#define MAX_RESERVE_STEPS (1 << 20)

/* The sampler's ODE loop recorded as one graph (backends with graph hooks): valid for the step
 * count, guidance rows, scale and step size it was recorded with, on the scratch it read. */
struct lm_flow_graph {
	void *g; /* NULL: none recorded */
	int nk, G;
	float s, dt;
	const float *mod;
};

static void graph_drop(const lm_heads *h)
{
	if (h->graph && h->graph->g) {
		h->be->graph_free(h->graph->g);
		h->graph->g = NULL;
	}
}

static int imax(int a, int b)
{
	return a > b ? a : b;
}

static int imin(int a, int b)
{
	return a < b ? a : b;
}

/* ---- loading ---- */

/* Loads tensor `name` of shape (d0) or (d0, d1) (d1 = 0: 1-D) and uploads it to dst, which must
 * hold d0*d1 floats. */
static int load_into(const lm_heads *h, const lm_safetensors *sf, const char *name, int d0, int d1,
		     float *dst, lm_status *st)
{
	int64_t shape[2] = {d0, d1};
	float *host = NULL;
	int rc = lm_st_load_f32(sf, name, d1 > 0 ? 2 : 1, shape, &host, st);
	if (rc)
		return rc;
	h->be->upload(dst, host, (size_t)d0 * (d1 > 0 ? d1 : 1));
	free(host);
	return 0;
}

static int balloc(lm_heads *h, size_t n, float **dst, const char *what, lm_status *st)
{
	*dst = lm_owned_alloc(&h->owned, n);
	if (!*dst)
		return lm_fail(st, LM_ENOMEM, "heads: out of memory for %s (%zu floats)", what, n);
	return 0;
}

/* Allocates and loads vector `name` (d0) in F32. */
static int load_new(lm_heads *h, const lm_safetensors *sf, const char *name, int d0, float **dst,
		    lm_status *st)
{
	int64_t shape[1] = {d0};
	return lm_owned_load_tensor(&h->owned, sf, "heads", name, 1, shape, dst, st);
}

/* A Linear `prefix`.weight (out, in), a weight, and `prefix`.bias (out) */
static int load_linear(lm_heads *h, const lm_safetensors *sf, const char *prefix, int out, int in,
		       lm_weight **w, float **b, lm_status *st)
{
	return lm_owned_load_linear(&h->owned, sf, "heads", prefix, out, in, w, b, st);
}

/* The same with the weight into host memory w (out*in floats) and the bias into preallocated
 * backend memory b (out floats). */
static int load_linear_into(const lm_heads *h, const lm_safetensors *sf, const char *prefix, int out,
			    int in, float *w, float *b, lm_status *st)
{
	char name[160];
	int64_t shape[2] = {out, in};
	float *host = NULL;
	int rc;
	snprintf(name, sizeof name, "%s.weight", prefix);
	if ((rc = lm_st_load_f32(sf, name, 2, shape, &host, st)))
		return rc;
	memcpy(w, host, (size_t)out * in * sizeof *w);
	free(host);
	snprintf(name, sizeof name, "%s.bias", prefix);
	return load_into(h, sf, name, out, 0, b, st);
}

/* prefix.fc1 (hidden, in), prefix.fc2 (out, hidden), prefix.norm (out) */
static int load_mlp_norm(lm_heads *h, const lm_safetensors *sf, const char *prefix, int in,
			 int hidden, int out, lm_mlp_norm *m, lm_status *st)
{
	char name[160];
	int rc;
	m->in = in, m->hidden = hidden, m->out = out;
	snprintf(name, sizeof name, "%s.fc1", prefix);
	if ((rc = load_linear(h, sf, name, hidden, in, &m->w1, &m->b1, st)))
		return rc;
	snprintf(name, sizeof name, "%s.fc2", prefix);
	if ((rc = load_linear(h, sf, name, out, hidden, &m->w2, &m->b2, st)))
		return rc;
	snprintf(name, sizeof name, "%s.norm.weight", prefix);
	return load_new(h, sf, name, out, &m->norm, st);
}

static int load_exit(lm_heads *h, const lm_safetensors *sf, lm_status *st)
{
	const lm_config *c = h->cfg;
	h->exit_n = c->exit_layers;
	for (int i = 0; i < h->exit_n; i++) {
		char name[64];
		int in = i == 0 ? c->hidden_size : c->exit_hidden_size;
		int out = i == h->exit_n - 1 ? 1 : c->exit_hidden_size;
		snprintf(name, sizeof name, "exit_head.layers.%d", i);
		int rc = load_linear(h, sf, name, out, in, &h->exit_w[i], &h->exit_b[i], st);
		if (rc)
			return rc;
	}
	return 0;
}

static int load_flow(lm_heads *h, const lm_safetensors *sf, lm_status *st)
{
	const lm_config *c = h->cfg;
	int W = c->flow_width, L = c->latent_dim, D = c->flow_depth;
	int rc;
	if ((rc = load_linear(h, sf, "flow_head.input_proj", W, L, &h->in_w, &h->in_b, st)) ||
	    (rc = load_linear(h, sf, "flow_head.time_embed.mlp.0", W, c->flow_freq_size, &h->t0_w, &h->t0_b,
			      st)) ||
	    (rc = load_linear(h, sf, "flow_head.time_embed.mlp.2", W, W, &h->t2_w, &h->t2_b, st)) ||
	    (rc = load_linear(h, sf, "flow_head.cond_embed", W, c->condition_size, &h->cond_w, &h->cond_b,
			      st)) ||
	    (rc = load_linear(h, sf, "flow_head.final_layer.linear", L, W, &h->fin_w, &h->fin_b, st)))
		return rc;

	/* the stacked adaLN weights are assembled in host memory, then uploaded as one matrix */
	h->mod_stride = 3 * W * D + 2 * W;
	if ((rc = balloc(h, (size_t)h->mod_stride, &h->ada_all_b, "the adaLN biases", st)))
		return rc;
	float *ada = malloc((size_t)h->mod_stride * W * sizeof *ada);
	h->blocks = calloc(D, sizeof *h->blocks);
	if (!ada || !h->blocks) {
		free(ada);
		return lm_fail(st, LM_ENOMEM, "heads: out of memory for %d flow blocks", D);
	}
	for (int j = 0; j < D; j++) {
		lm_flow_block *b = &h->blocks[j];
		char p[96], name[160];
		snprintf(p, sizeof p, "flow_head.res_blocks.%d", j);
		snprintf(name, sizeof name, "%s.in_ln.weight", p);
		if ((rc = load_new(h, sf, name, W, &b->ln_w, st)))
			goto out;
		snprintf(name, sizeof name, "%s.in_ln.bias", p);
		if ((rc = load_new(h, sf, name, W, &b->ln_b, st)))
			goto out;
		snprintf(name, sizeof name, "%s.mlp.0", p);
		if ((rc = load_linear(h, sf, name, W, W, &b->w0, &b->b0, st)))
			goto out;
		snprintf(name, sizeof name, "%s.mlp.2", p);
		if ((rc = load_linear(h, sf, name, W, W, &b->w2, &b->b2, st)))
			goto out;
		b->ada_b = h->ada_all_b + (size_t)j * 3 * W;
		snprintf(name, sizeof name, "%s.adaLN_modulation.1", p);
		if ((rc = load_linear_into(h, sf, name, 3 * W, W, ada + (size_t)j * 3 * W * W, b->ada_b, st)))
			goto out;
	}
	h->fin_ada_b = h->ada_all_b + (size_t)D * 3 * W;
	if ((rc = load_linear_into(h, sf, "flow_head.final_layer.adaLN_modulation.1", 2 * W, W,
				   ada + (size_t)D * 3 * W * W, h->fin_ada_b, st)))
		goto out;
	h->ada_all = lm_owned_upload_weight(&h->owned, ada, (size_t)h->mod_stride * W);
	if (!h->ada_all)
		rc = lm_fail(st, LM_ENOMEM, "heads: out of memory for the adaLN weights");
out:
	free(ada);
	return rc;
}

static int check_sizes(const lm_config *c, lm_status *st)
{
	const struct {
		const char *key;
		int v;
	} k[] = {
		{"latent_dim", c->latent_dim},
		{"hidden_size", c->hidden_size},
		{"adapter_hidden_size", c->adapter_hidden_size},
		{"projector_hidden_size", c->projector_hidden_size},
		{"condition_size", c->condition_size},
		{"flow_head.width", c->flow_width},
		{"flow_head.depth", c->flow_depth},
		{"flow_head.frequency_embedding_size", c->flow_freq_size},
		{"flow_head.euler_steps", c->euler_steps},
		{"exit_head.hidden_size", c->exit_hidden_size},
	};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
		if (k[i].v < 1 || k[i].v > (1 << 20))
			return lm_fail(st, LM_EDATA, "heads: config %s = %d is out of range", k[i].key, k[i].v);
	if (c->exit_layers < 1 || c->exit_layers > LM_EXIT_MAX)
		return lm_fail(st, LM_EDATA, "heads: config exit_head.num_layers = %d is out of range (1 to %d)",
			       c->exit_layers, LM_EXIT_MAX);
	if (c->flow_depth > 1024)
		return lm_fail(st, LM_EDATA, "heads: config flow_head.depth = %d is out of range", c->flow_depth);
	return 0;
}

/* The step-sized scratch buffers (M rows each) and their row widths. */
enum { STEP_BUFS = 6 };
static void step_bufs(lm_heads *h, float **buf[STEP_BUFS], size_t width[STEP_BUFS])
{
	size_t W = h->cfg->flow_width;
	float **b[STEP_BUFS] = {&h->s_time_freq, &h->s_time_hidden, &h->s_time_emb, &h->s_ada_in, &h->s_cond_rows,
				&h->s_mod};
	size_t w[STEP_BUFS] = {(size_t)h->cfg->flow_freq_size, W, W, W, W, (size_t)h->mod_stride};
	for (int i = 0; i < STEP_BUFS; i++)
		buf[i] = b[i], width[i] = w[i];
}

/* The step-sized scratch for `steps` steps: new buffers first, so a failure leaves h as it was. */
static int alloc_steps(lm_heads *h, int steps, lm_status *st)
{
	const lm_backend *be = h->be;
	size_t M = (size_t)imax(2 * steps, LM_HEADS_ROWS), width[STEP_BUFS];
	float **buf[STEP_BUFS], *fresh[STEP_BUFS];
	int ok = 1;
	step_bufs(h, buf, width);
	for (int i = 0; i < STEP_BUFS; i++)
		ok &= (fresh[i] = be->alloc(M * width[i])) != NULL;
	float *ht = malloc(M * sizeof *ht);
	int32_t *ids = malloc(M * sizeof *ids);
	if (!ok || !ht || !ids) {
		for (int i = 0; i < STEP_BUFS; i++)
			if (fresh[i])
				be->release(fresh[i]);
		free(ht);
		free(ids);
		return lm_fail(st, LM_ENOMEM, "heads: out of memory for the sampler scratch of %d steps", steps);
	}
	graph_drop(h); /* it reads the old s_mod */
	for (int i = 0; i < STEP_BUFS; i++) {
		if (*buf[i])
			be->release(*buf[i]);
		*buf[i] = fresh[i];
	}
	free(h->host_t);
	free(h->host_ids);
	h->host_t = ht, h->host_ids = ids;
	h->steps_cap = steps;
	h->mod_rows = (int)M;
	return 0;
}

static int alloc_rows(lm_heads *h, lm_status *st)
{
	const lm_config *c = h->cfg;
	size_t R = LM_HEADS_ROWS, W = c->flow_width, L = c->latent_dim;
	int md = imax(imax(c->latent_dim, c->hidden_size), imax(c->adapter_hidden_size, c->projector_hidden_size));
	md = imax(md, imax(imax(c->condition_size, c->exit_hidden_size), c->flow_width));
	h->maxdim = md;
	struct {
		float **buf;
		size_t n;
	} t[] = {{&h->s_in, R * md}, {&h->s_act, R * md}, {&h->s_act2, R * md}, {&h->s_out, R * md},
		 {&h->s_x, L}, {&h->s_h, R * W}, {&h->s_v, R * L}, {&h->s_cond_emb, R * W}};
	int rc = 0;
	for (size_t i = 0; i < sizeof t / sizeof t[0] && !rc; i++)
		rc = balloc(h, t[i].n, t[i].buf, "scratch", st);
	return rc;
}

int lm_heads_load(lm_heads *h, const lm_config *c, const lm_safetensors *sf, const lm_backend *be,
		  lm_status *st)
{
	memset(h, 0, sizeof *h);
	h->cfg = c;
	h->be = be;
	lm_owned_init(&h->owned, be);
	int rc = check_sizes(c, st);
	if (!rc)
		rc = load_mlp_norm(h, sf, "motion_adapter", c->latent_dim, c->adapter_hidden_size, c->hidden_size,
				   &h->adapter, st);
	if (!rc)
		rc = load_mlp_norm(h, sf, "motion_projector", c->hidden_size, c->projector_hidden_size,
				   c->condition_size, &h->projector, st);
	if (!rc)
		rc = load_exit(h, sf, st);
	if (!rc)
		rc = load_flow(h, sf, st);
	if (!rc)
		rc = alloc_rows(h, st);
	if (!rc)
		rc = alloc_steps(h, c->euler_steps, st);
	if (!rc && be->graph_begin && !(h->graph = calloc(1, sizeof *h->graph)))
		rc = lm_fail(st, LM_ENOMEM, "heads: out of memory");
	if (rc)
		lm_heads_free(h);
	return rc;
}

int lm_heads_reserve(lm_heads *h, int steps, lm_status *st)
{
	if (steps < 1 || steps > MAX_RESERVE_STEPS)
		return lm_fail(st, LM_EUSAGE, "heads: %d Euler steps is out of range (1 to %d)", steps,
			       MAX_RESERVE_STEPS);
	if (steps <= h->steps_cap)
		return 0;
	return alloc_steps(h, steps, st);
}

void lm_heads_free(lm_heads *h)
{
	const lm_backend *be = h->be;
	if (!be)
		return;
	lm_owned_free(&h->owned);
	float **buf[STEP_BUFS];
	size_t width[STEP_BUFS];
	step_bufs(h, buf, width);
	for (int i = 0; i < STEP_BUFS; i++)
		if (*buf[i])
			be->release(*buf[i]);
	free(h->blocks);
	free(h->host_t);
	free(h->host_ids);
	graph_drop(h);
	free(h->graph);
	memset(h, 0, sizeof *h);
}

/* ---- adapter, projector, exit head ---- */

/* out(n, m->out) = rmsnorm(fc2(gelu(fc1(in(n, m->in))))), backend memory, in chunks of
 * LM_HEADS_ROWS rows through s_act, s_act2 */
static void mlp_norm_be(const lm_heads *h, const lm_mlp_norm *m, const float *in, int n, float *out)
{
	const lm_backend *be = h->be;
	for (int i0 = 0; i0 < n; i0 += LM_HEADS_ROWS) {
		int r = imin(LM_HEADS_ROWS, n - i0);
		be->linear(h->s_act, in + (size_t)i0 * m->in, m->w1, m->b1, r, m->in, m->hidden);
		be->gelu(h->s_act, (size_t)r * m->hidden);
		be->linear(h->s_act2, h->s_act, m->w2, m->b2, r, m->hidden, m->out);
		be->rmsnorm(out + (size_t)i0 * m->out, h->s_act2, m->norm, r, m->out, h->cfg->rms_norm_eps);
	}
}

/* A row-wise head on host rows: chunks of LM_HEADS_ROWS uploaded into s_in, the backend version
 * fn into s_out, downloaded. fn chunks the same way, so the products have the same row counts
 * and the numbers are those of fn on the whole input. */
typedef void (*rows_be_fn)(const lm_heads *h, const void *arg, const float *in, int n, float *out);
static void rows_host(const lm_heads *h, rows_be_fn fn, const void *arg, const float *in, int din, int n,
		      float *out, int dout)
{
	const lm_backend *be = h->be;
	for (int i0 = 0; i0 < n; i0 += LM_HEADS_ROWS) {
		int r = imin(LM_HEADS_ROWS, n - i0);
		be->upload(h->s_in, in + (size_t)i0 * din, (size_t)r * din);
		fn(h, arg, h->s_in, r, h->s_out);
		be->download(out + (size_t)i0 * dout, h->s_out, (size_t)r * dout);
	}
}

static void mlp_norm_rows(const lm_heads *h, const void *m, const float *in, int n, float *out)
{
	mlp_norm_be(h, m, in, n, out);
}

void lm_adapter_be(const lm_heads *h, const float *z, int n, float *emb)
{
	mlp_norm_be(h, &h->adapter, z, n, emb);
}

void lm_projector_be(const lm_heads *h, const float *hs, int n, float *c)
{
	mlp_norm_be(h, &h->projector, hs, n, c);
}

void lm_adapter(const lm_heads *h, const float *z, int n, float *emb)
{
	const lm_mlp_norm *m = &h->adapter;
	rows_host(h, mlp_norm_rows, m, z, m->in, n, emb, m->out);
}

void lm_projector(const lm_heads *h, const float *hs, int n, float *c)
{
	const lm_mlp_norm *m = &h->projector;
	rows_host(h, mlp_norm_rows, m, hs, m->in, n, c, m->out);
}

void lm_exit_prob_be(const lm_heads *h, const float *hs, int n, float *p)
{
	const lm_backend *be = h->be;
	int H = h->cfg->hidden_size, E = h->cfg->exit_hidden_size;
	for (int i0 = 0; i0 < n; i0 += LM_HEADS_ROWS) {
		int r = imin(LM_HEADS_ROWS, n - i0), d = H;
		const float *x = hs + (size_t)i0 * H;
		for (int l = 0; l < h->exit_n; l++) {
			int last = l == h->exit_n - 1, out = last ? 1 : E;
			float *y = last ? p + i0 : l % 2 ? h->s_act2 : h->s_act;
			be->linear(y, x, h->exit_w[l], h->exit_b[l], r, d, out);
			if (last)
				be->sigmoid(y, (size_t)r);
			else
				be->silu(y, (size_t)r * out);
			x = y, d = out;
		}
	}
}

static void exit_rows(const lm_heads *h, const void *arg, const float *in, int n, float *out)
{
	lm_exit_prob_be(h, in, n, out);
}

void lm_exit_prob(const lm_heads *h, const float *hs, int n, float *p)
{
	rows_host(h, exit_rows, NULL, hs, h->cfg->hidden_size, n, p, 1);
}

/* ---- flow head ---- */

/* y(n, W) = time_embed(t): mlp.2(silu(mlp.0(timestep_embedding(t)))); t: n host floats */
static void time_mlp(const lm_heads *h, const float *t, int n, float *y)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width, R = h->cfg->flow_freq_size;
	be->timestep_embedding(h->s_time_freq, t, n, R);
	be->linear(h->s_time_hidden, h->s_time_freq, h->t0_w, h->t0_b, n, R, W);
	be->silu(h->s_time_hidden, (size_t)n * W);
	be->linear(y, h->s_time_hidden, h->t2_w, h->t2_b, n, W, W);
}

/* s_mod(n, mod_stride) = [every block's adaLN_modulation | final layer's](silu(s_ada_in)): one
 * product for every block, step and guidance row. Overwrites s_ada_in with silu(s_ada_in). */
static void modulation(const lm_heads *h, int n)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width;
	be->silu(h->s_ada_in, (size_t)n * W);
	be->linear(h->s_mod, h->s_ada_in, h->ada_all, h->ada_all_b, n, W, h->mod_stride);
}

/* The trunk after input_proj (MAR ResBlock.forward per block, then FinalLayer.forward):
 * s_h(n, W) holds input_proj(x) and is updated in place; mod(n rows, stride mod_stride) the
 * rows' modulations; v(n, L) receives the velocity. */
static void flow_trunk(const lm_heads *h, int n, const float *mod, float *v)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width, L = h->cfg->latent_dim, D = h->cfg->flow_depth, ms = h->mod_stride;
	for (int j = 0; j < D; j++) {
		const lm_flow_block *b = &h->blocks[j];
		const float *shift = mod + (size_t)j * 3 * W, *scale = shift + W, *gate = shift + 2 * W;
		/* h = modulate(in_ln(x), shift, scale); h = mlp(h); x = x + gate * h */
		be->layernorm(h->s_act, h->s_h, b->ln_w, b->ln_b, n, W, FLOW_LN_EPS);
		be->modulate(h->s_act, h->s_act, shift, scale, n, W, ms);
		be->linear(h->s_act2, h->s_act, b->w0, b->b0, n, W, W);
		be->silu(h->s_act2, (size_t)n * W);
		be->linear(h->s_act, h->s_act2, b->w2, b->b2, n, W, W);
		be->gated_add(h->s_h, gate, h->s_act, n, W, ms);
	}
	/* x = modulate(norm_final(x), shift, scale); x = linear(x) */
	const float *shift = mod + (size_t)D * 3 * W, *scale = shift + W;
	be->layernorm(h->s_act, h->s_h, NULL, NULL, n, W, FLOW_LN_EPS);
	be->modulate(h->s_act, h->s_act, shift, scale, n, W, ms);
	be->linear(v, h->s_act, h->fin_w, h->fin_b, n, W, L);
}

void lm_flow_velocity(const lm_heads *h, const float *x, const float *t, const float *c, int n, float *v)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width, L = h->cfg->latent_dim, C = h->cfg->condition_size;
	for (int i0 = 0; i0 < n; i0 += LM_HEADS_ROWS) {
		int r = imin(LM_HEADS_ROWS, n - i0);
		/* y = time_embed(t) + cond_embed(c), then the rows' modulations */
		time_mlp(h, t + i0, r, h->s_ada_in);
		be->upload(h->s_in, c + (size_t)i0 * C, (size_t)r * C);
		be->linear(h->s_cond_emb, h->s_in, h->cond_w, h->cond_b, r, C, W);
		be->add(h->s_ada_in, h->s_cond_emb, (size_t)r * W);
		modulation(h, r);
		/* x = input_proj(x), then the blocks and the final layer */
		be->upload(h->s_in, x + (size_t)i0 * L, (size_t)r * L);
		be->linear(h->s_h, h->s_in, h->in_w, h->in_b, r, L, W);
		flow_trunk(h, r, h->s_mod, h->s_v);
		be->download(v + (size_t)i0 * L, h->s_v, (size_t)r * L);
	}
}

/* s_mod rows k*G + g (k < nk steps from k0, g < G guidance rows) for steps k0 .. k0+nk-1:
 * y = time_embed(t_k) + c_emb[g] with c_emb already in s_cond_emb(G, W). */
static void step_modulations(const lm_heads *h, int k0, int nk, int steps, int G)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width, rows = nk * G;
	for (int k = 0; k < nk; k++)
		h->host_t[k] = (float)((double)(k0 + k) / steps); /* t_k = k / S in float32 */
	time_mlp(h, h->host_t, nk, h->s_time_emb);
	for (int r = 0; r < rows; r++)
		h->host_ids[r] = r / G;
	be->gather(h->s_ada_in, h->s_time_emb, h->host_ids, rows, W);
	for (int r = 0; r < rows; r++)
		h->host_ids[r] = r % G;
	be->gather(h->s_cond_rows, h->s_cond_emb, h->host_ids, rows, W);
	be->add(h->s_ada_in, h->s_cond_rows, (size_t)rows * W);
	modulation(h, rows);
}

/* nk Euler steps on s_x whose modulations are s_mod rows k*G + g */
static void ode_steps(const lm_heads *h, int nk, int G, float s, float dt)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width, L = h->cfg->latent_dim;
	size_t ms = (size_t)h->mod_stride;
	for (int k = 0; k < nk; k++) {
		/* both rows share x: input_proj once, then one G-row batch through the trunk */
		be->linear(h->s_h, h->s_x, h->in_w, h->in_b, 1, L, W);
		if (G == 2)
			be->copy(h->s_h + W, h->s_h, (size_t)W);
		flow_trunk(h, G, h->s_mod + (size_t)k * G * ms, h->s_v);
		be->euler_cfg(h->s_x, h->s_v, G == 2 ? h->s_v + L : NULL, s, dt, L);
	}
}

/* ode_steps as one recorded graph where the backend has graph hooks: recorded on first use and
 * again whenever the steps, rows, scale or scratch change, replayed otherwise. */
static void ode_steps_graph(const lm_heads *h, int nk, int G, float s, float dt)
{
	const lm_backend *be = h->be;
	struct lm_flow_graph *g = h->graph;
	if (!g) {
		ode_steps(h, nk, G, s, dt);
		return;
	}
	if (!g->g || g->nk != nk || g->G != G || g->s != s || g->dt != dt || g->mod != h->s_mod) {
		graph_drop(h);
		if (be->graph_begin()) {
			ode_steps(h, nk, G, s, dt);
			return;
		}
		ode_steps(h, nk, G, s, dt); /* recorded, not run */
		if (!(g->g = be->graph_end())) {
			ode_steps(h, nk, G, s, dt); /* recording failed: nothing ran */
			return;
		}
		g->nk = nk, g->G = G, g->s = s, g->dt = dt, g->mod = h->s_mod;
	}
	be->graph_launch(g->g);
}

void lm_flow_sample_be(const lm_heads *h, const float *noise, const float *c_cond, const float *c_uncond,
		       float s, int steps, float *out)
{
	const lm_backend *be = h->be;
	int W = h->cfg->flow_width, L = h->cfg->latent_dim, C = h->cfg->condition_size;
	if (steps < 1) {
		if (out != noise)
			be->copy(out, noise, (size_t)L);
		return;
	}
	int G = c_uncond && s != 1.0f ? 2 : 1; /* guidance rows: conditional, unconditional */
	float dt = 1.0f / (float)steps;

	/* the G conditions as adjacent rows of s_in: one G-row product for their cond_embed */
	if (c_cond != h->s_in)
		be->copy(h->s_in, c_cond, (size_t)C);
	if (G == 2 && c_uncond != h->s_in + C)
		be->copy(h->s_in + C, c_uncond, (size_t)C);
	be->linear(h->s_cond_emb, h->s_in, h->cond_w, h->cond_b, G, C, W);
	if (noise != h->s_x)
		be->copy(h->s_x, noise, (size_t)L);
	for (int k0 = 0; k0 < steps; k0 += h->steps_cap) {
		int nk = imin(h->steps_cap, steps - k0);
		step_modulations(h, k0, nk, steps, G);
		ode_steps_graph(h, nk, G, s, dt);
	}
	if (out != h->s_x)
		be->copy(out, h->s_x, (size_t)L);
}

void lm_flow_sample(const lm_heads *h, const float *noise, const float *c_cond, const float *c_uncond,
		    float s, int steps, float *out)
{
	const lm_backend *be = h->be;
	int L = h->cfg->latent_dim, C = h->cfg->condition_size;
	if (steps < 1) {
		memmove(out, noise, (size_t)L * sizeof *out);
		return;
	}
	int G = c_uncond && s != 1.0f ? 2 : 1;
	/* the inputs go where the backend version wants them, so it copies nothing */
	be->upload(h->s_in, c_cond, (size_t)C);
	if (G == 2)
		be->upload(h->s_in + C, c_uncond, (size_t)C);
	be->upload(h->s_x, noise, (size_t)L);
	lm_flow_sample_be(h, h->s_x, h->s_in, G == 2 ? h->s_in + C : NULL, s, steps, h->s_x);
	be->download(out, h->s_x, (size_t)L);
}
