/* safetensors.h: memory-mapped safetensors files, validated before use.
 *
 * Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets},
 * "__metadata__": {str: str}}, then the data. Checked on open: N <= 100 MB and within the file,
 * JSON valid with no duplicate keys (jansson), dtypes known (F32, F16, BF16, I32, I64, U8),
 * shape x dtype size == end - begin, offsets within the data and non-overlapping.
 */
#ifndef LLAMO_SAFETENSORS_H
#define LLAMO_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define LM_ST_MAX_DIMS 8

typedef enum { LM_DT_F32, LM_DT_F16, LM_DT_BF16, LM_DT_I32, LM_DT_I64, LM_DT_U8 } lm_dtype;

typedef struct lm_tensor_info {
	const char *name;
	lm_dtype dtype;
	int ndim;
	int64_t shape[LM_ST_MAX_DIMS];
	const void *data; /* points into the mapping */
	size_t nbytes;
} lm_tensor_info;

typedef struct lm_safetensors lm_safetensors;

/* Maps and validates path. Errors (message names the file and the tensor): LM_ENOINPUT, LM_EDATA. */
int lm_st_open(lm_safetensors **sf, const char *path, lm_status *st);
/* The same over a buffer the caller keeps alive (used by the fuzzer and tests). */
int lm_st_open_mem(lm_safetensors **sf, const void *buf, size_t len, const char *name, lm_status *st);
void lm_st_close(lm_safetensors *sf);

/* Tensors in header order ("__metadata__" is not one); lm_st_at is NULL out of range. */
int lm_st_count(const lm_safetensors *sf);
const lm_tensor_info *lm_st_at(const lm_safetensors *sf, int i);
const lm_tensor_info *lm_st_find(const lm_safetensors *sf, const char *name); /* NULL if absent */
const char *lm_st_metadata(const lm_safetensors *sf, const char *key);        /* NULL if absent */

/* The name given at open (the path for lm_st_open), for messages. */
const char *lm_st_name(const lm_safetensors *sf);
/* "F32", "BF16", ... and the element size in bytes ("?" and 0 for an unknown value). */
const char *lm_dtype_name(lm_dtype d);
size_t lm_dtype_size(lm_dtype d);
/* Product of the shape (1 for a scalar); cannot overflow for a tensor of an opened file. */
int64_t lm_tensor_numel(const lm_tensor_info *t);
/* The index of the first element that is not finite (NaN or infinite) of a float tensor (F32, F16,
 * BF16), or -1 when all are finite or the tensor is not a float one. */
int64_t lm_tensor_nonfinite(const lm_tensor_info *t);

/* Looks up `name`, checks it is a float tensor (F32, F16 or BF16) of exactly the given shape
 * (ndim dims), and returns a malloc'd F32 copy in *out (caller frees). Errors (LM_EDATA) name the
 * file and tensor: "model.safetensors: tensor 'x' missing", "... has shape [3, 4], config wants
 * [3, 5]", "... has dtype I32, want a float type". */
int lm_st_load_f32(const lm_safetensors *sf, const char *name, int ndim, const int64_t *shape,
		   float **out, lm_status *st);

/* Integer tensors (golden token ids and the like): looks up `name`, accepts I32 or I64 of any
 * shape, and returns a malloc'd flat copy in *out (caller frees) and the element count in
 * *numel. lm_st_load_i32 fails (LM_EDATA) on an I64 value outside int32. Errors name the file and
 * tensor, as lm_st_load_f32. */
int lm_st_load_i32(const lm_safetensors *sf, const char *name, int32_t **out, int64_t *numel,
		   lm_status *st);
int lm_st_load_i64(const lm_safetensors *sf, const char *name, int64_t **out, int64_t *numel,
		   lm_status *st);

/* Conversions used by the loader (exact: bf16/f16 to f32 is lossless). */
float lm_bf16_to_f32(uint16_t h);
float lm_f16_to_f32(uint16_t h);
uint16_t lm_f32_to_bf16(float f); /* round to nearest even, as torch */

/* Writes a safetensors file of F32 tensors (for tools and tests). Writes to path.tmp then
 * renames, so no partial file is left. */
typedef struct lm_st_out {
	const char *name;
	int ndim;
	int64_t shape[LM_ST_MAX_DIMS];
	const float *data;
} lm_st_out;
int lm_st_write_f32(const char *path, const lm_st_out *t, int n, lm_status *st);
#endif
