/* model.h: a model directory loaded as a whole (docs/model-format.md section 1), and the
 * generation loops built on it: text to motion (4.6) and motion to text (4.7).
 *
 * Programs load only the parts they run (LM_PART_*); each part's tensors are validated for
 * presence, dtype and shape against the config when it loads. */
#ifndef LLAMO_MODEL_H
#define LLAMO_MODEL_H
#include "api.h"
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
	char text_dir[4096]; /* where the text branch, tokenizer.json and chat.json come from: the
	                      * base model (llamo.base_model, resolved), else dir */
	unsigned parts;
	lm_config cfg;
	const lm_backend *be;
	lm_safetensors *sf;      /* dir/model.safetensors */
	lm_safetensors *base_sf; /* text_dir/model.safetensors when that is another directory */
	lm_backbone bb;
	lm_heads heads;
	lm_vae vae;
	lm_tokenizer *tok;
	lm_skeleton sk;
	float *mean, *std; /* (F) host: feature normalization */
} lm_model;

/* Loads config.json and the requested parts of dir. A model with llamo.base_model takes its text
 * branch (model.*, lm_head), tokenizer.json and chat.json from that text-only directory, after
 * checking that the Llama keys of both configs agree (lm_config_check_base); its own
 * model.safetensors holds the motion side only. Errors name the file and what is wrong:
 * LM_ENOINPUT (missing directory or file; a missing base names it, with the hint `make
 * smollm2`), LM_EDATA (bad config, tensor, tokenizer, skeleton; a base that is not text-only or
 * whose Llama keys differ; a text tensor, tokenizer.json or chat.json in a model with a base),
 * LM_ENOMEM. */
LM_API int lm_model_load(lm_model **m, const char *dir, const lm_backend *be, unsigned parts, lm_status *st);
LM_API void lm_model_free(lm_model *m);

/* Normalization: x = (x - mean) / std and back, on (n, F) host features. */
LM_API void lm_features_normalize(const lm_model *m, float *x, int n);
LM_API void lm_features_denormalize(const lm_model *m, float *x, int n);

/* Token ids of the t2m prompt: tokenize(t2m_template with {prompt}) + [BOM]. *ids malloc'd. */
int lm_t2m_prompt_ids(const lm_model *m, const char *prompt, int32_t **ids, int *n, lm_status *st);

/* Options of a text-to-motion generation. */
typedef struct lm_gen_opts {
	uint64_t seed;        /* generator seed (stream s of a batch uses seed + s) */
	float cfg;            /* guidance scale; 1 = no unconditional branch */
	int steps;            /* Euler steps */
	int max_tokens;       /* upper bound on latents */
	float threshold;      /* exit head threshold */
	int max_pos;          /* KV cache positions per sequence; 0: the prompt + max_tokens + 1 */
} lm_gen_opts;
/* Defaults from the config: cfg = guidance_scale, steps = euler_steps, max_tokens =
 * max_motion_tokens, threshold = exit threshold, seed 0, max_pos 0. */
LM_API void lm_gen_opts_default(lm_gen_opts *o, const lm_config *c);

/* Wall-clock seconds spent per stage so far (for --profile and the benchmark). */
typedef struct lm_t2m_times {
	double prefill;   /* tokenizing and prefilling the prompt(s) */
	double exit;      /* exit head */
	double flow;      /* projector, noise and the flow head's Euler ODE */
	double backbone;  /* adapter and one motion step of the backbone per sequence */
	int latents;
} lm_t2m_times;

/* One text-to-motion generation (4.6): the state of one stream, and the step as three calls,
 *
 *     exit check (lm_t2m_exit) -> draw a latent (lm_t2m_draw) -> feed it back (lm_t2m_feed)
 *
 * that llamo-t2m runs in one process and the stage programs run one each (exithead, flowsample,
 * llamo-step), so the FIFO pipeline equals llamo-t2m by construction. Between the calls the
 * states stay in backend memory: the host sees the exit probability and the latent only. A stage
 * program that gets a state from a pipe hands it over with lm_t2m_set_hidden. */
typedef struct lm_t2m {
	const lm_model *m;
	lm_gen_opts o;
	int rows;            /* sequences the states come from: 1, or 2 (conditional, unconditional) */
	int i;               /* latents so far: the state in h follows the i-th latent (0: [BOM]) */
	lm_kv_cache kv[2];   /* conditional, unconditional (kv[b].k NULL until prefilled) */
	float *h;            /* (2, H) backend: final-normed states that predict the next latent */
	float *c;            /* (2, C) backend: projector outputs */
	float *emb;          /* (2, H) backend: the adapter's output, once per sequence */
	float *z;            /* (L) backend: the latent drawn or fed */
	float *noise;        /* (L) backend: the flow ODE's starting point */
	float *p;            /* (1) backend: exit probability */
	float *host_noise;   /* (L) host: drawn from rng */
	lm_rng rng;          /* seeded with o.seed */
	lm_t2m_times times;
} lm_t2m;

/* A stream's state with nothing run yet (rng seeded with o->seed). Needs m's config only; each
 * call below needs the parts it runs. Errors: LM_ENOMEM. */
int lm_t2m_init(lm_t2m **g, const lm_model *m, const lm_gen_opts *o, lm_status *st);
LM_API void lm_t2m_free(lm_t2m *g);
/* Prefills sequence b (0 conditional, 1 unconditional) with the text ids (the prompt ids of
 * lm_t2m_prompt_ids) through the text branch; its last state becomes row b of h, and rows
 * becomes 2 once the unconditional sequence exists. Needs LM_PART_BACKBONE. Errors: LM_EDATA
 * (no ids, a prompt given twice, an id out of range, the cache too small), LM_ENOMEM. */
