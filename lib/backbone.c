/* backbone.c: the modality-specific Mixture-of-Transformers Llama (docs/model-format.md 4.1).
 *
 * Every layer has two branches of weights, text (`model.`, the Hugging Face Llama names) and
 * motion (`motion_model.`); a call runs n positions of one modality through that modality's
 * branch, while attention reads the one kv cache that every position, of either modality, has
 * written. The arithmetic is Hugging Face modeling_llama.py's (LlamaRMSNorm, rotate-half RoPE,
 * eager GQA attention, LlamaMLP), in float32; the RoPE frequencies are those of
 * modeling_rope_utils.py, rounded step by step as torch rounds them.
 *
 * All tensors and scratch live in the backend's memory (bb->be); host data crosses through
 * upload/download only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backbone.h"
#include "lora.h"

static const char *branch_prefix[2] = {"model.", "motion_model."};

/* ---- loading ---- */

/* Loads vector `name` (d0), converted to F32, into a new backend buffer *dst. */
static int load_vector(lm_backbone *bb, const lm_safetensors *sf, const char *name, int d0, float **dst,
		       lm_status *st)
{
	int64_t shape[1] = {d0};
	return lm_owned_load_tensor(&bb->owned, sf, "backbone", name, 1, shape, dst, st);
}

/* Loads matrix `name` (d0, d1) into a new weight *dst in the backend's weight format. */
static int load_matrix(lm_backbone *bb, const lm_safetensors *sf, const char *name, int d0, int d1,
		       lm_weight **dst, lm_status *st)
{
	int64_t shape[2] = {d0, d1};
	return lm_owned_load_weight(&bb->owned, sf, "backbone", name, 2, shape, dst, st);
}

/* Twin projection `name` (`motion_model.layers.{i}.<proj>.weight`, (d0, d1)) from sf: stored
 * full, or as `<proj>.lora_A` (r, d1) and `<proj>.lora_B` (d0, r), merged at load over the text
 * weight `text_name` of text_sf (lib/lora.h) into a plain weight (docs/model-format.md 3.1). */
static int load_twin_matrix(lm_backbone *bb, const lm_safetensors *text_sf, const lm_safetensors *sf,
			    const char *text_name, const char *name, int d0, int d1, lm_weight **dst, lm_status *st)
{
	char proj[256], an[300], bn[300];
	snprintf(proj, sizeof proj, "%.*s", (int)(strlen(name) - strlen(".weight")), name);
	snprintf(an, sizeof an, "%s.lora_A", proj);
	snprintf(bn, sizeof bn, "%s.lora_B", proj);
	const lm_tensor_info *a = lm_st_find(sf, an), *b = lm_st_find(sf, bn), *w = lm_st_find(text_sf, text_name);
	if (!a && !b)
		return load_matrix(bb, sf, name, d0, d1, dst, st);
	if (lm_st_find(sf, name))
		return lm_fail(st, LM_EDATA, "%s: '%s' is stored both full (.weight) and as lora_A / lora_B",
			       lm_st_name(sf), proj);
	if (!a || !b)
		return lm_fail(st, LM_EDATA, "%s: tensor '%s' without '%s'", lm_st_name(sf), a ? an : bn, a ? bn : an);
	if (!w || w->ndim != 2 || w->shape[0] != d0 || w->shape[1] != d1) /* loaded and checked before */
		return lm_fail(st, LM_EINTERNAL, "backbone: text weight '%s' for the twin's LoRA", text_name);
	void *merged;
	if (lm_lora_merge(w, a, b, lm_st_name(sf), proj, &merged, st))
		return st->code;
	int rc = lm_owned_upload_raw(&bb->owned, merged, w->dtype, (size_t)d0 * d1, "backbone", name, dst, st);
	free(merged);
	return rc;
}

/* The nine tensors of one branch of layer i: from sf; the twin's projections may be LoRA over
 * the text weights of text_sf. */
