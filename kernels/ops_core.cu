/* ops_core.cu: products, embedding rows, RMSNorm, RoPE and the elementwise ops on CUDA; each
 * mirrors the lib/cpu/ops_core.c function of the same name (cpu_linear -> cu_linear, ...).
 *
 * Products: weights are bfloat16 (upload_weight), activations float32, sums float32.
 *  - up to CU_GEMV_ROWS rows (decoding: 1 row; the flow head's guidance pair: 2): cu_gemv, one
 *    warp per output row reading the weight row once for all rows, 16-byte loads, float32 x;
 *  - more rows (prefill, the modulation batch, the VAE over a sequence): the rows are rounded to
 *    bfloat16 into the scratch buffer and cuBLAS multiplies (cublasGemmEx, BF16 x BF16 -> F32,
 *    CUBLAS_COMPUTE_32F), then the bias is added. */
#include <string.h>
#include "cuda.h"

#define ONE_OVER_SQRT2 0.70710678118654752440f

/* ---- products (cpu_linear) ---- */

__device__ __forceinline__ void unpack8(uint4 u, float *f)
{
	const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
	for (int i = 0; i < 4; i++) {
		float2 p = __bfloat1622float2(h[i]);
		f[2 * i] = p.x;
		f[2 * i + 1] = p.y;
	}
}

/* y(R, out) = x(R, in) w(out, in)^T + b: warp `o` computes output o for all R rows. vec: in % 8 == 0
 * and x, w 16-byte aligned, so a lane reads 8 weights (and 8 x of each row) at a time. */
template <int R>
__global__ void gemv_kernel(float *__restrict__ y, const float *__restrict__ x, const bf16 *__restrict__ w,
			    const float *__restrict__ b, int in, int out, int vec)
{
	int o = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
	if (o >= out)
		return; /* whole warps leave together */
	const bf16 *wr = w + (size_t)o * in;
	float acc[R];
#pragma unroll
	for (int r = 0; r < R; r++)
		acc[r] = 0.0f;
	if (vec) {
		const uint4 *w8 = reinterpret_cast<const uint4 *>(wr);
		int n8 = in >> 3;
#pragma unroll 2
		for (int c = lane; c < n8; c += 32) {
			float wf[8];
			unpack8(w8[c], wf);
#pragma unroll
			for (int r = 0; r < R; r++) {
				const float4 *xr = reinterpret_cast<const float4 *>(x + (size_t)r * in) + 2 * c;
				float4 a = xr[0], z = xr[1];
				acc[r] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * z.x +
					  wf[5] * z.y + wf[6] * z.z + wf[7] * z.w;
			}
		}
	} else {
		for (int c = lane; c < in; c += 32) {
			float wv = __bfloat162float(wr[c]);
#pragma unroll
			for (int r = 0; r < R; r++)
				acc[r] += wv * x[(size_t)r * in + c];
		}
	}
#pragma unroll
	for (int r = 0; r < R; r++) {
		float s = cu_warp_sum(acc[r]);
		if (lane == 0)
			y[(size_t)r * out + o] = s + (b ? b[o] : 0.0f);
	}
}

void cu_gemv(float *y, const float *x, const bf16 *w, const float *b, int n, int in, int out)
{
	int vec = in % 8 == 0 && ((uintptr_t)x & 15) == 0 && ((uintptr_t)w & 15) == 0;
	unsigned threads = 256, grid = (unsigned)(((size_t)out * 32 + threads - 1) / threads);
	switch (n) {
#define GEMV_CASE(R)                                                                                 \
	case R:                                                                                      \
		gemv_kernel<R><<<grid, threads, 0, cu_ctx()->stream>>>(y, x, w, b, in, out, vec);           \
		break;
		GEMV_CASE(1) GEMV_CASE(2) GEMV_CASE(3) GEMV_CASE(4)
		GEMV_CASE(5) GEMV_CASE(6) GEMV_CASE(7) GEMV_CASE(8)
#undef GEMV_CASE
	default:
		return;
	}
	CU_LAUNCHED("linear (gemv)");
}

