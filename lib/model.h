/* model.h: a model directory loaded as a whole (docs/model-format.md section 1), and the
 * generation loops built on it: text to motion (4.6) and motion to text (4.7).
 *
 * Programs load only the parts they run (LM_PART_*); each part's tensors are validated for
 * presence, dtype and shape against the config when it loads. */
#ifndef LLAMO_MODEL_H
#define LLAMO_MODEL_H
#include <stdint.h>
#include "backbone.h"
#include "backend.h"
#include "config.h"
#include "heads.h"
#include "motion.h"
#include "rng.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "vae.h"

enum {
	LM_PART_BACKBONE = 1 << 0, /* text + motion branches, embeddings, LM head */
	LM_PART_HEADS = 1 << 1,    /* adapter, projector, flow head, exit head */
	LM_PART_VAE = 1 << 2,      /* causal VAE + normalization.safetensors */
	LM_PART_TOKENIZER = 1 << 3,
	LM_PART_SKELETON = 1 << 4,
	LM_PART_ALL = 31,
};

typedef struct lm_model {
	char dir[4096];
	unsigned parts;
	lm_config cfg;
	const lm_backend *be;
	lm_safetensors *sf;
	lm_backbone bb;
	lm_heads heads;
	lm_vae vae;
	lm_tokenizer *tok;
	lm_skeleton sk;
	float *mean, *std; /* (F) host: feature normalization */
} lm_model;

/* Loads config.json and the requested parts of dir. Errors name the file and what is wrong:
 * LM_ENOINPUT (missing directory or file), LM_EDATA (bad config, tensor, tokenizer, skeleton),
 * LM_ENOMEM. */
int lm_model_load(lm_model **m, const char *dir, const lm_backend *be, unsigned parts, lm_status *st);
void lm_model_free(lm_model *m);

/* Normalization: x = (x - mean) / std and back, on (n, F) host features. */
void lm_features_normalize(const lm_model *m, float *x, int n);
void lm_features_denormalize(const lm_model *m, float *x, int n);

/* Token ids of the t2m prompt: tokenize(t2m_template with {prompt}) + [BOM]. *ids malloc'd. */
int lm_t2m_prompt_ids(const lm_model *m, const char *prompt, int32_t **ids, int *n, lm_status *st);

/* Options of a text-to-motion generation. */
typedef struct lm_gen_opts {
	uint64_t seed;        /* generator seed (stream s of a batch uses seed + s) */
	float cfg;            /* guidance scale; 1 = no unconditional branch */
	int steps;            /* Euler steps */
	int max_tokens;       /* upper bound on latents */
	float threshold;      /* exit head threshold */
} lm_gen_opts;
/* Defaults from the config: cfg = guidance_scale, steps = euler_steps, max_tokens =
 * max_motion_tokens, threshold = exit threshold, seed 0. */
void lm_gen_opts_default(lm_gen_opts *o, const lm_config *c);

/* One text-to-motion generation (4.6), latent by latent. */
typedef struct lm_t2m lm_t2m;
int lm_t2m_begin(lm_t2m **g, const lm_model *m, const char *prompt, const lm_gen_opts *o, lm_status *st);
/* Produces the next latent (L floats) into z, or sets *done when the exit head stops or
 * max_tokens is reached. p_exit (may be NULL) receives the exit probability checked. */
int lm_t2m_next(lm_t2m *g, float *z, int *done, float *p_exit, lm_status *st);
void lm_t2m_free(lm_t2m *g);
/* Wall-clock seconds spent per stage so far (for --profile and the benchmark). */
typedef struct lm_t2m_times {
	double prefill;   /* tokenizing and prefilling the prompt(s) */
	double exit;      /* exit head */
	double flow;      /* projector, noise and the flow head's Euler ODE */
	double backbone;  /* adapter and one motion step of the backbone per sequence */
	int latents;
} lm_t2m_times;
void lm_t2m_times_get(const lm_t2m *g, lm_t2m_times *t);

/* Motion to text (4.7): greedy caption of n latents (n, L). *text malloc'd. */
int lm_m2t_caption(const lm_model *m, const float *latents, int n, int max_new, char **text,
		   int32_t **ids, int *nids, lm_status *st);
#endif
