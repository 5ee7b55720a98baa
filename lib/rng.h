/* rng.h: a PyTorch-compatible random generator, so a seed gives the same noise in C and in the
 * reference: torch.Generator().manual_seed(seed) (mt19937) and torch.randn(n, generator=g) on the
 * CPU, bit for bit (docs/model-format.md 4.5).
 *
 * What "torch" means here: the CPU kernel PyTorch runs on an x86-64 machine with AVX2 (its
 * default dispatch there, and the one the golden files were made with). For n >= 16 that kernel
 * is the vectorized Box-Muller of normal_fill_AVX2 with Cephes log/sincos polynomials; torch
 * forced to ATEN_CPU_CAPABILITY=default (or a CPU without AVX2) uses libm instead and differs in
 * the last bit of about half the values. For n < 16 every torch build uses the scalar
 * normal_distribution<double>, reproduced here exactly. rng.c names its sources.
 */
#ifndef LLAMO_RNG_H
#define LLAMO_RNG_H
#include <stdint.h>

typedef struct lm_rng {
	uint32_t mt[624]; /* mt19937 state */
	int mti;          /* next state word to temper; 624: regenerate first */
	/* torch's cached second Box-Muller sample for the scalar double path */
	int has_next_double_normal;
	double next_double_normal;
} lm_rng;

/* torch manual_seed: mt19937 seeded with the low 32 bits of seed; clears the cached normal. */
void lm_rng_seed(lm_rng *g, uint64_t seed);
/* The next mt19937 output (CPUGeneratorImpl::random()). */
uint32_t lm_rng_u32(lm_rng *g);
/* out(n) = torch.randn(n, generator=g), float32: for n >= 16, n uniform floats then Box-Muller
 * in blocks of 16 (u1 = 1 - x[j], u2 = x[j+8]) with the last 16 redrawn when 16 does not divide
 * n; for n < 16, n draws of normal_distribution<double> (which consumes the cached sample
 * first). Consumes the generator exactly as torch does, so calls can be interleaved freely. */
void lm_randn(lm_rng *g, float *out, int n);
#endif
