/* backend.c: what every backend shares: selection (lm_backend_get), the device line, and the
 * allocate-and-upload / load-a-tensor helpers the model code uses. The ops live in lib/cpu/ and
 * kernels/; this file is the one place outside kernels/ that knows whether CUDA is built in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "safetensors.h"

#ifndef LLAMO_CUDA
/* Built without CUDA (make CUDA=0, or no nvcc): the one place that knows. */
int lm_cuda_open(const lm_backend **be, lm_status *st)
{
	(void)be;
	return lm_fail(st, LM_EUNAVAIL, "device cuda: this build has no CUDA backend (rebuild with make CUDA=1)");
}
#endif

int lm_backend_get(const lm_backend **be, const char *name, lm_status *st)
{
	if (!name || !*name || !strcmp(name, "auto"))
		name = getenv("LLAMO_DEVICE");
	if (!name || !*name || !strcmp(name, "auto")) {
		/* auto: cuda when built in and a GPU is visible, else the CPU */
		if (lm_cuda_open(be, NULL))
			*be = &lm_backend_cpu;
		return 0;
	}
	if (!strcmp(name, "cpu")) {
		*be = &lm_backend_cpu;
		return 0;
	}
	if (!strcmp(name, "cuda"))
		return lm_cuda_open(be, st);
	return lm_fail(st, LM_EUSAGE, "unknown device '%s' (want cpu, cuda or auto)", name);
}

const char *lm_backend_describe(const lm_backend *be)
{
	return be->describe ? be->describe() : be->name;
}

float *lm_be_upload_new(const lm_backend *be, const float *host, size_t n)
{
	float *p = be->alloc(n ? n : 1);
	if (p && host)
		be->upload(p, host, n);
	return p;
}

lm_weight *lm_be_upload_weight(const lm_backend *be, const float *host, size_t n)
{
	return n ? be->upload_weight(host, n) : be->upload_weight(NULL, 1);
}

int lm_check_finite(const lm_safetensors *sf, const char *name, lm_status *st)
{
	const lm_tensor_info *t = lm_st_find(sf, name);
	int64_t bad = t ? lm_tensor_nonfinite(t) : -1;
	if (bad >= 0)
		return lm_fail(st, LM_EDATA, "%s: tensor '%s': element %lld is not finite", lm_st_name(sf), name,
			       (long long)bad);
	return 0;
}

/* The tensor as F32 host memory (*host malloc'd) and its element count. */
static int load_host(const lm_safetensors *sf, const char *name, int ndim, const int64_t *shape, float **host,
		     size_t *n, lm_status *st)
{
	int rc = lm_st_load_f32(sf, name, ndim, shape, host, st);
	if (!rc)
		rc = lm_check_finite(sf, name, st);
	if (rc) {
		free(*host);
		*host = NULL;
	}
	*n = 1;
	for (int i = 0; i < ndim; i++)
		*n *= (size_t)shape[i];
	return rc;
}

static int no_memory(const lm_backend *be, const char *who, const char *name, size_t n, lm_status *st)
{
	return lm_fail(st, LM_ENOMEM, "%s: out of %s memory for '%s' (%zu floats)", who, be->name, name, n);
}

/* A tensor of sf onto be: a float32 buffer, or (weight) one in the backend's weight format. */
static int load_onto(const lm_backend *be, const lm_safetensors *sf, const char *who, const char *name,
		     int ndim, const int64_t *shape, int weight, void **dst, lm_status *st)
{
	float *host = NULL;
	size_t n;
	*dst = NULL;
	int rc = load_host(sf, name, ndim, shape, &host, &n, st);
	if (rc)
		return rc;
	*dst = weight ? (void *)lm_be_upload_weight(be, host, n) : (void *)lm_be_upload_new(be, host, n);
	free(host);
	return *dst ? 0 : no_memory(be, who, name, n, st);
}

int lm_be_load_tensor(const lm_backend *be, const lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, float **dst, lm_status *st)
{
	void *p;
	int rc = load_onto(be, sf, who, name, ndim, shape, 0, &p, st);
	*dst = p;
	return rc;
}

/* The 16-bit tensor `name` of exactly this shape, or NULL (then the float32 path loads it, or
 * says what is wrong). */
static const lm_tensor_info *tensor16(const lm_safetensors *sf, const char *name, int ndim, const int64_t *shape)
{
	const lm_tensor_info *t = lm_st_find(sf, name);
	if (!t || (t->dtype != LM_DT_BF16 && t->dtype != LM_DT_F16) || t->ndim != ndim)
		return NULL;
	for (int i = 0; i < ndim; i++)
		if (t->shape[i] != shape[i])
			return NULL;
	return t;
}

