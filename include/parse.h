/*
 * Parsers of the configuration's value types, shared with the rest of
 * memwarden and the unit tests.
 */
#ifndef MEMWARDEN_PARSE_H
#define MEMWARDEN_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MS_SECOND 1000ULL
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)

/* Parsers of the value types, shared with the rest of memwarden and the
 * unit tests. Each returns 0 on success, 1 on a malformed or out-of-range
 * value. */
int parse_size(const char *s, uint64_t *bytes);	    /* 512K 64M 4.5G 4.5Gi 1024 */
int parse_duration_ms(const char *s, uint64_t *ms); /* 250ms 10s 5m 1h; bare number = seconds */
int parse_percent(const char *s, double *percent);  /* 80% 12.5% */
int parse_signal(const char *s, int *signo);	    /* TERM SIGTERM 15 RTMIN+3 SIGRTMAX-1 */
int parse_bool(const char *s, bool *value);	    /* yes/no true/false on/off 1/0 */
int parse_uint64(const char *s, uint64_t *out);	    /* digits only, no overflow */
/* The same for exactly the n bytes at s (not NUL-terminated). */
int parse_u64_n(const char *s, size_t n, uint64_t *v);
int parse_small_uint(const char *s, unsigned max, unsigned *out); /* 0..max, digits only */
/* Splits a command line into words like a POSIX shell (quotes and
 * backslashes honoured, no expansion). Returns a NULL-terminated array the
 * caller frees with free_words(), or NULL with err set. */
char **split_words(const char *s, char *err, size_t errlen);
void free_words(char **words);

/* The signal's name without the SIG prefix ("TERM", "RTMIN+3"). */
const char *signal_name(int signo, char *buf, size_t len);

/* The reverse of split_words, for printing: plain words as they are, the
 * others in single quotes. NULL when out of memory; free() it. */
char *join_words(char *const *argv);

#endif
