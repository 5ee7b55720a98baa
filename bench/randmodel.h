/* randmodel.h: random-weight models of the real shapes, built in memory for the benchmark.
 *
 * Speed does not depend on the weights' values, and a multi-gigabyte model file cannot travel to
 * the GPU machine, so the benchmark makes one where it runs: a config.json text for the shape,
 * and a safetensors image in host memory holding every tensor of docs/model-format.md section 3
 * in BF16 with random values; lm_st_open_mem then hands it to the ordinary loaders
 * (lm_backbone_load, lm_heads_load, lm_vae_load), so the model code runs unchanged, exactly as
 * with a model directory. */
#ifndef LLAMO_BENCH_RANDMODEL_H
#define LLAMO_BENCH_RANDMODEL_H
#include <stddef.h>
#include <stdint.h>
#include "model.h"

typedef struct bench_shape {
	const char *name;    /* "tiny", "1b", "3b", "8b" */
	const char *what;    /* one line: what it follows */
	int V, H, I, layers, heads, kv_heads, head_dim, tied;
	float rope_factor;   /* llama3 rope scaling factor */
	int A, P, C;         /* adapter hidden, projector hidden, condition size */
	int W, depth;        /* flow head width and blocks */
	int E;               /* exit head hidden size */
	int K;               /* VAE width */
} bench_shape;

/* The shape called name, or NULL. bench_shapes_list: "tiny, 1b, 3b, 8b". */
const bench_shape *bench_shape_find(const char *name);
const char *bench_shapes_list(void);

/* The config.json text of a shape (docs/model-format.md section 2): latent 32, 21 joints (260
 * features), llama3 RoPE, guidance 3, 50 Euler steps, max_motion_tokens max_tokens. Static
 * buffer, valid until the next call. */
const char *bench_config_json(const bench_shape *s, int max_tokens);

/* Bytes of each part of the model as BF16 (for the bandwidth floor and the report). */
typedef struct bench_bytes {
	double embed, lm_head;       /* lm_head 0 when tied */
	double branch;               /* one branch's layers + final norm (text or motion) */
	double adapter, projector, exit;
	double flow_once;            /* time MLP, cond_embed, every adaLN Linear: once per latent */
	double flow_step;            /* input_proj, the blocks' LayerNorms and MLPs, final linear: per step */
	double vae_dec, vae_enc;
	double total;                /* the whole safetensors data */
} bench_bytes;
void bench_model_bytes(const lm_config *c, bench_bytes *b);

/* Builds the random model of shape s on backend be: parses its config, fills a BF16
 * safetensors image in memory (values uniform with the spread of N(0, 1/fan_in) for matrices,
 * 1 +- 0.1 for norm weights, +-0.1 for biases; deterministic in seed; OpenMP threads), loads the
 * backbone, the heads and the VAE through the library's loaders, and the tokenizer from
 * tokenizer_path. *m is freed with lm_model_free. build_s and load_s (may be NULL) receive the
 * seconds spent filling the image and loading it onto be. Errors: LM_ENOMEM, LM_ENOINPUT (no
 * tokenizer), LM_EDATA (a loader refused the image: a bug here), LM_EUNAVAIL. */
int bench_model_build(lm_model **m, const bench_shape *s, int max_tokens, const lm_backend *be,
		      const char *tokenizer_path, uint64_t seed, double *build_s, double *load_s,
		      lm_status *st);
#endif