int lm_be_load_weight(const lm_backend *be, const lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, int keep16, lm_weight **dst,
		      lm_status *st)
{
	const lm_tensor_info *t = keep16 && be->upload_weight16 ? tensor16(sf, name, ndim, shape) : NULL;
	if (t) {
		size_t n = (size_t)lm_tensor_numel(t);
		*dst = NULL;
		if (lm_check_finite(sf, name, st))
			return st->code;
		*dst = be->upload_weight16(t->data, t->dtype, n);
		return *dst ? 0 : no_memory(be, who, name, n, st);
	}
	void *p;
	int rc = load_onto(be, sf, who, name, ndim, shape, 1, &p, st);
	*dst = p;
	return rc;
}

/* ---- owned lists ---- */

void lm_owned_init(lm_owned *o, const lm_backend *be)
{
	memset(o, 0, sizeof *o);
	o->be = be;
}

/* Records p; when the list cannot grow, releases p and returns 0. */
static int owned_add(lm_owned *o, void *p, int is_weight)
{
	if (o->n == o->cap) {
		int cap = o->cap ? 2 * o->cap : 64;
		struct lm_owned_item *it = realloc(o->item, (size_t)cap * sizeof *it);
		if (!it) {
			if (is_weight)
				o->be->release_weight(p);
			else
				o->be->release(p);
			return 0;
		}
		o->item = it;
		o->cap = cap;
	}
	o->item[o->n++] = (struct lm_owned_item){p, is_weight};
	return 1;
}

float *lm_owned_alloc(lm_owned *o, size_t n)
{
	float *p = o->be->alloc(n ? n : 1);
	return p && owned_add(o, p, 0) ? p : NULL;
}

lm_weight *lm_owned_upload_weight(lm_owned *o, const float *host, size_t n)
{
	lm_weight *w = lm_be_upload_weight(o->be, host, n);
	return w && owned_add(o, w, 1) ? w : NULL;
}

int lm_owned_load_tensor(lm_owned *o, const lm_safetensors *sf, const char *who, const char *name, int ndim,
			 const int64_t *shape, float **dst, lm_status *st)
{
	int rc = lm_be_load_tensor(o->be, sf, who, name, ndim, shape, dst, st);
	if (!rc && !owned_add(o, *dst, 0)) {
		*dst = NULL;
		rc = lm_fail(st, LM_ENOMEM, "%s: out of memory", who);
	}
	return rc;
}

int lm_owned_load_weight(lm_owned *o, const lm_safetensors *sf, const char *who, const char *name, int ndim,
			 const int64_t *shape, lm_weight **dst, lm_status *st)
{
	int rc = lm_be_load_weight(o->be, sf, who, name, ndim, shape, !o->widen, dst, st);
	if (!rc && !owned_add(o, *dst, 1)) {
		*dst = NULL;
		rc = lm_fail(st, LM_ENOMEM, "%s: out of memory", who);
	}
	return rc;
}

int lm_owned_upload_raw(lm_owned *o, const void *data, int dtype, size_t n, const char *who, const char *name,
			lm_weight **dst, lm_status *st)
{
	*dst = NULL;
	if (dtype != LM_DT_F32 && !o->widen && o->be->upload_weight16) {
		*dst = o->be->upload_weight16(data, dtype, n);
	} else {
		float *host = malloc((n ? n : 1) * sizeof *host);
		if (!host)
			return no_memory(o->be, who, name, n, st);
		const unsigned char *p = data;
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			if (dtype == LM_DT_F32) {
				memcpy(host + i, p + 4 * i, 4);
				continue;
			}
			memcpy(&h, p + 2 * i, 2);
			host[i] = dtype == LM_DT_F16 ? lm_f16_to_f32(h) : lm_bf16_to_f32(h);
		}
		*dst = lm_be_upload_weight(o->be, host, n);
		free(host);
	}
	if (!*dst)
		return no_memory(o->be, who, name, n, st);
	if (!owned_add(o, *dst, 1)) {
		*dst = NULL;
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", who);
	}
	return 0;
}

int lm_owned_load_linear(lm_owned *o, const lm_safetensors *sf, const char *who, const char *prefix, int out,
			 int in, lm_weight **w, float **b, lm_status *st)
{
	char name[256];
	int64_t ws[2] = {out, in}, bs[1] = {out};
	int rc;
	snprintf(name, sizeof name, "%s.weight", prefix);
	if ((rc = lm_owned_load_weight(o, sf, who, name, 2, ws, w, st)))
		return rc;
	snprintf(name, sizeof name, "%s.bias", prefix);
	return lm_owned_load_tensor(o, sf, who, name, 1, bs, b, st);
}

void lm_owned_free(lm_owned *o)
{
	for (int i = o->n - 1; i >= 0; i--) {
		if (o->item[i].is_weight)
			o->be->release_weight(o->item[i].p);
		else
			o->be->release(o->item[i].p);
	}
	free(o->item);
	const lm_backend *be = o->be;
	lm_owned_init(o, be);
}
