/* cli.c: shared program plumbing, see cli.h */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend.h"
#include "cli.h"

const char *lm_prog = "llamo";

#define MAX_OUT 8
static struct {
	FILE *f;
	char tmp[PATH_MAX + 32], path[PATH_MAX];
} outs[MAX_OUT];

static void remove_uncommitted(void)
{
	for (int i = 0; i < MAX_OUT; i++)
		if (outs[i].f) {
			unlink(outs[i].tmp);
			outs[i].f = NULL;
		}
}

void lm_cli_init(const char *argv0)
{
	const char *s = argv0 ? strrchr(argv0, '/') : NULL;
	lm_prog = s ? s + 1 : (argv0 ? argv0 : "llamo");
	atexit(remove_uncommitted);
}

void lm_die(int code, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "%s: ", lm_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	remove_uncommitted();
	exit(code);
}

void lm_die_status(const lm_status *st)
{
	lm_die(st->code ? st->code : LM_EINTERNAL, "%s", st->msg);
}

void lm_cli_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			exit(0);
		}
	}
}

void lm_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: usage error: ", lm_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", lm_prog);
	remove_uncommitted();
	exit(LM_EUSAGE);
}

FILE *lm_out_open(const char *path, lm_status *st)
{
	if (!path || !strcmp(path, "-"))
		return stdout;
	for (int i = 0; i < MAX_OUT; i++) {
		if (outs[i].f)
			continue;
		snprintf(outs[i].path, sizeof outs[i].path, "%s", path);
		snprintf(outs[i].tmp, sizeof outs[i].tmp, "%s.tmp.%ld", path, (long)getpid());
		FILE *f = fopen(outs[i].tmp, "wb");
		if (!f) {
			lm_fail(st, LM_EIO, "%s: cannot create: %s", path, strerror(errno));
			return NULL;
		}
		outs[i].f = f;
		return f;
	}
	lm_fail(st, LM_EINTERNAL, "%s: too many output files open", path);
	return NULL;
}

int lm_out_commit(FILE *f, lm_status *st)
{
	if (f == stdout) {
		if (fflush(stdout) != 0 || ferror(stdout))
			return lm_fail(st, LM_EIO, "stdout: write failed: %s", strerror(errno));
		return 0;
	}
	for (int i = 0; i < MAX_OUT; i++) {
		if (outs[i].f != f)
			continue;
		outs[i].f = NULL;
		int bad = ferror(f);
		if (fclose(f) != 0 || bad) {
			unlink(outs[i].tmp);
			return lm_fail(st, LM_EIO, "%s: write failed", outs[i].path);
		}
		if (rename(outs[i].tmp, outs[i].path) != 0) {
			unlink(outs[i].tmp);
			return lm_fail(st, LM_EIO, "%s: cannot rename into place: %s", outs[i].path,
				       strerror(errno));
		}
		return 0;
	}
	return lm_fail(st, LM_EINTERNAL, "output file not opened with lm_out_open");
}

FILE *lm_in_open(const char *path, lm_status *st)
{
	if (!path || !strcmp(path, "-"))
		return stdin;
	FILE *f = fopen(path, "rb");
	if (!f)
		lm_fail(st, LM_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
	return f;
}

const char *lm_model_dir(const char *arg)
{
	static char buf[PATH_MAX];
	if (arg && *arg)
		return arg;
	const char *env = getenv("LLAMO_MODEL");
	if (env && *env)
		return env;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *s = strrchr(exe, '/');
		if (s) {
			*s = 0; /* .../bin */
			s = strrchr(exe, '/');
			if (s) {
				*s = 0;
				snprintf(buf, sizeof buf, "%s/models/default", exe);
				if (access(buf, R_OK) == 0)
					return buf;
				snprintf(buf, sizeof buf, "%s/share/llamo/models/default", exe);
				if (access(buf, R_OK) == 0)
					return buf;
			}
		}
	}
	return "models/default";
}

long lm_parse_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || !*s || *end || errno || v < lo || v > hi)
		lm_usage_error("%s wants an integer in [%ld, %ld], got '%s'", opt, lo, hi, s ? s : "");
	return v;
}

double lm_parse_double(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = s ? strtod(s, &end) : 0;
	if (!s || !*s || *end || errno || !isfinite(v) || v < lo || v > hi)
		lm_usage_error("%s wants a number in [%g, %g], got '%s'", opt, lo, hi, s ? s : "");
	return v;
}

char *lm_join_args(int argc, char **argv)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = calloc(len, 1);
	if (!s)
		lm_die(LM_ENOMEM, "out of memory");
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static const lm_backend *cli_be;

const lm_backend *lm_cli_backend(const char *device)
{
	lm_status st = {0};
	if (lm_backend_get(&cli_be, device, &st))
		lm_die_status(&st);
	if (strcmp(cli_be->name, "cpu") || getenv("LLAMO_VERBOSE"))
		fprintf(stderr, "%s: device %s\n", lm_prog, lm_backend_describe(cli_be));
	return cli_be;
}

void lm_cli_done(void)
{
	lm_status st = {0};
	if (cli_be && cli_be->check && cli_be->check(&st))
		lm_die(LM_EINTERNAL, "device %s: %s", cli_be->name, st.msg);
}

char *lm_slurp(FILE *f, const char *name, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf)
			lm_die(LM_ENOMEM, "out of memory");
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
	}
	if (ferror(f))
		lm_die(LM_EIO, "%s: read error", name);
	buf[n] = 0;
	*len = n;
	return buf;
}
