/* safetensors.c: memory-mapped safetensors files, validated before use (see safetensors.h).
 *
 * The format (huggingface/safetensors, docs and safetensors/src/tensor.rs): an 8-byte
 * little-endian header length N, N bytes of JSON, then the data block. Everything the header
 * says is checked against the file before any tensor is handed out, in the spirit of the GGUF
 * advisories: sizes that overflow, offsets out of bounds, tensors that overlap.
 *
 * The host is assumed little-endian (as are x86-64 and aarch64 Linux); the build fails otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000u /* 100 MB, the limit of the Rust reference */

struct lm_safetensors {
	char *name;          /* the path or caller's name, for messages */
	const uint8_t *base; /* the whole file */
	size_t len;
	int mapped;          /* base is our mmap */
	json_t *header;      /* keeps the names and metadata strings alive */
	lm_tensor_info *t;   /* (n) in header order */
	int n;
	json_t *meta;        /* "__metadata__" object or NULL (borrowed from header) */
};

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[LM_DT_F32] = {"F32", 4}, [LM_DT_F16] = {"F16", 2}, [LM_DT_BF16] = {"BF16", 2},
	[LM_DT_I32] = {"I32", 4}, [LM_DT_I64] = {"I64", 8}, [LM_DT_U8] = {"U8", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *lm_dtype_name(lm_dtype d)
{
	return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].name : "?";
}

size_t lm_dtype_size(lm_dtype d)
{
	return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].size : 0;
}

/* ---- conversions ---- */

float lm_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* IEEE 754 binary16 to binary32, exact (subnormals, inf and NaN payloads included). */
float lm_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (man << 13); /* inf or NaN */
	} else if (exp != 0) {
		u = sign | ((exp + 112) << 23) | (man << 13); /* normal: rebias 15 -> 127 */
	} else if (man == 0) {
		u = sign; /* signed zero */
	} else {
		/* subnormal: man * 2^-24, exact in f32 */
		float f = ldexpf((float)man, -24);
		memcpy(&u, &f, 4);
		u |= sign;
	}
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Round to nearest even, NaN to the quiet 0x7fc0, as torch's c10::BFloat16
 * (round_to_nearest_even in c10/util/BFloat16.h). */
uint16_t lm_f32_to_bf16(float f)
{
	if (isnan(f))
		return 0x7fc0;
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* ---- validation on open ---- */

static uint64_t rd_u64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int parse_dtype(const char *s, lm_dtype *d)
{
	for (int i = 0; i < N_DTYPES; i++)
		if (strcmp(s, dtypes[i].name) == 0) {
			*d = (lm_dtype)i;
			return 0;
		}
	return -1;
}

/* Reads one header entry into t. nbytes_data: size of the data block. */
static int parse_entry(lm_safetensors *sf, const char *key, json_t *v, lm_tensor_info *t,
		       uint64_t *begin, uint64_t *end, uint64_t ndata, lm_status *st)
{
	const char *f = sf->name;
	if (!json_is_object(v))
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': entry is not an object", f, key);
	json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
	       *jo = json_object_get(v, "data_offsets");
	if (!jd || !json_is_string(jd))
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': dtype %s", f, key,
			       jd ? "is not a string" : "missing");
	if (parse_dtype(json_string_value(jd), &t->dtype))
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': unsupported dtype '%s'", f, key,
			       json_string_value(jd));
	if (!js || !json_is_array(js))
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': shape %s", f, key,
			       js ? "is not an array" : "missing");
	size_t nd = json_array_size(js);
	if (nd > LM_ST_MAX_DIMS)
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': shape has %zu dims (at most %d)", f,
			       key, nd, LM_ST_MAX_DIMS);
	t->ndim = (int)nd;
	uint64_t nbytes = dtypes[t->dtype].size;
	for (size_t i = 0; i < nd; i++) {
		json_t *e = json_array_get(js, i);
		if (!json_is_integer(e) || json_integer_value(e) < 0)
			return lm_fail(st, LM_EDATA,
				       "%s: tensor '%s': shape[%zu] is not a non-negative integer", f,
				       key, i);
		t->shape[i] = json_integer_value(e);
		if (__builtin_mul_overflow(nbytes, (uint64_t)t->shape[i], &nbytes) ||
		    nbytes > (uint64_t)INT64_MAX)
			return lm_fail(st, LM_EDATA, "%s: tensor '%s': shape overflows", f, key);
	}
	if (!jo || !json_is_array(jo) || json_array_size(jo) != 2 ||
	    !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)) ||
	    json_integer_value(json_array_get(jo, 0)) < 0 || json_integer_value(json_array_get(jo, 1)) < 0)
		return lm_fail(st, LM_EDATA,
			       "%s: tensor '%s': data_offsets %s", f, key,
			       jo ? "is not [begin, end] of non-negative integers" : "missing");
	*begin = (uint64_t)json_integer_value(json_array_get(jo, 0));
	*end = (uint64_t)json_integer_value(json_array_get(jo, 1));
	if (*begin > *end)
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': data_offsets [%llu, %llu] has begin > end",
			       f, key, (unsigned long long)*begin, (unsigned long long)*end);
	if (*end > ndata)
		return lm_fail(st, LM_EDATA,
			       "%s: tensor '%s': data_offsets [%llu, %llu] out of range (data is %llu bytes)",
			       f, key, (unsigned long long)*begin, (unsigned long long)*end,
			       (unsigned long long)ndata);
	if (*end - *begin != nbytes)
		return lm_fail(st, LM_EDATA,
			       "%s: tensor '%s': %s shape needs %llu bytes, data_offsets [%llu, %llu] hold %llu",
			       f, key, dtypes[t->dtype].name, (unsigned long long)nbytes,
			       (unsigned long long)*begin, (unsigned long long)*end,
			       (unsigned long long)(*end - *begin));
	t->name = key;
	t->nbytes = (size_t)nbytes;
	return 0;
}

