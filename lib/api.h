/* api.h: LM_API marks the library's stable functions (the ones lib/llamo.h names). The shared
 * library (libllamo.so) is built with -fvisibility=hidden, so it exports these and nothing else;
 * in the static archive and the programs the mark changes nothing. */
#ifndef LLAMO_API_H
#define LLAMO_API_H
#if defined(__GNUC__) || defined(__clang__)
#define LM_API __attribute__((visibility("default")))
#else
#define LM_API
#endif
#endif
