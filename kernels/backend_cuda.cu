/* backend_cuda.cu: the CUDA backend's table, memory, device selection, graph hooks and errors.
 * Mirrors lib/cpu/backend_cpu.c and the memory ops of lib/cpu/ops_core.c (cpu_alloc, cpu_upload,
 * ...). Set up once per process by lm_cuda_open: device (the first visible one), one non-blocking
 * stream, a cuBLAS handle with its own workspace (so products can be recorded into graphs), the
 * scratch buffer. Memory comes from the device's stream-ordered pool (cudaMallocAsync), kept by
 * the pool once freed, so the few per-call buffers of the library (lm_logits, the VAE's passes)
 * cost no cudaMalloc after the first; devices without pools use cudaMalloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda.h"

cudaStream_t cu_stream;
cublasHandle_t cu_blas;
void *cu_scratch;

static int use_pool;        /* cudaMallocAsync available */
static void *blas_ws;       /* cuBLAS workspace */
#define BLAS_WS_BYTES ((size_t)32 << 20)
static char device_line[160];
static int err_code;        /* first error since the last check() */
static char err_msg[256];

void cu_note(cudaError_t e, const char *what)
{
	if (e == cudaSuccess || err_code)
		return;
	err_code = e == cudaErrorMemoryAllocation ? LM_ENOMEM : LM_EINTERNAL;
	snprintf(err_msg, sizeof err_msg, "cuda: %s: %s", what, cudaGetErrorString(e));
}

void cu_note_blas(cublasStatus_t s, const char *what)
{
	if (s == CUBLAS_STATUS_SUCCESS || err_code)
		return;
	err_code = s == CUBLAS_STATUS_ALLOC_FAILED ? LM_ENOMEM : LM_EINTERNAL;
	snprintf(err_msg, sizeof err_msg, "cuda: %s: cuBLAS status %d", what, (int)s);
}

/* ---- memory (cpu_alloc, cpu_release, cpu_upload, cpu_download, cpu_copy) ---- */

static void *dev_alloc(size_t bytes)
{
	void *p = NULL;
	cudaError_t e = use_pool ? cudaMallocAsync(&p, bytes, cu_stream) : cudaMalloc(&p, bytes);
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
		cu_note(cudaMemsetAsync(p, 0, bytes, cu_stream), "alloc");
	return p;
}

static void cuda_release(float *p)
{
	if (p)
		cu_note(use_pool ? cudaFreeAsync(p, cu_stream) : cudaFree(p), "release");
}

static void cuda_upload(float *dst, const float *host, size_t n)
{
	if (n)
		cu_note(cudaMemcpyAsync(dst, host, n * sizeof(float), cudaMemcpyHostToDevice, cu_stream), "upload");
}

/* The host needs the data now: the one place (with check) that waits for the device. On a
 * failure the host copy is NaN, and check() reports the error. */
static void cuda_download(float *host, const float *src, size_t n)
{
	if (!n)
		return;
	cu_note(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, cu_stream), "download");
	cudaError_t e = cudaStreamSynchronize(cu_stream);
	cu_note(e, "download");
	if (e != cudaSuccess)
		for (size_t i = 0; i < n; i++)
			host[i] = __builtin_nanf("");
}

static void cuda_copy(float *dst, const float *src, size_t n)
{
	if (n && dst != src)
		cu_note(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, cu_stream), "copy");
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
static float *cuda_upload_weight(const float *host, size_t n)
{
	if (!n)
		n = 1, host = NULL;
	bf16 *d = (bf16 *)dev_alloc(n * sizeof(bf16));
	if (!d)
		return NULL;
	if (!host) {
		cu_note(cudaMemsetAsync(d, 0, n * sizeof(bf16), cu_stream), "upload_weight");
		return (float *)d;
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
		cu_note(cudaMemcpyAsync(d + i0, stage, m * sizeof(uint16_t), cudaMemcpyHostToDevice, cu_stream),
			"upload_weight");
		cu_note(cudaStreamSynchronize(cu_stream), "upload_weight");
	}
	free(stage);
	return (float *)d;
}

/* ---- graphs: the flow head's ODE loop ---- */

static int err_before_capture; /* errors an abandoned capture caused are not kept */