static int check_metadata(lm_safetensors *sf, json_t *v, lm_status *st)
{
	if (!json_is_object(v))
		return lm_fail(st, LM_EDATA, "%s: __metadata__ is not an object", sf->name);
	const char *k;
	json_t *e;
	json_object_foreach(v, k, e) {
		if (!json_is_string(e))
			return lm_fail(st, LM_EDATA, "%s: __metadata__ '%s' is not a string", sf->name, k);
	}
	sf->meta = v;
	return 0;
}

typedef struct {
	uint64_t begin, end;
	int i;
} span;

static int cmp_span(const void *a, const void *b)
{
	const span *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Parses and checks the header of sf->base[0..len). */
static int validate(lm_safetensors *sf, lm_status *st)
{
	const char *f = sf->name;
	if (sf->len < 8)
		return lm_fail(st, LM_EDATA, "%s: file is %zu bytes, too short for a safetensors header",
			       f, sf->len);
	uint64_t n = rd_u64le(sf->base);
	if (n > ST_MAX_HEADER)
		return lm_fail(st, LM_EDATA, "%s: header length %llu is over the %u-byte limit", f,
			       (unsigned long long)n, ST_MAX_HEADER);
	if (n > sf->len - 8)
		return lm_fail(st, LM_EDATA, "%s: header length %llu runs past the end of the file (%zu bytes)",
			       f, (unsigned long long)n, sf->len);
	json_error_t err;
	sf->header = json_loadb((const char *)sf->base + 8, n, JSON_REJECT_DUPLICATES, &err);
	if (!sf->header)
		return lm_fail(st, LM_EDATA, "%s: header JSON, line %d column %d: %s", f, err.line,
			       err.column, err.text);
	if (!json_is_object(sf->header))
		return lm_fail(st, LM_EDATA, "%s: header JSON is not an object", f);
	uint64_t ndata = sf->len - 8 - n;
	const uint8_t *data = sf->base + 8 + n;
	size_t cap = json_object_size(sf->header);
	sf->t = calloc(cap ? cap : 1, sizeof *sf->t);
	span *sp = calloc(cap ? cap : 1, sizeof *sp);
	if (!sf->t || !sp) {
		free(sp);
		return lm_fail(st, LM_ENOMEM, "%s: out of memory for %zu tensor entries", f, cap);
	}
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(sf->header, key, v) {
		if (strcmp(key, "__metadata__") == 0) {
			if ((rc = check_metadata(sf, v, st)))
				break;
			continue;
		}
		lm_tensor_info *t = &sf->t[sf->n];
		span *s = &sp[sf->n];
		if ((rc = parse_entry(sf, key, v, t, &s->begin, &s->end, ndata, st)))
			break;
		t->data = data + s->begin;
		s->i = sf->n++;
	}
	if (!rc) {
		qsort(sp, (size_t)sf->n, sizeof *sp, cmp_span);
		for (int i = 1; i < sf->n; i++)
			if (sp[i].begin < sp[i - 1].end) {
				rc = lm_fail(st, LM_EDATA,
					     "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", f,
					     sf->t[sp[i - 1].i].name, (unsigned long long)sp[i - 1].begin,
					     (unsigned long long)sp[i - 1].end, sf->t[sp[i].i].name,
					     (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end);
				break;
			}
	}
	if (!rc) {
		/* the offsets tile the data block exactly, as the reference validator requires: the
		 * first tensor at 0, each where the one before ends, the last at the block's end */
		uint64_t at = 0;
		for (int i = 0; i < sf->n && !rc; i++) {
			if (sp[i].begin > at)
				rc = lm_fail(st, LM_EDATA, "%s: %llu unused bytes [%llu, %llu) before tensor '%s'", f,
					     (unsigned long long)(sp[i].begin - at), (unsigned long long)at,
					     (unsigned long long)sp[i].begin, sf->t[sp[i].i].name);
			at = sp[i].end > at ? sp[i].end : at;
		}
		if (!rc && at != ndata)
			rc = lm_fail(st, LM_EDATA, "%s: %llu unused bytes [%llu, %llu) after the last tensor", f,
				     (unsigned long long)(ndata - at), (unsigned long long)at, (unsigned long long)ndata);
	}
	free(sp);
	return rc;
}

/* ---- open / close ---- */

static lm_safetensors *st_new(const char *name, lm_status *st)
{
	lm_safetensors *sf = calloc(1, sizeof *sf);
	if (sf)
		sf->name = strdup(name ? name : "safetensors");
	if (!sf || !sf->name) {
		free(sf);
		lm_fail(st, LM_ENOMEM, "%s: out of memory", name ? name : "safetensors");
		return NULL;
	}
	return sf;
}

int lm_st_open_mem(lm_safetensors **out, const void *buf, size_t len, const char *name,
		   lm_status *st)
{
	*out = NULL;
	lm_safetensors *sf = st_new(name, st);
	if (!sf)
		return LM_ENOMEM;
	sf->base = buf;
	sf->len = len;
	int rc = validate(sf, st);
	if (rc) {
		lm_st_close(sf);
		return rc;
	}
	*out = sf;
	return 0;
}

int lm_st_open(lm_safetensors **out, const char *path, lm_status *st)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lm_fail(st, LM_ENOINPUT, "%s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return lm_fail(st, LM_ENOINPUT, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return lm_fail(st, LM_ENOINPUT, "%s: not a regular file", path);
	}
	lm_safetensors *sf = st_new(path, st);
	if (!sf) {
		close(fd);
		return LM_ENOMEM;
	}
	sf->len = (size_t)sb.st_size;
	if (sf->len >= 8) {
		void *p = mmap(NULL, sf->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			lm_st_close(sf);
			return lm_fail(st, LM_EIO, "%s: mmap: %s", path, strerror(e));
		}
		sf->base = p;
		sf->mapped = 1;
	} else {
		sf->base = (const uint8_t *)"";
	}
	close(fd);
	int rc = validate(sf, st);
	if (rc) {
		lm_st_close(sf);
		return rc;
	}
	*out = sf;
	return 0;
}

void lm_st_close(lm_safetensors *sf)
{
	if (!sf)
		return;
	if (sf->mapped)
		munmap((void *)sf->base, sf->len);
	json_decref(sf->header);
	free(sf->t);
	free(sf->name);
	free(sf);
}

/* ---- lookup ---- */

int lm_st_count(const lm_safetensors *sf)
{
	return sf->n;
}

const char *lm_st_name(const lm_safetensors *sf)
{
	return sf->name;
}

const lm_tensor_info *lm_st_at(const lm_safetensors *sf, int i)
{
	return i >= 0 && i < sf->n ? &sf->t[i] : NULL;
}

const lm_tensor_info *lm_st_find(const lm_safetensors *sf, const char *name)
{
	for (int i = 0; i < sf->n; i++)
		if (strcmp(sf->t[i].name, name) == 0)
			return &sf->t[i];
	return NULL;
}

const char *lm_st_metadata(const lm_safetensors *sf, const char *key)
{
	return sf->meta ? json_string_value(json_object_get(sf->meta, key)) : NULL;
}

int64_t lm_tensor_numel(const lm_tensor_info *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i]; /* cannot overflow: checked on open */
	return n;
}

