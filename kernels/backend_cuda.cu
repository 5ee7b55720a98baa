/* backend_cuda.cu: the CUDA backend's table, context, memory, device selection, graph hooks and
 * errors. Mirrors lib/cpu/backend_cpu.c and the memory ops of lib/cpu/ops_core.c (cpu_alloc,
 * cpu_upload, ...). Set up once per process by lm_cuda_open into one context (cu_context, after
 * ggml's ggml_backend_cuda_context): device (the first visible one), one non-blocking stream, a
 * cuBLAS handle with its own workspace (so products can be recorded into graphs), the scratch
 * buffer, the error state. The table is a static const; its ops reach the context through
 * cu_ctx(). Memory comes from the device's stream-ordered pool (cudaMallocAsync), kept by
 * the pool once freed, so the few per-call buffers of the library (lm_logits, the VAE's passes)
 * cost no cudaMalloc after the first; devices without pools use cudaMalloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda.h"

#define BLAS_WS_BYTES ((size_t)32 << 20)

static cu_context ctx; /* filled by setup() */

const cu_context *cu_ctx(void)
{
	return &ctx;
}

void cu_note(cudaError_t e, const char *what)
{
	if (e == cudaSuccess || ctx.err_code)
		return;
	ctx.err_code = e == cudaErrorMemoryAllocation ? LM_ENOMEM : LM_EINTERNAL;
	snprintf(ctx.err_msg, sizeof ctx.err_msg, "cuda: %s: %s", what, cudaGetErrorString(e));
}

void cu_note_blas(cublasStatus_t s, const char *what)
{
	if (s == CUBLAS_STATUS_SUCCESS || ctx.err_code)
		return;
	ctx.err_code = s == CUBLAS_STATUS_ALLOC_FAILED ? LM_ENOMEM : LM_EINTERNAL;
	snprintf(ctx.err_msg, sizeof ctx.err_msg, "cuda: %s: cuBLAS status %d", what, (int)s);
}

/* ---- memory (cpu_alloc, cpu_release, cpu_upload, cpu_download, cpu_copy) ---- */

static void *dev_alloc(size_t bytes)
{
	void *p = NULL;
	cudaError_t e = ctx.use_pool ? cudaMallocAsync(&p, bytes, ctx.stream) : cudaMalloc(&p, bytes);
	if (e != cudaSuccess) {
		cudaGetLastError(); /* out of memory is reported by the caller (NULL), not kept */
		return NULL;
	}
	return p;
}

static float *cuda_alloc(size_t n)
{
	size_t bytes = (n ? n : 1) * sizeof(float);
	float *p = (float *)dev_alloc(bytes);
	if (p)
		cu_note(cudaMemsetAsync(p, 0, bytes, ctx.stream), "alloc");
	return p;
}

static void cuda_release(float *p)
{
	if (p)
		cu_note(ctx.use_pool ? cudaFreeAsync(p, ctx.stream) : cudaFree(p), "release");
}

static void cuda_upload(float *dst, const float *host, size_t n)
{
	if (n)
		cu_note(cudaMemcpyAsync(dst, host, n * sizeof(float), cudaMemcpyHostToDevice, ctx.stream), "upload");
}

/* The host needs the data now: the one place (with check) that waits for the device. On a
 * failure the host copy is NaN, and check() reports the error. */
static void cuda_download(float *host, const float *src, size_t n)
{
	if (!n)
		return;
	cu_note(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, ctx.stream), "download");
	cudaError_t e = cudaStreamSynchronize(ctx.stream);
	cu_note(e, "download");
	if (e != cudaSuccess)
		for (size_t i = 0; i < n; i++)
			host[i] = __builtin_nanf("");
}

static void cuda_copy(float *dst, const float *src, size_t n)
{
	if (n && dst != src)
		cu_note(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream), "copy");
}

