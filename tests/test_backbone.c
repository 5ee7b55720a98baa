/* test_backbone.c: the MoT backbone (lib/backbone.c) against the PyTorch reference
 * (train/llamo_ref.py through train/golden.py), and its promises:
 *
 *   - RoPE inverse frequencies equal the reference's bit for bit;
 *   - text only: final-normed states and logits equal plain Llama's (golden text_hidden,
 *     text_logits), and are bit-identical when every motion_model.* weight is replaced by other
 *     values (the paper's promise: with no motion token, the text model is untouched);
 *   - the mixed sequence text [BOM] motion x3 [EOM] text: hidden and logits vs the reference,
 *     motion embeddings from the adapter (lib/heads.c); and the motion weights do matter there;
 *   - chunked prefill equals one position at a time, and a chunk longer than the scratch grows it;
 *   - BF16 weights (tests/golden/tiny-bf16) give the reference's hidden_bf16;
 *   - an untied head reads lm_head.weight;
 *   - the backend-memory variants (lm_backbone_forward_be, lm_backbone_step_be, lm_logits_be)
 *     give the host functions' bits (memcmp), and lm_backbone_prefill's h_last is the last row
 *     of lm_embed_text + lm_backbone_forward;
 *   - a missing tensor, a shape that does not fit the config, an untied head without
 *     lm_head.weight, a token id outside the vocabulary and a full cache are refused with a
 *     message naming the problem.
 *
 * Tolerances: against PyTorch atol 1e-4, rtol 1e-3 (float32, different summation orders);
 * chunked vs one at a time atol 1e-5, rtol 1e-5 (BLAS takes gemm for a chunk and gemv for one
 * row, which round differently); the MoT promise: exact (memcmp).
 * Reads tests/golden/{tiny,tiny-bf16}/ and tests/golden/backbone.safetensors (argv[1] may name
 * another golden directory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backbone.h"
#include "cpu/cpu.h"
#include "heads.h"
#include "tap.h"

#define ATOL 1e-4
#define RTOL 1e-3
#define CHUNK_TOL 1e-5

static lm_status st;
static const lm_backend *be;
static char gdir[1024] = "tests/golden";

typedef struct model {
	lm_config cfg;
	lm_safetensors *sf;
	lm_backbone bb;
	lm_heads heads;
	int loaded;
} model;

static int model_load(model *m, const char *name)
{
	char path[1200];
	memset(m, 0, sizeof *m);
	snprintf(path, sizeof path, "%s/%s/config.json", gdir, name);
	if (lm_config_load(&m->cfg, path, &st))
		goto fail;
	snprintf(path, sizeof path, "%s/%s/model.safetensors", gdir, name);
	if (lm_st_open(&m->sf, path, &st))
		goto fail;
	if (lm_backbone_load(&m->bb, &m->cfg, m->sf, be, &st))
		goto fail;
	if (lm_heads_load(&m->heads, &m->cfg, m->sf, be, &st)) {
		lm_backbone_free(&m->bb);
		goto fail;
	}
	m->loaded = 1;
	return 1;
fail:
	diag("%s", st.msg);
	if (m->sf)
		lm_st_close(m->sf);
	m->sf = NULL;
	return 0;
}

static void model_free(model *m)
{
	if (!m->loaded)
		return;
	lm_heads_free(&m->heads);
	lm_backbone_free(&m->bb);
	lm_st_close(m->sf);
	m->loaded = 0;
}

/* A golden tensor as F32 (malloc'd; integer tensors converted), with its element count. */
static float *golden_f32(const lm_safetensors *g, const char *name, long *n)
{
	const lm_tensor_info *t = lm_st_find(g, name);
	if (!t) {
		diag("golden tensor '%s' missing", name);
		return NULL;
	}
	long cnt = 1;
	for (int i = 0; i < t->ndim; i++)
		cnt *= (long)t->shape[i];
	*n = cnt;
	float *p = NULL;
	if (t->dtype == LM_DT_I32) {
		p = malloc((cnt ? cnt : 1) * sizeof *p);
		for (long i = 0; i < cnt; i++) {
			int32_t v;
			memcpy(&v, (const char *)t->data + 4 * i, 4);
			p[i] = (float)v;
		}
		return p;
	}
	if (lm_st_load_f32(g, name, t->ndim, t->shape, &p, &st)) {
		diag("%s", st.msg);
		return NULL;
	}
	return p;
}