/* ---- loading ---- */

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
	size_t k = (size_t)snprintf(buf, cap, "[");
	for (int i = 0; i < ndim && k < cap; i++)
		k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (k < cap)
		snprintf(buf + k, cap - k, "]");
}

int64_t lm_tensor_nonfinite(const lm_tensor_info *t)
{
	size_t n = (size_t)lm_tensor_numel(t), esz = lm_dtype_size(t->dtype);
	uint32_t mask;
	switch (t->dtype) {
	case LM_DT_F32: mask = 0x7f800000u; break;
	case LM_DT_BF16: mask = 0x7f80u; break;
	case LM_DT_F16: mask = 0x7c00u; break;
	default: return -1;
	}
	/* blocks of 4096 elements: a branch-free scan of the exponent bits, then the index in the
	 * block that has one */
	const uint8_t *p = t->data;
	for (size_t b = 0; b < n; b += 4096) {
		size_t e = n - b < 4096 ? n : b + 4096;
		uint32_t any = 0;
		if (esz == 4)
			for (size_t i = b; i < e; i++) {
				uint32_t u;
				memcpy(&u, p + 4 * i, 4);
				any |= (u & mask) == mask;
			}
		else
			for (size_t i = b; i < e; i++) {
				uint16_t u;
				memcpy(&u, p + 2 * i, 2);
				any |= (u & mask) == mask;
			}
		if (!any)
			continue;
		for (size_t i = b; i < e; i++) {
			uint32_t u = 0;
			memcpy(&u, p + esz * i, esz);
			if ((u & mask) == mask)
				return (int64_t)i;
		}
	}
	return -1;
}

