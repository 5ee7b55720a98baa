/* model.c: loading a model directory, and the text-to-motion / motion-to-text loops
 * (docs/model-format.md 4.6, 4.7). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "clock.h"
#include "chat.h"
#include "model.h"

static int path_in(char *buf, size_t len, const char *dir, const char *file)
{
	return snprintf(buf, len, "%s/%s", dir, file) < (int)len;
}

static int load_normalization(lm_model *m, lm_status *st)
{
	char p[4200];
	path_in(p, sizeof p, m->dir, "normalization.safetensors");
	lm_safetensors *ns;
	if (lm_st_open(&ns, p, st))
		return st->code;
	int64_t shape[1] = {m->cfg.feature_dim};
	int rc = lm_st_load_f32(ns, "mean", 1, shape, &m->mean, st);
	if (!rc)
		rc = lm_st_load_f32(ns, "std", 1, shape, &m->std, st);
	if (!rc)
		for (int i = 0; i < m->cfg.feature_dim; i++)
			if (!(m->std[i] > 0) || !isfinite(m->std[i]) || !isfinite(m->mean[i])) {
				rc = isfinite(m->mean[i])
					     ? lm_fail(st, LM_EDATA, "%s: std[%d] = %g is not a positive finite number", p, i,
						       m->std[i])
					     : lm_fail(st, LM_EDATA, "%s: mean[%d] = %g is not finite", p, i, m->mean[i]);
				break;
			}
	lm_st_close(ns);
	return rc;
}

/* llamo.base_model: m->text_dir = the base directory (relative to m->dir unless absolute), which
 * must exist and hold a text-only model whose Llama keys are those of `config` (this model's
 * config.json path). */