static int32_t *golden_ids(const lm_safetensors *g, const char *name, int *n)
{
	long cnt = 0;
	float *f = golden_f32(g, name, &cnt);
	if (!f)
		return NULL;
	int32_t *ids = malloc((cnt ? cnt : 1) * sizeof *ids);
	for (long i = 0; i < cnt; i++)
		ids[i] = (int32_t)f[i];
	free(f);
	*n = (int)cnt;
	return ids;
}

/* One segment of a sequence: text ids or motion latents (n, L). */
typedef struct seg {
	int motion, n;
	const int32_t *ids;
	const float *latents;
} seg;

/* Runs the segments through a fresh cache and returns the final-normed states (T, H), malloc'd.
 * step > 0: feed at most `step` positions per call. */
static float *run(model *m, const seg *s, int nseg, int step, int *T_out)
{
	int H = m->cfg.hidden_size, T = 0;
	for (int i = 0; i < nseg; i++)
		T += s[i].n;
	float *out = calloc((size_t)T * H, sizeof *out), *emb = malloc((size_t)T * H * sizeof *emb);
	lm_kv_cache kv;
	if (lm_kv_init(&kv, &m->bb, T, &st)) {
		diag("%s", st.msg);
		free(out), free(emb);
		return NULL;
	}
	int pos = 0, rc = 0;
	for (int i = 0; i < nseg && !rc; i++) {
		float *e = emb + (size_t)pos * H;
		if (s[i].motion)
			lm_adapter(&m->heads, s[i].latents, s[i].n, e);
		else
			rc = lm_embed_text(&m->bb, s[i].ids, s[i].n, e, &st);
		for (int k = 0; k < s[i].n && !rc; ) {
			int len = step > 0 && step < s[i].n - k ? step : s[i].n - k;
			rc = lm_backbone_forward(&m->bb, &kv, e + (size_t)k * H, len,
						 s[i].motion ? LM_MOTION : LM_TEXT, out + (size_t)(pos + k) * H, &st);
			k += len;
		}
		pos += s[i].n;
	}
	lm_kv_free(&kv, &m->bb);
	free(emb);
	if (rc) {
		diag("%s", st.msg);
		free(out);
		return NULL;
	}
	*T_out = T;
	return out;
}

/* Replaces every motion_model.* weight of bb by w * -1.5 + 0.25 (in backend memory; bb is on the
 * CPU backend, whose weights are their float32 data: cpu_weight_f32). */
static void perturb_motion(lm_backbone *bb)
{
	const lm_config *c = bb->cfg;
	size_t H = c->hidden_size, I = c->intermediate_size;
	size_t qd = (size_t)c->num_attention_heads * c->head_dim, kvd = (size_t)c->num_key_value_heads * c->head_dim;
	for (int l = 0; l < c->num_hidden_layers; l++) {
		lm_layer *ly = &bb->layers[LM_MOTION][l];
		struct {
			float *p;
			size_t n;
		} t[] = {{ly->input_norm, H}, {cpu_weight_f32(ly->wq), qd * H}, {cpu_weight_f32(ly->wk), kvd * H},
			 {cpu_weight_f32(ly->wv), kvd * H}, {cpu_weight_f32(ly->wo), H * qd}, {ly->post_norm, H},
			 {cpu_weight_f32(ly->w_gate), I * H}, {cpu_weight_f32(ly->w_up), I * H},
			 {cpu_weight_f32(ly->w_down), H * I}, {l == 0 ? bb->final_norm[LM_MOTION] : NULL, H}};
		for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
			if (!t[k].p)
				continue;
			float *h = malloc(t[k].n * sizeof *h);
			be->download(h, t[k].p, t[k].n);
			for (size_t i = 0; i < t[k].n; i++)
				h[i] = h[i] * -1.5f + 0.25f;
			be->upload(t[k].p, h, t[k].n);
			free(h);
		}
	}
}