static const lm_tensor_info *need(const lm_safetensors *sf, const char *name, lm_status *st)
{
	const lm_tensor_info *t = lm_st_find(sf, name);
	if (!t)
		lm_fail(st, LM_EDATA, "%s: tensor '%s' missing", sf->name, name);
	return t;
}

int lm_st_load_f32(const lm_safetensors *sf, const char *name, int ndim, const int64_t *shape,
		   float **out, lm_status *st)
{
	*out = NULL;
	const lm_tensor_info *t = need(sf, name, st);
	if (!t)
		return LM_EDATA;
	if (t->dtype != LM_DT_F32 && t->dtype != LM_DT_F16 && t->dtype != LM_DT_BF16)
		return lm_fail(st, LM_EDATA, "%s: tensor '%s' has dtype %s, want a float type", sf->name,
			       name, dtypes[t->dtype].name);
	int same = t->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same) {
		char have[160], want[160];
		fmt_shape(have, sizeof have, t->ndim, t->shape);
		fmt_shape(want, sizeof want, ndim, shape);
		return lm_fail(st, LM_EDATA, "%s: tensor '%s' has shape %s, config wants %s", sf->name,
			       name, have, want);
	}
	size_t n = (size_t)lm_tensor_numel(t);
	float *y = malloc(n ? n * sizeof *y : 1);
	if (!y)
		return lm_fail(st, LM_ENOMEM, "%s: tensor '%s': out of memory for %zu floats", sf->name,
			       name, n);
	const uint8_t *p = t->data; /* may be unaligned */
	if (t->dtype == LM_DT_F32) {
		memcpy(y, p, n * 4);
	} else {
		float (*cvt)(uint16_t) = t->dtype == LM_DT_F16 ? lm_f16_to_f32 : lm_bf16_to_f32;
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			y[i] = cvt(h);
		}
	}
	*out = y;
	return 0;
}