static int resolve_base(lm_model *m, const char *config, lm_status *st)
{
	const char *b = m->cfg.base_model;
	int n = b[0] == '/' ? snprintf(m->text_dir, sizeof m->text_dir, "%s", b)
			    : snprintf(m->text_dir, sizeof m->text_dir, "%s/%s", m->dir, b);
	if (n >= (int)sizeof m->text_dir)
		return lm_fail(st, LM_EDATA, "%s: llamo.base_model: the path is too long", config);
	struct stat sb;
	if (stat(m->text_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return lm_fail(st, LM_ENOINPUT, "%s: llamo.base_model: base model directory %s not found (make smollm2 "
			       "imports models/smollm2-135m-instruct)", config, m->text_dir);
	char p[4200];
	lm_config base;
	path_in(p, sizeof p, m->text_dir, "config.json");
	if (lm_config_load(&base, p, st))
		return st->code;
	if (base.has_motion)
		return lm_fail(st, LM_EDATA, "%s: llamo.base_model: %s is not a text-only model (it has a llamo section)",
			       config, m->text_dir);
	return lm_config_check_base(config, p, st);
}

/* A model with a base holds no text tensor, tokenizer or chat format of its own (which would be
 * used, this one or the base's, would be ambiguous). */
static int check_motion_only(const lm_model *m, lm_status *st)
{
	char p[4200];
	const char *own[] = {"tokenizer.json", "chat.json"};
	for (int k = 0; k < 2; k++) {
		path_in(p, sizeof p, m->dir, own[k]);
		struct stat sb;
		if (stat(p, &sb) == 0)
			return lm_fail(st, LM_EDATA, "%s: a model with llamo.base_model uses the base's %s (%s); "
				       "remove this one", p, own[k], m->text_dir);
	}
	for (int i = 0; m->sf && i < lm_st_count(m->sf); i++) {
		const char *name = lm_st_at(m->sf, i)->name;
		if (strncmp(name, "model.", 6) == 0 || strncmp(name, "lm_head.", 8) == 0)
			return lm_fail(st, LM_EDATA, "%s: tensor '%s': a text-branch tensor in a model with "
				       "llamo.base_model (the text branch comes from %s)", lm_st_name(m->sf), name,
				       m->text_dir);
	}
	return 0;
}

int lm_model_load(lm_model **out, const char *dir, const lm_backend *be, unsigned parts, lm_status *st)
{
	*out = NULL;
	struct stat sb;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return lm_fail(st, LM_ENOINPUT, "%s: model directory not found", dir);
	lm_model *m = calloc(1, sizeof *m);
	if (!m)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	snprintf(m->dir, sizeof m->dir, "%s", dir);
	m->be = be;
	char p[4200];
	int rc;
	path_in(p, sizeof p, dir, "config.json");
	if ((rc = lm_config_load(&m->cfg, p, st)))
		goto fail;
	snprintf(m->text_dir, sizeof m->text_dir, "%s", dir);
	int based = m->cfg.base_model[0] != 0;
	if (based && (rc = resolve_base(m, p, st)))
		goto fail;
	if (!m->cfg.has_motion && (parts & (LM_PART_HEADS | LM_PART_VAE | LM_PART_SKELETON))) {
		rc = lm_fail(st, LM_EDATA, "%s: a text-only model (no llamo section): it has no motion parts", p);
		goto fail;
	}
	if (parts & (LM_PART_BACKBONE | LM_PART_HEADS | LM_PART_VAE)) {
		path_in(p, sizeof p, dir, "model.safetensors");
		if ((rc = lm_st_open(&m->sf, p, st)))
			goto fail;
	}
	if (based && (rc = check_motion_only(m, st)))
		goto fail;
	if (based && (parts & LM_PART_BACKBONE)) {
		path_in(p, sizeof p, m->text_dir, "model.safetensors");
		if ((rc = lm_st_open(&m->base_sf, p, st)))
			goto fail;
	}
	if ((parts & LM_PART_BACKBONE) &&
	    (rc = lm_backbone_load_split(&m->bb, &m->cfg, based ? m->base_sf : m->sf, m->sf, be, st)))
		goto fail;
	m->parts |= parts & LM_PART_BACKBONE;
	if ((parts & LM_PART_HEADS) && (rc = lm_heads_load(&m->heads, &m->cfg, m->sf, be, st)))
		goto fail;
	m->parts |= parts & LM_PART_HEADS;
	if (parts & LM_PART_VAE) {
		if ((rc = lm_vae_load(&m->vae, &m->cfg, m->sf, be, st)))
			goto fail;
		m->parts |= LM_PART_VAE;
		if ((rc = load_normalization(m, st)))
			goto fail;
	}
	if (parts & LM_PART_TOKENIZER) {
		path_in(p, sizeof p, m->text_dir, "tokenizer.json");
		if ((rc = lm_tokenizer_load(&m->tok, p, st)))
			goto fail;
		if (lm_tokenizer_vocab_size(m->tok) > m->cfg.vocab_size) {
			rc = lm_fail(st, LM_EDATA, "%s: tokenizer has %d tokens, config vocab_size is %d", p,
				     lm_tokenizer_vocab_size(m->tok), m->cfg.vocab_size);
			goto fail;
		}
	}
	if (parts & LM_PART_SKELETON) {
		path_in(p, sizeof p, dir, "skeleton.bvh");
		if ((rc = lm_skeleton_load(&m->sk, p, st)))
			goto fail;
		m->parts |= LM_PART_SKELETON;
		if (lm_feature_dim(&m->sk) != m->cfg.feature_dim) {
			rc = lm_fail(st, LM_EDATA, "%s: skeleton has %d joints (%d features), config feature_dim is %d",
				     p, m->sk.njoints, lm_feature_dim(&m->sk), m->cfg.feature_dim);
			goto fail;
		}
	}
	*out = m;
	return 0;
fail:
	lm_model_free(m);
	return rc;
}

void lm_model_free(lm_model *m)
{
	if (!m)
		return;
	if (m->parts & LM_PART_BACKBONE)
		lm_backbone_free(&m->bb);
	if (m->parts & LM_PART_HEADS)
		lm_heads_free(&m->heads);
	if (m->parts & LM_PART_VAE)
		lm_vae_free(&m->vae);
	if (m->parts & LM_PART_SKELETON)
		lm_skeleton_free(&m->sk);
	lm_tokenizer_free(m->tok);
	if (m->sf)
		lm_st_close(m->sf);
	if (m->base_sf)
		lm_st_close(m->base_sf);
	free(m->mean);
	free(m->std);
	free(m);
}

void lm_features_normalize(const lm_model *m, float *x, int n)
{
	int F = m->cfg.feature_dim;
	for (long i = 0; i < (long)n * F; i++)
		x[i] = (x[i] - m->mean[i % F]) / m->std[i % F];
}

void lm_features_denormalize(const lm_model *m, float *x, int n)
{
	int F = m->cfg.feature_dim;
	for (long i = 0; i < (long)n * F; i++)
		x[i] = x[i] * m->std[i % F] + m->mean[i % F];
}

/* Tokenizes template with `key` replaced by `value` (the template holds key exactly once). */
static int fill_template(const lm_model *m, const char *tpl, const char *key, const char *value,
			 int32_t **ids, int *n, lm_status *st)
{
	const char *at = strstr(tpl, key);
	size_t pre = at ? (size_t)(at - tpl) : strlen(tpl);
	const char *post = at ? at + strlen(key) : "";
	size_t len = pre + strlen(value) + strlen(post);
	char *text = malloc(len + 1);
	if (!text)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	memcpy(text, tpl, pre);
	strcpy(text + pre, value);
	strcat(text, post);
	int rc = lm_tokenize(m->tok, text, len, ids, n, st);
	free(text);
	return rc;
}

int lm_t2m_prompt_ids(const lm_model *m, const char *prompt, int32_t **ids, int *n, lm_status *st)
{
	int32_t *t;
	int k;
	if (fill_template(m, m->cfg.t2m_template, "{prompt}", prompt, &t, &k, st))
		return st->code;
	int32_t *r = realloc(t, (k + 1) * sizeof *r);
	if (!r) {
		free(t);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	r[k] = m->cfg.bom_token_id;
	*ids = r;
	*n = k + 1;
	return 0;
}

void lm_gen_opts_default(lm_gen_opts *o, const lm_config *c)
{
	*o = (lm_gen_opts){.seed = 0, .cfg = c->guidance_scale, .steps = c->euler_steps,
			   .max_tokens = c->max_motion_tokens, .threshold = c->exit_threshold};
}

int lm_t2m_init(lm_t2m **out, const lm_model *m, const lm_gen_opts *o, lm_status *st)
{
	*out = NULL;
	lm_t2m *g = calloc(1, sizeof *g);
	if (!g)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	const lm_config *c = &m->cfg;
	g->m = m;
	g->o = *o;
	g->rows = 1;
	const lm_backend *be = m->be;
	g->h = be->alloc(2 * (size_t)c->hidden_size);
	g->c = be->alloc(2 * (size_t)c->condition_size);
	g->emb = be->alloc(2 * (size_t)c->hidden_size);
	g->z = be->alloc(c->latent_dim);
	g->noise = be->alloc(c->latent_dim);
	g->p = be->alloc(1);
	g->host_noise = calloc(c->latent_dim, sizeof(float));
	lm_rng_seed(&g->rng, o->seed);
	if (!g->h || !g->c || !g->emb || !g->z || !g->noise || !g->p || !g->host_noise) {
		lm_t2m_free(g);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	*out = g;
	return 0;
}

void lm_t2m_free(lm_t2m *g)
{
	if (!g)
		return;
	for (int b = 0; b < 2; b++)
		if (g->kv[b].k)
			lm_kv_free(&g->kv[b], &g->m->bb);
	float *dev[] = {g->h, g->c, g->emb, g->z, g->noise, g->p};
	for (size_t k = 0; k < sizeof dev / sizeof *dev; k++)
		if (dev[k])
			g->m->be->release(dev[k]);
	free(g->host_noise);
	free(g);
}

int lm_t2m_prefill(lm_t2m *g, int b, const int32_t *ids, int n, lm_status *st)
{
	const lm_model *m = g->m;
	if (n < 1)
		return lm_fail(st, LM_EDATA, "an empty prompt (no token ids)");
	if (g->kv[b].k)
		return lm_fail(st, LM_EDATA, "%s prompt given twice", b ? "unconditional" : "conditional");
	/* the prompt, the latents and the end mark within the model's positions (or the cache a
	 * caller sized, minus one motion position) */
	int limit = g->o.max_pos > 0 ? g->o.max_pos - 1 : m->cfg.max_position_embeddings - g->o.max_tokens - 1;
	if (n > limit) {
		if (g->o.max_pos > 0)
			return lm_fail(st, LM_EDATA, "the %sprompt is %d tokens, over the %d that fit (%d positions, one "
				       "kept for the motion)", b ? "unconditional " : "", n, limit, g->o.max_pos);
		return lm_fail(st, LM_EDATA, "the %sprompt is %d tokens, over the %d that fit (the model has %d "
			       "positions; %d latents and the end mark take %d)", b ? "unconditional " : "", n,
			       limit > 0 ? limit : 0, m->cfg.max_position_embeddings, g->o.max_tokens,
			       g->o.max_tokens + 1);
	}
	double t0 = lm_now();
	int max_pos = g->o.max_pos > 0 ? g->o.max_pos : n + g->o.max_tokens + 1;
	if (lm_kv_init(&g->kv[b], &m->bb, max_pos, st) ||
	    lm_backbone_prefill(&m->bb, &g->kv[b], ids, n, g->h + (size_t)b * m->cfg.hidden_size, st))
		return st->code;
	if (b == 1)
		g->rows = 2;
	g->times.prefill += lm_now() - t0;
	return 0;
}

int lm_t2m_exit(lm_t2m *g, int *stop, float *p, lm_status *st)
{
	*stop = g->i >= g->o.max_tokens;
	float prob = 0;
	if (!*stop) {
		double t0 = lm_now();
		lm_exit_prob_be(&g->m->heads, g->h, 1, g->p);
		g->m->be->download(&prob, g->p, 1);
		g->times.exit += lm_now() - t0;
		*stop = g->i > 0 && prob > g->o.threshold; /* at least one latent: no exit at [BOM] */
	}
	if (p)
		*p = prob;
	return 0;
}

int lm_t2m_draw(lm_t2m *g, float *z, lm_status *st)
{
	const lm_model *m = g->m;
	int guided = g->rows == 2 && g->o.cfg != 1.0f, C = m->cfg.condition_size;
	double t0 = lm_now();
	lm_randn(&g->rng, g->host_noise, m->cfg.latent_dim);
	m->be->upload(g->noise, g->host_noise, m->cfg.latent_dim);
	lm_projector_be(&m->heads, g->h, 1 + guided, g->c);
	lm_flow_sample_be(&m->heads, g->noise, g->c, guided ? g->c + C : NULL, g->o.cfg, g->o.steps, g->z);
	if (z)
		m->be->download(z, g->z, m->cfg.latent_dim);
	g->i++;
	g->times.latents = g->i;
	g->times.flow += lm_now() - t0;
	return 0;
}

int lm_t2m_feed(lm_t2m *g, const float *z, lm_status *st)
{
	const lm_model *m = g->m;
	int H = m->cfg.hidden_size;
	if (!g->kv[0].k)
		return lm_fail(st, LM_EDATA, "a latent before the stream's prompt");
	double t0 = lm_now();
	if (z)
		m->be->upload(g->z, z, m->cfg.latent_dim);
	lm_adapter_be(&m->heads, g->z, 1, g->emb);
	if (g->rows == 2)
		m->be->copy(g->emb + H, g->emb, H); /* the same latent in both sequences */
	lm_kv_cache *kv[2] = {&g->kv[0], &g->kv[1]};
	if (lm_backbone_step_be(&m->bb, kv, g->rows, g->emb, LM_MOTION, g->h, st))
		return st->code;
	g->times.backbone += lm_now() - t0;
	return 0;
}

void lm_t2m_set_hidden(lm_t2m *g, const float *h, int rows, int i)
{
	g->m->be->upload(g->h, h, (size_t)rows * g->m->cfg.hidden_size);
	g->rows = rows;
	g->i = i;
}

void lm_t2m_hidden(const lm_t2m *g, float *h)
{
	g->m->be->download(h, g->h, (size_t)g->rows * g->m->cfg.hidden_size);
}

int lm_t2m_begin(lm_t2m **out, const lm_model *m, const char *prompt, const lm_gen_opts *o, lm_status *st)
{
	lm_t2m *g;
	if (lm_t2m_init(&g, m, o, st))
		return st->code;
	int guided = o->cfg != 1.0f, rc = 0;
	for (int b = 0; !rc && b < 1 + guided; b++) {
		double t0 = lm_now();
		int32_t *ids = NULL;
		int n = 0;
		rc = lm_t2m_prompt_ids(m, b ? "" : prompt, &ids, &n, st);
		g->times.prefill += lm_now() - t0;
		if (!rc)
			rc = lm_t2m_prefill(g, b, ids, n, st);
		free(ids);
	}
	if (rc) {
		lm_t2m_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

int lm_t2m_next(lm_t2m *g, float *z, int *done, float *p_exit, lm_status *st)
{
	if (lm_t2m_exit(g, done, p_exit, st) || *done)
		return st->code;
	if (lm_t2m_draw(g, z, st) || lm_t2m_feed(g, NULL, st))
		return st->code;
	return 0;
}

void lm_t2m_times_get(const lm_t2m *g, lm_t2m_times *t)
{
	*t = g->times;
}

static int argmax(const float *x, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static int is_end(const lm_config *c, const int32_t *end_ids, int n_end, int id)
{
	for (int i = 0; i < c->n_eos; i++)
		if (c->eos_token_ids[i] == id)
			return 1;
	for (int i = 0; i < n_end; i++)
		if (end_ids[i] == id)
			return 1;
	return 0;
}

typedef struct prob {
	double p;
	int id;
} prob;

static int by_prob(const void *a, const void *b)
{
	const prob *x = a, *y = b;
	return x->p < y->p ? 1 : x->p > y->p ? -1 : x->id - y->id;
}

/* A token from logits(V): softmax(logits / T), the top-p nucleus, one uniform draw. order(V) is
 * scratch. */
static int sample(const float *logits, int V, float T, float top_p, lm_rng *g, prob *order)
{
	double mx = logits[argmax(logits, V)], sum = 0;
	for (int i = 0; i < V; i++) {
		order[i] = (prob){exp((logits[i] - mx) / T), i};
		sum += order[i].p;
	}
	qsort(order, V, sizeof *order, by_prob);
	double keep = 0;
	int k = 0;
	while (k < V && (k == 0 || keep < top_p * sum))
		keep += order[k++].p;
	double u = lm_rng_u32(g) / 4294967296.0 * keep, acc = 0;
	for (int i = 0; i < k; i++)
		if ((acc += order[i].p) > u)
			return order[i].id;
	return order[k - 1].id;
}

int lm_text_continue(const lm_model *m, lm_kv_cache *kv, float *h, const lm_text_opts *o, const int32_t *end_ids,
		     int n_end, lm_token_fn on_token, void *ctx, int32_t **ids_out, int *n_out, lm_status *st)
{
	const lm_backend *be = m->be;
	int V = m->cfg.vocab_size, n = 0, rc = 0;
	float *logits = malloc((size_t)V * sizeof(float)), *dlogits = be->alloc(V);
	int32_t *ids = malloc((size_t)(o->max_new + 1) * sizeof *ids);
	prob *order = o->temperature > 0 ? malloc((size_t)V * sizeof *order) : NULL;
	lm_rng g;
	lm_rng_seed(&g, o->seed);
	if (!logits || !dlogits || !ids || (o->temperature > 0 && !order))
		rc = lm_fail(st, LM_ENOMEM, "out of memory");
	while (!rc && n < o->max_new) { /* only the logits come to the host */
		lm_logits_be(&m->bb, h, 1, dlogits);
		be->download(logits, dlogits, V);
		int32_t id = o->temperature > 0 ? sample(logits, V, o->temperature, o->top_p, &g, order) : argmax(logits, V);
		if (is_end(&m->cfg, end_ids, n_end, id))
			break;
		ids[n++] = id;
		if (on_token)
			rc = on_token(ctx, id, st);
		if (!rc && n < o->max_new)
			rc = lm_backbone_prefill(&m->bb, kv, &id, 1, h, st);
	}
	free(logits);
	free(order);
	if (dlogits)
		be->release(dlogits);
	if (!rc && ids_out) {
		*ids_out = ids;
		*n_out = n;
		ids = NULL;
	}
	free(ids);
	return rc;
}

int lm_chat_reply(const lm_model *m, const lm_chat *chat, const char *system, const char *user,
		  const lm_text_opts *o, lm_token_fn on_token, void *ctx, int32_t **ids, int *n, lm_status *st)
{
	int32_t end[8], *prompt = NULL;
	int np = 0;
	for (int i = 0; i < chat->n_end; i++)
		if ((end[i] = lm_token_id(m->tok, chat->end_of_turn[i])) < 0)
			return lm_fail(st, LM_EDATA, "chat.json: end_of_turn '%s' is not a token", chat->end_of_turn[i]);
	const char *part[2] = {user, system ? system : ""};
	for (int i = 0; i < 2; i++) { /* bad UTF-8 is named in the message it is in */
		if (lm_tokenize(m->tok, part[i], strlen(part[i]), &prompt, &np, st))
			return lm_prefix(st, "the %s message", i ? "system" : "user");
		free(prompt);
	}
	char *text;
	if (lm_chat_render(chat, system, user, &text, st))
		return st->code;
	int rc = lm_tokenize(m->tok, text, strlen(text), &prompt, &np, st);
	free(text);
	lm_kv_cache kv = {0};
	float *h = m->be->alloc(m->cfg.hidden_size);
	if (!rc && !h)
		rc = lm_fail(st, LM_ENOMEM, "out of memory");
	if (!rc)
		rc = lm_kv_init(&kv, &m->bb, np + o->max_new + 1, st);
	if (!rc)
		rc = lm_backbone_prefill(&m->bb, &kv, prompt, np, h, st);
	if (!rc)
		rc = lm_text_continue(m, &kv, h, o, end, chat->n_end, on_token, ctx, ids, n, st);
	if (kv.k)
		lm_kv_free(&kv, &m->bb);
	if (h)
		m->be->release(h);
	free(prompt);
	return rc;
}

/* s[0..len) with "{prompt}" (if there) replaced by prompt; malloc'd, NULL when out of memory. */
static char *put_prompt(const char *s, size_t len, const char *prompt)
{
	char *part = strndup(s, len), *at = part ? strstr(part, "{prompt}") : NULL;
	if (!at)
		return part;
	size_t n = strlen(part) - strlen("{prompt}") + strlen(prompt);
	char *out = malloc(n + 1);
	if (out)
		snprintf(out, n + 1, "%.*s%s%s", (int)(at - part), part, prompt, at + strlen("{prompt}"));
	free(part);
	return out;
}

int lm_m2t_caption(const lm_model *m, const float *latents, int n, int max_new, char **text,
		   int32_t **ids_out, int *nids, lm_status *st)
{
	return lm_m2t_caption_prompt(m, latents, n, NULL, max_new, text, ids_out, nids, st);
}

int lm_m2t_caption_prompt(const lm_model *m, const float *latents, int n, const char *prompt, int max_new,
			  char **text, int32_t **ids_out, int *nids, lm_status *st)
{
	const lm_config *c = &m->cfg;
	const lm_backend *be = m->be;
	int H = c->hidden_size, L = c->latent_dim;
	*text = NULL;
	const char *tpl = c->m2t_template, *at = strstr(tpl, "{motion}");
	if (prompt && !strstr(tpl, "{prompt}"))
		return lm_fail(st, LM_EUSAGE, "the model's m2t_template has no {prompt}: it takes no instruction");
	if (!prompt)
		prompt = c->m2t_prompt;
	/* split at {motion} first, so that a prompt holding "{motion}" is only text */
	size_t npre_text = at ? (size_t)(at - tpl) : strlen(tpl);
	char *prefix = put_prompt(tpl, npre_text, prompt);
	char *suffix = at ? put_prompt(at + strlen("{motion}"), strlen(at + strlen("{motion}")), prompt) : strdup("");
	int32_t *pre = NULL, *suf = NULL, *gen = NULL;
	int npre = 0, nsuf = 0, ngen = 0, rc = 0;
	/* backend: the last state (H), the latents (n, L) and their embeddings (n, H) */
	float *h = be->alloc(H);
	float *z = be->alloc((size_t)(n > 0 ? n : 1) * L), *emb = be->alloc((size_t)(n > 0 ? n : 1) * H);
	lm_kv_cache kv = {0};
	if (!prefix || !suffix || !h || !z || !emb) {
		rc = lm_fail(st, LM_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = lm_tokenize(m->tok, prefix, strlen(prefix), &pre, &npre, st)) ||
	    (rc = lm_tokenize(m->tok, suffix, strlen(suffix), &suf, &nsuf, st)))
		goto done;
	if ((rc = lm_kv_init(&kv, &m->bb, npre + n + nsuf + max_new + 3, st)))
		goto done;
	int32_t bom = c->bom_token_id, eom = c->eom_token_id;
	if ((rc = lm_backbone_prefill(&m->bb, &kv, pre, npre, h, st)) ||
	    (rc = lm_backbone_prefill(&m->bb, &kv, &bom, 1, h, st)))
		goto done;
	if (n > 0) {
		be->upload(z, latents, (size_t)n * L);
		lm_adapter_be(&m->heads, z, n, emb);
		if ((rc = lm_backbone_forward_be(&m->bb, &kv, emb, n, LM_MOTION, NULL, st)))
			goto done;
	}
	if ((rc = lm_backbone_prefill(&m->bb, &kv, &eom, 1, h, st)) ||
	    (rc = lm_backbone_prefill(&m->bb, &kv, suf, nsuf, h, st)))
		goto done;
	lm_text_opts to = {.max_new = max_new}; /* greedy */
	if ((rc = lm_text_continue(m, &kv, h, &to, NULL, 0, NULL, NULL, &gen, &ngen, st)))
		goto done;
	size_t len;
	if ((rc = lm_detokenize(m->tok, gen, ngen, text, &len, st)))
		goto done;
	/* trim surrounding whitespace */
	char *s = *text, *e = s + len;
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	memmove(*text, s, e - s);
	(*text)[e - s] = 0;
	if (ids_out) {
		*ids_out = gen;
		*nids = ngen;
		gen = NULL;
	}
done:
	if (kv.k)
		lm_kv_free(&kv, &m->bb);
	float *dev[] = {h, z, emb};
	for (size_t k = 0; k < sizeof dev / sizeof *dev; k++)
		if (dev[k])
			be->release(dev[k]);
	free(prefix);
	free(suffix);
	free(pre);
	free(suf);
	free(gen);
	return rc;
}