static int load_layer(lm_backbone *bb, const lm_safetensors *text_sf, const lm_safetensors *sf, int branch, int i,
		      lm_layer *ly, lm_status *st)
{
	const lm_config *c = bb->cfg;
	int H = c->hidden_size, I = c->intermediate_size;
	int qd = c->num_attention_heads * c->head_dim, kvd = c->num_key_value_heads * c->head_dim;
	struct {
		const char *name;
		int d0, d1;       /* d1 = 0: a vector */
		float **vec;      /* where a vector goes */
		lm_weight **mat;  /* where a matrix goes */
	} t[] = {
		{"input_layernorm.weight", H, 0, &ly->input_norm, NULL},
		{"self_attn.q_proj.weight", qd, H, NULL, &ly->wq},
		{"self_attn.k_proj.weight", kvd, H, NULL, &ly->wk},
		{"self_attn.v_proj.weight", kvd, H, NULL, &ly->wv},
		{"self_attn.o_proj.weight", H, qd, NULL, &ly->wo},
		{"post_attention_layernorm.weight", H, 0, &ly->post_norm, NULL},
		{"mlp.gate_proj.weight", I, H, NULL, &ly->w_gate},
		{"mlp.up_proj.weight", I, H, NULL, &ly->w_up},
		{"mlp.down_proj.weight", H, I, NULL, &ly->w_down},
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		char name[256], text_name[256];
		snprintf(name, sizeof name, "%slayers.%d.%s", branch_prefix[branch], i, t[k].name);
		snprintf(text_name, sizeof text_name, "%slayers.%d.%s", branch_prefix[LM_TEXT], i, t[k].name);
		int rc = !t[k].mat ? load_vector(bb, sf, name, t[k].d0, t[k].vec, st)
			 : branch == LM_MOTION
				 ? load_twin_matrix(bb, text_sf, sf, text_name, name, t[k].d0, t[k].d1, t[k].mat, st)
				 : load_matrix(bb, sf, name, t[k].d0, t[k].d1, t[k].mat, st);
		if (rc)
			return rc;
	}
	return 0;
}

/* RoPE inverse frequencies (hd/2), as Hugging Face computes them in float32:
 * _compute_default_rope_parameters: inv = 1.0 / (theta ** (arange(0, hd, 2).float() / hd)), then
 * _compute_llama3_parameters. torch evaluates `s / t` (scalar over tensor) as reciprocal(t) * s,
 * and each step rounds to float32; the order below is that of the Python source, so the values
 * are bit-identical to the reference's (checked for hd 16..128, theta 1e4 and 5e5). */
static void rope_inv_freq(const lm_config *c, float *inv)
{
	int hd = c->head_dim;
	for (int i = 0; i < hd / 2; i++)
		inv[i] = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)hd);
	if (!c->rope_llama3)
		return;
	float factor = c->rope_factor, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
	float old_len = (float)c->rope_original_max_pos;
	float low_wavelen = (float)((double)c->rope_original_max_pos / lo);
	float high_wavelen = (float)((double)c->rope_original_max_pos / hi);
	float span = (float)((double)hi - (double)lo);
	for (int i = 0; i < hd / 2; i++) {
		float f = inv[i];
		float wavelen = (1.0f / f) * (float)(2 * M_PI);
		/* wavelen < high_freq_wavelen: keep; wavelen > low_freq_wavelen: divide by factor */
		float f_llama = wavelen > low_wavelen ? f / factor : f;
		/* in between: interpolate with the smooth factor */
		float smooth = ((1.0f / wavelen) * old_len - lo) / span;
		float smoothed = (1.0f - smooth) * f_llama / factor + smooth * f_llama;
		int medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
		inv[i] = medium ? smoothed : f_llama;
	}
}

int lm_backbone_load(lm_backbone *bb, const lm_config *c, const lm_safetensors *sf,
		     const lm_backend *be, lm_status *st)
{
	return lm_backbone_load_split(bb, c, sf, sf, be, st);
}