static void check_inv_freq(model *m, const lm_safetensors *g)
{
	long n = 0;
	float *want = golden_f32(g, "inv_freq", &n);
	int half = m->cfg.head_dim / 2;
	float *got = malloc(half * sizeof *got);
	be->download(got, m->bb.inv_freq, half);
	ok(want && n == half && !memcmp(got, want, half * sizeof *got),
	   "RoPE inv_freq (%d values, llama3 scaling) equals the reference bit for bit", half);
	free(got);
	free(want);
}

static void check_text(model *m, const lm_safetensors *g)
{
	int n = 0, T = 0, V = m->cfg.vocab_size, H = m->cfg.hidden_size;
	long nh = 0, nl = 0;
	int32_t *ids = golden_ids(g, "text_ids", &n);
	float *want_h = golden_f32(g, "text_hidden", &nh), *want_l = golden_f32(g, "text_logits", &nl);
	if (!ids || !want_h || !want_l || nh != (long)n * H || nl != (long)n * V) {
		ok(0, "golden text_ids / text_hidden / text_logits present with matching shapes");
		goto done;
	}
	seg s = {0, n, ids, NULL};
	float *h = run(m, &s, 1, 0, &T);
	if (!h) {
		ok(0, "text-only forward runs");
		goto done;
	}
	close_f32(h, want_h, nh, ATOL, RTOL, "text only: final-normed states vs plain Llama (PyTorch)");
	float *logits = malloc((size_t)n * V * sizeof *logits);
	lm_logits(&m->bb, h, n, logits);
	close_f32(logits, want_l, nl, ATOL, RTOL, "text only: logits (tied head) vs plain Llama (PyTorch)");

	/* the MoT promise: other motion weights, the same text states, bit for bit */
	model m2;
	if (model_load(&m2, "tiny")) {
		perturb_motion(&m2.bb);
		int T2 = 0;
		float *h2 = run(&m2, &s, 1, 0, &T2), *l2 = malloc((size_t)n * V * sizeof *l2);
		if (h2)
			lm_logits(&m2.bb, h2, n, l2);
		ok(h2 && !memcmp(h, h2, (size_t)n * H * sizeof *h) && !memcmp(logits, l2, (size_t)n * V * sizeof *l2),
		   "MoT promise: text-only states and logits are bit-identical with every motion_model.* "
		   "weight replaced");
		free(h2);
		free(l2);
		model_free(&m2);
	} else {
		ok(0, "second copy of the tiny model loads");
	}
	free(logits);
	free(h);
done:
	free(ids);
	free(want_h);
	free(want_l);
}

