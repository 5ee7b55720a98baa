/* vae.c: the causal motion VAE (docs/model-format.md 3 and 4.4), after MotionStreamer's causal
 * TAE (zju3dv/MotionStreamer models/causal_cnn.py CausalEncoder/CausalDecoder, resnet.py
 * CausalResConv1DBlock, tae.py Causal_TAE).
 *
 * Where our contract differs from MotionStreamer:
 *  - names: the decoder's input Linear is `vae.decoder.proj` (MotionStreamer: tae.decode_proj,
 *    outside the decoder) and the convs are named conv_in / down.s.conv / res.r / conv_out / ...
 *    instead of positions in nn.Sequential;
 *  - sizes from config.json: feature width F (MotionStreamer: 272 fixed), latent L (32; 16 there),
 *    and the encoder's conv_out keeps width K (MotionStreamer: hidden_size, equal to width there);
 *  - logvar is returned as computed, unclamped (MotionStreamer clamps it to clip_range before
 *    sampling); inference uses mu only;
 *  - the encoder drops the last T % 4 frames (CHOICE); MotionStreamer keeps them, but a causal
 *    stride-2 conv of an odd-length input never reads its last row, so the latents are the same.
 * Everything else is MotionStreamer's: left zero padding (k-1)*d + 1 - s, ReLU placement,
 * residual blocks x + conv2(relu(conv1(relu(x)))) with dilations growth^(depth-1) .. 1 (9, 3, 1)
 * in both directions (reverse_dilation=True), nearest x2 upsampling before each decoder conv.
 *
 * How it runs: every conv keeps its last P = (k-1)*d + 1 - s input rows as history (zeros at the
 * start), and a pass feeds n new rows through [history; rows]. Because everything is causal, a
 * sequence cut into pieces gives the same numbers as the whole: the streaming decoder feeds one
 * latent per pass, the whole encode/decode feed blocks of VAE_CHUNK frames (bounded memory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vae.h"

#define VAE_CHUNK 256 /* frames per pass of a whole encode or decode (a multiple of 16) */

static int conv_pad(const lm_conv *c)
{
	return (c->k - 1) * c->dil + 1 - c->stride;
}

/* ---- loading ---- */

/* matrices (conv and Linear weights) in the backend's weight format, biases in F32, owned by v */
static int load_tensor(lm_vae *v, const lm_safetensors *sf, const char *name, int ndim,
		       const int64_t *shape, float **dst, lm_status *st)
{
	return lm_owned_load_tensor(&v->owned, sf, "vae", name, ndim, shape, dst, st);
}

static int load_weight(lm_vae *v, const lm_safetensors *sf, const char *name, int ndim,
		       const int64_t *shape, lm_weight **dst, lm_status *st)
{
	return lm_owned_load_weight(&v->owned, sf, "vae", name, ndim, shape, dst, st);
}

/* prefix.weight (cout, cin, k) and prefix.bias (cout) */
static int load_conv(lm_vae *v, const lm_safetensors *sf, lm_conv *c, const char *prefix,
		     int cin, int cout, int k, int stride, int dil, lm_status *st)
{
	char name[256];
	int64_t ws[3] = {cout, cin, k}, bs[1] = {cout};
	int rc;
	*c = (lm_conv){.cin = cin, .cout = cout, .k = k, .stride = stride, .dil = dil};
	snprintf(name, sizeof name, "%s.weight", prefix);
	if ((rc = load_weight(v, sf, name, 3, ws, &c->w, st)))
		return rc;
	snprintf(name, sizeof name, "%s.bias", prefix);
	return load_tensor(v, sf, name, 1, bs, &c->b, st);
}