int lm_backbone_load_split(lm_backbone *bb, const lm_config *c, const lm_safetensors *text_sf,
			   const lm_safetensors *motion_sf, const lm_backend *be, lm_status *st)
{
	memset(bb, 0, sizeof *bb);
	bb->cfg = c;
	bb->be = be;
	lm_owned_init(&bb->owned, be);
	int V = c->vocab_size, H = c->hidden_size, nl = c->num_hidden_layers, rc;
	if (V < 1 || H < 1 || nl < 1 || c->num_attention_heads < 1 || c->num_key_value_heads < 1 ||
	    c->head_dim < 2 || c->head_dim % 2 || c->num_attention_heads % c->num_key_value_heads)
		return lm_fail(st, LM_EDATA, "backbone: config has bad sizes (vocab %d, hidden %d, layers %d, "
			       "heads %d/%d, head_dim %d)", V, H, nl, c->num_attention_heads,
			       c->num_key_value_heads, c->head_dim);
	if ((rc = load_matrix(bb, text_sf, "model.embed_tokens.weight", V, H, &bb->embed, st)))
		goto fail;
	if (c->tie_word_embeddings)
		bb->lm_head = bb->embed;
	else if ((rc = load_matrix(bb, text_sf, "lm_head.weight", V, H, &bb->lm_head, st)))
		goto fail;
	for (int b = 0; b < 1 + c->has_motion; b++) { /* the motion twin when the model has one */
		bb->layers[b] = calloc(nl, sizeof(lm_layer));
		if (!bb->layers[b]) {
			rc = lm_fail(st, LM_ENOMEM, "backbone: out of memory");
			goto fail;
		}
		const lm_safetensors *sf = b == LM_TEXT ? text_sf : motion_sf;
		for (int i = 0; i < nl; i++)
			if ((rc = load_layer(bb, text_sf, sf, b, i, &bb->layers[b][i], st)))
				goto fail;
		char name[64];
		snprintf(name, sizeof name, "%snorm.weight", branch_prefix[b]);
		if ((rc = load_vector(bb, sf, name, H, &bb->final_norm[b], st)))
			goto fail;
	}
	float *inv = malloc((size_t)(c->head_dim / 2) * sizeof(float));
	if (!inv) {
		rc = lm_fail(st, LM_ENOMEM, "backbone: out of memory");
		goto fail;
	}
	rope_inv_freq(c, inv);
	if ((bb->inv_freq = lm_owned_alloc(&bb->owned, c->head_dim / 2)))
		be->upload(bb->inv_freq, inv, c->head_dim / 2);
	free(inv);
	if (!bb->inv_freq) {
		rc = lm_fail(st, LM_ENOMEM, "backbone: out of %s memory", be->name);
		goto fail;
	}
	return 0;
fail:
	lm_backbone_free(bb);
	return rc;
}

static void release(const lm_backend *be, float **p)
{
	if (*p)
		be->release(*p);
	*p = NULL;
}

void lm_backbone_free(lm_backbone *bb)
{
	if (!bb || !bb->be)
		return;
	const lm_config *c = bb->cfg;
	const lm_backend *be = bb->be;
	lm_owned_free(&bb->owned);
	free(bb->layers[0]);
	free(bb->layers[1]);
	memset(bb, 0, sizeof *bb);
	bb->cfg = c;
	bb->be = be;
	lm_owned_init(&bb->owned, be);
}

/* ---- kv cache and scratch ---- */

static void scratch_free(lm_kv_cache *kv, const lm_backend *be)
{
	float **s[] = {&kv->x, &kv->a, &kv->q, &kv->att, &kv->gate, &kv->up, &kv->knew, &kv->vnew};
	for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
		release(be, s[k]);
	kv->chunk = 0;
}

