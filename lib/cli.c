/* cli.c: shared program plumbing, see cli.h */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend.h"
#include "cli.h"
#include "loop.h"
#include "model.h"

const char *lm_prog = "llamo";

#define MAX_OUT 8
static struct {
	FILE *f;
	int direct; /* written in place (a FIFO, a device): nothing to rename or remove */
	char tmp[PATH_MAX + 32], path[PATH_MAX]; /* path: where it lands (a link's target) */
	char name[PATH_MAX];                      /* as given, for messages */
} outs[MAX_OUT];

static void remove_uncommitted(void)
{
	for (int i = 0; i < MAX_OUT; i++)
		if (outs[i].f) {
			if (!outs[i].direct)
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

/* The message on stderr with its control characters escaped (\r, \t, \n, else \xHH), so that
 * it stays one line and a carriage return or an escape sequence from the input does nothing. */
static void put_escaped(const char *fmt, va_list ap)
{
	char buf[8192];
	vsnprintf(buf, sizeof buf, fmt, ap);
	for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
		if (*p >= 0x20 && *p != 0x7f)
			fputc(*p, stderr);
		else if (*p == '\r' || *p == '\n' || *p == '\t')
			fprintf(stderr, "\\%c", *p == '\r' ? 'r' : *p == '\n' ? 'n' : 't');
		else
			fprintf(stderr, "\\x%02x", *p);
	}
}

void lm_die(int code, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "%s: ", lm_prog);
	va_start(ap, fmt);
	put_escaped(fmt, ap);
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
	put_escaped(fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", lm_prog);
	remove_uncommitted();
	exit(LM_EUSAGE);
}

/* Where a write-then-rename onto path lands: path itself, or for a symbolic link the file at the
 * end of its chain (which may not exist yet), so that the link stays a link. */
static int link_target(const char *path, char *buf, size_t len, lm_status *st)
{
	char cur[PATH_MAX], next[PATH_MAX];
	snprintf(cur, sizeof cur, "%s", path);
	for (int hops = 0;; hops++) {
		struct stat sb;
		if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode))
			break;
		if (hops == 40)
			return lm_fail(st, LM_EIO, "%s: cannot create: too many levels of symbolic links", path);
		ssize_t n = readlink(cur, next, sizeof next - 1);
		if (n < 0)
			return lm_fail(st, LM_EIO, "%s: cannot read the link: %s", path, strerror(errno));
		next[n] = 0;
		const char *slash = strrchr(cur, '/');
		if (next[0] == '/' || !slash)
			snprintf(cur, sizeof cur, "%s", next);
		else if (snprintf(cur + (slash + 1 - cur), sizeof cur - (size_t)(slash + 1 - cur), "%s", next) >=
			 (int)(sizeof cur - (size_t)(slash + 1 - cur)))
			return lm_fail(st, LM_EIO, "%s: cannot create: the link's target path is too long", path);
	}
	if (snprintf(buf, len, "%s", cur) >= (int)len)
		return lm_fail(st, LM_EIO, "%s: cannot create: path too long", path);
	return 0;
}

