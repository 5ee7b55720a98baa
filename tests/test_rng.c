/* test_rng.c: lib/rng.c against PyTorch's CPU generator, bit for bit (tolerance: none; every
 * value must have the same float32 bits).
 *
 * Built-in checks (values printed by torch 1.13 on x86-64/AVX2, so they run without the golden
 * files): the first mt19937 outputs for seed 42 (also std::mt19937's), and one generator seeded
 * 7 drawing randn(1), randn(3), randn(17), randn(2), randn(40) in turn, which walks the scalar
 * path with its cached second sample, the vectorized path with a recomputed tail, and the cache
 * surviving a vectorized call.
 * Golden checks: tests/golden/rng.safetensors (argv[1] may name another file), written by
 * train/golden.py: randn_s{seed}_n{n} from a fresh generator, randn_s42_seq (4 consecutive
 * randn(32)), u32_s42 (raw outputs, I64) when present. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rng.h"
#include "safetensors.h"
#include "tap.h"

static uint32_t bits(float f)
{
	uint32_t b;
	memcpy(&b, &f, sizeof b);
	return b;
}

/* Exact comparison; says how many values differ and the first one. */
static int same_bits(const float *got, const float *want, long n, const char *what)
{
	long bad = 0, first = -1;
	for (long i = 0; i < n; i++)
		if (bits(got[i]) != bits(want[i]) && bad++ == 0)
			first = i;
	ok(bad == 0 && n > 0, "%s: %ld values, %ld differ (exact float32 bits)", what, n, bad);
	if (bad)
		diag("  first at %ld: got %.9g (%08x) want %.9g (%08x)", first, got[first], bits(got[first]),
		     want[first], bits(want[first]));
	return bad == 0;
}

static void builtin_checks(void)
{
	/* std::mt19937(42) and torch.randint(0, 2**31, (5,), generator=manual_seed(42)) agree */
	static const uint32_t u42[5] = {1608637542u, 3421126067u, 4083286876u, 787846414u, 3143890026u};
	lm_rng g;
	lm_rng_seed(&g, 42);
	int bad = 0;
	for (int i = 0; i < 5; i++)
		bad += lm_rng_u32(&g) != u42[i];
	ok(!bad, "mt19937 seed 42: first 5 outputs equal std::mt19937 / torch (%d differ)", bad);

	/* seeds agree on their low 32 bits only (torch: state_[0] = seed & 0xffffffff) */
	lm_rng a, b;
	lm_rng_seed(&a, 5);
	lm_rng_seed(&b, (UINT64_C(1) << 32) + 5);
	ok(lm_rng_u32(&a) == lm_rng_u32(&b), "seed 2^32 + 5 gives the stream of seed 5");

	static const uint32_t want[63] = {
		0xbe165174, 0x3f49408e, 0x3f7262e7, 0xbf8ea2d3, 0xbe34ac25, 0xbf9bc458, 0xbda5eea5,
		0x3fae4525, 0xbfa6cfce, 0x3db327dd, 0xbfb1466a, 0x3f00e990, 0xbdab10d9, 0xbf1062be,
		0xc0039d15, 0xbeb6a456, 0x3f8c3bfb, 0x3ef6f720, 0x3fb30fc2, 0x3fb3f2fd, 0xbfb35c30,
		0x3f8ac6a8, 0x3e21d97c, 0xbfa09ccd, 0x3f51034b, 0xbf885efe, 0xbe367820, 0xbe84dd09,
		0xbc6d5ed4, 0xbec48d5c, 0xc03dd5ba, 0x3e72b3f4, 0x3f21f774, 0xbdbbc13d, 0x3fcfe99a,
		0x3acd6ce1, 0xbee00556, 0xc006f236, 0x3f928f9b, 0x3e99291f, 0xbfb5d120, 0xbe2760b7,
		0x3e087004, 0x3e3aed2f, 0xbf03bef2, 0x3f4ceecd, 0xbf9f20d7, 0xbf753138, 0x3fe03bd0,
		0x3f7ac4d2, 0x3ed22db0, 0x3fe23d5a, 0xbdaa5f30, 0x3f023a8b, 0x3f8f1475, 0x3e27348b,
		0x3f005347, 0x3fb5d49d, 0x3f93bd1f, 0xbfc4ae48, 0xbf0ec462, 0xbee06d69, 0x3f941eb2};
	static const int sizes[5] = {1, 3, 17, 2, 40};
	float got[63], wantf[63];
	lm_rng_seed(&g, 7);
	for (int k = 0, o = 0; k < 5; o += sizes[k++])
		lm_randn(&g, got + o, sizes[k]);
	for (int i = 0; i < 63; i++)
		memcpy(&wantf[i], &want[i], sizeof(float));
	same_bits(got, wantf, 63, "seed 7: randn(1), randn(3), randn(17), randn(2), randn(40) in turn");
}

