/* ops_head.c: the CPU reference for LayerNorm and the adaLN / flow-matching ops of the flow head
 * (docs/model-format.md 4.3; MAR models/diffloss.py: modulate, ResBlock, FinalLayer,
 * TimestepEmbedder.timestep_embedding). Semantics in backend.h. All elementwise ops work in place
 * (y may equal x). */
#include <math.h>
#include "cpu.h"

/* torch nn.LayerNorm over the last dim d: (x - mean) / sqrt(var + eps) * w + b with the biased
 * variance. Moments are accumulated in double (torch accumulates in float with a cascade; the two
 * agree to float rounding). w, b may be NULL (elementwise_affine=False). */
void cpu_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d, float eps)
{
	for (int i = 0; i < n; i++) {
		const float *xi = x + (size_t)i * d;
		float *yi = y + (size_t)i * d;
		double sum = 0, ss = 0;
		for (int j = 0; j < d; j++)
			sum += xi[j];
		double mean = sum / d;
		for (int j = 0; j < d; j++) {
			double c = xi[j] - mean;
			ss += c * c;
		}
		float rstd = (float)(1.0 / sqrt(ss / d + eps));
		float m = (float)mean;
		for (int j = 0; j < d; j++) {
			float v = (xi[j] - m) * rstd;
			if (w)
				v *= w[j];
			if (b)
				v += b[j];
			yi[j] = v;
		}
	}
}

/* MAR modulate(): y = x * (1 + scale) + shift; shift and scale rows are mod_stride floats apart */
void cpu_modulate(float *y, const float *x, const float *shift, const float *scale, int n, int d,
		  int mod_stride)
{
	for (int i = 0; i < n; i++) {
		const float *xi = x + (size_t)i * d;
		const float *sh = shift + (size_t)i * mod_stride;
		const float *sc = scale + (size_t)i * mod_stride;
		float *yi = y + (size_t)i * d;
		for (int j = 0; j < d; j++)
			yi[j] = xi[j] * (1.0f + sc[j]) + sh[j];
	}
}

/* MAR ResBlock residual: x = x + gate * h; gate rows are mod_stride floats apart */
void cpu_gated_add(float *x, const float *gate, const float *h, int n, int d, int mod_stride)
{
	for (int i = 0; i < n; i++) {
		float *xi = x + (size_t)i * d;
		const float *g = gate + (size_t)i * mod_stride;
		const float *hi = h + (size_t)i * d;
		for (int j = 0; j < d; j++)
			xi[j] += g[j] * hi[j];
	}
}

/* MAR TimestepEmbedder.timestep_embedding(t, dim, max_period=10000), in float32 as torch does it:
 * f_i = exp(-ln(10000) * i / half), args = t * f, y = [cos(args), sin(args)] (+ a zero column
 * when dim is odd). t: n host floats. */
void cpu_timestep_embedding(float *y, const float *t, int n, int dim)
{
	int half = dim / 2;
	const float neg_log = -(float)log(10000.0);
	for (int i = 0; i < n; i++) {
		float *yi = y + (size_t)i * dim;
		for (int j = 0; j < half; j++) {
			float f = expf(neg_log * (float)j / (float)half);
			float a = t[i] * f;
			yi[j] = cosf(a);
			yi[half + j] = sinf(a);
		}
		if (dim % 2)
			yi[dim - 1] = 0;
	}
}

/* One Euler step of the rectified-flow ODE with classifier-free guidance:
 * x += dt * (vu + s * (vc - vu)), or x += dt * vc when vu is NULL. */
void cpu_euler_cfg(float *x, const float *vc, const float *vu, float s, float dt, int d)
{
	for (int j = 0; j < d; j++) {
		float v = vu ? vu[j] + s * (vc[j] - vu[j]) : vc[j];
		x[j] += dt * v;
	}
}