int lm_t2m_prefill(lm_t2m *g, int b, const int32_t *ids, int n, lm_status *st);
/* The exit check (4.2, 4.6): *stop when i >= max_tokens, or when i > 0 (every motion has at least
 * one latent) and the exit head's p on the conditional state exceeds the threshold. p (may be
 * NULL) receives the probability, computed whenever i < max_tokens (0 otherwise). Needs
 * LM_PART_HEADS. */
int lm_t2m_exit(lm_t2m *g, int *stop, float *p, lm_status *st);
/* Draws the next latent (4.2, 4.3, 4.5): projector on the states, noise from rng, the flow
 * head's Euler ODE with guidance when rows == 2 and cfg != 1; z(L) host receives it (may be
 * NULL), i goes up by one. Needs LM_PART_HEADS. */
int lm_t2m_draw(lm_t2m *g, float *z, lm_status *st);
/* Feeds a latent back (4.1, 4.2): the adapter, then one motion-branch step of every prefilled
 * sequence; their new states become h. z(L) host, or NULL for the latent lm_t2m_draw left in
 * backend memory. Needs LM_PART_BACKBONE | LM_PART_HEADS and a prefilled conditional sequence.
 * Errors: LM_EDATA (nothing prefilled: "a latent before the stream's prompt"; the cache full). */
int lm_t2m_feed(lm_t2m *g, const float *z, lm_status *st);
/* A state from outside (a hidden-state frame): rows (1 or 2) of h(rows, H) host become h; i is
 * the number of latents it follows. */
void lm_t2m_set_hidden(lm_t2m *g, const float *h, int rows, int i);
/* The states h(rows, H) to host memory. */
void lm_t2m_hidden(const lm_t2m *g, float *h);

/* A whole prompt: lm_t2m_init, then its ids and, with guidance (cfg != 1), the empty prompt's
 * prefilled. Needs LM_PART_BACKBONE | LM_PART_TOKENIZER. */
LM_API int lm_t2m_begin(lm_t2m **g, const lm_model *m, const char *prompt, const lm_gen_opts *o, lm_status *st);
/* One step: the exit check, then (unless it stops: *done) a latent drawn into z(L) host and fed
 * back. p_exit (may be NULL) as lm_t2m_exit's p. */
LM_API int lm_t2m_next(lm_t2m *g, float *z, int *done, float *p_exit, lm_status *st);
void lm_t2m_times_get(const lm_t2m *g, lm_t2m_times *t);

/* Text generation (4.7): the base LM head on the text branch's last state, greedy by default. */
typedef struct lm_text_opts {
	int max_new;       /* most new tokens */
	float temperature; /* 0: greedy (argmax, the lowest id on a tie); else softmax(logits / T) */
	float top_p;       /* sampling keeps the fewest most probable tokens whose mass reaches top_p */
	uint64_t seed;     /* sampling: uniform draws u32 / 2^32 from lm_rng seeded with it */
} lm_text_opts;
/* Emitted with each new token; a non-zero return stops the generation with that status. */
typedef int (*lm_token_fn)(void *ctx, int32_t id, lm_status *st);

/* Continues a text sequence whose positions are in kv and whose last final-normed state is
 * h(H, backend memory): picks a token from the logits, feeds it back (text branch), until an
 * end id (config eos_token_id, or one of end_ids) comes (not kept) or o->max_new tokens were made.
 * on_token (may be NULL) sees each kept id as it comes; *ids (may be NULL; malloc'd) and *n
 * receive them all. Needs LM_PART_BACKBONE. Errors: the backbone's (LM_EDATA when kv is full). */
int lm_text_continue(const lm_model *m, lm_kv_cache *kv, float *h, const lm_text_opts *o, const int32_t *end_ids,
		     int n_end, lm_token_fn on_token, void *ctx, int32_t **ids, int *n, lm_status *st);

/* A chat reply (chat.h): the one-message conversation (system NULL: the default) tokenized,
 * prefilled through the text branch, and continued (lm_text_continue) to the end of the turn.
 * Needs LM_PART_BACKBONE | LM_PART_TOKENIZER. Errors: LM_EDATA (an end-of-turn text that is no
 * token, bad UTF-8 in the message), the backbone's, LM_ENOMEM. */
struct lm_chat;
int lm_chat_reply(const lm_model *m, const struct lm_chat *chat, const char *system, const char *user,
		  const lm_text_opts *o, lm_token_fn on_token, void *ctx, int32_t **ids, int *n, lm_status *st);

/* Motion to text (4.7): greedy caption of n latents (n, L), the instruction {prompt} of the
 * m2t_template being the config's m2t_prompt. *text malloc'd; *ids (may be NULL; malloc'd) and
 * *nids receive the caption's token ids. */
LM_API int lm_m2t_caption(const lm_model *m, const float *latents, int n, int max_new, char **text,
		   int32_t **ids, int *nids, lm_status *st);
/* The same with the instruction prompt (NULL: the config's m2t_prompt) in place of {prompt}.
 * Errors: LM_EUSAGE when prompt is given and the template has no {prompt}; those of the
 * backbone and the tokenizer (bad UTF-8 in prompt: LM_EDATA), LM_ENOMEM. */
int lm_m2t_caption_prompt(const lm_model *m, const float *latents, int n, const char *prompt, int max_new,
			  char **text, int32_t **ids, int *nids, lm_status *st);
#endif