/* res.{r} of one stack: conv1 k=3 dilation growth^(depth-1-r), conv2 k=1 */
static int load_res(lm_vae *v, const lm_safetensors *sf, lm_conv *res, const char *prefix,
		    lm_status *st)
{
	char name[256];
	int dil = 1, rc;
	for (int r = 1; r < v->depth; r++)
		dil *= v->growth;
	for (int r = 0; r < v->depth; r++, dil /= v->growth) {
		snprintf(name, sizeof name, "%s.res.%d.conv1", prefix, r);
		if ((rc = load_conv(v, sf, &res[2 * r], name, v->K, v->K, 3, 1, dil, st)))
			return rc;
		snprintf(name, sizeof name, "%s.res.%d.conv2", prefix, r);
		if ((rc = load_conv(v, sf, &res[2 * r + 1], name, v->K, v->K, 1, 1, 1, st)))
			return rc;
	}
	return 0;
}

static int load_all(lm_vae *v, const lm_safetensors *sf, lm_status *st)
{
	int K = v->K, rc;
	char name[256];
	if ((rc = load_conv(v, sf, &v->enc_in, "vae.encoder.conv_in", v->F, K, 3, 1, 1, st)))
		return rc;
	for (int s = 0; s < v->down_t; s++) {
		snprintf(name, sizeof name, "vae.encoder.down.%d.conv", s);
		if ((rc = load_conv(v, sf, &v->enc_down[s], name, K, K, 4, 2, 1, st)))
			return rc;
		snprintf(name, sizeof name, "vae.encoder.down.%d", s);
		if ((rc = load_res(v, sf, v->enc_res + 2 * s * v->depth, name, st)))
			return rc;
	}
	if ((rc = load_conv(v, sf, &v->enc_out, "vae.encoder.conv_out", K, K, 3, 1, 1, st)) ||
	    (rc = lm_owned_load_linear(&v->owned, sf, "vae", "vae.encoder.proj", 2 * v->L, K, &v->enc_proj_w,
					&v->enc_proj_b, st)) ||
	    (rc = lm_owned_load_linear(&v->owned, sf, "vae", "vae.decoder.proj", K, v->L, &v->dec_proj_w,
					&v->dec_proj_b, st)) ||
	    (rc = load_conv(v, sf, &v->dec_in, "vae.decoder.conv_in", K, K, 3, 1, 1, st)))
		return rc;
	for (int s = 0; s < v->down_t; s++) {
		snprintf(name, sizeof name, "vae.decoder.up.%d", s);
		if ((rc = load_res(v, sf, v->dec_res + 2 * s * v->depth, name, st)))
			return rc;
		snprintf(name, sizeof name, "vae.decoder.up.%d.conv", s);
		if ((rc = load_conv(v, sf, &v->dec_up[s], name, K, K, 3, 1, 1, st)))
			return rc;
	}
	if ((rc = load_conv(v, sf, &v->dec_mid, "vae.decoder.conv_mid", K, K, 3, 1, 1, st)) ||
	    (rc = load_conv(v, sf, &v->dec_out, "vae.decoder.conv_out", K, v->F, 3, 1, 1, st)))
		return rc;
	return 0;
}

