/* heads.h: motion adapter, motion projector, exit head, flow head and its Euler sampler
 * (docs/model-format.md 4.2, 4.3). Weights and scratch live in the backend's memory. The
 * pointers of the public functions are host memory, except in the _be variants, whose float
 * pointers are backend memory (be->alloc): a generation loop keeps its activations there. Each
 * host function uploads into scratch, runs its _be variant and downloads: the same bits.
 *
 * The functions taking a const lm_heads * write into its preallocated scratch: one lm_heads
 * serves one caller at a time. */
#ifndef LLAMO_HEADS_H
#define LLAMO_HEADS_H
#include <stdint.h>
#include "backend.h"
#include "config.h"
#include "safetensors.h"

#define LM_HEADS_ROWS 32 /* rows per batch of the row-wise functions (longer inputs are chunked) */
#define LM_EXIT_MAX 8    /* most exit-head Linears */

typedef struct lm_mlp_norm { /* Linear, GELU, Linear, RMSNorm: adapter and projector */
	int in, hidden, out;
	lm_weight *w1; float *b1; /* (hidden, in), (hidden) */
	lm_weight *w2; float *b2; /* (out, hidden), (out) */
	float *norm;    /* (out) */
} lm_mlp_norm;

typedef struct lm_flow_block {
	float *ln_w, *ln_b;     /* (W) */
	lm_weight *w0, *w2;     /* (W, W) */
	float *b0, *b2;         /* (W) */
	float *ada_b;           /* (3W): rows of ada_all_b, not separately owned (the weights: ada_all) */
} lm_flow_block;

typedef struct lm_heads {
	const lm_config *cfg;
	const lm_backend *be;
	lm_mlp_norm adapter, projector;
	/* exit head: num_layers Linears */
	int exit_n;
	lm_weight *exit_w[LM_EXIT_MAX];
	float *exit_b[LM_EXIT_MAX];
	/* flow head: Linears (out, in) and their biases (out) */
	lm_weight *in_w; float *in_b;     /* (W, L) */
	lm_weight *t0_w; float *t0_b;     /* (W, R) */
	lm_weight *t2_w; float *t2_b;     /* (W, W) */
	lm_weight *cond_w; float *cond_b; /* (W, C) */
	lm_flow_block *blocks;    /* depth */
	float *fin_ada_b;         /* (2W): rows of ada_all_b, not separately owned */
	lm_weight *fin_w; float *fin_b;   /* (L, W) */

	/* Every adaLN Linear stacked into one: rows j*3W.. are block j's (shift, scale, gate), rows
	 * depth*3W.. the final layer's (shift, scale). One product gives a whole modulation row.
	 * ada_all is in the backend's weight format (upload_weight): one matrix, no row pointers. */
	int mod_stride;           /* depth*3W + 2W */
	lm_weight *ada_all;       /* (mod_stride, W) */
	float *ada_all_b;         /* (mod_stride) */

	/* scratch, backend memory; M = max(2 * steps_cap, LM_HEADS_ROWS) modulation rows */
	int steps_cap;            /* Euler steps whose modulations are computed in one product */
	int mod_rows;             /* M */
	int maxdim;               /* max(L, H, A, P, C, E, W) */
	/* rows of the row-wise heads and of the flow trunk (n <= LM_HEADS_ROWS rows at a time) */
	float *s_in;              /* (LM_HEADS_ROWS, maxdim): input rows (host wrappers' uploads), the
	                           * sampler's conditions (G, C) */
	float *s_act;             /* (LM_HEADS_ROWS, maxdim): a layer's activations: adapter/projector
	                           * fc1 after GELU; exit-head layers 0, 2, ..; a flow block's modulated
	                           * LayerNorm, then its MLP output; the final layer's modulated norm */
	float *s_act2;            /* (LM_HEADS_ROWS, maxdim): the next layer's: adapter/projector fc2
	                           * before the norm; exit-head layers 1, 3, ..; a flow block's MLP
	                           * hidden after SiLU */
	float *s_out;             /* (LM_HEADS_ROWS, maxdim): host wrappers' output rows */
	float *s_x;               /* (L): the sampler's x, noise to sample */
	float *s_h;               /* (LM_HEADS_ROWS, W): the flow trunk's residual stream, input_proj(x) on */
	float *s_v;               /* (LM_HEADS_ROWS, L): predicted velocities */
	float *s_cond_emb;        /* (LM_HEADS_ROWS, W): cond_embed(c), one row per condition */
	/* the sampler's modulations, M rows at once (row k*G + g: step k, guidance row g) */
	float *s_time_freq;       /* (M, R): sinusoidal frequency embeddings of the step times */
	float *s_time_hidden;     /* (M, W): the time MLP's hidden layer, silu(mlp.0(freq)) */
	float *s_time_emb;        /* (M, W): time_embed(t) = mlp.2(hidden), one row per step */
	float *s_cond_rows;       /* (M, W): s_cond_emb gathered to one row per modulation row */
	float *s_ada_in;          /* (M, W): y = time_emb + cond_emb per modulation row, then silu(y),
	                           * the input of every adaLN Linear */
	float *s_mod;             /* (M, mod_stride): every row's shift/scale/gate */
	float *host_t;            /* (M) host: t per row */
	int32_t *host_ids;        /* (M) host: gather indices */
	/* the sampler's ODE loop captured as one graph, on backends with graph hooks (heads.c) */
	struct lm_flow_graph *graph;
	/* every weight, bias and the row scratch (the pointers above are views into it); the
	 * step-sized scratch (s_time_freq .. s_mod) is owned separately, as lm_heads_reserve regrows it */
	lm_owned owned;
} lm_heads;