/* Scratch for `chunk` positions at once (K and V go straight into the cache). */
static int scratch_alloc(lm_kv_cache *kv, const lm_backbone *bb, int chunk, lm_status *st)
{
	const lm_config *c = bb->cfg;
	const lm_backend *be = bb->be;
	size_t n = (size_t)chunk, H = c->hidden_size, I = c->intermediate_size;
	size_t qd = (size_t)c->num_attention_heads * c->head_dim;
	scratch_free(kv, be);
	kv->x = be->alloc(n * H);
	kv->a = be->alloc(n * H);
	kv->q = be->alloc(n * qd);
	kv->att = be->alloc(n * qd);
	kv->gate = be->alloc(n * I);
	kv->up = be->alloc(n * I);
	size_t kvd = (size_t)c->num_key_value_heads * c->head_dim;
	kv->knew = be->alloc(n * kvd);
	kv->vnew = be->alloc(n * kvd);
	if (!kv->x || !kv->a || !kv->q || !kv->att || !kv->gate || !kv->up || !kv->knew || !kv->vnew) {
		scratch_free(kv, be);
		return lm_fail(st, LM_ENOMEM, "backbone: out of %s memory for a %d-position chunk", be->name,
			       chunk);
	}
	kv->chunk = chunk;
	return 0;
}

int lm_kv_init(lm_kv_cache *kv, const lm_backbone *bb, int max_pos, lm_status *st)
{
	const lm_config *c = bb->cfg;
	memset(kv, 0, sizeof *kv);
	if (max_pos < 1)
		return lm_fail(st, LM_EDATA, "kv cache: capacity %d positions, want at least 1", max_pos);
	size_t n = (size_t)c->num_hidden_layers * max_pos * c->num_key_value_heads * c->head_dim;
	kv->max_pos = max_pos;
	kv->k = bb->be->alloc(n);
	kv->v = bb->be->alloc(n);
	if (!kv->k || !kv->v) {
		lm_kv_free(kv, bb);
		return lm_fail(st, LM_ENOMEM, "kv cache: out of %s memory for %d positions", bb->be->name,
			       max_pos);
	}
	int rc = scratch_alloc(kv, bb, max_pos < 64 ? max_pos : 64, st);
	if (rc)
		lm_kv_free(kv, bb);
	return rc;
}

void lm_kv_free(lm_kv_cache *kv, const lm_backbone *bb)
{
	if (!kv || !bb || !bb->be)
		return;
	release(bb->be, &kv->k);
	release(bb->be, &kv->v);
	scratch_free(kv, bb->be);
	kv->max_pos = kv->pos = 0;
}

void lm_kv_reset(lm_kv_cache *kv)
{
	kv->pos = 0;
}

/* ---- forward ---- */

/* Every id inside the vocabulary, else LM_EDATA naming the first that is not. */
static int check_ids(const lm_backbone *bb, const int32_t *ids, int n, lm_status *st)
{
	int V = bb->cfg->vocab_size;
	for (int i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= V)
			return lm_fail(st, LM_EDATA, "token id %d at position %d is outside the vocabulary (%d)",
				       (int)ids[i], i, V);
	return 0;
}

int lm_embed_text(const lm_backbone *bb, const int32_t *ids, int n, float *emb, lm_status *st)
{
	int H = bb->cfg->hidden_size;
	int rc = check_ids(bb, ids, n, st);
	if (rc || n <= 0)
		return rc;
	/* the table is in the backend's weight format: gather the rows there, then download */
	float *rows = bb->be->alloc((size_t)n * H);
	if (!rows)
		return lm_fail(st, LM_ENOMEM, "backbone: out of %s memory for %d embeddings", bb->be->name, n);
	bb->be->embed(rows, bb->embed, ids, n, H);
	bb->be->download(emb, rows, (size_t)n * H);
	bb->be->release(rows);
	return 0;
}

/* The halves every layer runs the same way for n rows of the scratch s, whether the rows are n
 * positions of one sequence (layer_forward) or one position of n sequences (layer_step). */

/* Attention prologue: s->a = rmsnorm(s->x) (input_layernorm), then the projections
 * s->q(n, nh*hd), k(n, nkv*hd), v(n, nkv*hd) of it (k, v: the cache rows or s->knew, s->vnew). */
