/* lora.h: a motion twin projection stored as a low-rank difference from the text weight
 * (docs/model-format.md 3.1): W = W_text + B A, computed once at load in float64 and rounded
 * once to W_text's dtype, so that what runs is a plain full matrix (the paper's MoT exactly).
 * The PyTorch reference is train/llamo_ref.py merge_lora; tests/test_lora.c checks the two agree
 * bit for bit. */
#ifndef LLAMO_LORA_H
#define LLAMO_LORA_H
#include "safetensors.h"

/* x rounded to nearest, ties to even, into dtype d (LM_DT_F32, LM_DT_F16 or LM_DT_BF16) in one
 * rounding: with |x| = m 2^e (m in [1, 2)), e raised to the format's least normal exponent,
 * q = 2^(e - mantissa bits), the result is rint(x / q) * q (exact in double; rint in the default
 * rounding mode). Beyond the format's largest finite value the result is returned as is and
 * lm_f64_to_bits says it is not finite. */
double lm_round_f64(double x, lm_dtype d);
/* The bits of x, which must be exactly representable in d (the value of lm_round_f64): a float
 * (F32) or a uint16_t (F16, BF16) at out. Returns 0, or -1 when x is beyond d's finite range
 * (then out holds the infinity of x's sign). */
int lm_f64_to_bits(double x, lm_dtype d, void *out);

/* The merged weight of one projection: w (out, in) the text weight (F32, F16 or BF16), a = A
 * (r, in) and b = B (out, r) any float dtypes, r >= 1. Element by element, in float64:
 *
 *     acc = w[o][i];  for k = 0 .. r-1:  acc += b[o][k] * a[k][i];   W[o][i] = round(acc)
 *
 * (every product is exact in float64: the factors have at most 24 significant bits; the sums
 * run in this order), round = lm_round_f64 into w's dtype. *out (malloc'd, out*in elements of
 * w's dtype, little-endian as on disk) receives W. `name` (the projection, e.g.
 * "motion_model.layers.3.mlp.up_proj") and lm_st_name of the files name the tensors in errors.
 * Errors: LM_EDATA (a or b not a 2-D float tensor of the shapes above, a value that is not
 * finite in a or b, a merged element beyond the dtype's range), LM_ENOMEM. */
int lm_lora_merge(const lm_tensor_info *w, const lm_tensor_info *a, const lm_tensor_info *b, const char *file,
		  const char *name, void **out, lm_status *st);
#endif
