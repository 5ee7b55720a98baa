/* cli.h: what every program in cmd/ shares: `prog: message` errors with documented exit codes,
 * --help, and output files that never stay half-written.
 *
 * Exit codes (llamo(7)): 0 success, 64 usage, 65 bad data, 66 missing input, 69 device
 * unavailable, 70 internal error, 71 out of memory, 74 I/O error. */
#ifndef LLAMO_CLI_H
#define LLAMO_CLI_H
#include <stdio.h>
#include "status.h"

extern const char *lm_prog; /* set by lm_cli_init */

/* Records the program name (basename of argv[0]) for messages and ignores nothing: SIGPIPE stays
 * default-handled so a closed pipe ends the program quietly, as `head` expects. */
void lm_cli_init(const char *argv0);
/* Prints "prog: message" on stderr and exits with code, removing any output file opened with
 * lm_out_open that is not yet committed. */
void lm_die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void lm_die_status(const lm_status *st) __attribute__((noreturn));
/* Prints the usage text to stdout and exits 0 if argv has --help or -h (before other parsing). */
void lm_cli_help(int argc, char **argv, const char *usage);
/* Prints "prog: usage error: msg" and "Try 'prog --help'." and exits 64. */
void lm_usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Output files: lm_out_open("-") is stdout; otherwise writes go to "path.tmp.PID" which
 * lm_out_commit renames onto path. lm_die (and exit without commit) removes the temporary.
 * A path that is not a regular file (a FIFO, a device) is written in place; a symbolic link is
 * followed: the file at the end of its chain is replaced, the link stays. */
FILE *lm_out_open(const char *path, lm_status *st);
int lm_out_commit(FILE *f, lm_status *st);
/* Opens an input: "-" or NULL is stdin. */
FILE *lm_in_open(const char *path, lm_status *st);

/* The model directory: -m DIR if given, else $LLAMO_MODEL, else the bundled default:
 * models/default or share/llamo/models/default next to the bin/ holding this program (the build
 * tree; an installed tree wherever it was moved), else LLAMO_DATADIR/models/default (the
 * compile-time data directory, $(PREFIX)/share/llamo), else models/default. */
const char *lm_model_dir(const char *arg);

/* The arguments joined by single spaces (a prompt given on the command line); malloc'd, dies
 * when out of memory. */
char *lm_join_args(int argc, char **argv);

/* The backend for --device D (NULL: $LLAMO_DEVICE, else cuda when a GPU is visible, else cpu),
 * or dies (69 when the device is not available). Says on stderr which device runs when it is not
 * the CPU, or when LLAMO_VERBOSE is set: "prog: device cuda: NVIDIA H200 (sm_90, 139 GiB)". */
struct lm_backend;
const struct lm_backend *lm_cli_backend(const char *device);
/* Before a successful exit: reports a device error that surfaced late (asynchronous CUDA work)
 * as "prog: message" and exit 70. */
void lm_cli_done(void);

/* Reads all of f into a malloc'd, NUL-terminated buffer (*len bytes without the NUL); dies with
 * 74 on a read error, 71 when out of memory. name is used in messages. */
char *lm_slurp(FILE *f, const char *name, size_t *len);

/* Parses a number option or dies with a usage error naming the option. */
long lm_parse_long(const char *opt, const char *s, long lo, long hi);
double lm_parse_double(const char *opt, const char *s, double lo, double hi);

/* The options the programs share, parsed by lm_cli_parse when named in lm_cli.common; each is
 * the argument as given, NULL when absent. */
enum {
	LM_OPT_MODEL = 1 << 0,     /* -m, --model DIR */
	LM_OPT_DEVICE = 1 << 1,    /* --device D */
	LM_OPT_SEED = 1 << 2,      /* -s, --seed N */
	LM_OPT_CFG = 1 << 3,       /* --cfg S */
	LM_OPT_STEPS = 1 << 4,     /* --steps N */
	LM_OPT_SECONDS = 1 << 5,   /* -t, --seconds S */
	LM_OPT_THRESHOLD = 1 << 6, /* --threshold P */
	LM_OPT_OUTPUT = 1 << 7,    /* -o, --output FILE */
};
typedef struct lm_cli_opts {
	const char *model, *device, *seed, *cfg, *steps, *seconds, *threshold, *output;
} lm_cli_opts;

/* One of a program's own options. An entry named like a common option only replaces that
 * option's help line (its value still lands in lm_cli_opts). */
typedef struct lm_cli_opt {
	const char *name; /* long name */
	int key;          /* its short letter, or a value >= 256 for none; passed to on_opt */
	const char *arg;  /* argument name in the help ("FILE"), NULL for a flag */
	const char *help; /* help text; a continuation line starts after "\n" */
} lm_cli_opt;

/* A program's command line: --help prints usage, the option lines (the common ones in the order
 * of the enum, then the program's, then -h), and footer. */
typedef struct lm_cli {
	const char *usage;        /* "usage: prog [options] [FILE]\n" and what the program does */
	unsigned common;          /* LM_OPT_* bits */
	const lm_cli_opt *opts;   /* the program's own, ended by {0}; may be NULL */
	const char *footer;       /* examples and exit status, after the option lines */
	void (*on_opt)(int key, const char *arg, void *ctx); /* a program option was given */
} lm_cli;

/* Sets up the program (lm_cli_init), parses argv into o and the program's options (on_opt with
 * ctx), prints the help and exits 0 on -h/--help, dies with a usage error (64) on an unknown
 * option or a missing argument. Returns the index of the first operand. */
int lm_cli_parse(const lm_cli *cli, int argc, char **argv, lm_cli_opts *o, void *ctx);
/* The one input operand of a filter: argv[optind], or "-" when none; more is a usage error. */
const char *lm_cli_input(int argc, char **argv, int optind);

/* The backend (--device) and the model (-m) with the given parts (LM_PART_*), or dies. */
struct lm_model;
struct lm_model *lm_cli_load(const lm_cli_opts *o, unsigned parts);

/* Runs a stage program's loop (lm_loop_run) over the input file in ("-": stdin) and writes to
 * out (NULL: no frame output), or dies with the error. */
struct lm_stage;
void lm_cli_loop(const struct lm_stage *s, const char *in, FILE *out, const char *outname, void *ctx);

/* Generation options: the model's defaults (lm_gen_opts_default), then --seed, --cfg, --steps,
 * --threshold and --seconds (an upper bound on the latents: at least one) from o. Dies with a
 * usage error naming the option when a value is out of range. */
struct lm_gen_opts;
struct lm_config;
void lm_cli_gen_opts(const lm_cli_opts *o, const struct lm_config *c, struct lm_gen_opts *g);
#endif
