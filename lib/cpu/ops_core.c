/* ops_core.c: the CPU reference for memory, products, norms, RoPE, attention and elementwise ops.
 * Semantics in backend.h; products go through OpenBLAS (cblas), everything else is plain C. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../safetensors.h"
#include "cpu.h"

float *cpu_alloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

void cpu_release(float *p)
{
	free(p);
}

void cpu_upload(float *dst, const float *host, size_t n)
{
	memcpy(dst, host, n * sizeof(float));
}

void cpu_download(float *host, const float *src, size_t n)
{
	memcpy(host, src, n * sizeof(float));
}

void cpu_copy(float *dst, const float *src, size_t n)
{
	memmove(dst, src, n * sizeof(float));
}

static lm_weight *new_weight(int dtype, size_t n, size_t elem)
{
	lm_weight *w = malloc(sizeof *w);
	if (!w || !(w->data = calloc(n ? n : 1, elem))) {
		free(w);
		return NULL;
	}
	w->dtype = dtype;
	w->n = n;
	return w;
}

lm_weight *cpu_upload_weight(const float *host, size_t n)
{
	lm_weight *w = new_weight(LM_DT_F32, n, sizeof(float));
	if (w && host)
		memcpy(w->data, host, n * sizeof(float));
	return w;
}

lm_weight *cpu_upload_weight16(const uint16_t *host, int dtype, size_t n)
{
	lm_weight *w = new_weight(dtype, n, sizeof(uint16_t));
	if (w && host)
		memcpy(w->data, host, n * sizeof(uint16_t)); /* host may be unaligned (a file mapping) */
	return w;
}

void cpu_release_weight(lm_weight *w)
{
	if (w)
		free(w->data);
	free(w);
}

/* y(n,out) = x(n,in) w(out,in)^T + b: torch nn.Linear */
void cpu_linear(float *y, const float *x, const lm_weight *wt, const float *b, int n, int in, int out)
{
	const float *w = cpu_weight_f32(wt);
	if (!w)
		cpu_linear_w16(y, x, wt, n, in, out);
	else if (n == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, 0.0f, y, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f, y,
			    out);
	if (b)
		for (int i = 0; i < n; i++)
			for (int j = 0; j < out; j++)
				y[(size_t)i * out + j] += b[j];
}

void cpu_gather(float *y, const float *table, const int32_t *ids, int n, int d)
{
	for (int i = 0; i < n; i++)
		memcpy(y + (size_t)i * d, table + (size_t)ids[i] * d, d * sizeof(float));
}

void cpu_embed(float *y, const lm_weight *table, const int32_t *ids, int n, int d)
{
	if (cpu_weight_f32(table))
		cpu_gather(y, cpu_weight_f32(table), ids, n, d);
	else
		cpu_embed_w16(y, table, ids, n, d);
}

/* HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * w, in float32 */
void cpu_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps)
{
	for (int i = 0; i < n; i++) {
		const float *xi = x + (size_t)i * d;
		float *yi = y + (size_t)i * d;
		float ss = 0;
		for (int j = 0; j < d; j++)
			ss += xi[j] * xi[j];
		float r = 1.0f / sqrtf(ss / d + eps);
		for (int j = 0; j < d; j++)
			yi[j] = xi[j] * r * w[j];
	}
}

/* rotate-half RoPE (HF apply_rotary_pos_emb): for x = [x1, x2] halves of one head,
 * out = [x1 cos - x2 sin, x2 cos + x1 sin], angle_i = pos * inv_freq_i in float32 */
void cpu_rope(float *x, int n, int heads, int hd, int pos0, const float *inv_freq)
{
	int half = hd / 2;
	for (int i = 0; i < n; i++) {
		float pos = (float)(pos0 + i);
		for (int j = 0; j < half; j++) {
			float a = pos * inv_freq[j];
			float c = cosf(a), s = sinf(a);
			for (int h = 0; h < heads; h++) {
				float *v = x + ((size_t)i * heads + h) * hd;
				float x1 = v[j], x2 = v[j + half];
				v[j] = x1 * c - x2 * s;
				v[j + half] = x2 * c + x1 * s;
			}
		}
	}
}

