/* rng.c: PyTorch's CPU generator and torch.randn, bit for bit (see rng.h).
 *
 * Sources reproduced (PyTorch 1.13):
 *   aten/src/ATen/core/MT19937RNGEngine.h        mt19937 seeding and output
 *   aten/src/ATen/core/TransformationHelper.h    uniform_real: (bits & (2^digits - 1)) * 2^-digits
 *   aten/src/ATen/core/DistributionsHelper.h     normal_distribution<double> (scalar Box-Muller)
 *   aten/src/ATen/native/cpu/DistributionTemplates.h  normal_fill_AVX2 / normal_fill_16_AVX2
 *   aten/src/ATen/native/cpu/avx_mathfun.h       log256_ps, sincos256_ps (Cephes polynomials)
 *
 * The vectorized fill is written here one lane at a time. The rounding of every step follows
 * the machine code of the released libtorch_cpu.so (AVX2 kernel): gcc contracted some of the
 * intrinsics' multiply-adds into FMAs, and those are fmaf() below; every other product and sum
 * is rounded on its own, so this file must be compiled without FP contraction (pragmas below).
 */
#include <math.h>
#include <string.h>
#include "rng.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

enum { MT_N = 624, MT_M = 397 };

void lm_rng_seed(lm_rng *g, uint64_t seed)
{
	/* at::mt19937::init_with_uint32: only the low 32 bits of the seed reach the state */
	memset(g, 0, sizeof *g);
	g->mt[0] = (uint32_t)(seed & 0xffffffffu);
	for (int j = 1; j < MT_N; j++)
		g->mt[j] = 1812433253u * (g->mt[j - 1] ^ (g->mt[j - 1] >> 30)) + (uint32_t)j;
	g->mti = MT_N; /* torch: left_ = 1, so the first draw regenerates the state */
	g->has_next_double_normal = 0;
	g->next_double_normal = 0;
}

static uint32_t twist(uint32_t u, uint32_t v)
{
	uint32_t mix = (u & 0x80000000u) | (v & 0x7fffffffu);
	return (mix >> 1) ^ (v & 1u ? 0x9908b0dfu : 0u);
}

static void next_state(lm_rng *g)
{
	uint32_t *p = g->mt;
	int k;
	for (k = 0; k < MT_N - MT_M; k++)
		p[k] = p[k + MT_M] ^ twist(p[k], p[k + 1]);
	for (; k < MT_N - 1; k++)
		p[k] = p[k + MT_M - MT_N] ^ twist(p[k], p[k + 1]);
	p[MT_N - 1] = p[MT_M - 1] ^ twist(p[MT_N - 1], p[0]);
	g->mti = 0;
}

