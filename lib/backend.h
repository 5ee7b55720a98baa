/* backend.h: the small table of operations the model code runs on.
 *
 * Chosen once at start-up (lm_backend_get); model code never #ifdefs on a device. Every op exists
 * on the CPU first (lib/cpu/, the clean reference); a CUDA backend (kernels/) mirrors each one and
 * is tested against it. Buffers passed to ops live in the backend's memory (alloc/upload);
 * matrices are row-major, activations (rows, width), conv activations time-major (T, channels).
 */
#ifndef LLAMO_BACKEND_H
#define LLAMO_BACKEND_H
#include "api.h"
#include <stddef.h>
#include <stdint.h>
#include "status.h"

/* A matrix weight (the w of linear and conv1d, the embedding table) in the backend's weight
 * format: opaque to the model code, which only passes it to the ops (no pointer arithmetic, no
 * upload or download). CPU: float32 (upload_weight), or the 16-bit on-disk BF16 / F16 bits
 * (upload_weight16), widened to float32 inside linear and embed, so a product reads half the
 * bytes (lib/cpu/cpu.h); CUDA: bfloat16 (round to nearest even), products accumulate in float32.
 * Made by upload_weight or upload_weight16, freed by release_weight. */
typedef struct lm_weight lm_weight;

typedef struct lm_backend {
	const char *name; /* "cpu", "cuda" */

	/* memory: counts are in floats */
	float *(*alloc)(size_t n); /* zeroed; NULL when out of memory */
	void (*release)(float *p);
	void (*upload)(float *dst, const float *host, size_t n);
	void (*download)(float *host, const float *src, size_t n);
	void (*copy)(float *dst, const float *src, size_t n);
	/* matrix weights only: a new weight holding host(n) floats (host NULL: zeros) in the
	 * backend's weight format (lm_weight above); NULL when out of memory. */
	lm_weight *(*upload_weight)(const float *host, size_t n);
	void (*release_weight)(lm_weight *w); /* NULL is fine */
	/* Optional (NULL: weights come as float32 only): n elements of 16-bit data, dtype LM_DT_BF16
	 * or LM_DT_F16 (safetensors.h), kept as they are; only linear and embed take such a weight
	 * (conv1d takes float32 ones). NULL when out of memory. */
	lm_weight *(*upload_weight16)(const uint16_t *host, int dtype, size_t n);

	/* y(n,out) = x(n,in) w(out,in)^T + b(out); b may be NULL (torch nn.Linear) */
	void (*linear)(float *y, const float *x, const lm_weight *w, const float *b, int n, int in, int out);
	/* y(n,d) = table[ids[i]] rows of a weight table (the embedding table), as float32;
	 * ids are host ints, all < rows of table (checked by the caller) */
	void (*embed)(float *y, const lm_weight *table, const int32_t *ids, int n, int d);
	/* the same gather from a float32 table in ordinary backend memory (alloc/upload) */
	void (*gather)(float *y, const float *table, const int32_t *ids, int n, int d);
	/* y(n,d) = x / sqrt(mean(x^2) + eps) * w (HF LlamaRMSNorm); y may equal x */
	void (*rmsnorm)(float *y, const float *x, const float *w, int n, int d, float eps);
	/* y(n,d) = (x - mean) / sqrt(var + eps) * w + b (torch LayerNorm, biased var); w, b may be NULL */
	void (*layernorm)(float *y, const float *x, const float *w, const float *b, int n, int d, float eps);
	/* rotate-half RoPE in place on x(n, heads, hd); row i is at position pos0 + i;
	 * inv_freq(hd/2) already llama3-scaled; angle computed in float32 as pos * inv_freq */
	void (*rope)(float *x, int n, int heads, int hd, int pos0, const float *inv_freq);
	/* causal GQA attention for n queries q(n, nh, hd) at positions pos0..pos0+n-1 over
	 * k_cache, v_cache (max_pos, nkv, hd) filled through pos0+n-1; out(n, nh*hd); scale 1/sqrt(hd) */
	void (*attention)(float *out, const float *q, const float *k_cache, const float *v_cache,
			  int n, int pos0, int nh, int nkv, int hd);

	/* elementwise, in place unless noted */
	void (*silu)(float *x, size_t n);
	void (*gelu)(float *x, size_t n); /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
	void (*relu)(float *x, size_t n);
	void (*sigmoid)(float *x, size_t n);
	void (*swiglu)(float *y, const float *gate, const float *up, size_t n); /* y = silu(gate)*up */
	void (*add)(float *y, const float *x, size_t n);                        /* y += x */
	/* y(n,d) = x * (1 + scale) + shift; shift, scale (n,d) with row stride `mod_stride` floats */
	void (*modulate)(float *y, const float *x, const float *shift, const float *scale, int n, int d,
			 int mod_stride);
	/* x(n,d) += gate * h; gate rows with stride mod_stride */
	void (*gated_add)(float *x, const float *gate, const float *h, int n, int d, int mod_stride);
	/* y(n,dim) = [cos(t f), sin(t f)], f_i = exp(-ln(10000) i / (dim/2)); t host floats (n) */
	void (*timestep_embedding)(float *y, const float *t, int n, int dim);
	/* x(d) += dt * (vu + s (vc - vu)); vu NULL means x += dt * vc (Euler step with guidance) */
	void (*euler_cfg)(float *x, const float *vc, const float *vu, float s, float dt, int d);

	/* causal conv, time-major: x(T_in, cin) already holds the left context; w(cout, cin, k) torch
	 * layout, a weight; b(cout); y(T_out, cout), T_out = (T_in - (k-1)*dil - 1) / stride + 1 */
	void (*conv1d)(float *y, const float *x, const lm_weight *w, const float *b, int T_in, int cin,
		       int cout, int k, int stride, int dil);
	/* nearest-neighbour x2 in time: y(2T, c) */
	void (*upsample2)(float *y, const float *x, int T, int c);

	/* Optional hooks, NULL on the CPU. Graph capture (CUDA graphs): the ops issued between
	 * graph_begin() == 0 and graph_end() are recorded, not run; graph_end returns the graph (NULL
	 * when capture failed: then run the ops directly) and graph_launch runs it, as often as wanted,
	 * on the buffers and scalars it was recorded with. Only ops whose arguments are backend memory
	 * and scalars may be captured: no upload, download, embed, gather or timestep_embedding (their
	 * host arguments would be read at capture time), no alloc or release. */
	int (*graph_begin)(void);
	void *(*graph_end)(void);
	void (*graph_launch)(void *graph);
	void (*graph_free)(void *graph);
	/* Ops are asynchronous on a device: the first error since the last call (0 when none),
	 * e.g. LM_EINTERNAL with the CUDA error text. Waits for the queued work. */
	int (*check)(lm_status *st);
	/* One line naming the device, e.g. "cuda: NVIDIA H200 (sm_90, 139 GiB)" */
	const char *(*describe)(void);
} lm_backend;

