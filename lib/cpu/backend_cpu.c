/* backend_cpu.c: the CPU backend table (the ops are in ops_core.c, ops_head.c, ops_conv.c). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include "../backend.h"
#include "cpu.h"

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
	.release_weight = cpu_release_weight,
	.upload_weight16 = cpu_upload_weight16,
	.linear = cpu_linear,
	.embed = cpu_embed,
	.gather = cpu_gather,
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
