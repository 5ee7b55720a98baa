/* backend_cpu.c: the CPU backend table, and backend selection. */
#include <stdlib.h>
#include <string.h>
#include "../backend.h"
#include "cpu.h"

const lm_backend lm_backend_cpu = {
	.name = "cpu",
	.alloc = cpu_alloc,
	.release = cpu_release,
	.upload = cpu_upload,
	.download = cpu_download,
	.copy = cpu_copy,
	.linear = cpu_linear,
	.embed = cpu_embed,
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
};

int lm_backend_get(const lm_backend **be, const char *name, lm_status *st)
{
	if (!name || !*name || !strcmp(name, "auto"))
		name = getenv("LLAMO_DEVICE");
	if (!name || !*name || !strcmp(name, "auto") || !strcmp(name, "cpu")) {
		/* auto: no CUDA backend is built yet, so the CPU runs */
		*be = &lm_backend_cpu;
		return 0;
	}
	if (!strcmp(name, "cuda"))
		return lm_fail(st, LM_EUNAVAIL, "device cuda: this build has no CUDA backend");
	return lm_fail(st, LM_EUSAGE, "unknown device '%s' (want cpu, cuda or auto)", name);
}

float *lm_be_upload_new(const lm_backend *be, const float *host, size_t n)
{
	float *p = be->alloc(n ? n : 1);
	if (p && host)
		be->upload(p, host, n);
	return p;
}