int lm_vae_load(lm_vae *v, const lm_config *c, const lm_safetensors *sf, const lm_backend *be,
		lm_status *st)
{
	memset(v, 0, sizeof *v);
	v->cfg = c;
	v->be = be;
	lm_owned_init(&v->owned, be);
	v->owned.widen = 1; /* conv1d reads float32 weights, every weight many times a frame */
	v->F = c->feature_dim;
	v->K = c->vae_width;
	v->L = c->latent_dim;
	v->down_t = c->vae_down_t;
	v->depth = c->vae_depth;
	v->growth = c->vae_dilation_growth;
	/* bounds keep every size product far from int overflow and the histories small */
	if (v->F < 1 || v->F > 65536 || v->K < 1 || v->K > 65536 || v->L < 1 || v->L > 65536)
		return lm_fail(st, LM_EDATA, "vae: sizes out of range (feature_dim %d, width %d, latent %d)",
			       v->F, v->K, v->L);
	if (v->down_t < 1 || v->down_t > 6 || v->depth < 1 || v->depth > 8 || v->growth < 1)
		return lm_fail(st, LM_EDATA, "vae: down_t %d, depth %d, dilation_growth_rate %d out of range",
			       v->down_t, v->depth, v->growth);
	long maxdil = 1;
	for (int r = 1; r < v->depth; r++)
		if ((maxdil *= v->growth) > 4096)
			return lm_fail(st, LM_EDATA, "vae: dilation growth %d^%d exceeds 4096", v->growth,
				       v->depth - 1);
	v->ratio = 1 << v->down_t;
	size_t nres = (size_t)v->down_t * v->depth * 2;
	v->enc_down = calloc(v->down_t, sizeof *v->enc_down);
	v->enc_res = calloc(nres, sizeof *v->enc_res);
	v->dec_up = calloc(v->down_t, sizeof *v->dec_up);
	v->dec_res = calloc(nres, sizeof *v->dec_res);
	int rc;
	if (!v->enc_down || !v->enc_res || !v->dec_up || !v->dec_res)
		rc = lm_fail(st, LM_ENOMEM, "vae: out of memory");
	else
		rc = load_all(v, sf, st);
	if (rc)
		lm_vae_free(v);
	return rc;
}

void lm_vae_free(lm_vae *v)
{
	if (!v->be)
		return;
	lm_owned_free(&v->owned);
	free(v->enc_down);
	free(v->enc_res);
	free(v->dec_up);
	free(v->dec_res);
	memset(v, 0, sizeof *v);
}

/* ---- one direction's running state: histories and scratch ---- */

typedef struct vae_run {
	const lm_vae *v;
	int enc;               /* 1 encoder, 0 decoder */
	int rows;              /* frames per pass at most (a multiple of ratio) */
	int nconv;             /* convs in call order */
	const lm_conv **conv;  /* (nconv) the convs, in the order a pass calls them */
	float **hist;          /* (nconv) history (P, cin) of each, NULL when P = 0 */
	int cursor;            /* next conv of the pass */
	int bad;               /* a pass called the convs out of order (a bug) */
	float *in;             /* encoder (rows, F) features; decoder (rows/ratio, L) latents */
	float *out;            /* encoder (rows/ratio, 2L); decoder (rows, F) */
	float *a, *b, *t, *u;  /* (rows, K) activations */
	float *ws;             /* (Pmax + rows, max(K, F)): [history; new rows] of one conv */
} vae_run;

static void res_list(const lm_conv **list, int *n, const lm_conv *res, int depth)
{
	for (int i = 0; i < 2 * depth; i++)
		list[(*n)++] = &res[i];
}

/* The convs in the order enc_forward / dec_forward call them. */
static int conv_list(const lm_vae *v, int enc, const lm_conv **list)
{
	int n = 0, d2 = 2 * v->depth;
	if (enc) {
		list[n++] = &v->enc_in;
		for (int s = 0; s < v->down_t; s++) {
			list[n++] = &v->enc_down[s];
			res_list(list, &n, v->enc_res + s * d2, v->depth);
		}
		list[n++] = &v->enc_out;
	} else {
		list[n++] = &v->dec_in;
		for (int s = 0; s < v->down_t; s++) {
			res_list(list, &n, v->dec_res + s * d2, v->depth);
			list[n++] = &v->dec_up[s];
		}
		list[n++] = &v->dec_mid;
		list[n++] = &v->dec_out;
	}
	return n;
}

static void run_free(vae_run *r)
{
	const lm_backend *be = r->v ? r->v->be : NULL;
	if (!be)
		return;
	if (r->hist)
		for (int i = 0; i < r->nconv; i++)
			if (r->hist[i])
				be->release(r->hist[i]);
	float *bufs[7] = {r->in, r->out, r->a, r->b, r->t, r->u, r->ws};
	for (int i = 0; i < 7; i++)
		if (bufs[i])
			be->release(bufs[i]);
	free(r->hist);
	free(r->conv);
	memset(r, 0, sizeof *r);
}

