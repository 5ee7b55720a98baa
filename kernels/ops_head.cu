/* ops_head.cu: LayerNorm and the adaLN / flow-matching ops on CUDA; each mirrors the
 * lib/cpu/ops_head.c function of the same name (cpu_layernorm -> cu_layernorm, ...). All float32;
 * the flow head's matrices go through cu_linear (ops_core.cu). */
#include <math.h>
#include <string.h>
#include "cuda.h"

#define EACH(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* one block per row: mean, then the biased variance of the centred values (two passes, float32
 * block sums; the CPU sums in double: the two agree to float rounding); w, b may be NULL */
__global__ void layernorm_kernel(float *y, const float *x, const float *__restrict__ w,
				 const float *__restrict__ b, int d, float eps)
{
	__shared__ float red[32];
	const float *xi = x + (size_t)blockIdx.x * d;
	float *yi = y + (size_t)blockIdx.x * d;
	float s = 0.0f;
	for (int j = threadIdx.x; j < d; j += blockDim.x)
		s += xi[j];
	float mean = cu_block_sum(s, red) / d;
	float ss = 0.0f;
	for (int j = threadIdx.x; j < d; j += blockDim.x) {
		float c = xi[j] - mean;
		ss += c * c;
	}
	float rstd = 1.0f / sqrtf(cu_block_sum(ss, red) / d + eps);
	for (int j = threadIdx.x; j < d; j += blockDim.x) {
		float v = (xi[j] - mean) * rstd;
		if (w)
			v *= w[j];
		if (b)
			v += b[j];
		yi[j] = v;
	}
}

void cu_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d, float eps)
{
	if (n <= 0)
		return;
	layernorm_kernel<<<n, 256, 0, cu_ctx()->stream>>>(y, x, w, b, d, eps);
	CU_LAUNCHED("layernorm");
}

/* y = x * (1 + scale) + shift, shift/scale rows mod_stride apart */
__global__ void modulate_kernel(float *y, const float *x, const float *shift, const float *scale, int n, int d,
				int ms)
{
	EACH(t, (size_t)n * d) {
		size_t i = t / d, j = t % d;
		y[t] = x[t] * (1.0f + scale[i * ms + j]) + shift[i * ms + j];
	}
}

void cu_modulate(float *y, const float *x, const float *shift, const float *scale, int n, int d,
		 int mod_stride)
{
	size_t total = (size_t)n * d;
	if (!total)
		return;
	modulate_kernel<<<cu_grid(total, 256), 256, 0, cu_ctx()->stream>>>(y, x, shift, scale, n, d, mod_stride);
	CU_LAUNCHED("modulate");
}

/* x += gate * h, gate rows mod_stride apart */
__global__ void gated_add_kernel(float *x, const float *gate, const float *h, int n, int d, int ms)
{
	EACH(t, (size_t)n * d) {
		size_t i = t / d, j = t % d;
		x[t] += gate[i * ms + j] * h[t];
	}
}

void cu_gated_add(float *x, const float *gate, const float *h, int n, int d, int mod_stride)
{
	size_t total = (size_t)n * d;
	if (!total)
		return;
	gated_add_kernel<<<cu_grid(total, 256), 256, 0, cu_ctx()->stream>>>(x, gate, h, n, d, mod_stride);
	CU_LAUNCHED("gated_add");
}

/* y(n, dim) = [cos(t f), sin(t f)], f_j = exp(-ln(10000) j / half), a zero last column when dim
 * is odd; the n time steps (host floats) travel in the kernel's parameters */
__global__ void timestep_kernel(float *y, cu_f32s t, int n, int dim, float neg_log)
{
	int half = dim / 2;
	EACH(q, (size_t)n * half) {
		int i = (int)(q / half), j = (int)(q % half);
		float *yi = y + (size_t)i * dim;
		float f = expf(neg_log * (float)j / (float)half);
		float a = t.v[i] * f;
		yi[j] = cosf(a);
		yi[half + j] = sinf(a);
		if (dim % 2 && j == 0)
			yi[dim - 1] = 0.0f;
	}
}

void cu_timestep_embedding(float *y, const float *t, int n, int dim)
{
	const float neg_log = -(float)log(10000.0); /* as cpu_timestep_embedding rounds it */
	cu_f32s a;
	if (dim < 2) { /* dim 1: only the zero column */
		if (dim == 1 && n > 0)
			cu_note(cudaMemsetAsync(y, 0, (size_t)n * sizeof(float), cu_ctx()->stream), "timestep_embedding");
		return;
	}
	for (int i0 = 0; i0 < n; i0 += CU_ARG_MAX) {
		int m = n - i0 < CU_ARG_MAX ? n - i0 : CU_ARG_MAX;
		memcpy(a.v, t + i0, (size_t)m * sizeof(float));
		size_t total = (size_t)m * (dim / 2);
		timestep_kernel<<<cu_grid(total, 256), 256, 0, cu_ctx()->stream>>>(y + (size_t)i0 * dim, a, m, dim,
										    neg_log);
		CU_LAUNCHED("timestep_embedding");
	}
}

/* x += dt * (vu + s (vc - vu)), or x += dt * vc without vu */
__global__ void euler_cfg_kernel(float *x, const float *vc, const float *vu, float s, float dt, int d)
{
	EACH(j, (size_t)d) {
		float v = vu ? vu[j] + s * (vc[j] - vu[j]) : vc[j];
		x[j] += dt * v;
	}
}

void cu_euler_cfg(float *x, const float *vc, const float *vu, float s, float dt, int d)
{
	if (d <= 0)
		return;
	euler_cfg_kernel<<<cu_grid((size_t)d, 256), 256, 0, cu_ctx()->stream>>>(x, vc, vu, s, dt, d);
	CU_LAUNCHED("euler_cfg");
}
