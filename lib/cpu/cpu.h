/* cpu.h: the CPU backend's ops (the reference every other backend is tested against).
 * Semantics are documented in backend.h. */
#ifndef LLAMO_CPU_H
#define LLAMO_CPU_H
#include <stddef.h>
#include <stdint.h>
#include "../backend.h"

/* A weight on the CPU: float32 (upload_weight), or the BF16 / F16 bits of the model file
 * (upload_weight16), widened inside linear and embed (ops_w16.c). */
struct lm_weight {
	int dtype;  /* LM_DT_F32, LM_DT_BF16 or LM_DT_F16 (safetensors.h) */
	size_t n;   /* elements */
	void *data; /* n floats or n 16-bit values */
};
/* The floats of a float32 weight (NULL for a 16-bit one): the CPU backend's own view, and for
 * tests that change weights on the host. */
static inline float *cpu_weight_f32(const lm_weight *w)
{
	return w && w->dtype == 0 ? (float *)w->data : NULL;
}
/* A float32 weight that views host floats p (no copy), valid in the enclosing block: for tests. */
#define cpu_f32_weight(p) (&(const lm_weight){0, 0, (void *)(p)})

/* ops_core.c: memory, products, norms, rope, attention, elementwise */
float *cpu_alloc(size_t n);
void cpu_release(float *p);
void cpu_upload(float *dst, const float *host, size_t n);
void cpu_download(float *host, const float *src, size_t n);
void cpu_copy(float *dst, const float *src, size_t n);
lm_weight *cpu_upload_weight(const float *host, size_t n);
lm_weight *cpu_upload_weight16(const uint16_t *host, int dtype, size_t n);
void cpu_release_weight(lm_weight *w);
void cpu_linear(float *y, const float *x, const lm_weight *w, const float *b, int n, int in, int out);
void cpu_embed(float *y, const lm_weight *table, const int32_t *ids, int n, int d);
void cpu_gather(float *y, const float *table, const int32_t *ids, int n, int d);
void cpu_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps);
void cpu_rope(float *x, int n, int heads, int hd, int pos0, const float *inv_freq);
void cpu_attention(float *out, const float *q, const float *k_cache, const float *v_cache, int n,
		   int pos0, int nh, int nkv, int hd);
void cpu_silu(float *x, size_t n);
void cpu_gelu(float *x, size_t n);
void cpu_relu(float *x, size_t n);
void cpu_sigmoid(float *x, size_t n);
void cpu_swiglu(float *y, const float *gate, const float *up, size_t n);
void cpu_add(float *y, const float *x, size_t n);

/* ops_w16.c: the products and the gather of 16-bit weights (AVX2 + F16C where the CPU has them) */
void cpu_linear_w16(float *y, const float *x, const lm_weight *w, int n, int in, int out);
void cpu_embed_w16(float *y, const lm_weight *table, const int32_t *ids, int n, int d);

/* ops_head.c: layernorm and the adaln / flow-matching ops */
void cpu_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d, float eps);
void cpu_modulate(float *y, const float *x, const float *shift, const float *scale, int n, int d,
		  int mod_stride);
void cpu_gated_add(float *x, const float *gate, const float *h, int n, int d, int mod_stride);
void cpu_timestep_embedding(float *y, const float *t, int n, int dim);
void cpu_euler_cfg(float *x, const float *vc, const float *vu, float s, float dt, int d);

/* ops_conv.c: causal convolution and upsampling */
void cpu_conv1d(float *y, const float *x, const lm_weight *w, const float *b, int T_in, int cin, int cout,
		int k, int stride, int dil);
void cpu_upsample2(float *y, const float *x, int T, int c);
#endif