static void attn_in(const lm_backbone *bb, const lm_layer *ly, lm_kv_cache *s, int n, float *k, float *v)
{
	const lm_config *c = bb->cfg;
	const lm_backend *be = bb->be;
	int H = c->hidden_size, qd = c->num_attention_heads * c->head_dim;
	int kvd = c->num_key_value_heads * c->head_dim;
	be->rmsnorm(s->a, s->x, ly->input_norm, n, H, c->rms_norm_eps);
	be->linear(s->q, s->a, ly->wq, NULL, n, H, qd);
	be->linear(k, s->a, ly->wk, NULL, n, H, kvd);
	be->linear(v, s->a, ly->wv, NULL, n, H, kvd);
}

/* Attention epilogue: s->x += o_proj(s->att) */
static void attn_out(const lm_backbone *bb, const lm_layer *ly, lm_kv_cache *s, int n)
{
	const lm_config *c = bb->cfg;
	int H = c->hidden_size, qd = c->num_attention_heads * c->head_dim;
	bb->be->linear(s->a, s->att, ly->wo, NULL, n, qd, H);
	bb->be->add(s->x, s->a, (size_t)n * H);
}

/* MLP block (LlamaMLP): s->x += down(silu(gate(b)) * up(b)), b = rmsnorm(s->x) */
static void mlp(const lm_backbone *bb, const lm_layer *ly, lm_kv_cache *s, int n)
{
	const lm_config *c = bb->cfg;
	const lm_backend *be = bb->be;
	int H = c->hidden_size, I = c->intermediate_size;
	be->rmsnorm(s->a, s->x, ly->post_norm, n, H, c->rms_norm_eps);
	be->linear(s->gate, s->a, ly->w_gate, NULL, n, H, I);
	be->linear(s->up, s->a, ly->w_up, NULL, n, H, I);
	be->swiglu(s->gate, s->gate, s->up, (size_t)n * I);
	be->linear(s->a, s->gate, ly->w_down, NULL, n, I, H);
	be->add(s->x, s->a, (size_t)n * H);
}

/* One MoT layer for n positions of one modality at pos0.. (4.1), x (n, H) in place; this
 * layer's K and V rows go into the cache layer kc, vc (max_pos, nkv, hd). */
static void layer_forward(const lm_backbone *bb, const lm_layer *ly, lm_kv_cache *kv, float *kc, float *vc,
			  int n, int pos0)
{
	const lm_config *c = bb->cfg;
	const lm_backend *be = bb->be;
	int hd = c->head_dim, nh = c->num_attention_heads, nkv = c->num_key_value_heads;
	float *k_new = kc + (size_t)pos0 * nkv * hd, *v_new = vc + (size_t)pos0 * nkv * hd;

	/* attention block: projections of rmsnorm(x) (K, V straight into the cache), RoPE, joint
	 * causal attention over the whole cache, o_proj and the residual */
	attn_in(bb, ly, kv, n, k_new, v_new);
	be->rope(kv->q, n, nh, hd, pos0, bb->inv_freq);
	be->rope(k_new, n, nkv, hd, pos0, bb->inv_freq);
	be->attention(kv->att, kv->q, kc, vc, n, pos0, nh, nkv, hd);
	attn_out(bb, ly, kv, n);
	mlp(bb, ly, kv, n);
}

/* The checks every forward entry shares: modality, room in the cache, scratch for n positions.
 * 0 when the n positions may run (n == 0 included). */
static int forward_ready(const lm_backbone *bb, lm_kv_cache *kv, int n, int modality, lm_status *st)
{
	if ((modality != LM_TEXT && modality != LM_MOTION) || !bb->layers[modality])
		return lm_fail(st, LM_EDATA, "backbone: no %s branch in this model", modality == LM_MOTION ? "motion" : "such");
	if (n < 0 || n > kv->max_pos - kv->pos)
		return lm_fail(st, LM_EDATA, "backbone: %d more positions overflow the kv cache (%d of %d used)",
			       n, kv->pos, kv->max_pos);
	if (n > kv->chunk)
		return scratch_alloc(kv, bb, n, st);
	return 0;
}