/* Integer tensors: I32 or I64 of any shape, flattened. */
static int load_int(const lm_safetensors *sf, const char *name, int want64, void **out, int64_t *numel,
		    lm_status *st)
{
	*out = NULL;
	const lm_tensor_info *t = need(sf, name, st);
	if (!t)
		return LM_EDATA;
	if (t->dtype != LM_DT_I32 && t->dtype != LM_DT_I64)
		return lm_fail(st, LM_EDATA, "%s: tensor '%s' has dtype %s, want I32 or I64", sf->name,
			       name, dtypes[t->dtype].name);
	size_t n = (size_t)lm_tensor_numel(t), esz = want64 ? 8 : 4;
	uint8_t *y = malloc(n ? n * esz : 1);
	if (!y)
		return lm_fail(st, LM_ENOMEM, "%s: tensor '%s': out of memory", sf->name, name);
	const uint8_t *p = t->data;
	for (size_t i = 0; i < n; i++) {
		int64_t v;
		if (t->dtype == LM_DT_I32) {
			int32_t w;
			memcpy(&w, p + 4 * i, 4);
			v = w;
		} else {
			memcpy(&v, p + 8 * i, 8);
		}
		if (want64) {
			memcpy(y + 8 * i, &v, 8);
		} else {
			if (v < INT32_MIN || v > INT32_MAX) {
				free(y);
				return lm_fail(st, LM_EDATA, "%s: tensor '%s'[%zu] = %lld does not fit in int32",
					       sf->name, name, i, (long long)v);
			}
			int32_t w = (int32_t)v;
			memcpy(y + 4 * i, &w, 4);
		}
	}
	*out = y;
	*numel = (int64_t)n;
	return 0;
}

int lm_st_load_i32(const lm_safetensors *sf, const char *name, int32_t **out, int64_t *numel,
		   lm_status *st)
{
	return load_int(sf, name, 0, (void **)out, numel, st);
}

int lm_st_load_i64(const lm_safetensors *sf, const char *name, int64_t **out, int64_t *numel,
		   lm_status *st)
{
	return load_int(sf, name, 1, (void **)out, numel, st);
}

/* ---- writing ---- */

static json_t *header_json(const lm_st_out *t, int n, uint64_t *total, lm_status *st, const char *path)
{
	json_t *h = json_object();
	uint64_t off = 0;
	for (int i = 0; h && i < n; i++) {
		if (t[i].ndim < 0 || t[i].ndim > LM_ST_MAX_DIMS || !t[i].name ||
		    strcmp(t[i].name, "__metadata__") == 0 || json_object_get(h, t[i].name)) {
			lm_fail(st, LM_EINTERNAL, "%s: tensor %d ('%s'): bad or duplicate name or ndim %d",
				path, i, t[i].name ? t[i].name : "(null)", t[i].ndim);
			json_decref(h);
			return NULL;
		}
		uint64_t nb = 4;
		json_t *shape = json_array();
		for (int d = 0; d < t[i].ndim; d++) {
			nb *= (uint64_t)t[i].shape[d];
			json_array_append_new(shape, json_integer(t[i].shape[d]));
		}
		json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
				      "data_offsets", (json_int_t)off, (json_int_t)(off + nb));
		if (!e || json_object_set_new(h, t[i].name, e)) {
			json_decref(h);
			h = NULL;
			break;
		}
		off += nb;
	}
	if (!h)
		lm_fail(st, LM_ENOMEM, "%s: out of memory building the header", path);
	*total = off;
	return h;
}

int lm_st_write_f32(const char *path, const lm_st_out *t, int n, lm_status *st)
{
	uint64_t total;
	json_t *h = header_json(t, n, &total, st, path);
	if (!h)
		return st ? st->code : LM_EINTERNAL;
	char *js = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!js)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory dumping the header", path);
	size_t hl = strlen(js), pad = (8 - hl % 8) % 8;
	uint8_t len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (uint8_t)((uint64_t)(hl + pad) >> (8 * i));

	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		free(js);
		return lm_fail(st, LM_EIO, "%s: path too long", path);
	}
	FILE *fp = fopen(tmp, "wb");
	if (!fp) {
		free(js);
		return lm_fail(st, LM_EIO, "%s: %s", tmp, strerror(errno));
	}
	int bad = fwrite(len8, 1, 8, fp) != 8 || fwrite(js, 1, hl, fp) != hl ||
		  fwrite("        ", 1, pad, fp) != pad;
	free(js);
	for (int i = 0; !bad && i < n; i++) {
		size_t ne = 1;
		for (int d = 0; d < t[i].ndim; d++)
			ne *= (size_t)t[i].shape[d];
		bad = ne && fwrite(t[i].data, 4, ne, fp) != ne;
	}
	int e = errno;
	if (fclose(fp) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (!bad && rename(tmp, path) != 0) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		unlink(tmp);
		return lm_fail(st, LM_EIO, "%s: write failed: %s", path, strerror(e));
	}
	return 0;
}
