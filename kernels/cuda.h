/* cuda.h: what the CUDA backend's files share (only kernels/; the library sees lib/backend.h).
 *
 * One device, one stream: every op is queued on cu_ctx()->stream (cuBLAS too), so ops run in the order
 * the model code issues them and only download (and check) wait for the device. Buffers are
 * float32 (activations, norms, biases, the kv cache) except matrix weights, which are bfloat16
 * (upload_weight). The ops mirror lib/cpu/ one for one; semantics in lib/backend.h.
 */
#ifndef LLAMO_KERNELS_CUDA_H
#define LLAMO_KERNELS_CUDA_H
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include "backend.h"
}

typedef __nv_bfloat16 bf16;

/* A weight on the CUDA backend is its bfloat16 data (upload_weight) */
static inline const bf16 *cu_weight_bf16(const lm_weight *w)
{
	return (const bf16 *)w;
}

/* The backend's state, one per process (after ggml's ggml_backend_cuda_context): made by
 * lm_cuda_open, private to backend_cuda.cu; the ops read it through cu_ctx(). */
typedef struct cu_context {
	int device;
	cudaStream_t stream;     /* every op is queued here, cuBLAS too */
	cublasHandle_t blas;     /* on `stream`, with its own workspace (so products can be captured) */
	void *blas_ws;           /* the cuBLAS workspace */
	void *scratch;           /* CU_SCRATCH_BYTES, see below */
	int use_pool;            /* cudaMallocAsync available (memory from the device's pool) */
	int err_code;            /* first error since the last check(), 0 when none */
	int err_before_capture;  /* err_code when a graph capture began */
	char err_msg[256];
	char device_line[160];   /* describe() */
} cu_context;

/* The context, set up (lm_cuda_open succeeded) before any op runs. */
const cu_context *cu_ctx(void);

/* Records the first failure (kept until check() reports it); `what` names the op. */
void cu_note(cudaError_t e, const char *what);
void cu_note_blas(cublasStatus_t s, const char *what);
/* after a kernel launch: launch errors (bad configuration) are recorded */
#define CU_LAUNCHED(what) cu_note(cudaGetLastError(), what)

/* The backend's one scratch buffer (cu_ctx()->scratch), CU_SCRATCH_BYTES, allocated at set-up:
 * im2col windows and bfloat16 copies of activations for cuBLAS. Ops use it in stream order, so
 * one is enough. */
#define CU_SCRATCH_BYTES ((size_t)64 << 20)

/* Host arrays (ids, time steps) travel as kernel parameters, CU_ARG_MAX at a time. */
#define CU_ARG_MAX 256
struct cu_ids { int32_t v[CU_ARG_MAX]; };
struct cu_f32s { float v[CU_ARG_MAX]; };

static inline unsigned cu_grid(size_t n, unsigned threads)
{
	size_t b = (n + threads - 1) / threads;
	return (unsigned)(b < 65535u * 32u ? (b ? b : 1) : 65535u * 32u);
}

/* Block-wide float sum over blockDim.x threads (a multiple of 32, at most 1024); every thread
 * gets the total. `red` holds 32 floats of shared memory. */
__device__ __forceinline__ float cu_warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ __forceinline__ float cu_block_sum(float v, float *red)
{
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = cu_warp_sum(v);
	__syncthreads(); /* red may still be read from a previous call */
	if (lane == 0)
		red[warp] = v;
	__syncthreads();
	v = lane < nw ? red[lane] : 0.0f;
	return cu_warp_sum(v);
}

/* ops_core.cu (lib/cpu/ops_core.c) */
void cu_linear(float *y, const float *x, const lm_weight *w, const float *b, int n, int in, int out);
/* y(n,out) = x(n,in) w^T + b with x already bfloat16 (cuBLAS, F32 accumulation) */
void cu_gemm_bf16(float *y, const bf16 *x, const bf16 *w, const float *b, int n, int in, int out);
/* the same for n <= CU_GEMV_ROWS float32 rows: one warp per output, the weights read once */
#define CU_GEMV_ROWS 8
void cu_gemv(float *y, const float *x, const bf16 *w, const float *b, int n, int in, int out);
void cu_embed(float *y, const lm_weight *table, const int32_t *ids, int n, int d);
void cu_gather(float *y, const float *table, const int32_t *ids, int n, int d);
void cu_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps);
void cu_rope(float *x, int n, int heads, int hd, int pos0, const float *inv_freq);
void cu_silu(float *x, size_t n);
void cu_gelu(float *x, size_t n);
void cu_relu(float *x, size_t n);
void cu_sigmoid(float *x, size_t n);
void cu_swiglu(float *y, const float *gate, const float *up, size_t n);
void cu_add(float *y, const float *x, size_t n);

/* attention.cu (cpu_attention) */
void cu_attention(float *out, const float *q, const float *k_cache, const float *v_cache, int n, int pos0,
		  int nh, int nkv, int hd);

/* ops_head.cu (lib/cpu/ops_head.c) */
void cu_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d, float eps);
void cu_modulate(float *y, const float *x, const float *shift, const float *scale, int n, int d,
		 int mod_stride);
void cu_gated_add(float *x, const float *gate, const float *h, int n, int d, int mod_stride);
void cu_timestep_embedding(float *y, const float *t, int n, int dim);
void cu_euler_cfg(float *x, const float *vc, const float *vu, float s, float dt, int d);

/* ops_conv.cu (lib/cpu/ops_conv.c) */
void cu_conv1d(float *y, const float *x, const lm_weight *w, const float *b, int T_in, int cin, int cout,
	       int k, int stride, int dil);
void cu_upsample2(float *y, const float *x, int T, int c);
#endif