static void check_mixed(model *m, model *mbf, model *mhf, const lm_safetensors *g)
{
	int na = 0, nb = 0, H = m->cfg.hidden_size, V = m->cfg.vocab_size, L = m->cfg.latent_dim;
	long nz = 0, nh = 0, nl = 0, nhb = 0, nmask = 0;
	int32_t *ids_a = golden_ids(g, "ids_a", &na), *ids_b = golden_ids(g, "ids_b", &nb);
	float *z = golden_f32(g, "latents", &nz), *want_h = golden_f32(g, "hidden", &nh);
	float *want_l = golden_f32(g, "logits", &nl), *want_hb = golden_f32(g, "hidden_bf16", &nhb);
	float *mask = golden_f32(g, "motion_mask", &nmask);
	int nm = (int)(nz / L), T = na + nm + nb, T1 = 0;
	if (!ids_a || !ids_b || !z || !want_h || !want_l || !mask || nh != (long)T * H ||
	    nl != (long)T * V || nmask != T) {
		ok(0, "golden ids_a / latents / ids_b / hidden / logits / motion_mask present, shapes match");
		goto done;
	}
	int mask_ok = 1;
	for (int i = 0; i < T; i++)
		mask_ok &= (mask[i] != 0) == (i >= na && i < na + nm);
	ok(mask_ok, "golden motion_mask is text x%d, motion x%d, text x%d", na, nm, nb);
	seg s[3] = {{0, na, ids_a, NULL}, {1, nm, NULL, z}, {0, nb, ids_b, NULL}};

	float *h = run(m, s, 3, 0, &T1);
	if (!h) {
		ok(0, "mixed forward runs");
		goto done;
	}
	close_f32(h, want_h, nh, ATOL, RTOL, "text [BOM] motion x3 [EOM] text: final-normed states vs PyTorch");
	float *logits = malloc((size_t)T * V * sizeof *logits);
	lm_logits(&m->bb, h, T, logits);
	close_f32(logits, want_l, nl, ATOL, RTOL, "mixed sequence: logits of every position vs PyTorch");

	/* one position per call: the same states up to gemm vs gemv rounding */
	float *h1 = run(m, s, 3, 1, &T1);
	if (h1)
		close_f32(h1, h, nh, CHUNK_TOL, CHUNK_TOL, "one position per call vs chunked prefill");
	else
		ok(0, "one-position forward runs");
	free(h1);
	h1 = run(m, s, 3, 2, &T1);
	if (h1)
		close_f32(h1, h, nh, CHUNK_TOL, CHUNK_TOL, "chunks of 2 vs chunked prefill");
	else
		ok(0, "two-position forward runs");
	free(h1);

	/* the motion branch is used: other motion weights change the motion rows (and later text) */
	model m2;
	if (model_load(&m2, "tiny")) {
		perturb_motion(&m2.bb);
		float *h2 = run(&m2, s, 3, 0, &T1);
		int text_same = h2 && !memcmp(h, h2, (size_t)na * H * sizeof *h);
		double dmax = 0;
		for (long i = (long)na * H; h2 && i < (long)T * H; i++)
			dmax = fmax(dmax, fabs(h2[i] - h[i]));
		ok(text_same && dmax > 1e-2,
		   "motion weights replaced: the %d text rows up to [BOM] identical, later rows differ (max %.3g)",
		   na, dmax);
		free(h2);
		model_free(&m2);
	}

	if (mbf->loaded && want_hb && nhb == nh) {
		float *hb = run(mbf, s, 3, 0, &T1);
		if (hb)
			close_f32(hb, want_hb, nhb, ATOL, RTOL, "BF16 weights (tiny-bf16): mixed states vs PyTorch");
		else
			ok(0, "BF16 forward runs");
		free(hb);
	} else {
		ok(0, "BF16 model and golden hidden_bf16 available");
	}
	long nhf = 0;
	float *want_hf = golden_f32(g, "hidden_f16", &nhf);
	if (mhf->loaded && want_hf && nhf == nh) {
		float *hf = run(mhf, s, 3, 0, &T1);
		if (hf)
			close_f32(hf, want_hf, nhf, ATOL, RTOL, "F16 weights (tiny-f16): mixed states vs PyTorch");
		else
			ok(0, "F16 forward runs");
		free(hf);
	} else {
		ok(0, "F16 model and golden hidden_f16 available");
	}
	free(want_hf);
	free(logits);
	free(h);
done:
	free(ids_a), free(ids_b), free(z), free(want_h), free(want_l), free(want_hb), free(mask);
}

/* A chunk longer than the initial scratch (64 positions) grows it, and one this long splits the
 * attention over threads; the states match a prefill in pieces of 30. */
