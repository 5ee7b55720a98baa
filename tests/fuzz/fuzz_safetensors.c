/* fuzz_safetensors: lib/safetensors.c on arbitrary bytes. Opens the input as a safetensors file,
 * then loads every float tensor as F32 and every integer tensor as I64 (and as I32), so the
 * conversions read exactly the bytes the header promised and no more. */
#include <stdint.h>
#include <stdlib.h>
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lm_safetensors *sf;
	lm_status st;
	if (lm_st_open_mem(&sf, data, size, "fuzz.safetensors", &st))
		return 0;
	(void)lm_st_metadata(sf, "format");
	for (int i = 0; i < lm_st_count(sf); i++) {
		const lm_tensor_info *t = lm_st_at(sf, i);
		if (lm_st_find(sf, t->name) == NULL)
			abort(); /* every listed tensor can be found by name */
		if (lm_tensor_numel(t) > (1 << 24))
			continue; /* keep allocations small */
		if (t->dtype == LM_DT_F32 || t->dtype == LM_DT_F16 || t->dtype == LM_DT_BF16) {
			float *y;
			if (lm_st_load_f32(sf, t->name, t->ndim, t->shape, &y, &st) == 0)
				free(y);
		} else if (t->dtype == LM_DT_I32 || t->dtype == LM_DT_I64) {
			int64_t *l, n;
			int32_t *s;
			if (lm_st_load_i64(sf, t->name, &l, &n, &st) == 0)
				free(l);
			if (lm_st_load_i32(sf, t->name, &s, &n, &st) == 0)
				free(s);
		} else {
			volatile uint8_t sum = 0; /* U8: touch every byte */
			for (size_t k = 0; k < t->nbytes; k++)
				sum += ((const uint8_t *)t->data)[k];
			(void)sum;
		}
	}
	lm_st_close(sf);
	return 0;
}
