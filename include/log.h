/*
 * memwarden's own log lines (SPEC section 7): one event per line on stderr,
 * JSON or text, each line written with a single write(2) so that it never
 * splits or interleaves with the service's output; or, with [log] target =
 * journal (log_set_target), one journal entry per event (journal.h).
 *
 *   log_event(LOG_INFO, "spawn", LOG_FIELDS(LF_INT("pid", pid)), "started %s", argv[0]);
 *   log_warn("state", "cannot write %s", path);    appends ": strerror(errno)"
 *   log_warnx("config", "no cgroup limit");         does not
 */
#ifndef MEMWARDEN_LOG_H
#define MEMWARDEN_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum log_field_type { LF_T_STR, LF_T_INT, LF_T_UINT, LF_T_BOOL, LF_T_DOUBLE, LF_T_RAW };

struct log_field {
	const char *key;
	enum log_field_type type;
	union {
		const char *s; /* LF_T_STR: escaped on output; LF_T_RAW: a JSON value as is */
		long long i;
		unsigned long long u;
		int b;
		double d;
	} v;
};

#define LF_STR(k, val) ((struct log_field){.key = (k), .type = LF_T_STR, .v.s = (val)})
#define LF_INT(k, val) ((struct log_field){.key = (k), .type = LF_T_INT, .v.i = (long long)(val)})
#define LF_UINT(k, val)                                                                            \
	((struct log_field){.key = (k), .type = LF_T_UINT, .v.u = (unsigned long long)(val)})
#define LF_BOOL(k, val) ((struct log_field){.key = (k), .type = LF_T_BOOL, .v.b = !!(val)})
#define LF_DBL(k, val) ((struct log_field){.key = (k), .type = LF_T_DOUBLE, .v.d = (double)(val)})
#define LF_RAW(k, val) ((struct log_field){.key = (k), .type = LF_T_RAW, .v.s = (val)})

#define LOG_FIELDS(...)                                                                            \
	(const struct log_field[]){__VA_ARGS__},                                                   \
	    sizeof((const struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field)
#define LOG_NOFIELDS NULL, 0

/* Before log_setup, lines go out as text at info level with no service name. */
void log_setup(enum log_format format, enum log_level level, const char *service);
int log_enabled(enum log_level level);
/* [log] target, after log_setup: LOG_TARGET_JOURNAL sends each event to the
 * journal (journal.h) instead of stderr; an event the journal does not take
 * goes to stderr, after one warning there per streak of failures. */
void log_set_target(enum log_target target);

void log_emit(enum log_level level, const char *event, const struct log_field *fields,
	      size_t nfields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_event(level, event, fields, ...) log_emit((level), (event), fields, __VA_ARGS__)

void log_info(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Warning with ": strerror(errno)" appended. */
void log_warn(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Error with ": strerror(errno)" appended. */
void log_error(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_errorx(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current time in RFC 3339, UTC, milliseconds: 2026-11-27T10:52:54.123Z */
void log_time_now(char *out, size_t outlen);

/* Appends s to buf (at *len, capacity cap) as the inside of a JSON string:
 * quotes, backslashes and control bytes escaped, invalid UTF-8 replaced.
 * Never overflows; truncates. Shared with state.c. */
void json_escape(char *buf, size_t *len, size_t cap, const char *s);

#endif