/* Runs the n positions already in kv->x (n, H) through every layer of the modality's branch at
 * kv->pos.. and appends them to the cache; kv->x then holds the last layer's output, not normed. */
static void forward_layers(const lm_backbone *bb, lm_kv_cache *kv, int n, int modality)
{
	const lm_config *c = bb->cfg;
	size_t layer_stride = (size_t)kv->max_pos * c->num_key_value_heads * c->head_dim;
	for (int l = 0; l < c->num_hidden_layers; l++)
		layer_forward(bb, &bb->layers[modality][l], kv, kv->k + l * layer_stride,
			      kv->v + l * layer_stride, n, kv->pos);
	kv->pos += n;
}

/* out(n, H) = the branch's final norm of x(n, H), all backend memory */
static void final_norm(const lm_backbone *bb, const float *x, int n, int modality, float *out)
{
	bb->be->rmsnorm(out, x, bb->final_norm[modality], n, bb->cfg->hidden_size, bb->cfg->rms_norm_eps);
}

int lm_backbone_forward_be(const lm_backbone *bb, lm_kv_cache *kv, const float *emb, int n,
			   int modality, float *out, lm_status *st)
{
	int rc = forward_ready(bb, kv, n, modality, st);
	if (rc || n == 0)
		return rc;
	if (emb != kv->x)
		bb->be->copy(kv->x, emb, (size_t)n * bb->cfg->hidden_size);
	forward_layers(bb, kv, n, modality);
	if (out)
		final_norm(bb, kv->x, n, modality, out);
	return 0;
}

int lm_backbone_forward(const lm_backbone *bb, lm_kv_cache *kv, const float *emb, int n,
			int modality, float *out, lm_status *st)
{
	const lm_backend *be = bb->be;
	int rc = forward_ready(bb, kv, n, modality, st);
	if (rc || n == 0)
		return rc;
	size_t nh = (size_t)n * bb->cfg->hidden_size;
	be->upload(kv->x, emb, nh);
	/* emb is now where the backend version copies it to: run that, normed into kv->a (free
	 * once the layers ran) */
	if ((rc = lm_backbone_forward_be(bb, kv, kv->x, n, modality, out ? kv->a : NULL, st)))
		return rc;
	if (out)
		be->download(out, kv->a, nh);
	return 0;
}

int lm_backbone_prefill(const lm_backbone *bb, lm_kv_cache *kv, const int32_t *ids, int n, float *h_last,
			lm_status *st)
{
	int rc = check_ids(bb, ids, n, st);
	if (!rc)
		rc = forward_ready(bb, kv, n, LM_TEXT, st);
	if (rc || n == 0)
		return rc;
	int H = bb->cfg->hidden_size;
	bb->be->embed(kv->x, bb->embed, ids, n, H);
	forward_layers(bb, kv, n, LM_TEXT);
	final_norm(bb, kv->x + (size_t)(n - 1) * H, 1, LM_TEXT, h_last);
	return 0;
}

/* One layer for one new position in each of nseq sequences (lm_backbone_step): the products over
 * all rows in s's scratch, RoPE, the cache writes and attention per sequence. */
static void layer_step(const lm_backbone *bb, const lm_layer *ly, lm_kv_cache **kv, int nseq, int l)
{
	const lm_config *c = bb->cfg;
	const lm_backend *be = bb->be;
	lm_kv_cache *s = kv[0];
	int hd = c->head_dim, nh = c->num_attention_heads, nkv = c->num_key_value_heads;
	int qd = nh * hd, kvd = nkv * hd;

	attn_in(bb, ly, s, nseq, s->knew, s->vnew);
	for (int i = 0; i < nseq; i++) {
		size_t stride = (size_t)kv[i]->max_pos * kvd;
		float *kc = kv[i]->k + l * stride, *vc = kv[i]->v + l * stride;
		int pos = kv[i]->pos;
		float *q = s->q + (size_t)i * qd, *kn = s->knew + (size_t)i * kvd;
		be->rope(q, 1, nh, hd, pos, bb->inv_freq);
		be->rope(kn, 1, nkv, hd, pos, bb->inv_freq);
		be->copy(kc + (size_t)pos * kvd, kn, kvd);
		be->copy(vc + (size_t)pos * kvd, s->vnew + (size_t)i * kvd, kvd);
		be->attention(s->att + (size_t)i * qd, q, kc, vc, 1, pos, nh, nkv, hd);
	}
	attn_out(bb, ly, s, nseq);
	mlp(bb, ly, s, nseq);
}

