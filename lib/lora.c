/* lora.c: merging a low-rank-stored motion twin projection into a full weight (see lora.h;
 * docs/model-format.md 3.1; the reference is train/llamo_ref.py merge_lora). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lora.h"

double lm_round_f64(double x, lm_dtype d)
{
	int mant = d == LM_DT_F16 ? 10 : d == LM_DT_BF16 ? 7 : 23;
	int emin = d == LM_DT_F16 ? -14 : -126;
	if (x == 0 || !isfinite(x))
		return x;
	int e = ilogb(x); /* |x| in [2^e, 2^(e+1)) */
	if (e < emin)
		e = emin; /* subnormal: the quantum of the least normal binade */
	return ldexp(rint(ldexp(x, mant - e)), e - mant);
}

int lm_f64_to_bits(double x, lm_dtype d, void *out)
{
	double ax = fabs(x);
	if (d == LM_DT_F32) {
		float f = ax > FLT_MAX ? copysignf(INFINITY, (float)x) : (float)x;
		memcpy(out, &f, 4);
		return isfinite(f) ? 0 : -1;
	}
	if (d == LM_DT_BF16) {
		float f = ax > 0x1.fep127 ? copysignf(INFINITY, (float)x) : (float)x;
		uint16_t h = lm_f32_to_bf16(f); /* exact: x is a bfloat16 value */
		memcpy(out, &h, 2);
		return isfinite(f) ? 0 : -1;
	}
	uint16_t h = signbit(x) ? 0x8000 : 0;
	int rc = 0;
	if (ax > 65504.0) {
		h |= 0x7c00, rc = 1;
	} else if (ax >= 0x1p-14) {
		int e = ilogb(ax);
		h |= (uint16_t)((e + 15) << 10 | (unsigned)(ldexp(ax, 10 - e) - 1024));
	} else {
		h |= (uint16_t)ldexp(ax, 24); /* subnormal (or zero): a multiple of 2^-24 */
	}
	memcpy(out, &h, 2);
	return rc ? -1 : 0;
}

static int is_float(const lm_tensor_info *t)
{
	return t->dtype == LM_DT_F32 || t->dtype == LM_DT_F16 || t->dtype == LM_DT_BF16;
}

/* Elements [i0, i0 + n) of a float tensor, widened exactly to double. */
static void widen(const lm_tensor_info *t, size_t i0, size_t n, double *y)
{
	const unsigned char *p = t->data;
	for (size_t i = 0; i < n; i++) {
		if (t->dtype == LM_DT_F32) {
			float f;
			memcpy(&f, p + 4 * (i0 + i), 4);
			y[i] = f;
		} else {
			uint16_t h;
			memcpy(&h, p + 2 * (i0 + i), 2);
			y[i] = t->dtype == LM_DT_F16 ? lm_f16_to_f32(h) : lm_bf16_to_f32(h);
		}
	}
}

/* "[a, b]" of a tensor's shape, for messages. */
static const char *shape_str(const lm_tensor_info *t, char *buf, size_t len)
{
	size_t k = (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < t->ndim && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
	if (k < len)
		snprintf(buf + k, len - k, "]");
	return buf;
}

/* a (r, in) and b (out, r): 2-D float tensors of one rank r >= 1, every value finite. */
static int check_factors(const lm_tensor_info *a, const lm_tensor_info *b, int64_t out, int64_t in,
			 const char *file, const char *name, lm_status *st)
{
	const lm_tensor_info *t[2] = {a, b};
	const char *suffix[2] = {"lora_A", "lora_B"};
	for (int k = 0; k < 2; k++) {
		if (!is_float(t[k]))
			return lm_fail(st, LM_EDATA, "%s: tensor '%s.%s' has dtype %s, want a float type", file, name,
				       suffix[k], lm_dtype_name(t[k]->dtype));
		int64_t bad = lm_tensor_nonfinite(t[k]);
		if (bad >= 0)
			return lm_fail(st, LM_EDATA, "%s: tensor '%s.%s': element %lld is not finite", file, name,
				       suffix[k], (long long)bad);
	}
	char sa[64], sb[64];
	if (a->ndim != 2 || b->ndim != 2 || a->shape[0] < 1 || a->shape[1] != in || b->shape[0] != out ||
	    b->shape[1] != a->shape[0])
		return lm_fail(st, LM_EDATA, "%s: '%s': lora_A has shape %s and lora_B %s, want [r, %lld] and "
			       "[%lld, r] with r >= 1", file, name, shape_str(a, sa, sizeof sa),
			       shape_str(b, sb, sizeof sb), (long long)in, (long long)out);
	return 0;
}

int lm_lora_merge(const lm_tensor_info *w, const lm_tensor_info *a, const lm_tensor_info *b, const char *file,
		  const char *name, void **out, lm_status *st)
{
	*out = NULL;
	if (!is_float(w) || w->ndim != 2)
		return lm_fail(st, LM_EDATA, "'%s': the text weight is not a 2-D float tensor", name);
	int64_t O = w->shape[0], I = w->shape[1];
	int rc = check_factors(a, b, O, I, file, name, st);
	if (rc)
		return rc;
	size_t r = (size_t)a->shape[0], es = lm_dtype_size(w->dtype);
	double *A = malloc(r * (size_t)I * sizeof *A); /* (r, in) */
	double *brow = malloc(r * sizeof *brow);       /* (r): row o of B */
	double *acc = malloc((size_t)I * sizeof *acc); /* (in): row o of W */
	unsigned char *y = malloc((size_t)O * (size_t)I * es);
	if (!A || !brow || !acc || !y) {
		rc = lm_fail(st, LM_ENOMEM, "'%s': out of memory merging the twin", name);
		goto done;
	}
	widen(a, 0, r * (size_t)I, A);
	for (int64_t o = 0; o < O && !rc; o++) {
		widen(w, (size_t)o * I, (size_t)I, acc);
		widen(b, (size_t)o * r, r, brow);
		for (size_t k = 0; k < r; k++) {
			const double bk = brow[k], *ak = A + k * (size_t)I;
			for (int64_t i = 0; i < I; i++)
				acc[i] += bk * ak[i]; /* exact product: a fused multiply-add rounds alike */
		}
		for (int64_t i = 0; i < I && !rc; i++)
			if (lm_f64_to_bits(lm_round_f64(acc[i], w->dtype), w->dtype, y + ((size_t)o * I + i) * es))
				rc = lm_fail(st, LM_EDATA, "%s: '%s': merged element (%lld, %lld) = %g is beyond %s's range",
					     file, name, (long long)o, (long long)i, acc[i], lm_dtype_name(w->dtype));
	}
done:
	free(A);
	free(brow);
	free(acc);
	if (rc)
		free(y);
	else
		*out = y;
	return rc;
}
