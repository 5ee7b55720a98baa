/* attention.cu: causal GQA attention over the kv cache on CUDA; mirrors cpu_attention
 * (lib/cpu/ops_core.c). Query i of n sits at position pos0 + i and sees cache rows 0..pos0+i;
 * query head h reads kv head h / (nh / nkv); scores q.k / sqrt(hd), softmax, weighted sum of v,
 * all in float32 (the cache is float32).
 *
 * One block per (query, head), ATT_WARPS warps: each warp takes every ATT_WARPS-th cache row and
 * keeps an online softmax (running max m, sum l, output o; lane holds hd/32 elements of q and o),
 * then warp 0 merges the warps' partial results. The CPU's two-pass softmax and this one agree
 * to float rounding. Simple first: decoding (n = 1) runs nh blocks, enough for the short contexts
 * of motion generation; a split over the cache (flash-decoding) is the next step for long ones. */
#include <math.h>
#include "cuda.h"

#define ATT_WARPS 4
#define ATT_HD_MAX 256 /* head_dim up to 8 elements per lane */

template <int E>
__global__ void attention_kernel(float *__restrict__ out, const float *__restrict__ q,
				 const float *__restrict__ k_cache, const float *__restrict__ v_cache, int nh,
				 int nkv, int hd, int pos0, float scale)
{
	__shared__ float sm[ATT_WARPS], sl[ATT_WARPS], so[ATT_WARPS][E * 32];
	int i = blockIdx.x / nh, h = blockIdx.x % nh;
	int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int kvh = h / (nh / nkv), upto = pos0 + i + 1;
	size_t row = (size_t)nkv * hd;
	const float *qh = q + ((size_t)i * nh + h) * hd;
	const float *k = k_cache + (size_t)kvh * hd, *v = v_cache + (size_t)kvh * hd;
	float qv[E], o[E];
#pragma unroll
	for (int e = 0; e < E; e++) {
		int j = lane + 32 * e;
		qv[e] = j < hd ? qh[j] : 0.0f;
		o[e] = 0.0f;
	}
	float m = -INFINITY, l = 0.0f;
	for (int p = warp; p < upto; p += ATT_WARPS) {
		const float *kp = k + p * row, *vp = v + p * row;
		float s = 0.0f;
#pragma unroll
		for (int e = 0; e < E; e++) {
			int j = lane + 32 * e;
			if (j < hd)
				s += qv[e] * kp[j];
		}
		s = cu_warp_sum(s) * scale;
		float mn = fmaxf(m, s), corr = expf(m - mn), w = expf(s - mn);
		l = l * corr + w;
#pragma unroll
		for (int e = 0; e < E; e++) {
			int j = lane + 32 * e;
			o[e] = o[e] * corr + (j < hd ? w * vp[j] : 0.0f);
		}
		m = mn;
	}
	if (lane == 0)
		sm[warp] = m, sl[warp] = l;
#pragma unroll
	for (int e = 0; e < E; e++)
		so[warp][lane + 32 * e] = o[e];
	__syncthreads();
	if (warp)
		return;
	float M = sm[0];
	for (int w = 1; w < ATT_WARPS; w++)
		M = fmaxf(M, sm[w]);
	float L = 0.0f, acc[E];
#pragma unroll
	for (int e = 0; e < E; e++)
		acc[e] = 0.0f;
	for (int w = 0; w < ATT_WARPS; w++) {
		float f = sm[w] == -INFINITY ? 0.0f : expf(sm[w] - M); /* a warp with no rows adds nothing */
		L += sl[w] * f;
#pragma unroll
		for (int e = 0; e < E; e++)
			acc[e] += so[w][lane + 32 * e] * f;
	}
	float *oh = out + ((size_t)i * nh + h) * hd;
#pragma unroll
	for (int e = 0; e < E; e++) {
		int j = lane + 32 * e;
		if (j < hd)
			oh[j] = acc[e] / L;
	}
}

void cu_attention(float *out, const float *q, const float *k_cache, const float *v_cache, int n, int pos0,
		  int nh, int nkv, int hd)
{
	if (n <= 0 || nh <= 0)
		return;
	if (hd > ATT_HD_MAX || nkv <= 0 || nh % nkv) {
		cu_note(cudaErrorInvalidValue, "attention: head_dim above 256 or heads not a multiple of kv heads");
		return;
	}
	float scale = 1.0f / sqrtf((float)hd);
	unsigned grid = (unsigned)n * (unsigned)nh, threads = ATT_WARPS * 32;
	switch ((hd + 31) / 32) {
#define ATT_CASE(E)                                                                                       \
	case E:                                                                                           \
		attention_kernel<E><<<grid, threads, 0, cu_ctx()->stream>>>(out, q, k_cache, v_cache, nh, nkv, hd, pos0, \
								    scale);                                \
		break;
		ATT_CASE(1) ATT_CASE(2) ATT_CASE(3) ATT_CASE(4) ATT_CASE(5) ATT_CASE(6) ATT_CASE(7) ATT_CASE(8)
#undef ATT_CASE
	}
	CU_LAUNCHED("attention");
}