static void check_long_chunk(model *m)
{
	enum { N = 800 };
	int32_t ids[N];
	for (int i = 0; i < N; i++)
		ids[i] = (int32_t)((i * 37 + 11) % m->cfg.vocab_size);
	seg s = {0, N, ids, NULL};
	int T = 0;
	float *a = run(m, &s, 1, 0, &T), *b = run(m, &s, 1, 30, &T);
	if (a && b)
		close_f32(a, b, (long)N * m->cfg.hidden_size, CHUNK_TOL, CHUNK_TOL,
			  "800 positions in one call (scratch grows past 64, threaded attention) vs calls of 30");
	else
		ok(0, "long forward runs");
	free(a);
	free(b);
}

/* The backend-memory variants against the host functions, bit for bit (memcmp): a text prefill
 * of 9 positions then 3 motion positions one at a time, in two caches side by side; then a
 * 2-sequence step; then the logits of the last states. */
static void check_be_variants(model *m)
{
	const lm_backend *b = m->bb.be;
	int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
	enum { NT = 9, NM = 3 };
	int32_t ids[NT];
	for (int i = 0; i < NT; i++)
		ids[i] = (int32_t)((i * 53 + 7) % V);
	float *emb = malloc((size_t)(NT + NM) * H * sizeof *emb), *want = malloc((size_t)(NT + NM) * H * sizeof *want);
	float *got = malloc((size_t)(NT + NM) * H * sizeof *got);
	lm_kv_cache kh, kb;
	if (lm_kv_init(&kh, &m->bb, 32, &st) || lm_kv_init(&kb, &m->bb, 32, &st)) {
		ok(0, "caches for the _be checks: %s", st.msg);
		free(emb), free(want), free(got);
		return;
	}
	for (long i = 0; i < (long)NM * H; i++)
		emb[(size_t)NT * H + i] = (float)((i * 31) % 17 - 8) / 8.0f;
	float *emb_be = lm_be_upload_new(b, NULL, (size_t)(NT + NM) * H);
	float *out_be = lm_be_upload_new(b, NULL, (size_t)(NT + NM) * H), *hl_be = lm_be_upload_new(b, NULL, H);

	/* prefill vs lm_embed_text + lm_backbone_forward */
	int rc = lm_embed_text(&m->bb, ids, NT, emb, &st) || lm_backbone_forward(&m->bb, &kh, emb, NT, LM_TEXT, want, &st);
	int rc2 = lm_backbone_prefill(&m->bb, &kb, ids, NT, hl_be, &st);
	b->download(got, hl_be, H);
	ok(!rc && !rc2 && kb.pos == NT && !memcmp(got, want + (size_t)(NT - 1) * H, H * sizeof *got),
	   "lm_backbone_prefill: h_last == last row of lm_embed_text + lm_backbone_forward (bit for bit)");
	/* and the caches they filled are the same */
	size_t nc = (size_t)m->cfg.num_hidden_layers * 32 * m->cfg.num_key_value_heads * m->cfg.head_dim;
	float *ca = malloc(nc * sizeof *ca), *cb = malloc(nc * sizeof *cb);
	b->download(ca, kh.k, nc), b->download(cb, kb.k, nc);
	int same = !memcmp(ca, cb, nc * sizeof *ca);
	b->download(ca, kh.v, nc), b->download(cb, kb.v, nc);
	same &= !memcmp(ca, cb, nc * sizeof *ca);
	ok(same, "lm_backbone_prefill fills the cache with lm_backbone_forward's K and V bits");

	/* forward_be, chunked and one at a time */
	b->upload(emb_be, emb, (size_t)(NT + NM) * H);
	rc = lm_backbone_forward(&m->bb, &kh, emb + (size_t)NT * H, 2, LM_MOTION, want + (size_t)NT * H, &st);
	rc2 = lm_backbone_forward_be(&m->bb, &kb, emb_be + (size_t)NT * H, 2, LM_MOTION, out_be + (size_t)NT * H, &st);
	rc |= lm_backbone_forward(&m->bb, &kh, emb + (size_t)(NT + 2) * H, 1, LM_MOTION, want + (size_t)(NT + 2) * H, &st);
	rc2 |= lm_backbone_forward_be(&m->bb, &kb, emb_be + (size_t)(NT + 2) * H, 1, LM_MOTION,
				      out_be + (size_t)(NT + 2) * H, &st);
	b->download(got + (size_t)NT * H, out_be + (size_t)NT * H, (size_t)NM * H);
	ok(!rc && !rc2 && kh.pos == kb.pos && !memcmp(got + (size_t)NT * H, want + (size_t)NT * H, (size_t)NM * H * sizeof *got),
	   "lm_backbone_forward_be == lm_backbone_forward bit for bit (2 motion positions, then 1)");
	rc2 = lm_backbone_forward_be(&m->bb, &kb, emb_be, 1, LM_TEXT, NULL, &st);
	rc = lm_backbone_forward(&m->bb, &kh, emb, 1, LM_TEXT, NULL, &st);
	ok(!rc && !rc2 && kh.pos == kb.pos, "lm_backbone_forward_be with out NULL runs (pos %d)", kb.pos);

	/* step_be: two sequences (the same two caches) at once */
	lm_kv_cache *kvh[2] = {&kh, &kb}, *kvb[2];
	lm_kv_cache kh2, kb2;
	if (lm_kv_init(&kh2, &m->bb, 32, &st) || lm_kv_init(&kb2, &m->bb, 32, &st)) {
		ok(0, "more caches: %s", st.msg);
	} else {
		/* kvb: copies of kh and kb's state (same positions, same contents) */
		lm_kv_cache *src[2] = {&kh, &kb}, *dst[2] = {&kh2, &kb2};
		for (int i = 0; i < 2; i++) {
			b->copy(dst[i]->k, src[i]->k, nc), b->copy(dst[i]->v, src[i]->v, nc);
			dst[i]->pos = src[i]->pos;
		}
		kvb[0] = &kh2, kvb[1] = &kb2;
		for (int t = 0; t < 3; t++) {
			rc = lm_backbone_step(&m->bb, kvh, 2, emb + (size_t)(NT + t % (NM - 1)) * H, LM_MOTION, want, &st);
			rc2 = lm_backbone_step_be(&m->bb, kvb, 2, emb_be + (size_t)(NT + t % (NM - 1)) * H, LM_MOTION, out_be, &st);
			b->download(got, out_be, 2 * (size_t)H);
			ok(!rc && !rc2 && !memcmp(got, want, 2 * (size_t)H * sizeof *got) && kh2.pos == kh.pos,
			   "lm_backbone_step_be == lm_backbone_step bit for bit (2 sequences, step %d)", t);
		}
		rc2 = lm_backbone_step_be(&m->bb, kvb, 2, emb_be, LM_MOTION, NULL, &st);
		ok(!rc2 && kh2.pos == kh.pos + 1, "lm_backbone_step_be with out NULL runs");

		/* logits_be on the last states */
		float *lw = malloc(2 * (size_t)V * sizeof *lw), *lg = malloc(2 * (size_t)V * sizeof *lg);
		float *lb = lm_be_upload_new(b, NULL, 2 * (size_t)V), *hb = lm_be_upload_new(b, want, 2 * (size_t)H);
		lm_logits(&m->bb, want, 2, lw);
		lm_logits_be(&m->bb, hb, 2, lb);
		b->download(lg, lb, 2 * (size_t)V);
		ok(!memcmp(lg, lw, 2 * (size_t)V * sizeof *lg), "lm_logits_be == lm_logits bit for bit (2 rows)");
		lm_logits(&m->bb, want, 1, lw);
		lm_logits_be(&m->bb, hb, 1, lb);
		b->download(lg, lb, (size_t)V);
		ok(!memcmp(lg, lw, (size_t)V * sizeof *lg), "lm_logits_be == lm_logits bit for bit (1 row)");
		b->release(lb), b->release(hb);
		free(lw), free(lg);
	}
	/* refusals of the new entry points */
	int32_t bad = V;
	int pos = kb.pos;
	rc = lm_backbone_prefill(&m->bb, &kb, &bad, 1, hl_be, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "vocabulary") && kb.pos == pos, "lm_backbone_prefill refuses id %d: %s",
	   V, st.msg);
	int32_t zeros[33] = {0}; /* more ids than the 32-position cache holds */
	rc = lm_backbone_prefill(&m->bb, &kb, zeros, kb.max_pos - kb.pos + 1, hl_be, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "overflow") && kb.pos == pos,
	   "lm_backbone_prefill past the cache's end refused, cache unchanged: %s", st.msg);
	lm_kv_free(&kh2, &m->bb), lm_kv_free(&kb2, &m->bb);
	lm_kv_free(&kh, &m->bb), lm_kv_free(&kb, &m->bb);
	b->release(emb_be), b->release(out_be), b->release(hl_be);
	free(ca), free(cb), free(emb), free(want), free(got);
}

