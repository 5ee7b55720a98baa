/* status.h: how the library reports errors.
 *
 * The library never exits and never prints to stdout. A function that can fail takes an
 * `lm_status *` last, returns 0 on success or one of the LM_E* codes below, and on failure
 * writes a one-line message (no trailing newline) naming the file and the place.
 * The codes are the program exit codes (sysexits.h values), documented in llamo(7).
 */
#ifndef LLAMO_STATUS_H
#define LLAMO_STATUS_H

enum {
	LM_OK = 0,
	LM_EUSAGE = 64,    /* bad command line */
	LM_EDATA = 65,     /* input data is malformed or does not fit the model */
	LM_ENOINPUT = 66,  /* a file or the model directory could not be opened */
	LM_EUNAVAIL = 69,  /* a requested device/backend is not available */
	LM_EINTERNAL = 70, /* a bug: a check that should never fail did */
	LM_ENOMEM = 71,    /* out of memory */
	LM_EIO = 74,       /* read or write failed (including a closed pipe) */
};

typedef struct lm_status {
	int code;
	char msg[512];
} lm_status;

/* Sets st->code and st->msg (printf-style) and returns code. st may be NULL. */
int lm_fail(lm_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in st with "prefix: " (e.g. a file name). Returns st->code. */
int lm_prefix(lm_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