/* q . k over hd floats, in 8 partial sums (so the compiler can use vector lanes; the order is
 * fixed, so every call sums the same way) */
static float dot(const float *q, const float *k, int hd)
{
	float acc[8] = {0};
	int j = 0;
	for (; j + 8 <= hd; j += 8)
		for (int l = 0; l < 8; l++)
			acc[l] += q[j + l] * k[j + l];
	for (; j < hd; j++)
		acc[0] += q[j] * k[j];
	return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* One query head over cache rows 0..upto-1 of kv head kvh: o(hd) = softmax(q k^T * scale) v,
 * two passes as torch's softmax (max, then exp and sum). att holds upto floats, or is NULL
 * (out of memory): then a one-pass online softmax needs no buffer. */
static void attend_head(float *o, const float *qh, const float *k_cache, const float *v_cache, int upto,
			int nkv, int kvh, int hd, float scale, float *att)
{
	size_t row = (size_t)nkv * hd;
	const float *k = k_cache + (size_t)kvh * hd, *v = v_cache + (size_t)kvh * hd;
	memset(o, 0, hd * sizeof(float));
	if (!att) {
		float mx = -INFINITY, sum = 0;
		for (int p = 0; p < upto; p++) {
			float s = dot(qh, k + p * row, hd) * scale;
			if (s > mx) {
				float r = expf(mx - s);
				for (int j = 0; j < hd; j++)
					o[j] *= r;
				sum *= r;
				mx = s;
			}
			float e = expf(s - mx);
			sum += e;
			for (int j = 0; j < hd; j++)
				o[j] += e * v[p * row + j];
		}
		for (int j = 0; j < hd; j++)
			o[j] /= sum;
		return;
	}
	float mx = -INFINITY;
	for (int p = 0; p < upto; p++) {
		att[p] = dot(qh, k + p * row, hd) * scale;
		if (att[p] > mx)
			mx = att[p];
	}
	float sum = 0;
	for (int p = 0; p < upto; p++) {
		att[p] = expf(att[p] - mx);
		sum += att[p];
	}
	for (int p = 0; p < upto; p++) {
		const float *vp = v + p * row;
		float a = att[p] / sum;
		for (int j = 0; j < hd; j++)
			o[j] += a * vp[j];
	}
}

/* causal GQA attention over the cache; query i sees positions 0..pos0+i. Each (query, head) pair
 * is computed the same way whatever the split, so a chunked prefill and one query at a time give
 * the same numbers. Long prefills split the pairs over OpenMP threads; decoding stays on one
 * thread: the weight products (OpenBLAS, its own thread pool) dominate there, and OpenMP threads
 * spinning next to OpenBLAS's made decoding several times slower. */
void cpu_attention(float *out, const float *q, const float *k_cache, const float *v_cache, int n,
		   int pos0, int nh, int nkv, int hd)
{
	int group = nh / nkv, len = pos0 + n;
	float scale = 1.0f / sqrtf((float)hd);
	double work = (double)n * nh * len * hd; /* ~2x the multiply-adds of the causal half */
#pragma omp parallel if (work > 3.2e7)
	{
		float *att = malloc((size_t)len * sizeof(float));
#pragma omp for collapse(2) schedule(static)
		for (int i = 0; i < n; i++)
			for (int h = 0; h < nh; h++)
				attend_head(out + ((size_t)i * nh + h) * hd, q + ((size_t)i * nh + h) * hd, k_cache,
					    v_cache, pos0 + i + 1, nkv, h / group, hd, scale, att);
		free(att);
	}
}

void cpu_silu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] / (1.0f + expf(-x[i]));
}

void cpu_gelu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void cpu_relu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0 ? x[i] : 0;
}

void cpu_sigmoid(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void cpu_swiglu(float *y, const float *gate, const float *up, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void cpu_add(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}
