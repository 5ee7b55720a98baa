/* ops_conv.c: the CPU reference for the causal VAE's convolution and upsampling.
 * Semantics in backend.h. The convolution is one product per block of output rows: the input
 * windows are gathered (im2col) into rows of cin*k values ordered (cin, k), which is exactly the
 * torch weight layout (cout, cin, k) read as a (cout, cin*k) matrix, so the weights are used as
 * stored and y = cols w^T + b is a single cblas_sgemm. For the few rows of a streaming step
 * (latent by latent) the product is one sgemv per output channel instead, so each weight row is
 * read from memory once for all rows (sgemm would repack the whole weight matrix every call). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"

/* Scratch for the gathered windows, in floats; larger outputs run in blocks of rows. */
#define CONV_COLS_MAX ((size_t)1 << 21)
/* Up to this many output rows use the per-channel products (measured: 2.5x faster than sgemm for
 * the 1-4 rows of a streaming step at width 1024). */
#define CONV_FEW_ROWS 8

/* The definition, term by term: used only when the scratch cannot be allocated.
 * y[t][o] = b[o] + sum_{i,j} w[o][i][j] x[t*stride + j*dil][i] */
static void conv1d_direct(float *y, const float *x, const float *w, const float *b, int T_out,
			  int cin, int cout, int k, int stride, int dil)
{
	for (int t = 0; t < T_out; t++)
		for (int o = 0; o < cout; o++) {
			float s = b ? b[o] : 0.0f;
			for (int i = 0; i < cin; i++)
				for (int j = 0; j < k; j++)
					s += w[((size_t)o * cin + i) * k + j] *
					     x[((size_t)t * stride + (size_t)j * dil) * cin + i];
			y[(size_t)t * cout + o] = s;
		}
}

/* cols(n, cin*k): row t holds x rows t*stride + j*dil (j < k), interleaved as [i*k + j] */
static void conv1d_gather(float *cols, const float *x, int t0, int n, int cin, int k, int stride,
			  int dil)
{
	size_t ck = (size_t)cin * k;
	for (int t = 0; t < n; t++) {
		float *c = cols + (size_t)t * ck;
		for (int j = 0; j < k; j++) {
			const float *src = x + ((size_t)(t0 + t) * stride + (size_t)j * dil) * cin;
			for (int i = 0; i < cin; i++)
				c[(size_t)i * k + j] = src[i];
		}
	}
}

/* y(n, cout) = a(n, ck) w(cout, ck)^T + b */
static void conv1d_product(float *y, const float *a, const float *w, const float *b, int n, int ck,
			   int cout)
{
	for (int t = 0; t < n; t++) {
		float *yt = y + (size_t)t * cout;
		if (b)
			memcpy(yt, b, cout * sizeof(float));
		else
			memset(yt, 0, cout * sizeof(float));
	}
	if (n == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, cout, ck, 1.0f, w, ck, a, 1, 1.0f, y, 1);
	else if (n <= CONV_FEW_ROWS)
		for (int o = 0; o < cout; o++)
			cblas_sgemv(CblasRowMajor, CblasNoTrans, n, ck, 1.0f, a, ck, w + (size_t)o * ck, 1, 1.0f,
				    y + o, cout);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, cout, ck, 1.0f, a, ck, w, ck, 1.0f, y,
			    cout);
}

/* Causal conv, time-major (torch nn.Conv1d with padding 0 on the already padded input):
 * x(T_in, cin), w(cout, cin, k), b(cout) or NULL, y(T_out, cout),
 * T_out = (T_in - (k-1)*dil - 1) / stride + 1 (no output when T_in < (k-1)*dil + 1). */
void cpu_conv1d(float *y, const float *x, const lm_weight *wt, const float *b, int T_in, int cin, int cout,
		int k, int stride, int dil)
{
	const float *w = cpu_weight_f32(wt);
	int span = (k - 1) * dil + 1;
	if (T_in < span || cin <= 0 || cout <= 0)
		return;
	int T_out = (T_in - span) / stride + 1;
	int ck = cin * k;
	if (k == 1 && stride == 1) { /* the input rows are the windows */
		conv1d_product(y, x, w, b, T_out, ck, cout);
		return;
	}
	size_t rows = CONV_COLS_MAX / (size_t)ck;
	if (rows < 1)
		rows = 1;
	if (rows > (size_t)T_out)
		rows = T_out;
	float *cols = malloc(rows * ck * sizeof(float));
	if (!cols) {
		conv1d_direct(y, x, w, b, T_out, cin, cout, k, stride, dil);
		return;
	}
	for (int t0 = 0; t0 < T_out; t0 += (int)rows) {
		int n = T_out - t0 < (int)rows ? T_out - t0 : (int)rows;
		conv1d_gather(cols, x, t0, n, cin, k, stride, dil);
		conv1d_product(y + (size_t)t0 * cout, cols, w, b, n, ck, cout);
	}
	free(cols);
}

/* Nearest-neighbour x2 in time (torch nn.Upsample(scale_factor=2, mode='nearest') on (C, T)):
 * x(T, c) -> y(2T, c), y[2t] = y[2t+1] = x[t]. y must not overlap x. */
void cpu_upsample2(float *y, const float *x, int T, int c)
{
	size_t row = (size_t)c * sizeof(float);
	for (int t = 0; t < T; t++) {
		memcpy(y + (size_t)(2 * t) * c, x + (size_t)t * c, row);
		memcpy(y + (size_t)(2 * t + 1) * c, x + (size_t)t * c, row);
	}
}