/* float32 -> bfloat16, round to nearest even (NaN stays NaN): what __float2bfloat16_rn does */
static uint16_t to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* Matrix weights in bfloat16: converted on the host in pieces through one staging buffer. */
static lm_weight *cuda_upload_weight(const float *host, size_t n)
{
	if (!n)
		n = 1, host = NULL;
	bf16 *d = (bf16 *)dev_alloc(n * sizeof(bf16));
	if (!d)
		return NULL;
	if (!host) {
		cu_note(cudaMemsetAsync(d, 0, n * sizeof(bf16), ctx.stream), "upload_weight");
		return (lm_weight *)d;
	}
	size_t piece = (size_t)1 << 22;
	uint16_t *stage = (uint16_t *)malloc((n < piece ? n : piece) * sizeof(uint16_t));
	if (!stage) {
		cuda_release((float *)d);
		return NULL;
	}
	for (size_t i0 = 0; i0 < n; i0 += piece) {
		size_t m = n - i0 < piece ? n - i0 : piece;
		for (size_t i = 0; i < m; i++)
			stage[i] = to_bf16(host[i0 + i]);
		/* synchronous: stage is reused for the next piece */
		cu_note(cudaMemcpyAsync(d + i0, stage, m * sizeof(uint16_t), cudaMemcpyHostToDevice, ctx.stream),
			"upload_weight");
		cu_note(cudaStreamSynchronize(ctx.stream), "upload_weight");
	}
	free(stage);
	return (lm_weight *)d;
}

static void cuda_release_weight(lm_weight *w)
{
	cuda_release((float *)w);
}

/* ---- graphs: the flow head's ODE loop ---- */

static int cuda_graph_begin(void)
{
	ctx.err_before_capture = ctx.err_code; /* errors an abandoned capture causes are not kept */
	cudaError_t e = cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal);
	if (e != cudaSuccess) {
		cudaGetLastError();
		return -1;
	}
	return 0;
}

static void *cuda_graph_end(void)
{
	cudaGraph_t g = NULL;
	cudaGraphExec_t x = NULL;
	cudaError_t e = cudaStreamEndCapture(ctx.stream, &g);
	if (e == cudaSuccess)
		e = cudaGraphInstantiate(&x, g, 0);
	if (g)
		cudaGraphDestroy(g);
	if (e != cudaSuccess) {
		/* a capture broken by an op is not fatal: the caller runs the ops directly */
		cudaGetLastError();
		if (!ctx.err_before_capture)
			ctx.err_code = 0;
		return NULL;
	}
	return (void *)x;
}

static void cuda_graph_launch(void *g)
{
	cu_note(cudaGraphLaunch((cudaGraphExec_t)g, ctx.stream), "graph launch");
}

static void cuda_graph_free(void *g)
{
	if (g)
		cudaGraphExecDestroy((cudaGraphExec_t)g);
}

/* ---- errors and the device line ---- */

static int cuda_check(lm_status *st)
{
	cu_note(cudaStreamSynchronize(ctx.stream), "queued work");
	cu_note(cudaGetLastError(), "queued work");
	if (!ctx.err_code)
		return 0;
	int rc = lm_fail(st, ctx.err_code, "%s", ctx.err_msg);
	ctx.err_code = 0;
	return rc;
}

static const char *cuda_describe(void)
{
	return ctx.device_line;
}

/* ---- the table ---- */

static const lm_backend cuda_backend = {
	.name = "cuda",
	.alloc = cuda_alloc,
	.release = cuda_release,
	.upload = cuda_upload,
	.download = cuda_download,
	.copy = cuda_copy,
	.upload_weight = cuda_upload_weight,
	.release_weight = cuda_release_weight,
	.upload_weight16 = NULL, /* weights come as float32 and are stored as bfloat16 */
	.linear = cu_linear,
	.embed = cu_embed,
	.gather = cu_gather,
	.rmsnorm = cu_rmsnorm,
	.layernorm = cu_layernorm,
	.rope = cu_rope,
	.attention = cu_attention,
	.silu = cu_silu,
	.gelu = cu_gelu,
	.relu = cu_relu,
	.sigmoid = cu_sigmoid,
	.swiglu = cu_swiglu,
	.add = cu_add,
	.modulate = cu_modulate,
	.gated_add = cu_gated_add,
	.timestep_embedding = cu_timestep_embedding,
	.euler_cfg = cu_euler_cfg,
	.conv1d = cu_conv1d,
	.upsample2 = cu_upsample2,
	.graph_begin = cuda_graph_begin,
	.graph_end = cuda_graph_end,
	.graph_launch = cuda_graph_launch,
	.graph_free = cuda_graph_free,
	.check = cuda_check,
	.describe = cuda_describe,
};