static int run_init(vae_run *r, const lm_vae *v, int enc, int rows, lm_status *st)
{
	const lm_backend *be = v->be;
	memset(r, 0, sizeof *r);
	r->v = v;
	r->enc = enc;
	r->rows = rows;
	int most = 3 + v->down_t * (2 * v->depth + 1);
	r->conv = calloc(most, sizeof *r->conv);
	r->hist = calloc(most, sizeof *r->hist);
	if (!r->conv || !r->hist)
		goto nomem;
	r->nconv = conv_list(v, enc, r->conv);
	int pmax = 0;
	for (int i = 0; i < r->nconv; i++) {
		const lm_conv *c = r->conv[i];
		int p = conv_pad(c);
		if (p > pmax)
			pmax = p;
		if (p > 0 && !(r->hist[i] = be->alloc((size_t)p * c->cin)))
			goto nomem;
	}
	size_t K = v->K, F = v->F, lat = rows / v->ratio, wide = K > F ? K : F;
	r->in = be->alloc(enc ? rows * F : lat * v->L);
	r->out = be->alloc(enc ? lat * 2 * v->L : rows * F);
	r->a = be->alloc(rows * K);
	r->b = be->alloc(rows * K);
	r->t = be->alloc(rows * K);
	r->u = be->alloc(rows * K);
	r->ws = be->alloc((pmax + rows) * wide);
	if (!r->in || !r->out || !r->a || !r->b || !r->t || !r->u || !r->ws)
		goto nomem;
	return 0;
nomem:
	run_free(r);
	return lm_fail(st, LM_ENOMEM, "vae: out of memory for the %s state (%d frames)",
		       enc ? "encoder" : "decoder", rows);
}

/* Zeroes every history: the start of a sequence. */
static void run_reset(vae_run *r)
{
	size_t most = 0;
	for (int i = 0; i < r->nconv; i++)
		if (r->hist[i] && (size_t)conv_pad(r->conv[i]) * r->conv[i]->cin > most)
			most = (size_t)conv_pad(r->conv[i]) * r->conv[i]->cin;
	float *zeros = calloc(most ? most : 1, sizeof(float));
	for (int i = 0; i < r->nconv; i++) {
		if (!r->hist[i])
			continue;
		size_t n = (size_t)conv_pad(r->conv[i]) * r->conv[i]->cin;
		if (zeros) {
			r->v->be->upload(r->hist[i], zeros, n);
		} else { /* no host memory: a fresh zeroed buffer instead */
			float *h = r->v->be->alloc(n);
			if (h) {
				r->v->be->release(r->hist[i]);
				r->hist[i] = h;
			}
		}
	}
	free(zeros);
}

/* y(n/stride, cout) = conv(x(n, cin)) continuing from the conv's history, which then becomes the
 * last P rows of [history; x]. n is a multiple of the stride. */
static void run_conv(vae_run *r, const lm_conv *c, float *y, const float *x, int n)
{
	const lm_backend *be = r->v->be;
	int i = r->cursor++;
	if (i >= r->nconv || r->conv[i] != c) {
		r->bad = 1;
		return;
	}
	int p = conv_pad(c);
	if (p == 0) {
		be->conv1d(y, x, c->w, c->b, n, c->cin, c->cout, c->k, c->stride, c->dil);
		return;
	}
	size_t hp = (size_t)p * c->cin;
	be->copy(r->ws, r->hist[i], hp);
	be->copy(r->ws + hp, x, (size_t)n * c->cin);
	be->conv1d(y, r->ws, c->w, c->b, p + n, c->cin, c->cout, c->k, c->stride, c->dil);
	be->copy(r->hist[i], r->ws + (size_t)n * c->cin, hp);
}

