/* ops_w16.c: products and the gather of 16-bit weights (BF16 or F16, as the model file stores
 * them), widened to float32 inside the product: a product reads 2 bytes per weight instead of 4.
 *
 * Few rows (n <= 4: a decoding step, guidance's two rows, the flow head's Euler steps): each
 * weight row is read once for all rows, 8 values at a time, widened and multiplied into 8-lane
 * float32 sums (AVX2 + FMA + F16C where the CPU has them, chosen at run time; plain C elsewhere).
 * More rows (a prefill, the flow head's batched modulations): blocks of weight rows widened into
 * a float32 scratch and multiplied by OpenBLAS sgemm, so the weights are read once per call.
 * The widening is exact; the sums run in another order than sgemv's, so results agree with the
 * float32 path to float rounding, not bit for bit. */
#include <cblas.h>
#include <cpuid.h>
#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>
#include "../safetensors.h"
#include "cpu.h"

#define FEW_ROWS 4     /* at most this many rows: the direct kernel */
#define BLOCK_ROWS 128 /* weight rows widened per sgemm */

static inline float widen(const uint16_t *w, size_t i, int dtype)
{
	return dtype == LM_DT_BF16 ? lm_bf16_to_f32(w[i]) : lm_f16_to_f32(w[i]);
}

/* y(n, out) = x(n, in) w^T over output rows [o0, o1), plain C */
static void rows_c(float *y, const float *x, const uint16_t *w, int dtype, int n, int in, int out, int o0, int o1)
{
	for (int o = o0; o < o1; o++) {
		const uint16_t *wr = w + (size_t)o * in;
		for (int r = 0; r < n; r++) {
			float acc = 0;
			for (int k = 0; k < in; k++)
				acc += widen(wr, k, dtype) * x[(size_t)r * in + k];
			y[(size_t)r * out + o] = acc;
		}
	}
}

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 load8(const uint16_t *p, int bf16)
{
	__m128i h = _mm_loadu_si128((const __m128i *)p);
	return bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
}

AVX2 static inline float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* NR weight rows from o times N rows of x, 8 weights widened per load; NR, N and bf16 are
 * constants where it is inlined, so the NR*N sums stay in registers. */
AVX2 static inline __attribute__((always_inline)) void tile(float *y, const float *x, const uint16_t *w, int bf16,
							   int N, int NR, int in, int out, int o)
{
	__m256 acc[4][4];
	_Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)
		_Pragma("GCC unroll 4") for (int r = 0; r < N; r++)
			acc[j][r] = _mm256_setzero_ps();
	int k8 = in & ~7;
	for (int k = 0; k < k8; k += 8) {
		__m256 wv[4];
		_Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)
			wv[j] = load8(w + (size_t)(o + j) * in + k, bf16);
		_Pragma("GCC unroll 4") for (int r = 0; r < N; r++) {
			__m256 xv = _mm256_loadu_ps(x + (size_t)r * in + k);
			_Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)
				acc[j][r] = _mm256_fmadd_ps(wv[j], xv, acc[j][r]);
		}
	}
	_Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)
		_Pragma("GCC unroll 4") for (int r = 0; r < N; r++) {
			float s = hsum(acc[j][r]);
			for (int k = k8; k < in; k++)
				s += widen(w + (size_t)(o + j) * in, k, bf16 ? LM_DT_BF16 : LM_DT_F16) * x[(size_t)r * in + k];
			y[(size_t)r * out + o + j] = s;
		}
}

#define ROWS_AVX2(N, NR, BF)                                                                                  \
	AVX2 static void rows_##N##_##BF(float *y, const float *x, const uint16_t *w, int in, int out, int o0, int o1) \
	{                                                                                                     \
		int o = o0;                                                                                   \
		for (; o + NR <= o1; o += NR)                                                                 \
			tile(y, x, w, BF, N, NR, in, out, o);                                                 \
		for (; o < o1; o++)                                                                           \
			tile(y, x, w, BF, N, 1, in, out, o);                                                  \
	}