static int cuda_graph_begin(void)
{
	err_before_capture = err_code;
	cudaError_t e = cudaStreamBeginCapture(cu_stream, cudaStreamCaptureModeThreadLocal);
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
	cudaError_t e = cudaStreamEndCapture(cu_stream, &g);
	if (e == cudaSuccess)
		e = cudaGraphInstantiate(&x, g, 0);
	if (g)
		cudaGraphDestroy(g);
	if (e != cudaSuccess) {
		/* a capture broken by an op is not fatal: the caller runs the ops directly */
		cudaGetLastError();
		if (!err_before_capture)
			err_code = 0;
		return NULL;
	}
	return (void *)x;
}

static void cuda_graph_launch(void *g)
{
	cu_note(cudaGraphLaunch((cudaGraphExec_t)g, cu_stream), "graph launch");
}

static void cuda_graph_free(void *g)
{
	if (g)
		cudaGraphExecDestroy((cudaGraphExec_t)g);
}

/* ---- errors and the device line ---- */

static int cuda_check(lm_status *st)
{
	cu_note(cudaStreamSynchronize(cu_stream), "queued work");
	cu_note(cudaGetLastError(), "queued work");
	if (!err_code)
		return 0;
	int rc = lm_fail(st, err_code, "%s", err_msg);
	err_code = 0;
	return rc;
}

static const char *cuda_describe(void)
{
	return device_line;
}

/* ---- the table ---- */

static lm_backend table; /* filled by setup() */

static void fill_table(void)
{
	table.name = "cuda";
	table.alloc = cuda_alloc;
	table.release = cuda_release;
	table.upload = cuda_upload;
	table.download = cuda_download;
	table.copy = cuda_copy;
	table.upload_weight = cuda_upload_weight;
	table.linear = cu_linear;
	table.embed = cu_embed;
	table.gather = cu_gather;
	table.rmsnorm = cu_rmsnorm;
	table.layernorm = cu_layernorm;
	table.rope = cu_rope;
	table.attention = cu_attention;
	table.silu = cu_silu;
	table.gelu = cu_gelu;
	table.relu = cu_relu;
	table.sigmoid = cu_sigmoid;
	table.swiglu = cu_swiglu;
	table.add = cu_add;
	table.modulate = cu_modulate;
	table.gated_add = cu_gated_add;
	table.timestep_embedding = cu_timestep_embedding;
	table.euler_cfg = cu_euler_cfg;
	table.conv1d = cu_conv1d;
	table.upsample2 = cu_upsample2;
	table.graph_begin = cuda_graph_begin;
	table.graph_end = cuda_graph_end;
	table.graph_launch = cuda_graph_launch;
	table.graph_free = cuda_graph_free;
	table.check = cuda_check;
	table.describe = cuda_describe;
}

/* Device, stream, cuBLAS, scratch. 0, or LM_EUNAVAIL with why[] filled. */
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
	if ((e = cudaStreamCreateWithFlags(&cu_stream, cudaStreamNonBlocking)) != cudaSuccess) {
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
			use_pool = 1;
		cudaGetLastError();
	}
	cublasStatus_t bs = cublasCreate(&cu_blas);
	if (bs != CUBLAS_STATUS_SUCCESS) {
		snprintf(why, wn, "device cuda: %.100s: cuBLAS does not start (status %d)", p.name, (int)bs);
		return LM_EUNAVAIL;
	}
	cublasSetStream(cu_blas, cu_stream);
	cu_scratch = dev_alloc(CU_SCRATCH_BYTES);
	blas_ws = dev_alloc(BLAS_WS_BYTES);
	if (!cu_scratch || !blas_ws ||
	    cublasSetWorkspace(cu_blas, blas_ws, BLAS_WS_BYTES) != CUBLAS_STATUS_SUCCESS) {
		snprintf(why, wn, "device cuda: %.100s: out of memory for the scratch buffers", p.name);
		return LM_EUNAVAIL;
	}
	snprintf(device_line, sizeof device_line, "cuda: %.100s (sm_%d%d, %.0f GiB)", p.name, p.major, p.minor,
		 (double)p.totalGlobalMem / (1024.0 * 1024 * 1024));
	fill_table();
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
	*be = &table;
	return 0;
}