/* The float tensor `name` of the golden file (malloc'd F32) and its element count. */
static float *golden(const lm_safetensors *sf, const char *name, long *n)
{
	const lm_tensor_info *t = lm_st_find(sf, name);
	lm_status st;
	float *p = NULL;
	if (!t || lm_st_load_f32(sf, name, t->ndim, t->shape, &p, &st))
		return NULL;
	*n = 1;
	for (int i = 0; i < t->ndim; i++)
		*n *= (long)t->shape[i];
	return p;
}

static void golden_checks(const char *path)
{
	lm_safetensors *sf = NULL;
	lm_status st;
	if (lm_st_open(&sf, path, &st)) {
		diag("%s", st.msg);
		ok(0, "golden file %s opens (make it with train/golden.py)", path);
		return;
	}
	static const uint64_t seeds[3] = {0, 42, UINT64_C(1234567890123)};
	static const int ns[6] = {1, 5, 16, 17, 32, 100};
	for (int s = 0; s < 3; s++)
		for (int k = 0; k < 6; k++) {
			char name[64], what[96];
			long n = 0;
			snprintf(name, sizeof name, "randn_s%llu_n%d", (unsigned long long)seeds[s], ns[k]);
			float *want = golden(sf, name, &n);
			if (!want || n != ns[k]) {
				ok(0, "golden %s present with %d values", name, ns[k]);
				free(want);
				continue;
			}
			float *got = malloc(n * sizeof *got);
			lm_rng g;
			lm_rng_seed(&g, seeds[s]);
			lm_randn(&g, got, (int)n);
			snprintf(what, sizeof what, "%s: torch.randn(%d) after manual_seed(%llu)", name, ns[k],
				 (unsigned long long)seeds[s]);
			same_bits(got, want, n, what);
			free(got);
			free(want);
		}

	long n = 0;
	float *want = golden(sf, "randn_s42_seq", &n);
	if (want && n == 128) {
		float got[128];
		lm_rng g;
		lm_rng_seed(&g, 42);
		for (int i = 0; i < 4; i++)
			lm_randn(&g, got + 32 * i, 32);
		same_bits(got, want, 128, "randn_s42_seq: 4 consecutive randn(32), one generator seeded 42");
	} else {
		ok(0, "golden randn_s42_seq present with 4 x 32 values");
	}
	free(want);

	const lm_tensor_info *t = lm_st_find(sf, "u32_s42");
	if (t && t->dtype == LM_DT_I64) {
		long cnt = (long)(t->nbytes / 8), bad = 0;
		lm_rng g;
		lm_rng_seed(&g, 42);
		for (long i = 0; i < cnt; i++) {
			int64_t w;
			memcpy(&w, (const char *)t->data + 8 * i, 8);
			bad += (int64_t)lm_rng_u32(&g) != w;
		}
		ok(cnt > 0 && !bad, "u32_s42: %ld raw mt19937 outputs, %ld differ", cnt, bad);
	} else {
		diag("u32_s42 not in the golden file (optional)");
	}
	lm_st_close(sf);
}

int main(int argc, char **argv)
{
	builtin_checks();
	golden_checks(argc > 1 ? argv[1] : "tests/golden/rng.safetensors");
	return done_testing();
}