/* ---- lib/backend.c: selection and the helpers every backend shares ---- */

/* The backend named `name` ("cpu", "cuda", or NULL/"auto": LLAMO_DEVICE, else cuda when it is
 * built in and a GPU is visible, else cpu; no driver counts as no GPU). The CUDA backend is set
 * up (stream, cuBLAS, device 0 or $CUDA_VISIBLE_DEVICES' first) on first use.
 * Errors: LM_EUNAVAIL ("this build has no CUDA backend" / "no GPU visible"), LM_EUSAGE. */
LM_API int lm_backend_get(const lm_backend **be, const char *name, lm_status *st);
extern const lm_backend lm_backend_cpu; /* lib/cpu/backend_cpu.c */

/* One line for the user naming what runs: "cpu: 2 threads", "cuda: NVIDIA H200 (sm_90, 139 GiB)".
 * The string is static (valid until the next call). */
LM_API const char *lm_backend_describe(const lm_backend *be);

/* Allocates n floats on be and uploads host data (host may be NULL: zeroed). NULL on failure. */
float *lm_be_upload_new(const lm_backend *be, const float *host, size_t n);
/* be->upload_weight(host, n) for a matrix weight (n == 0: a one-float weight); NULL on failure. */
lm_weight *lm_be_upload_weight(const lm_backend *be, const float *host, size_t n);

