/* tap.h: a tiny TAP producer for the C tests (read by `prove`).
 * Every check prints what it compared; a failing check says the worst element. */
#ifndef LLAMO_TAP_H
#define LLAMO_TAP_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static void tap_result(int pass, const char *fmt, va_list ap)
{
	tap_n++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

static inline int ok(int pass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static inline void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

/* Compares n floats: passes when |got-want| <= atol + rtol*|want| everywhere (and no NaN).
 * Prints the max abs error, the max relative error, and the worst index. */
static inline int close_f32(const float *got, const float *want, long n, double atol, double rtol,
			    const char *what)
{
	double maxabs = 0, maxrel = 0;
	long worst = -1, bad = 0;
	for (long i = 0; i < n; i++) {
		double d = fabs((double)got[i] - (double)want[i]);
		double r = d / (fabs((double)want[i]) + 1e-12);
		if (isnan(got[i]) || isnan(want[i]) || d > atol + rtol * fabs((double)want[i])) {
			if (worst < 0)
				worst = i;
			bad++;
		}
		if (d > maxabs || isnan(d))
			maxabs = d;
		if (r > maxrel && fabs(want[i]) > 1e-6)
			maxrel = r;
	}
	int pass = bad == 0 && n > 0;
	ok(pass, "%s: %ld values, max abs err %.3g, max rel err %.3g (atol %.1g, rtol %.1g)", what, n,
	   maxabs, maxrel, atol, rtol);
	if (!pass && worst >= 0)
		diag("  first bad index %ld: got %.8g want %.8g (%ld bad)", worst, got[worst], want[worst], bad);
	return pass;
}

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
#endif
