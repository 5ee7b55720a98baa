/* vae.h: the causal motion VAE (MotionStreamer's causal TAE; docs/model-format.md 3 and 4.4).
 * Host pointers in the public functions; features are NORMALIZED here (the caller applies
 * normalization.safetensors: (x - mean)/std before encode, x*std + mean after decode).
 * Weights and activations live in the backend's memory; the model runs only through be->op.
 * One latent stands for `ratio` = 2^down_t frames (4 in every shipped config). */
#ifndef LLAMO_VAE_H
#define LLAMO_VAE_H
#include "api.h"
#include "backend.h"
#include "config.h"
#include "safetensors.h"

/* One causal Conv1d: left zero padding (k-1)*dil + 1 - stride rows, then torch Conv1d.
 * w (cout, cin, k) torch layout, a weight; b (cout); both in backend memory. */
typedef struct lm_conv { int cin, cout, k, stride, dil; lm_weight *w; float *b; } lm_conv;

typedef struct lm_vae {
	const lm_config *cfg;
	const lm_backend *be;
	int F, K, L, down_t, depth;
	int growth; /* dilation growth rate: the res blocks of a stack dilate growth^(depth-1) .. 1 */
	int ratio;  /* frames per latent: 2^down_t */
	/* encoder */
	lm_conv enc_in, enc_out;
	lm_conv *enc_down;   /* down_t */
	lm_conv *enc_res;    /* down_t * depth * 2: [(s*depth + r)*2 + 0|1] = conv1|conv2 */
	lm_weight *enc_proj_w;          /* (2L, K) */
	float *enc_proj_b;              /* (2L) */
	/* decoder */
	lm_weight *dec_proj_w;          /* (K, L) */
	float *dec_proj_b;              /* (K) */
	lm_conv dec_in, dec_mid, dec_out;
	lm_conv *dec_res;    /* down_t * depth * 2 */
	lm_conv *dec_up;     /* down_t */
	lm_owned owned;      /* every weight and bias (the pointers above are views into it) */
} lm_vae;

/* Loads the `vae.` tensors of sf (names and shapes: docs/model-format.md 3) with the sizes of c
 * (feature_dim F, vae_width K, latent_dim L, vae_down_t, vae_depth, vae_dilation_growth) and
 * uploads them to be. c and be must outlive v. On failure v is left freed.
 * Errors: LM_EDATA (tensor missing or of the wrong shape/dtype, sizes out of range),
 * LM_ENOMEM. */
int lm_vae_load(lm_vae *v, const lm_config *c, const lm_safetensors *sf, const lm_backend *be,
		lm_status *st);
/* Releases everything lm_vae_load made; safe on a zeroed or already freed v. */
void lm_vae_free(lm_vae *v);

/* The encoder's posterior (MotionStreamer tae.py Causal_TAE.encode): feats(T, F) normalized ->
 * mu(T/4, L) and logvar(T/4, L), the first and last L of the encoder's 2L outputs per latent
 * (logvar unclamped). T not a multiple of 4: the last T%4 frames are dropped (CHOICE;
 * MotionStreamer's convs never read them either, so the latents are the same). *mu, *logvar
 * malloc'd (logvar NULL: not wanted), *n = T/4. Causal: the latents of a prefix are the prefix of
 * the latents. Errors: LM_EDATA when T < 4, LM_ENOMEM (then *mu, *logvar NULL, *n 0). */
int lm_vae_encode_posterior(const lm_vae *v, const float *feats, int T, float **mu, float **logvar, int *n,
			    lm_status *st);
/* The latents inference uses: lm_vae_encode_posterior's mu only. */
LM_API int lm_vae_encode(const lm_vae *v, const float *feats, int T, float **mu, int *n, lm_status *st);
/* z(n, L) -> feats(4n, F) normalized (whole sequence; n = 0 writes nothing).
 * Errors: LM_EDATA when n < 0, LM_ENOMEM. */
LM_API int lm_vae_decode(const lm_vae *v, const float *z, int n, float *feats, lm_status *st);

/* Streaming decoder: one latent in, 4 frames out, the same numbers as lm_vae_decode (every conv
 * keeps its last (k-1)*dil + 1 - stride input rows; zeros at the start). */
typedef struct lm_vae_stream lm_vae_stream;
/* Errors: LM_ENOMEM. v must outlive *s. */
int lm_vae_stream_init(lm_vae_stream **s, const lm_vae *v, lm_status *st);
/* z(L) -> feats4(4, F) normalized (ratio rows). Errors: LM_EINTERNAL. */
int lm_vae_stream_step(lm_vae_stream *s, const float *z, float *feats4, lm_status *st);
/* Back to the start of a sequence (histories zeroed), as after init. */
void lm_vae_stream_reset(lm_vae_stream *s);
void lm_vae_stream_free(lm_vae_stream *s); /* NULL is fine */
#endif
