/* status.c: error reporting, see status.h */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "status.h"

int lm_fail(lm_status *st, int code, const char *fmt, ...)
{
	if (st) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof st->msg, fmt, ap);
		va_end(ap);
		st->code = code;
	}
	return code;
}

int lm_prefix(lm_status *st, const char *fmt, ...)
{
	if (!st)
		return LM_EINTERNAL;
	char pre[256], old[sizeof st->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, st->msg, sizeof old);
	snprintf(st->msg, sizeof st->msg, "%s: %s", pre, old);
	return st->code;
}
