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

/* The tensor as F32 host memory (*host malloc'd) and its element count. */
static int load_host(const lm_safetensors *sf, const char *name, int ndim, const int64_t *shape, float **host,
		     size_t *n, lm_status *st)
{
	int rc = lm_st_load_f32(sf, name, ndim, shape, host, st);
	*n = 1;
	for (int i = 0; i < ndim; i++)
		*n *= (size_t)shape[i];
	return rc;
}

static int no_memory(const lm_backend *be, const char *who, const char *name, size_t n, lm_status *st)
{
	return lm_fail(st, LM_ENOMEM, "%s: out of %s memory for '%s' (%zu floats)", who, be->name, name, n);
}

int lm_be_load_tensor(const lm_backend *be, const lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, float **dst, lm_status *st)
{
	float *host = NULL;
	size_t n;
	*dst = NULL;
	int rc = load_host(sf, name, ndim, shape, &host, &n, st);
	if (rc)
		return rc;
	*dst = lm_be_upload_new(be, host, n);
	free(host);
	return *dst ? 0 : no_memory(be, who, name, n, st);
}

int lm_be_load_weight(const lm_backend *be, const lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, lm_weight **dst, lm_status *st)
{
	float *host = NULL;
	size_t n;
	*dst = NULL;
	int rc = load_host(sf, name, ndim, shape, &host, &n, st);
	if (rc)
		return rc;
	*dst = lm_be_upload_weight(be, host, n);
	free(host);
	return *dst ? 0 : no_memory(be, who, name, n, st);
}