/* Loads tensor `name` of the given shape (ndim 1..4) from a model file, converted to F32, into a
 * new float32 buffer *dst on be (biases, norms). `who` names the caller in errors ("backbone",
 * "heads", "vae"). 0, or the safetensors error (missing tensor, wrong shape or dtype, a value
 * that is not finite) or
 * LM_ENOMEM (*dst NULL). */
struct lm_safetensors;
/* LM_EDATA "FILE: tensor 'name': element I is not finite" when the float tensor holds a NaN or
 * an infinity (both loads below check it), else 0. */
int lm_check_finite(const struct lm_safetensors *sf, const char *name, lm_status *st);
int lm_be_load_tensor(const lm_backend *be, const struct lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, float **dst, lm_status *st);
/* The same for a matrix weight (ndim 2..4): *dst in the backend's weight format; a BF16 or F16
 * tensor stays 16-bit where the backend keeps such weights (upload_weight16) and keep16 is set
 * (weights of linear and embed; conv1d weights are float32). */
int lm_be_load_weight(const lm_backend *be, const struct lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, int keep16, lm_weight **dst,
		      lm_status *st);

/* ---- lib/backend.c: the buffers a model part owns ---- */

/* Every backend buffer and weight that one model part (backbone, heads, VAE) loaded or allocated,
 * in one list, so that its free function is one call (lm_owned_free) instead of a hand-kept list
 * of pointers. The part's structs keep plain pointers into what the list owns. */
typedef struct lm_owned {
	const lm_backend *be;
	int widen; /* weights loaded as float32 even where the backend keeps 16-bit ones (conv1d) */
	int n, cap;
	struct lm_owned_item {
		void *p;
		int is_weight; /* lm_weight * (release_weight), else float * (release) */
	} *item;
} lm_owned;

/* An empty list for buffers on be (also what a zeroed lm_owned with be set is). */
void lm_owned_init(lm_owned *o, const lm_backend *be);
/* be->alloc(n) (n zeroed floats, at least 1) owned by o; NULL when out of memory. */
float *lm_owned_alloc(lm_owned *o, size_t n);
/* lm_be_upload_weight(o->be, host, n) owned by o; NULL when out of memory. */
lm_weight *lm_owned_upload_weight(lm_owned *o, const float *host, size_t n);
/* lm_be_load_tensor / lm_be_load_weight on o->be, the new buffer owned by o (LM_ENOMEM when o
 * cannot record it: then nothing is kept). */
int lm_owned_load_tensor(lm_owned *o, const struct lm_safetensors *sf, const char *who, const char *name,
			 int ndim, const int64_t *shape, float **dst, lm_status *st);
int lm_owned_load_weight(lm_owned *o, const struct lm_safetensors *sf, const char *who, const char *name,
			 int ndim, const int64_t *shape, lm_weight **dst, lm_status *st);
/* A matrix weight of n elements from host data of dtype LM_DT_F32, LM_DT_F16 or LM_DT_BF16
 * (little-endian, as in a model file: a merged LoRA twin, lib/lora.h), owned by o: exactly what
 * lm_owned_load_weight makes of a tensor with these bytes (16-bit data kept as it is where the
 * backend keeps such weights and o does not widen, else widened exactly to float32).
 * Errors: LM_ENOMEM naming who and name. */
int lm_owned_upload_raw(lm_owned *o, const void *data, int dtype, size_t n, const char *who, const char *name,
			lm_weight **dst, lm_status *st);
/* A torch nn.Linear(in, out): `prefix`.weight (out, in), torch's weight shape, as a weight and
 * `prefix`.bias (out) in float32, both owned by o. Errors: those of the loaders. */
int lm_owned_load_linear(lm_owned *o, const struct lm_safetensors *sf, const char *who, const char *prefix,
			 int out, int in, lm_weight **w, float **b, lm_status *st);
/* Releases everything o owns, newest first; o is then empty (o->be kept). Zeroed o: nothing. */
void lm_owned_free(lm_owned *o);

/* The CUDA backend (kernels/backend_cuda.cu), set up on first call: 0 and *be, or LM_EUNAVAIL
 * with the reason. Without CUDA (CUDA=0) a stub in lib/backend.c answers LM_EUNAVAIL "this build
 * has no CUDA backend". Programs use lm_backend_get. */
int lm_cuda_open(const lm_backend **be, lm_status *st);
#endif
