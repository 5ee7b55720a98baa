/* ops_conv.cu: the causal VAE's convolution and upsampling on CUDA; mirrors lib/cpu/ops_conv.c
 * (cpu_conv1d -> cu_conv1d, cpu_upsample2 -> cu_upsample2).
 *
 * The convolution is the CPU's im2col product: output row t's window, x rows t*stride + j*dil
 * (j < k), is gathered into a row of cin*k values ordered [i*k + j], which is the torch weight
 * layout (cout, cin, k) read as a (cout, cin*k) matrix, so y = cols w^T + b is one product with
 * the bfloat16 weights as uploaded. Few rows (a streaming step: 1 to 4) gather float32 windows
 * and use cu_gemv; more rows gather straight to bfloat16 for cuBLAS. Both gathers go into the
 * backend's scratch buffer, in blocks of rows that fit it. */
#include "cuda.h"

/* cols(n, cin*k) [t][i*k + j] = x[(t0 + t)*stride + j*dil][i], as T (float or bfloat16) */
template <typename T>
__global__ void im2col_kernel(T *__restrict__ cols, const float *__restrict__ x, int t0, int n, int cin, int k,
			      int stride, int dil)
{
	size_t ck = (size_t)cin * k, total = (size_t)n * ck;
	for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < total;
	     q += (size_t)gridDim.x * blockDim.x) {
		size_t t = q / ck, e = q % ck;
		int i = (int)(e / k), j = (int)(e % k);
		float v = x[((size_t)(t0 + t) * stride + (size_t)j * dil) * cin + i];
		if constexpr (sizeof(T) == 2)
			cols[q] = __float2bfloat16_rn(v);
		else
			cols[q] = v;
	}
}

void cu_conv1d(float *y, const float *x, const lm_weight *w, const float *b, int T_in, int cin, int cout,
	       int k, int stride, int dil)
{
	int span = (k - 1) * dil + 1;
	if (T_in < span || cin <= 0 || cout <= 0)
		return;
	int T_out = (T_in - span) / stride + 1;
	size_t ck = (size_t)cin * k;
	const bf16 *wb = cu_weight_bf16(w);
	if (k == 1 && stride == 1) { /* the input rows are the windows */
		cu_linear(y, x, w, b, T_out, cin, cout);
		return;
	}
	if (T_out <= CU_GEMV_ROWS && (size_t)T_out * ck * sizeof(float) <= CU_SCRATCH_BYTES) {
		float *cols = (float *)cu_ctx()->scratch;
		im2col_kernel<float><<<cu_grid((size_t)T_out * ck, 256), 256, 0, cu_ctx()->stream>>>(
			cols, x, 0, T_out, cin, k, stride, dil);
		CU_LAUNCHED("conv1d (im2col)");
		cu_gemv(y, cols, wb, b, T_out, (int)ck, cout);
		return;
	}
	size_t per = CU_SCRATCH_BYTES / sizeof(bf16) / ck; /* output rows per product */
	if (per < 1) {
		cu_note(cudaErrorInvalidValue, "conv1d: cin*k too large for the scratch buffer");
		return;
	}
	bf16 *cols = (bf16 *)cu_ctx()->scratch;
	for (int t0 = 0; t0 < T_out; t0 += (int)per) {
		int n = (size_t)(T_out - t0) < per ? T_out - t0 : (int)per;
		im2col_kernel<bf16><<<cu_grid((size_t)n * ck, 256), 256, 0, cu_ctx()->stream>>>(cols, x, t0, n, cin, k,
											       stride, dil);
		CU_LAUNCHED("conv1d (im2col)");
		cu_gemm_bf16(y + (size_t)t0 * cout, cols, wb, b, n, (int)ck, cout);
	}
}

/* y[2t] = y[2t+1] = x[t], rows of c */
__global__ void upsample2_kernel(float *__restrict__ y, const float *__restrict__ x, int T, int c)
{
	size_t total = (size_t)2 * T * c;
	for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < total;
	     q += (size_t)gridDim.x * blockDim.x) {
		size_t r = q / c, j = q % c;
		y[q] = x[(r / 2) * c + j];
	}
}

void cu_upsample2(float *y, const float *x, int T, int c)
{
	size_t total = (size_t)2 * T * c;
	if (!total)
		return;
	upsample2_kernel<<<cu_grid(total, 256), 256, 0, cu_ctx()->stream>>>(y, x, T, c);
	CU_LAUNCHED("upsample2");
}