uint32_t lm_rng_u32(lm_rng *g)
{
	if (g->mti >= MT_N)
		next_state(g);
	uint32_t y = g->mt[g->mti++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

/* CPUGeneratorImpl::random64: the first draw is the high half */
static uint64_t rng_u64(lm_rng *g)
{
	uint64_t hi = lm_rng_u32(g);
	uint64_t lo = lm_rng_u32(g);
	return hi << 32 | lo;
}

/* uniform_real_distribution<float>(0, 1): 24 random bits */
static float uniform_f32(lm_rng *g)
{
	return (float)(lm_rng_u32(g) & ((1u << 24) - 1)) * 0x1p-24f;
}

/* uniform_real_distribution<double>(0, 1): 53 random bits of random64() */
static double uniform_f64(lm_rng *g)
{
	return (double)(rng_u64(g) & ((UINT64_C(1) << 53) - 1)) * 0x1p-53;
}

/* at::normal_distribution<double>(0, 1): Box-Muller, the sine half cached in the generator */
static double normal_f64(lm_rng *g)
{
	if (g->has_next_double_normal) {
		g->has_next_double_normal = 0;
		return g->next_double_normal;
	}
	double u1 = uniform_f64(g);
	double u2 = uniform_f64(g);
	double r = sqrt(-2.0 * log(1.0 - u2));
	double theta = 2.0 * M_PI * u1;
	g->next_double_normal = r * sin(theta);
	g->has_next_double_normal = 1;
	return r * cos(theta);
}

static float f32_bits(uint32_t b)
{
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

static uint32_t bits_f32(float f)
{
	uint32_t b;
	memcpy(&b, &f, sizeof b);
	return b;
}

/* avx_mathfun.h log256_ps, one lane; x in (0, 1] here */
static float log_cephes(float x)
{
	static const float p[9] = {7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f,
				   -1.2420140846E-1f, 1.4249322787E-1f, -1.6668057665E-1f,
				   2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f};
	int invalid = x <= 0;
	if (!(x >= 0x1p-126f))
		x = 0x1p-126f; /* _mm256_max_ps(x, min_norm_pos) */
	uint32_t b = bits_f32(x);
	int32_t imm0 = (int32_t)(b >> 23) - 0x7f;
	x = f32_bits((b & ~0x7f800000u) | 0x3f000000u); /* mantissa in [0.5, 1) */
	float e = (float)imm0 + 1.0f;
	int lt = x < 0.707106781186547524f;
	float tmp = lt ? x : 0.0f;
	x = x - 1.0f;
	if (lt)
		e = e - 1.0f;
	float eq1 = e * -2.12194440e-4f;
	x = tmp + x;
	float y = p[0];
	for (int k = 1; k < 9; k++)
		y = fmaf(y, x, p[k]);
	float z = x * x;
	y = x * y;
	y = fmaf(y, z, eq1);
	y = fmaf(-z, 0.5f, y);
	x = x + y;
	x = fmaf(e, 0.693359375f, x);
	return invalid ? NAN : x;
}

/* avx_mathfun.h sincos256_ps, one lane */
static void sincos_cephes(float x, float *s, float *c)
{
	uint32_t sign_sin = bits_f32(x) & 0x80000000u;
	x = fabsf(x);
	float y = x * 1.27323954473516f; /* 4 / pi */
	int32_t j = (int32_t)y;           /* cvttps: truncation */
	j = (j + 1) & ~1;
	y = (float)j;
	uint32_t swap_sin = (uint32_t)(j & 4) << 29;
	int poly = (j & 2) == 0;
	uint32_t sign_cos = (uint32_t)(~(j - 2) & 4) << 29;
	sign_sin ^= swap_sin;
	/* extended precision modular arithmetic: x = ((x - y DP1) - y DP2) - y DP3 */
	x = fmaf(y, -0.78515625f, x);
	x = fmaf(y, -2.4187564849853515625e-4f, x);
	x = fmaf(y, -3.77489497744594108e-8f, x);
	float z = x * x;
	float yc = fmaf(z, 2.443315711809948E-005f, -1.388731625493765E-003f);
	yc = fmaf(z, yc, 4.166664568298827E-002f);
	float hz = z * 0.5f;
	yc = z * yc;
	yc = fmaf(yc, z, -hz);
	float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
	ys = fmaf(z, ys, -1.6666654611E-1f);
	yc = yc + 1.0f;
	ys = z * ys;
	ys = fmaf(ys, x, x);
	float vs = poly ? ys : yc, vc = poly ? yc : ys;
	*s = f32_bits(bits_f32(vs) ^ sign_sin);
	*c = f32_bits(bits_f32(vc) ^ sign_cos);
}

/* normal_fill_16_AVX2 with mean 0, std 1: data[0..7] are u1 draws, data[8..15] u2 */
static void normal_fill_16(float *data)
{
	const float two_pi = (float)(2.0 * M_PI);
	for (int j = 0; j < 8; j++) {
		float u1 = 1.0f - data[j];
		float theta = two_pi * data[j + 8];
		float radius = sqrtf(-2.0f * log_cephes(u1));
		float s, c;
		sincos_cephes(theta, &s, &c);
		data[j] = radius * c;
		data[j + 8] = radius * s;
	}
}

void lm_randn(lm_rng *g, float *out, int n)
{
	if (n < 16) {
		/* scalar path: normal_distribution<double> cast to float */
		for (int i = 0; i < n; i++)
			out[i] = (float)normal_f64(g);
		return;
	}
	for (int i = 0; i < n; i++)
		out[i] = uniform_f32(g);
	for (int i = 0; i + 16 <= n; i += 16)
		normal_fill_16(out + i);
	if (n % 16) {
		/* the tail: redraw the last 16 values and transform them again */
		float *tail = out + n - 16;
		for (int i = 0; i < 16; i++)
			tail[i] = uniform_f32(g);
		normal_fill_16(tail);
	}
}