/* The checks of a step: modality, room in every cache, scratch for nseq rows in kv[0]. */
static int step_ready(const lm_backbone *bb, lm_kv_cache **kv, int nseq, int modality, lm_status *st)
{
	if ((modality != LM_TEXT && modality != LM_MOTION) || !bb->layers[modality])
		return lm_fail(st, LM_EDATA, "backbone: no %s branch in this model", modality == LM_MOTION ? "motion" : "such");
	for (int i = 0; i < nseq; i++)
		if (kv[i]->pos >= kv[i]->max_pos)
			return lm_fail(st, LM_EDATA, "backbone: sequence %d: one more position overflows the kv "
				       "cache (%d of %d used)", i, kv[i]->pos, kv[i]->max_pos);
	if (nseq > 0 && nseq > kv[0]->chunk)
		return scratch_alloc(kv[0], bb, nseq, st);
	return 0;
}

int lm_backbone_step_be(const lm_backbone *bb, lm_kv_cache **kv, int nseq, const float *emb, int modality,
			float *out, lm_status *st)
{
	const lm_config *c = bb->cfg;
	int rc = step_ready(bb, kv, nseq, modality, st);
	if (rc || nseq < 1)
		return rc;
	lm_kv_cache *s = kv[0];
	if (emb != s->x)
		bb->be->copy(s->x, emb, (size_t)nseq * c->hidden_size);
	for (int l = 0; l < c->num_hidden_layers; l++)
		layer_step(bb, &bb->layers[modality][l], kv, nseq, l);
	for (int i = 0; i < nseq; i++)
		kv[i]->pos++;
	if (out)
		final_norm(bb, s->x, nseq, modality, out);
	return 0;
}

int lm_backbone_step(const lm_backbone *bb, lm_kv_cache **kv, int nseq, const float *emb, int modality,
		     float *out, lm_status *st)
{
	const lm_backend *be = bb->be;
	int rc = step_ready(bb, kv, nseq, modality, st);
	if (rc || nseq < 1)
		return rc;
	lm_kv_cache *s = kv[0];
	size_t nh = (size_t)nseq * bb->cfg->hidden_size;
	be->upload(s->x, emb, nh);
	if ((rc = lm_backbone_step_be(bb, kv, nseq, s->x, modality, out ? s->a : NULL, st)))
		return rc;
	if (out)
		be->download(out, s->a, nh);
	return 0;
}

void lm_logits_be(const lm_backbone *bb, const float *h, int n, float *logits)
{
	bb->be->linear(logits, h, bb->lm_head, NULL, n, bb->cfg->hidden_size, bb->cfg->vocab_size);
}

void lm_logits(const lm_backbone *bb, const float *h, int n, float *logits)
{
	const lm_backend *be = bb->be;
	int H = bb->cfg->hidden_size, V = bb->cfg->vocab_size;
	float *hb = lm_be_upload_new(be, h, (size_t)n * H);
	float *lb = be->alloc((size_t)n * V);
	if (hb && lb) {
		lm_logits_be(bb, hb, n, lb);
		be->download(logits, lb, (size_t)n * V);
	} else {
		for (size_t i = 0; i < (size_t)n * V; i++)
			logits[i] = NAN; /* out of memory: no logits */
	}
	if (hb)
		be->release(hb);
	if (lb)
		be->release(lb);
}