static void check_refusals(model *m)
{
	int H = m->cfg.hidden_size;
	float emb[4 * 64];
	lm_kv_cache kv;
	int32_t bad_id = m->cfg.vocab_size;
	int rc = lm_embed_text(&m->bb, &bad_id, 1, emb, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "vocabulary"), "token id = vocab_size refused: %s", st.msg);
	if (H > 64 || lm_kv_init(&kv, &m->bb, 3, &st)) {
		ok(0, "small cache");
		return;
	}
	memset(emb, 0, sizeof emb);
	rc = lm_backbone_forward(&m->bb, &kv, emb, 2, LM_TEXT, NULL, &st);
	int rc2 = lm_backbone_forward(&m->bb, &kv, emb, 2, LM_TEXT, NULL, &st);
	ok(!rc && rc2 == LM_EDATA && strstr(st.msg, "overflow") && kv.pos == 2,
	   "4 positions into a 3-position cache refused, cache unchanged: %s", st.msg);
	lm_kv_free(&kv, &m->bb);
}

/* Writes a copy of the tiny model to path, without tensor `drop` (may be NULL) and with `extra`
 * (may be NULL) added. */
static int write_copy(const lm_safetensors *sf, const char *drop, const lm_st_out *extra, const char *path)
{
	int n = lm_st_count(sf), k = 0, rc = 0;
	lm_st_out *t = calloc(n + 1, sizeof *t);
	for (int i = 0; i < n && !rc; i++) {
		const lm_tensor_info *ti = lm_st_at(sf, i);
		if (drop && !strcmp(ti->name, drop))
			continue;
		float *p = NULL;
		if ((rc = lm_st_load_f32(sf, ti->name, ti->ndim, ti->shape, &p, &st)))
			break;
		t[k].name = ti->name;
		t[k].ndim = ti->ndim;
		memcpy(t[k].shape, ti->shape, sizeof ti->shape);
		t[k].data = p;
		k++;
	}
	if (extra)
		t[k] = *extra;
	if (!rc)
		rc = lm_st_write_f32(path, t, k + (extra != NULL), &st);
	for (int i = 0; i < k; i++)
		free((void *)t[i].data);
	free(t);
	return rc;
}