/* One CausalResnet1D stack in place on x(T, K): per block (resnet.py CausalResConv1DBlock)
 * x = x + conv2(relu(conv1(relu(x)))) */
static void res_stack(vae_run *r, const lm_conv *res, float *x, int T)
{
	const lm_backend *be = r->v->be;
	size_t n = (size_t)T * r->v->K;
	for (int i = 0; i < r->v->depth; i++) {
		be->copy(r->t, x, n);
		be->relu(r->t, n);
		run_conv(r, &res[2 * i], r->u, r->t, T);
		be->relu(r->u, n);
		run_conv(r, &res[2 * i + 1], r->t, r->u, T);
		be->add(x, r->t, n);
	}
}

/* r->in (T, F) -> r->out (T/ratio, 2L): causal_cnn.py CausalEncoder.forward */
static void enc_forward(vae_run *r, int T)
{
	const lm_vae *v = r->v;
	const lm_backend *be = v->be;
	size_t K = v->K;
	float *x = r->a, *y = r->b, *swap;
	r->cursor = 0;
	run_conv(r, &v->enc_in, x, r->in, T); /* CausalConv1d(F, K, 3) + ReLU */
	be->relu(x, T * K);
	for (int s = 0; s < v->down_t; s++) {
		run_conv(r, &v->enc_down[s], y, x, T); /* CausalConv1d(K, K, 4, stride 2) */
		T /= 2;
		res_stack(r, v->enc_res + 2 * s * v->depth, y, T);
		swap = x, x = y, y = swap;
	}
	run_conv(r, &v->enc_out, y, x, T);                             /* CausalConv1d(K, K, 3) */
	be->linear(r->out, y, v->enc_proj_w, v->enc_proj_b, T, v->K, 2 * v->L); /* proj, per step */
}

/* r->in (n, L) -> r->out (n*ratio, F): tae.py decode_proj, then CausalDecoder.forward */
static void dec_forward(vae_run *r, int n)
{
	const lm_vae *v = r->v;
	const lm_backend *be = v->be;
	size_t K = v->K;
	int T = n;
	float *x = r->b, *y = r->a;
	r->cursor = 0;
	be->linear(y, r->in, v->dec_proj_w, v->dec_proj_b, n, v->L, v->K); /* decode_proj, per step */
	run_conv(r, &v->dec_in, x, y, T);                                  /* CausalConv1d + ReLU */
	be->relu(x, T * K);
	for (int s = 0; s < v->down_t; s++) {
		res_stack(r, v->dec_res + 2 * s * v->depth, x, T);
		be->upsample2(y, x, T, v->K); /* nn.Upsample(scale_factor=2, mode='nearest') */
		T *= 2;
		run_conv(r, &v->dec_up[s], x, y, T);
	}
	run_conv(r, &v->dec_mid, y, x, T); /* CausalConv1d + ReLU */
	be->relu(y, T * K);
	run_conv(r, &v->dec_out, r->out, y, T); /* CausalConv1d(K, F, 3) */
}

static int run_check(vae_run *r, lm_status *st)
{
	if (r->bad || r->cursor != r->nconv)
		return lm_fail(st, LM_EINTERNAL, "vae.c: a pass ran %d of %d convs out of order", r->cursor,
			       r->nconv);
	return 0;
}

/* ---- public ---- */