FILE *lm_out_open(const char *path, lm_status *st)
{
	if (!path || !strcmp(path, "-"))
		return stdout;
	for (int i = 0; i < MAX_OUT; i++) {
		if (outs[i].f)
			continue;
		/* Not a regular file (a FIFO, a device such as /dev/null, /dev/stdout): written in place,
		 * never replaced by a regular file. */
		struct stat sb;
		if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
			if (S_ISDIR(sb.st_mode)) {
				lm_fail(st, LM_EIO, "%s: cannot create: Is a directory", path);
				return NULL;
			}
			FILE *f = fopen(path, "wb");
			if (!f) {
				lm_fail(st, LM_EIO, "%s: cannot open: %s", path, strerror(errno));
				return NULL;
			}
			snprintf(outs[i].path, sizeof outs[i].path, "%s", path);
			snprintf(outs[i].name, sizeof outs[i].name, "%s", path);
			outs[i].f = f;
			outs[i].direct = 1;
			return f;
		}
		char target[PATH_MAX];
		if (link_target(path, target, sizeof target, st))
			return NULL;
		outs[i].direct = 0;
		snprintf(outs[i].path, sizeof outs[i].path, "%s", target);
		snprintf(outs[i].name, sizeof outs[i].name, "%s", path);
		snprintf(outs[i].tmp, sizeof outs[i].tmp, "%s.tmp.%ld", target, (long)getpid());
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
		int closed = fclose(f) == 0, e = errno;
		if (!closed || bad) {
			if (!outs[i].direct)
				unlink(outs[i].tmp);
			return lm_fail(st, LM_EIO, "%s: write failed%s%s", outs[i].name, closed ? "" : ": ",
				       closed ? "" : strerror(e));
		}
		if (outs[i].direct)
			return 0;
		if (rename(outs[i].tmp, outs[i].path) != 0) {
			unlink(outs[i].tmp);
			return lm_fail(st, LM_EIO, "%s: cannot rename into place: %s", outs[i].name,
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

/* The common options, in the order of their LM_OPT_* bits. */
static const lm_cli_opt common_opts[] = {
	{"model", 'm', "DIR", "model directory (default: $LLAMO_MODEL or the bundled model)"},
	{"device", 256, "D", "cpu, cuda or auto (default: $LLAMO_DEVICE or auto)"},
	{"seed", 's', "N", "noise seed (default 0); stream k draws its noise from N + k"},
	{"cfg", 257, "S", "classifier-free guidance scale (default: the model's; 1 disables)"},
	{"steps", 258, "N", "Euler steps of the flow head (default: the model's)"},
	{"seconds", 't', "S", "upper bound on the motion length in seconds"},
	{"threshold", 259, "P", "exit-head stop threshold: stop when p > P (default: the model's)"},
	{"output", 'o', "FILE", "write to FILE instead of stdout"},
};
#define N_COMMON (int)(sizeof common_opts / sizeof *common_opts)
#define COMMON_KEY 0x10000 /* getopt value of common option i: COMMON_KEY + i */

static const lm_cli_opt *own_opt(const lm_cli *cli, const char *name)
{
	for (const lm_cli_opt *p = cli->opts; p && p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

static int is_common(const lm_cli *cli, const char *name)
{
	for (int i = 0; i < N_COMMON; i++)
		if ((cli->common & (1u << i)) && !strcmp(common_opts[i].name, name))
			return 1;
	return 0;
}

/* The left column of an option line: "  -m, --model DIR" */
static int opt_left(const lm_cli_opt *p, char *buf, size_t len)
{
	int shrt = p->key > 0 && p->key < 256;
	return snprintf(buf, len, "  %c%c%s--%s%s%s", shrt ? '-' : ' ', shrt ? p->key : ' ', shrt ? ", " : "  ",
			p->name, p->arg ? " " : "", p->arg ? p->arg : "");
}

/* One option's help, continuation lines indented to column col. */
static void help_line(const lm_cli_opt *p, int col)
{
	char left[96];
	int n = opt_left(p, left, sizeof left);
	printf("%s%*s", left, col - n, "");
	for (const char *s = p->help; *s; s++) {
		putchar(*s);
		if (*s == '\n')
			printf("%*s", col, "");
	}
	putchar('\n');
}

/* The options --help lists, in order: the common ones (a program entry of the same name gives
 * the help text), the program's, -h. Returns how many (at most max). */
static int help_opts(const lm_cli *cli, lm_cli_opt *list, int max)
{
	int n = 0;
	for (int i = 0; i < N_COMMON && n < max; i++)
		if (cli->common & (1u << i)) {
			const lm_cli_opt *own = own_opt(cli, common_opts[i].name);
			list[n] = common_opts[i];
			if (own)
				list[n].help = own->help, list[n].arg = own->arg ? own->arg : list[n].arg;
			n++;
		}
	for (const lm_cli_opt *p = cli->opts; p && p->name && n < max; p++)
		if (!is_common(cli, p->name))
			list[n++] = *p;
	if (n < max)
		list[n++] = (lm_cli_opt){"help", 'h', NULL, "show this help"};
	return n;
}

static void print_help(const lm_cli *cli)
{
	lm_cli_opt list[N_COMMON + 64];
	int n = help_opts(cli, list, N_COMMON + 64), col = 23;
	for (int i = 0; i < n; i++) {
		char left[96];
		int w = opt_left(&list[i], left, sizeof left) + 2;
		col = w > col ? w : col;
	}
	fputs(cli->usage, stdout);
	putchar('\n');
	for (int i = 0; i < n; i++)
		help_line(&list[i], col);
	if (cli->footer) {
		putchar('\n');
		fputs(cli->footer, stdout);
	}
	exit(0);
}

/* One line for what getopt refused (c ':' or '?'); cur: the argument it was reading. */
static void bad_option(int c, const char *cur)
{
	if (!strncmp(cur, "--", 2)) {
		int len = (int)strcspn(cur, "=");
		if (c == ':')
			lm_usage_error("%.*s needs an argument", len, cur);
		if (optopt)
			lm_usage_error("%.*s takes no argument", len, cur);
		lm_usage_error("unknown or ambiguous option %.*s", len, cur);
	}
	if (c == ':')
		lm_usage_error("-%c needs an argument", optopt);
	if (optopt > ' ' && optopt < 127)
		lm_usage_error("unknown option -%c", optopt);
	lm_usage_error("unknown option (byte 0x%02x)", optopt & 0xff);
}

int lm_cli_parse(const lm_cli *cli, int argc, char **argv, lm_cli_opts *o, void *ctx)
{
	lm_cli_init(argv[0]);
	struct option lo[N_COMMON + 64];
	char so[3 * (N_COMMON + 64) + 1] = "";
	int n = 0;
	size_t ns = 0;
	for (int i = 0; i < N_COMMON + 64; i++) {
		const lm_cli_opt *p;
		int key;
		if (i < N_COMMON) {
			if (!(cli->common & (1u << i)))
				continue;
			p = &common_opts[i];
			key = COMMON_KEY + i;
		} else {
			p = cli->opts ? &cli->opts[i - N_COMMON] : NULL;
			if (!p || !p->name)
				break;
			if (is_common(cli, p->name))
				continue;
			key = p->key;
		}
		lo[n++] = (struct option){p->name, p->arg ? required_argument : no_argument, 0, key};
		if (p->key < 256) {
			so[ns++] = (char)p->key;
			if (p->arg)
				so[ns++] = ':';
		}
	}
	lo[n++] = (struct option){"help", no_argument, 0, 'h'};
	lo[n] = (struct option){0, 0, 0, 0};
	memmove(so + 1, so, ns++);
	so[0] = ':'; /* a missing argument is ':', not '?' */
	so[ns++] = 'h';
	so[ns] = 0;
	const char **val[N_COMMON] = {&o->model, &o->device, &o->seed, &o->cfg, &o->steps, &o->seconds,
				      &o->threshold, &o->output};
	*o = (lm_cli_opts){0};
	opterr = 0; /* one message, ours */
	int c;
	const char *cur;
	while ((cur = optind < argc ? argv[optind] : "", c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (c == 'h')
			print_help(cli);
		for (int i = 0; i < N_COMMON; i++)
			if ((cli->common & (1u << i)) && (c == COMMON_KEY + i || (c < 256 && c == common_opts[i].key)))
				goto common;
		if (c == ':' || c == '?')
			bad_option(c, cur);
		if (!cli->on_opt)
			lm_usage_error("unknown option %s", argv[optind - 1]);
		cli->on_opt(c, optarg, ctx);
		continue;
	common:
		for (int i = 0; i < N_COMMON; i++)
			if ((cli->common & (1u << i)) && (c == COMMON_KEY + i || (c < 256 && c == common_opts[i].key)))
				*val[i] = optarg;
	}
	return optind;
}

const char *lm_cli_input(int argc, char **argv, int optind)
{
	if (argc - optind > 1)
		lm_usage_error("at most one input file");
	return optind < argc ? argv[optind] : "-";
}

lm_model *lm_cli_load(const lm_cli_opts *o, unsigned parts)
{
	lm_status st = {0};
	const lm_backend *be = lm_cli_backend(o->device);
	lm_model *m;
	if (lm_model_load(&m, lm_model_dir(o->model), be, parts, &st))
		lm_die_status(&st);
	return m;
}

void lm_cli_gen_opts(const lm_cli_opts *o, const lm_config *c, lm_gen_opts *g)
{
	lm_gen_opts_default(g, c);
	if (o->seed)
		g->seed = (uint64_t)lm_parse_long("--seed", o->seed, 0, 0x7fffffffffffffffL);
	if (o->cfg)
		g->cfg = lm_parse_double("--cfg", o->cfg, 0, 100);
	if (o->steps)
		g->steps = lm_parse_long("--steps", o->steps, 1, 10000);
	if (o->threshold)
		g->threshold = lm_parse_double("--threshold", o->threshold, 0, 1);
	if (o->seconds) {
		int n = (int)(lm_parse_double("--seconds", o->seconds, 0, 3600) * c->fps / c->downsample);
		if (n < 1)
			lm_usage_error("--seconds %s is shorter than one latent (%d frames)", o->seconds, c->downsample);
		if (n < g->max_tokens)
			g->max_tokens = n;
	}
}

void lm_cli_loop(const lm_stage *s, const char *in, FILE *out, const char *outname, void *ctx)
{
	lm_status st = {0};
	FILE *f = lm_in_open(in, &st);
	if (!f || lm_loop_run(s, f, in, out, outname, ctx, &st))
		lm_die_status(&st);
	if (f != stdin)
		fclose(f);
}
