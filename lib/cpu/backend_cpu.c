/* backend_cpu.c: the CPU backend table, and backend selection. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../backend.h"
#include "../safetensors.h"
#include "cpu.h"

/* Matrix weights stay float32 on the CPU: the same buffer upload would make. */
static float *cpu_upload_weight(const float *host, size_t n)
{
	float *p = cpu_alloc(n);
	if (p && host)
		cpu_upload(p, host, n);
	return p;
}

static const char *cpu_describe(void)
{
	static char line[64];
	int t = openblas_get_num_threads();
	snprintf(line, sizeof line, "cpu: %d thread%s", t, t == 1 ? "" : "s");
	return line;
}

const lm_backend lm_backend_cpu = {
	.name = "cpu",
	.alloc = cpu_alloc,
	.release = cpu_release,
	.upload = cpu_upload,
	.download = cpu_download,
	.copy = cpu_copy,
	.upload_weight = cpu_upload_weight,
	.linear = cpu_linear,
	.embed = cpu_embed,
	.gather = cpu_embed,
	.rmsnorm = cpu_rmsnorm,
	.layernorm = cpu_layernorm,
	.rope = cpu_rope,
	.attention = cpu_attention,
	.silu = cpu_silu,
	.gelu = cpu_gelu,
	.relu = cpu_relu,
	.sigmoid = cpu_sigmoid,
	.swiglu = cpu_swiglu,
	.add = cpu_add,
	.modulate = cpu_modulate,
	.gated_add = cpu_gated_add,
	.timestep_embedding = cpu_timestep_embedding,
	.euler_cfg = cpu_euler_cfg,
	.conv1d = cpu_conv1d,
	.upsample2 = cpu_upsample2,
	.describe = cpu_describe,
};

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

float *lm_be_upload_weight(const lm_backend *be, const float *host, size_t n)
{
	return n ? be->upload_weight(host, n) : be->upload_weight(NULL, 1);
}

int lm_be_load_tensor(const lm_backend *be, const lm_safetensors *sf, const char *who,
		      const char *name, int ndim, const int64_t *shape, float **dst, lm_status *st)
{
	float *host = NULL;
	int rc = lm_st_load_f32(sf, name, ndim, shape, &host, st);
	if (rc)
		return rc;
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	*dst = ndim >= 2 ? lm_be_upload_weight(be, host, n) : lm_be_upload_new(be, host, n);
	free(host);
	if (!*dst)
		return lm_fail(st, LM_ENOMEM, "%s: out of %s memory for '%s' (%zu floats)", who, be->name,
			       name, n);
	return 0;
}