__global__ void to_bf16_kernel(bf16 *__restrict__ y, const float *__restrict__ x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void add_bias_kernel(float *__restrict__ y, const float *__restrict__ b, int n, int out)
{
	size_t total = (size_t)n * out;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
	     i += (size_t)gridDim.x * blockDim.x)
		y[i] += b[i % out];
}

void cu_gemm_bf16(float *y, const bf16 *x, const bf16 *w, const float *b, int n, int in, int out)
{
	const float one = 1.0f, zero = 0.0f;
	/* row-major y(n,out) = x(n,in) w(out,in)^T is column-major y^T = w^T x^T: A = w read
	 * transposed (lda in), B = x (ldb in), C = y^T (ldc out) */
	cu_note_blas(cublasGemmEx(cu_ctx()->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, CUDA_R_16BF, in, x,
				  CUDA_R_16BF, in, &zero, y, CUDA_R_32F, out, CUBLAS_COMPUTE_32F,
				  CUBLAS_GEMM_DEFAULT),
		     "linear (cublasGemmEx)");
	if (b) {
		add_bias_kernel<<<cu_grid((size_t)n * out, 256), 256, 0, cu_ctx()->stream>>>(y, b, n, out);
		CU_LAUNCHED("linear (bias)");
	}
}

void cu_linear(float *y, const float *x, const lm_weight *w, const float *b, int n, int in, int out)
{
	const bf16 *wb = cu_weight_bf16(w);
	if (n <= 0 || in <= 0 || out <= 0)
		return;
	size_t per = CU_SCRATCH_BYTES / sizeof(bf16) / (size_t)in; /* rows per product */
	if (n <= CU_GEMV_ROWS || per < (size_t)CU_GEMV_ROWS) {
		for (int i0 = 0; i0 < n; i0 += CU_GEMV_ROWS) {
			int r = n - i0 < CU_GEMV_ROWS ? n - i0 : CU_GEMV_ROWS;
			cu_gemv(y + (size_t)i0 * out, x + (size_t)i0 * in, wb, b, r, in, out);
		}
		return;
	}
	bf16 *xb = (bf16 *)cu_ctx()->scratch;
	for (int i0 = 0; i0 < n; i0 += (int)per) {
		int r = (size_t)(n - i0) < per ? n - i0 : (int)per;
		size_t m = (size_t)r * in;
		to_bf16_kernel<<<cu_grid(m, 256), 256, 0, cu_ctx()->stream>>>(xb, x + (size_t)i0 * in, m);
		CU_LAUNCHED("linear (to bf16)");
		cu_gemm_bf16(y + (size_t)i0 * out, xb, wb, b, r, in, out);
	}
}

/* ---- rows of a table (cpu_embed) ---- */

__device__ __forceinline__ float as_float(float v) { return v; }
__device__ __forceinline__ float as_float(bf16 v) { return __bfloat162float(v); }

template <typename T>
__global__ void rows_kernel(float *__restrict__ y, const T *__restrict__ table, cu_ids ids, int d)
{
	int i = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j < d)
		y[(size_t)i * d + j] = as_float(table[(size_t)ids.v[i] * d + j]);
}

template <typename T>
static void rows(float *y, const T *table, const int32_t *ids, int n, int d, const char *what)
{
	cu_ids a;
	for (int i0 = 0; i0 < n; i0 += CU_ARG_MAX) {
		int m = n - i0 < CU_ARG_MAX ? n - i0 : CU_ARG_MAX;
		memcpy(a.v, ids + i0, (size_t)m * sizeof(int32_t));
		dim3 grid((unsigned)((d + 255) / 256), (unsigned)m);
		rows_kernel<T><<<grid, 256, 0, cu_ctx()->stream>>>(y + (size_t)i0 * d, table, a, d);
		CU_LAUNCHED(what);
	}
}

void cu_embed(float *y, const lm_weight *table, const int32_t *ids, int n, int d)
{
	rows(y, cu_weight_bf16(table), ids, n, d, "embed");
}

void cu_gather(float *y, const float *table, const int32_t *ids, int n, int d)
{
	rows(y, table, ids, n, d, "gather");
}

/* ---- norms and RoPE (cpu_rmsnorm, cpu_rope) ---- */