/* An untied head: lm_head.weight = -embed_tokens gives exactly the negated logits. */
static void check_untied(model *m, const char *path)
{
	int V = m->cfg.vocab_size, H = m->cfg.hidden_size;
	float *neg = NULL;
	int64_t shape[2] = {V, H};
	if (lm_st_load_f32(m->sf, "model.embed_tokens.weight", 2, shape, &neg, &st)) {
		ok(0, "embeddings load: %s", st.msg);
		return;
	}
	for (long i = 0; i < (long)V * H; i++)
		neg[i] = -neg[i];
	lm_st_out head = {"lm_head.weight", 2, {V, H}, neg};
	lm_safetensors *sf = NULL;
	lm_config c = m->cfg;
	c.tie_word_embeddings = 0;
	lm_backbone bb;
	if (write_copy(m->sf, NULL, &head, path) || lm_st_open(&sf, path, &st) ||
	    lm_backbone_load(&bb, &c, sf, be, &st)) {
		ok(0, "untied copy loads: %s", st.msg);
	} else {
		float h[2 * 64], a[2 * 512], b[2 * 512];
		int bad = 0;
		for (int i = 0; i < 2 * H && H <= 64 && V <= 512; i++)
			h[i] = (float)((i * 13) % 7) - 3.0f;
		if (H <= 64 && V <= 512) {
			lm_logits(&m->bb, h, 2, a);
			lm_logits(&bb, h, 2, b);
			for (int i = 0; i < 2 * V; i++)
				bad += b[i] != -a[i];
		}
		ok(H <= 64 && V <= 512 && !bad && bb.lm_head != bb.embed,
		   "untied lm_head.weight (= -embed_tokens) is used: logits exactly negated (%d differ)", bad);
		lm_backbone_free(&bb);
	}
	if (sf)
		lm_st_close(sf);
	free(neg);
}

