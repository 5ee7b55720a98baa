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
 * lm_out_commit renames onto path. lm_die (and exit without commit) removes the temporary. */
FILE *lm_out_open(const char *path, lm_status *st);
int lm_out_commit(FILE *f, lm_status *st);
/* Opens an input: "-" or NULL is stdin. */
FILE *lm_in_open(const char *path, lm_status *st);

/* The model directory: -m DIR if given, else $LLAMO_MODEL, else the bundled default
 * (models/default next to the bin/ holding this program, or $(PREFIX)/share/llamo/models/default). */
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
#endif