/* Loads and validates every head tensor (docs/model-format.md 3: motion_adapter.*,
 * motion_projector.*, exit_head.*, flow_head.*) from sf onto be, and preallocates scratch for
 * cfg->euler_steps steps. Errors: LM_EDATA (tensor missing or of the wrong shape or dtype, or a
 * config size out of range), LM_ENOMEM. On error h is left freed. */
int lm_heads_load(lm_heads *h, const lm_config *c, const lm_safetensors *sf, const lm_backend *be,
		  lm_status *st);
void lm_heads_free(lm_heads *h);

/* Grows the sampler's scratch so that `steps` Euler steps get their modulations in one product
 * (lm_flow_sample is exact without it too: it then works in chunks of steps_cap steps).
 * Errors: LM_ENOMEM (h is unchanged), LM_EUSAGE for steps < 1. */
int lm_heads_reserve(lm_heads *h, int steps, lm_status *st);

/* adapter(z) = rmsnorm(fc2(gelu(fc1(z)))), 4.2: z(n,L) -> emb(n,H) */
void lm_adapter(const lm_heads *h, const float *z, int n, float *emb);
/* projector(h) = rmsnorm(fc2(gelu(fc1(h)))), 4.2: hs(n,H) final-normed -> c(n,C) */
void lm_projector(const lm_heads *h, const float *hs, int n, float *c);
/* exit(h) = sigmoid(L_last(silu(... silu(L0(h))))), 4.2: hs(n,H) final-normed -> p(n) in [0,1] */
void lm_exit_prob(const lm_heads *h, const float *hs, int n, float *p);

/* The same three with every float pointer in backend memory and the same bits; any n (worked
 * in chunks of LM_HEADS_ROWS rows through the scratch). Inputs and outputs must not lie in h's
 * scratch s_act, s_act2 (s_in and s_out, which these do not touch, are fine). */
void lm_adapter_be(const lm_heads *h, const float *z, int n, float *emb);  /* z(n,L) -> emb(n,H) */
void lm_projector_be(const lm_heads *h, const float *hs, int n, float *c); /* hs(n,H) -> c(n,C) */
void lm_exit_prob_be(const lm_heads *h, const float *hs, int n, float *p); /* hs(n,H) -> p(n) */
/* One flow-head evaluation (MAR SimpleMLPAdaLN.forward, 4.3): x(n,L), t(n) in [0,1],
 * c(n,C) -> v(n,L), the predicted velocity data - noise. */
void lm_flow_velocity(const lm_heads *h, const float *x, const float *t, const float *c, int n, float *v);
/* Euler ODE from noise(L) over `steps` steps with guidance scale s (4.3): t_k = k/steps,
 * x += (1/steps) (v_u + s (v_c - v_u)). c_cond(C); c_uncond(C) may be NULL, and when s == 1 it is
 * not evaluated (then x += v_c/steps). out(L) may equal noise; steps < 1 copies noise.
 * All steps' adaLN modulations are computed up front in one batched product (they depend on t
 * and c only); the loop then evaluates the conditional and unconditional rows as one 2-row batch
 * sharing input_proj(x). On a backend with graph hooks (CUDA) that loop runs as one recorded graph,
 * recorded again when steps, s or the guidance rows change. */
void lm_flow_sample(const lm_heads *h, const float *noise, const float *c_cond, const float *c_uncond,
		    float s, int steps, float *out);
/* lm_flow_sample with noise(L), c_cond(C), c_uncond(C) and out(L) in backend memory (out may
 * equal noise; none may lie in h's scratch); the same bits. The step times go up as host floats
 * (time embeddings) and the gather indices as host ints; nothing else crosses to the host. */
void lm_flow_sample_be(const lm_heads *h, const float *noise, const float *c_cond, const float *c_uncond,
		       float s, int steps, float *out);
#endif
