/* backbone.h: the modality-specific Mixture-of-Transformers Llama (docs/model-format.md 4.1).
 * Config / Weights / State: lm_config, lm_backbone, lm_kv_cache. */
#ifndef LLAMO_BACKBONE_H
#define LLAMO_BACKBONE_H
#include <stdint.h>
#include "backend.h"
#include "config.h"
#include "safetensors.h"

enum { LM_TEXT = 0, LM_MOTION = 1 };

typedef struct lm_layer {        /* one branch of one layer; backend memory */
	float *input_norm;       /* (H) */
	float *wq, *wk, *wv, *wo; /* (nh*hd, H), (nkv*hd, H), (nkv*hd, H), (H, nh*hd) */
	float *post_norm;        /* (H) */
	float *w_gate, *w_up;    /* (I, H) */
	float *w_down;           /* (H, I) */
} lm_layer;

typedef struct lm_backbone {
	const lm_config *cfg;
	const lm_backend *be;
	float *embed;           /* (V, H) */
	float *lm_head;         /* (V, H); equals embed when tied */
	lm_layer *layers[2];    /* [LM_TEXT | LM_MOTION][num_hidden_layers] */
	float *final_norm[2];   /* (H) each */
	float *inv_freq;        /* (hd/2) llama3-scaled, backend memory */
} lm_backbone;

typedef struct lm_kv_cache {
	int max_pos;            /* capacity in positions */
	int pos;                /* positions filled so far */
	float *k, *v;           /* (layers, max_pos, nkv, hd) each, backend memory */
	/* scratch for up to `chunk` positions at once, backend memory */
	int chunk;
	float *x, *a, *q, *kk, *vv, *att, *gate, *up;
} lm_kv_cache;

/* Loads and validates every backbone tensor (names in docs/model-format.md 3) from sf.
 * Errors: LM_EDATA naming the tensor, LM_ENOMEM. */
int lm_backbone_load(lm_backbone *bb, const lm_config *c, const lm_safetensors *sf,
		     const lm_backend *be, lm_status *st);
void lm_backbone_free(lm_backbone *bb);

int lm_kv_init(lm_kv_cache *kv, const lm_backbone *bb, int max_pos, lm_status *st);
void lm_kv_free(lm_kv_cache *kv, const lm_backbone *bb);
void lm_kv_reset(lm_kv_cache *kv); /* back to position 0 */

/* Embeds text token ids: emb(n, H) host = embed_tokens rows. Id out of range: LM_EDATA. */
int lm_embed_text(const lm_backbone *bb, const int32_t *ids, int n, float *emb, lm_status *st);

/* Runs n positions, all of one modality (LM_TEXT / LM_MOTION), at kv->pos.. and appends them to
 * the cache. emb(n, H) host; out(n, H) host receives the final-normed states of the branch's
 * final norm (NULL: not wanted). Errors: LM_EDATA when the cache would overflow. */
int lm_backbone_forward(const lm_backbone *bb, lm_kv_cache *kv, const float *emb, int n,
			int modality, float *out, lm_status *st);

/* logits(n, V) host = h(n, H) host @ lm_head^T (tied embeddings). */
void lm_logits(const lm_backbone *bb, const float *h, int n, float *logits);
#endif
