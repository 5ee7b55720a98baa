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
	lm_weight *wq, *wk, *wv, *wo; /* (nh*hd, H), (nkv*hd, H), (nkv*hd, H), (H, nh*hd) */
	float *post_norm;        /* (H) */
	lm_weight *w_gate, *w_up; /* (I, H) */
	lm_weight *w_down;       /* (H, I) */
} lm_layer;

typedef struct lm_backbone {
	const lm_config *cfg;
	const lm_backend *be;
	lm_weight *embed;       /* (V, H) */
	lm_weight *lm_head;     /* (V, H); equals embed when tied */
	lm_layer *layers[2];    /* [LM_TEXT | LM_MOTION][num_hidden_layers] */
	float *final_norm[2];   /* (H) each */
	float *inv_freq;        /* (hd/2) llama3-scaled, backend memory */
	lm_owned owned;         /* every buffer above (the pointers are views into it) */
} lm_backbone;

typedef struct lm_kv_cache {
	int max_pos;            /* capacity in positions */
	int pos;                /* positions filled so far */
	float *k, *v;           /* (layers, max_pos, nkv, hd) each, backend memory; a layer's
	                         * projections write their rows here directly */
	/* scratch for up to `chunk` positions at once, backend memory; grown by a longer call */
	int chunk;
	float *x;               /* (chunk, H) residual stream */
	float *a;               /* (chunk, H) normed input, then a block's output */
	float *q;               /* (chunk, nh, hd) */
	float *att;             /* (chunk, nh*hd) attention output */
	float *gate, *up;       /* (chunk, I) */
	float *knew, *vnew;     /* (chunk, nkv*hd): new K/V rows of lm_backbone_step, before they go
	                         * to each sequence's cache */
} lm_kv_cache;

/* Loads every backbone tensor (names and shapes in docs/model-format.md 3; F32, BF16 or F16 on
 * disk) from sf, converts it to F32 and uploads it to be; computes the RoPE frequencies. The
 * lm_head is the embedding table when tie_word_embeddings, else lm_head.weight. On failure
 * nothing stays allocated. Errors: LM_EDATA from the loader, naming the file and the tensor
 * (missing, shape that does not fit the config, not a float type), LM_ENOMEM. */
int lm_backbone_load(lm_backbone *bb, const lm_config *c, const lm_safetensors *sf,
		     const lm_backend *be, lm_status *st);
/* The same with the text branch (model.*, lm_head) from text_sf and the motion twin
 * (motion_model.*) from motion_sf: a motion model over a base model (llamo.base_model). A twin
 * projection may be stored as lora_A / lora_B (docs/model-format.md 3.1), merged over the text
 * weight at load (lib/lora.h) into a plain weight of the text weight's dtype. Errors as
 * lm_backbone_load, and LM_EDATA for a projection stored both full and as LoRA, one LoRA factor
 * without the other, or a factor of the wrong shape or with a value that is not finite. */
int lm_backbone_load_split(lm_backbone *bb, const lm_config *c, const lm_safetensors *text_sf,
			   const lm_safetensors *motion_sf, const lm_backend *be, lm_status *st);
void lm_backbone_free(lm_backbone *bb);

/* A cache for max_pos positions (and scratch for 64 at once, grown on demand). On failure kv is
 * left zeroed (kv->k == NULL). Errors: LM_EDATA (max_pos < 1), LM_ENOMEM. */
int lm_kv_init(lm_kv_cache *kv, const lm_backbone *bb, int max_pos, lm_status *st);
void lm_kv_free(lm_kv_cache *kv, const lm_backbone *bb); /* safe on a zeroed or freed kv */
void lm_kv_reset(lm_kv_cache *kv); /* back to position 0 */

/* Embeds text token ids: emb(n, H) host = embed_tokens rows. Id out of range: LM_EDATA;
 * LM_ENOMEM when n rows of backend scratch cannot be had. */
int lm_embed_text(const lm_backbone *bb, const int32_t *ids, int n, float *emb, lm_status *st);

/* Runs n positions, all of one modality (LM_TEXT / LM_MOTION), at kv->pos.. and appends them to
 * the cache: per layer the branch's weights (model. or motion_model.), K/V rows written at
 * kv->pos.., causal attention over every cached position whichever branch made it (4.1).
 * emb(n, H) host; out(n, H) host receives the states after the branch's final norm (NULL: not
 * wanted). A chunk (prefill) and one position per call give the same states up to float rounding
 * (gemm vs gemv). Errors: LM_EDATA when the cache would overflow (the cache is then unchanged),
 * LM_ENOMEM when the scratch cannot grow to n positions. */
int lm_backbone_forward(const lm_backbone *bb, lm_kv_cache *kv, const float *emb, int n,
			int modality, float *out, lm_status *st);
/* lm_backbone_forward with emb(n, H) and out(n, H) (or NULL) in backend memory: nothing crosses
 * to the host. The same ops in the same order, so the same bits as lm_backbone_forward; the same
 * errors. emb is copied into the scratch first and out written last, so they may be one buffer;
 * neither may lie in the cache's scratch (kv->x, where emb goes, excepted: then it is not
 * copied; a call longer than kv->chunk regrows the scratch). */
int lm_backbone_forward_be(const lm_backbone *bb, lm_kv_cache *kv, const float *emb, int n,
			   int modality, float *out, lm_status *st);
/* Prefill: embeds text ids (host) straight into the cache scratch and runs them (text branch) at
 * kv->pos..; h_last (H, backend) receives the final-normed state of the last position; nothing
 * is downloaded. The bits of lm_embed_text + lm_backbone_forward's last row. n == 0 runs nothing
 * and leaves h_last alone. Errors: those of lm_embed_text (an id outside the vocabulary: nothing
 * runs) and lm_backbone_forward. */
int lm_backbone_prefill(const lm_backbone *bb, lm_kv_cache *kv, const int32_t *ids, int n, float *h_last,
			lm_status *st);

/* One new position in each of nseq sequences at once (their own caches kv[i] and positions),
 * all of one modality: the projections and the MLP run as one nseq-row product, so the weights
 * are read once for all sequences (the conditional and unconditional sequences of guidance, or a
 * batch of prompts); attention runs per sequence over its own cache. emb(nseq, H) host; out(nseq,
 * H) host final-normed states (NULL: not wanted). The scratch of kv[0] is used. Numbers equal
 * nseq separate lm_backbone_forward calls up to the rounding of the product's row count.
 * Errors: LM_EDATA when a cache would overflow. */
int lm_backbone_step(const lm_backbone *bb, lm_kv_cache **kv, int nseq, const float *emb, int modality,
		     float *out, lm_status *st);
/* lm_backbone_step with emb(nseq, H) and out(nseq, H) (or NULL) in backend memory; the same bits
 * and errors as lm_backbone_step. As for lm_backbone_forward_be: emb and out may be one buffer,
 * not one in kv[0]'s scratch (kv[0]->x excepted). */
int lm_backbone_step_be(const lm_backbone *bb, lm_kv_cache **kv, int nseq, const float *emb, int modality,
			float *out, lm_status *st);

/* logits(n, V) host = h(n, H) host @ lm_head^T (the embeddings when tied). Allocates n*(H+V)
 * floats of backend memory per call (a convenience; a loop calls lm_logits_be with buffers of
 * its own); if that fails the logits are NaN. */
void lm_logits(const lm_backbone *bb, const float *h, int n, float *logits);
/* logits(n, V) backend = h(n, H) backend @ lm_head^T: one product, no allocation. */
void lm_logits_be(const lm_backbone *bb, const float *h, int n, float *logits);
#endif