/* The context: device, stream, cuBLAS, scratch. 0, or LM_EUNAVAIL with why[] filled. */
static int setup(char *why, size_t wn)
{
	int count = 0, dev = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count < 1) {
		/* no driver, no device, or CUDA_VISIBLE_DEVICES hides them all: no GPU, not a failure */
		snprintf(why, wn, "device cuda: no GPU visible (%s%s)",
			 e != cudaSuccess ? cudaGetErrorString(e) : "no devices",
			 e == cudaErrorInsufficientDriver ? ": no NVIDIA driver, or one too old for this build" : "");
		cudaGetLastError();
		return LM_EUNAVAIL;
	}
	cudaDeviceProp p;
	if ((e = cudaSetDevice(dev)) != cudaSuccess || (e = cudaGetDeviceProperties(&p, dev)) != cudaSuccess) {
		snprintf(why, wn, "device cuda: GPU 0 unusable (%s)", cudaGetErrorString(e));
		cudaGetLastError();
		return LM_EUNAVAIL;
	}
	if (p.major < 8) {
		snprintf(why, wn, "device cuda: %.100s is sm_%d%d; the CUDA backend needs sm_80 or newer (bfloat16)",
			 p.name, p.major, p.minor);
		return LM_EUNAVAIL;
	}
	if ((e = cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking)) != cudaSuccess) {
		snprintf(why, wn, "device cuda: %.100s: cannot create a stream (%s)", p.name, cudaGetErrorString(e));
		cudaGetLastError();
		return LM_EUNAVAIL;
	}
	int pools = 0;
	cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev);
	if (pools) {
		cudaMemPool_t pool;
		uint64_t keep = UINT64_MAX; /* freed memory stays in the pool for the next alloc */
		if (cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess &&
		    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) == cudaSuccess)
			ctx.use_pool = 1;
		cudaGetLastError();
	}
	cublasStatus_t bs = cublasCreate(&ctx.blas);
	if (bs != CUBLAS_STATUS_SUCCESS) {
		snprintf(why, wn, "device cuda: %.100s: cuBLAS does not start (status %d)", p.name, (int)bs);
		return LM_EUNAVAIL;
	}
	cublasSetStream(ctx.blas, ctx.stream);
	ctx.scratch = dev_alloc(CU_SCRATCH_BYTES);
	ctx.blas_ws = dev_alloc(BLAS_WS_BYTES);
	if (!ctx.scratch || !ctx.blas_ws ||
	    cublasSetWorkspace(ctx.blas, ctx.blas_ws, BLAS_WS_BYTES) != CUBLAS_STATUS_SUCCESS) {
		snprintf(why, wn, "device cuda: %.100s: out of memory for the scratch buffers", p.name);
		return LM_EUNAVAIL;
	}
	snprintf(ctx.device_line, sizeof ctx.device_line, "cuda: %.100s (sm_%d%d, %.0f GiB)", p.name, p.major,
		 p.minor, (double)p.totalGlobalMem / (1024.0 * 1024 * 1024));
	ctx.device = dev;
	return 0;
}

extern "C" int lm_cuda_open(const lm_backend **be, lm_status *st)
{
	static int state; /* 0 not tried, 1 ready, -1 unavailable */
	static char why[256];
	if (!state)
		state = setup(why, sizeof why) ? -1 : 1;
	if (state < 0)
		return lm_fail(st, LM_EUNAVAIL, "%s", why);
	*be = &cuda_backend;
	return 0;
}