int lm_vae_encode_posterior(const lm_vae *v, const float *feats, int T, float **mu, float **logvar, int *n,
			    lm_status *st)
{
	*mu = NULL;
	if (logvar)
		*logvar = NULL;
	*n = 0;
	if (T < v->ratio)
		return lm_fail(st, LM_EDATA, "vae encode: %d frames, need at least %d", T, v->ratio);
	int N = T / v->ratio, L = v->L, rc;
	T = N * v->ratio; /* the last T % ratio frames are dropped */
	float *m = malloc((size_t)N * L * sizeof(float));
	float *lv = logvar ? malloc((size_t)N * L * sizeof(float)) : NULL;
	float *o = malloc((size_t)VAE_CHUNK / v->ratio * 2 * L * sizeof(float));
	if (!m || (logvar && !lv) || !o) {
		rc = lm_fail(st, LM_ENOMEM, "vae encode: out of memory (%d frames)", T);
		goto out;
	}
	vae_run r;
	int rows = T < VAE_CHUNK ? T : VAE_CHUNK;
	if ((rc = run_init(&r, v, 1, rows, st)))
		goto out;
	for (int t0 = 0; t0 < T && !rc; t0 += rows) {
		int len = T - t0 < rows ? T - t0 : rows, k = len / v->ratio, k0 = t0 / v->ratio;
		v->be->upload(r.in, feats + (size_t)t0 * v->F, (size_t)len * v->F);
		enc_forward(&r, len);
		if ((rc = run_check(&r, st)))
			break;
		v->be->download(o, r.out, (size_t)k * 2 * L);
		for (int i = 0; i < k; i++) { /* mu, logvar = x.chunk(2, dim=-1) */
			memcpy(m + (size_t)(k0 + i) * L, o + (size_t)i * 2 * L, L * sizeof(float));
			if (lv)
				memcpy(lv + (size_t)(k0 + i) * L, o + (size_t)i * 2 * L + L, L * sizeof(float));
		}
	}
	run_free(&r);
out:
	free(o);
	if (rc) {
		free(m);
		free(lv);
		return rc;
	}
	*mu = m;
	if (logvar)
		*logvar = lv;
	*n = N;
	return 0;
}

int lm_vae_encode(const lm_vae *v, const float *feats, int T, float **mu, int *n, lm_status *st)
{
	return lm_vae_encode_posterior(v, feats, T, mu, NULL, n, st);
}

int lm_vae_decode(const lm_vae *v, const float *z, int n, float *feats, lm_status *st)
{
	if (n < 0)
		return lm_fail(st, LM_EDATA, "vae decode: %d latents", n);
	if (n == 0)
		return 0;
	int per = VAE_CHUNK / v->ratio, chunk = n < per ? n : per, rc;
	vae_run r;
	if ((rc = run_init(&r, v, 0, chunk * v->ratio, st)))
		return rc;
	for (int i0 = 0; i0 < n && !rc; i0 += chunk) {
		int k = n - i0 < chunk ? n - i0 : chunk;
		v->be->upload(r.in, z + (size_t)i0 * v->L, (size_t)k * v->L);
		dec_forward(&r, k);
		if (!(rc = run_check(&r, st)))
			v->be->download(feats + (size_t)i0 * v->ratio * v->F, r.out,
					(size_t)k * v->ratio * v->F);
	}
	run_free(&r);
	return rc;
}

struct lm_vae_stream {
	vae_run r; /* the decoder's histories and scratch for one latent */
};

int lm_vae_stream_init(lm_vae_stream **s, const lm_vae *v, lm_status *st)
{
	*s = calloc(1, sizeof **s);
	if (!*s)
		return lm_fail(st, LM_ENOMEM, "vae stream: out of memory");
	int rc = run_init(&(*s)->r, v, 0, v->ratio, st);
	if (rc) {
		free(*s);
		*s = NULL;
	}
	return rc;
}

int lm_vae_stream_step(lm_vae_stream *s, const float *z, float *feats4, lm_status *st)
{
	vae_run *r = &s->r;
	const lm_vae *v = r->v;
	v->be->upload(r->in, z, v->L);
	dec_forward(r, 1);
	int rc = run_check(r, st);
	if (!rc)
		v->be->download(feats4, r->out, (size_t)v->ratio * v->F);
	return rc;
}

void lm_vae_stream_reset(lm_vae_stream *s)
{
	run_reset(&s->r);
}

void lm_vae_stream_free(lm_vae_stream *s)
{
	if (!s)
		return;
	run_free(&s->r);
	free(s);
}
