/* clock.h: the one wall clock of the library, its benchmarks and tests. */
#ifndef LLAMO_CLOCK_H
#define LLAMO_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (unaffected by changes of the system time), for intervals: the
 * difference of two calls. The origin is arbitrary. */
double lm_now(void);
#endif