/* one block per row: y = x * (1 / sqrt(mean(x^2) + eps)) * w */
__global__ void rmsnorm_kernel(float *y, const float *x, const float *__restrict__ w, int d, float eps)
{
	__shared__ float red[32];
	const float *xi = x + (size_t)blockIdx.x * d;
	float *yi = y + (size_t)blockIdx.x * d;
	float ss = 0.0f;
	for (int j = threadIdx.x; j < d; j += blockDim.x)
		ss += xi[j] * xi[j];
	ss = cu_block_sum(ss, red);
	float r = 1.0f / sqrtf(ss / d + eps);
	for (int j = threadIdx.x; j < d; j += blockDim.x)
		yi[j] = xi[j] * r * w[j];
}

void cu_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps)
{
	if (n <= 0)
		return;
	rmsnorm_kernel<<<n, 256, 0, cu_ctx()->stream>>>(y, x, w, d, eps);
	CU_LAUNCHED("rmsnorm");
}

/* one thread per (row, head, pair j): angle (pos0 + i) * inv_freq[j] in float32, rotate-half */
__global__ void rope_kernel(float *x, int n, int heads, int hd, int pos0, const float *__restrict__ inv_freq)
{
	int half = hd / 2;
	size_t total = (size_t)n * heads * half;
	for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
	     t += (size_t)gridDim.x * blockDim.x) {
		int j = (int)(t % half);
		size_t ih = t / half; /* i * heads + h */
		int i = (int)(ih / heads);
		float a = (float)(pos0 + i) * inv_freq[j];
		float c = cosf(a), s = sinf(a);
		float *v = x + ih * hd;
		float x1 = v[j], x2 = v[j + half];
		v[j] = x1 * c - x2 * s;
		v[j + half] = x2 * c + x1 * s;
	}
}

void cu_rope(float *x, int n, int heads, int hd, int pos0, const float *inv_freq)
{
	size_t total = (size_t)n * heads * (hd / 2);
	if (!total)
		return;
	rope_kernel<<<cu_grid(total, 256), 256, 0, cu_ctx()->stream>>>(x, n, heads, hd, pos0, inv_freq);
	CU_LAUNCHED("rope");
}

/* ---- elementwise (cpu_silu, cpu_gelu, cpu_relu, cpu_sigmoid, cpu_swiglu, cpu_add) ---- */

#define EACH(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void silu_kernel(float *x, size_t n)
{
	EACH(i, n) x[i] = x[i] / (1.0f + expf(-x[i]));
}

__global__ void gelu_kernel(float *x, size_t n)
{
	EACH(i, n) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * ONE_OVER_SQRT2));
}

__global__ void relu_kernel(float *x, size_t n)
{
	EACH(i, n) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void sigmoid_kernel(float *x, size_t n)
{
	EACH(i, n) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

__global__ void swiglu_kernel(float *y, const float *gate, const float *up, size_t n)
{
	EACH(i, n) y[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

__global__ void add_kernel(float *y, const float *x, size_t n)
{
	EACH(i, n) y[i] += x[i];
}

#define LAUNCH_1D(kernel, n, what, ...)                                                  \
	do {                                                                             \
		if (n) {                                                                 \
			kernel<<<cu_grid(n, 256), 256, 0, cu_ctx()->stream>>>(__VA_ARGS__);     \
			CU_LAUNCHED(what);                                               \
		}                                                                        \
	} while (0)

void cu_silu(float *x, size_t n) { LAUNCH_1D(silu_kernel, n, "silu", x, n); }
void cu_gelu(float *x, size_t n) { LAUNCH_1D(gelu_kernel, n, "gelu", x, n); }
void cu_relu(float *x, size_t n) { LAUNCH_1D(relu_kernel, n, "relu", x, n); }
void cu_sigmoid(float *x, size_t n) { LAUNCH_1D(sigmoid_kernel, n, "sigmoid", x, n); }
void cu_swiglu(float *y, const float *gate, const float *up, size_t n)
{
	LAUNCH_1D(swiglu_kernel, n, "swiglu", y, gate, up, n);
}
void cu_add(float *y, const float *x, size_t n) { LAUNCH_1D(add_kernel, n, "add", y, x, n); }