static void check_load_errors(model *m)
{
	lm_backbone bb;
	char path[] = "/tmp/llamo_test_backbone_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		ok(0, "temporary file");
		return;
	}
	close(fd);
	const char *drop = "motion_model.layers.1.mlp.up_proj.weight";
	lm_safetensors *sf = NULL;
	if (!write_copy(m->sf, drop, NULL, path) && !lm_st_open(&sf, path, &st)) {
		int rc = lm_backbone_load(&bb, &m->cfg, sf, be, &st);
		ok(rc == LM_EDATA && strstr(st.msg, drop), "missing %s refused: %s", drop, st.msg);
		lm_st_close(sf);
	} else {
		diag("%s", st.msg);
		ok(0, "copy of the model without %s", drop);
	}
	check_untied(m, path);
	remove(path);

	lm_config c = m->cfg;
	c.intermediate_size += 4;
	int rc = lm_backbone_load(&bb, &c, m->sf, be, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "model.layers.0.mlp.gate_proj.weight") && strstr(st.msg, "shape"),
	   "intermediate_size that does not fit the weights refused: %s", st.msg);
	c = m->cfg;
	c.tie_word_embeddings = 0;
	rc = lm_backbone_load(&bb, &c, m->sf, be, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "lm_head.weight"), "untied head without lm_head.weight refused: %s",
	   st.msg);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		snprintf(gdir, sizeof gdir, "%s", argv[1]);
	be = &lm_backend_cpu; /* the reference CPU path, whatever device is visible */
	diag("backend %s", be->name);
	model m, mbf, mhf;
	if (!model_load(&m, "tiny")) {
		ok(0, "tiny model loads from %s/tiny", gdir);
		return done_testing();
	}
	ok(1, "tiny model loads (%d layers, H %d, %d/%d heads, hd %d, V %d)", m.cfg.num_hidden_layers,
	   m.cfg.hidden_size, m.cfg.num_attention_heads, m.cfg.num_key_value_heads, m.cfg.head_dim,
	   m.cfg.vocab_size);
	model_load(&mbf, "tiny-bf16");
	model_load(&mhf, "tiny-f16");
	char path[1200];
	snprintf(path, sizeof path, "%s/backbone.safetensors", gdir);
	lm_safetensors *g = NULL;
	if (lm_st_open(&g, path, &st)) {
		diag("%s", st.msg);
		ok(0, "golden %s opens", path);
	} else {
		check_inv_freq(&m, g);
		check_text(&m, g);
		check_mixed(&m, &mbf, &mhf, g);
		lm_st_close(g);
	}
	check_long_chunk(&m);
	check_refusals(&m);
	check_be_variants(&m);
	check_load_errors(&m);
	model_free(&mbf);
	model_free(&mhf);
	model_free(&m);
	return done_testing();
}