ROWS_AVX2(1, 4, 1)
ROWS_AVX2(2, 4, 1)
ROWS_AVX2(3, 2, 1)
ROWS_AVX2(4, 2, 1)
ROWS_AVX2(1, 4, 0)
ROWS_AVX2(2, 4, 0)
ROWS_AVX2(3, 2, 0)
ROWS_AVX2(4, 2, 0)

typedef void (*rows_fn)(float *y, const float *x, const uint16_t *w, int in, int out, int o0, int o1);
static const rows_fn rows_avx2[2][FEW_ROWS] = {{rows_1_0, rows_2_0, rows_3_0, rows_4_0},
					       {rows_1_1, rows_2_1, rows_3_1, rows_4_1}};

static int have_avx2(void)
{
	static int have = -1;
	if (have < 0) {
		unsigned a, b, c = 0, d;
		__builtin_cpu_init();
		__get_cpuid(1, &a, &b, &c, &d); /* F16C: leaf 1, ecx bit 29 (clang 14 has no "f16c" name) */
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && (c >> 29 & 1);
	}
	return have;
}

/* n <= FEW_ROWS: output rows split over the threads when the matrix is large. */
static void few_rows(float *y, const float *x, const lm_weight *w, int n, int in, int out)
{
	int avx2 = have_avx2();
#pragma omp parallel if ((size_t)out * in >= (1 << 22))
	{
#ifdef _OPENMP
		int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
		int t = 0, nt = 1;
#endif
		int o0 = (int)((long)out * t / nt), o1 = (int)((long)out * (t + 1) / nt);
		if (avx2)
			rows_avx2[w->dtype == LM_DT_BF16][n - 1](y, x, w->data, in, out, o0, o1);
		else
			rows_c(y, x, w->data, w->dtype, n, in, out, o0, o1);
	}
}

AVX2 static void widen_avx2(float *f, const uint16_t *src, size_t cnt, int bf16)
{
	size_t i = 0;
	for (; i + 8 <= cnt; i += 8)
		_mm256_storeu_ps(f + i, load8(src + i, bf16));
	for (; i < cnt; i++)
		f[i] = widen(src, i, bf16 ? LM_DT_BF16 : LM_DT_F16);
}

/* Widens rows [o0, o0 + m) of w into f(m, in). */
static void widen_rows(float *f, const lm_weight *w, int in, int o0, int m)
{
	const uint16_t *src = (const uint16_t *)w->data + (size_t)o0 * in;
	size_t cnt = (size_t)m * in;
	if (have_avx2())
		widen_avx2(f, src, cnt, w->dtype == LM_DT_BF16);
	else
		for (size_t i = 0; i < cnt; i++)
			f[i] = widen(src, i, w->dtype);
}

void cpu_linear_w16(float *y, const float *x, const lm_weight *w, int n, int in, int out)
{
	if (n <= FEW_ROWS) {
		few_rows(y, x, w, n, in, out);
		return;
	}
	float *blk = malloc((size_t)BLOCK_ROWS * in * sizeof(float));
	if (!blk) { /* no scratch: the direct kernel, FEW_ROWS rows at a time */
		for (int r = 0; r < n; r += FEW_ROWS)
			few_rows(y + (size_t)r * out, x + (size_t)r * in, w, n - r < FEW_ROWS ? n - r : FEW_ROWS, in, out);
		return;
	}
	for (int o0 = 0; o0 < out; o0 += BLOCK_ROWS) {
		int m = out - o0 < BLOCK_ROWS ? out - o0 : BLOCK_ROWS;
		widen_rows(blk, w, in, o0, m);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, in, 1.0f, x, in, blk, in, 0.0f, y + o0, out);
	}
	free(blk);
}

void cpu_embed_w16(float *y, const lm_weight *table, const int32_t *ids, int n, int d)
{
	for (int i = 0; i < n; i++)
		widen_rows(y + (size_t)i * d, table, d, ids[i], 1);
}
