/*
 * Log lines on stderr. Each line is formatted into one buffer and written
 * with a single write(2): the kernel keeps a write of up to PIPE_BUF bytes
 * to a pipe whole, so memwarden's lines never interleave with the service's
 * output, which goes to the same pipe (the container log).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"

/* PIPE_BUF: the longest write a pipe keeps in one piece. */
#define LINE_MAX_BYTES 4096

static enum log_format log_format_active = LOG_FORMAT_TEXT;
static enum log_level log_level_min = LOG_INFO;
static const char *log_service = "";
static enum log_target log_target_active = LOG_TARGET_STDERR;
/* Events the journal did not take since its last success (0: none). */
static unsigned long long journal_missed;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_setup(enum log_format format, enum log_level level, const char *service)
{
	if (format == LOG_FORMAT_AUTO)
		format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
	log_format_active = format;
	log_level_min = level;
	log_service = service ? service : "";
}

void
log_set_target(enum log_target target)
{
	log_target_active = target;
	journal_missed = 0;
}

int
log_enabled(enum log_level level)
{
	return level >= log_level_min;
}

static void
append(char *buf, size_t *len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (*len >= cap)
		return;
	if (n > cap - *len)
		n = cap - *len;
	/* A counted buffer: the caller terminates it once, at the end. */
	memcpy(buf + *len, s, n); /* NOLINT(bugprone-not-null-terminated-result) */
	*len += n;
}

static void
appendf(char *buf, size_t *len, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t
utf8_length(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	else if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void
json_escape(char *buf, size_t *len, size_t cap, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];

	while (*p && *len < cap) {
		size_t n = utf8_length(p);

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			esc[2] = '\0';
			append(buf, len, cap, esc);
		} else if (*p == '\n') {
			append(buf, len, cap, "\\n");
		} else if (*p == '\t') {
			append(buf, len, cap, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			append(buf, len, cap, esc);
		} else if (n == 0) {
			append(buf, len, cap, "\\ufffd");
			n = 1;
		} else if (*len + n <= cap) {
			memcpy(buf + *len, p, n);
			*len += n;
		} else {
			break;
		}
		p += n ? n : 1;
	}
}

/* Text format: values with spaces or quotes are quoted, control bytes
 * escaped, so that one event stays one line. */
static void
text_value(char *buf, size_t *len, size_t cap, const char *s)
{
	int quote = *s == '\0' || strpbrk(s, " \"=\\\t\n") != NULL;

	if (quote)
		append(buf, len, cap, "\"");
	json_escape(buf, len, cap, s);
	if (quote)
		append(buf, len, cap, "\"");
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
 * Not gmtime_r: in a static glibc it drags in tzset and with it scanf,
 * about 100 kB of text that would be resident in PID 1 for nothing. */
static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

void
log_time_now(char *out, size_t outlen)
{
	struct timespec ts;
	int64_t days, secs;
	unsigned month, day;
	int year;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		ts.tv_sec = ts.tv_nsec = 0;
	days = (int64_t)ts.tv_sec / 86400;
	secs = (int64_t)ts.tv_sec % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	snprintf(out, outlen, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year % 10000, month % 100,
		 day % 100, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
		 (int)(ts.tv_nsec / 1000000) % 1000);
}

static void
field_value(char *buf, size_t *len, size_t cap, const struct log_field *f, int json)
{
	switch (f->type) {
	case LF_T_STR:
		if (!json) {
			text_value(buf, len, cap, f->v.s ? f->v.s : "");
		} else if (f->v.s == NULL) {
			append(buf, len, cap, "null");
		} else {
			append(buf, len, cap, "\"");
			json_escape(buf, len, cap, f->v.s);
			append(buf, len, cap, "\"");
		}
		break;
	case LF_T_RAW:
		append(buf, len, cap, f->v.s ? f->v.s : "null");
		break;
	case LF_T_INT:
		appendf(buf, len, cap, "%lld", f->v.i);
		break;
	case LF_T_UINT:
		appendf(buf, len, cap, "%llu", f->v.u);
		break;
	case LF_T_BOOL:
		append(buf, len, cap, f->v.b ? "true" : "false");
		break;
	case LF_T_DOUBLE:
		appendf(buf, len, cap, "%.4g", f->v.d);
		break;
	}
}

static void
format_json(char *buf, size_t *len, size_t cap, enum log_level level, const char *event,
	    const char *msg, const struct log_field *fields, size_t nfields)
{
	char now[64];
	size_t i;

	log_time_now(now, sizeof(now));
	appendf(buf, len, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"", now,
		level_names[level]);
	json_escape(buf, len, cap, event);
	append(buf, len, cap, "\",\"msg\":\"");
	json_escape(buf, len, cap, msg);
	append(buf, len, cap, "\",\"service\":\"");
	json_escape(buf, len, cap, log_service);
	append(buf, len, cap, "\"");
	for (i = 0; i < nfields; i++) {
		append(buf, len, cap, ",\"");
		json_escape(buf, len, cap, fields[i].key);
		append(buf, len, cap, "\":");
		field_value(buf, len, cap, &fields[i], 1);
	}
	append(buf, len, cap, "}");
}

static void
format_text(char *buf, size_t *len, size_t cap, enum log_level level, const char *event,
	    const char *msg, const struct log_field *fields, size_t nfields)
{
	char now[64];
	size_t i;

	log_time_now(now, sizeof(now));
	appendf(buf, len, cap, "%s memwarden", now);
	if (*log_service) {
		append(buf, len, cap, "[");
		json_escape(buf, len, cap, log_service);
		append(buf, len, cap, "]");
	}
	appendf(buf, len, cap, " %s %s: ", level_names[level], event);
	json_escape(buf, len, cap, msg);
	for (i = 0; i < nfields; i++) {
		append(buf, len, cap, " ");
		append(buf, len, cap, fields[i].key);
		append(buf, len, cap, "=");
		field_value(buf, len, cap, &fields[i], 0);
	}
}

/* Writes the line in one write(2). A short write to a full pipe is not
 * retried in pieces: that would split the line; EINTR is retried. */
static void
write_line(char *buf, size_t len)
{
	ssize_t n;

	buf[len++] = '\n';
	do {
		n = write(STDERR_FILENO, buf, len);
	} while (n < 0 && errno == EINTR);
}

static void
stderr_emit(enum log_level level, const char *event, const struct log_field *fields, size_t nfields,
	    const char *msg)
{
	char line[LINE_MAX_BYTES];
	size_t len = 0;

	/* One byte is kept for the newline. */
	if (log_format_active == LOG_FORMAT_JSON)
		format_json(line, &len, sizeof(line) - 1, level, event, msg, fields, nfields);
	else
		format_text(line, &len, sizeof(line) - 1, level, event, msg, fields, nfields);
	write_line(line, len);
}

/* After a streak of failures, the word that the journal is back (with how
 * many lines went to stderr). False when the journal did not take it: it
 * was full again (journald drains one datagram, the event took that room),
 * and the notice waits for the next line rather than being lost. */
static bool
journal_back(void)
{
	char text[256];

	if (journal_missed == 0)
		return true;
	if (!log_enabled(LOG_INFO)) {
		journal_missed = 0;
		return true;
	}
	snprintf(text, sizeof(text),
		 "the journal takes memwarden's lines again; %llu went to stderr meanwhile",
		 journal_missed);
	if (journal_send(
		LOG_INFO, "log", log_service, text,
		LOG_FIELDS(LF_STR("target", "journal"), LF_UINT("missed", journal_missed))) != 0)
		return false;
	journal_missed = 0;
	return true;
}

/* One event to the journal; false when it did not take it (said once on
 * stderr per streak of failures, and in the journal when it is back). */
static bool
journal_emit(enum log_level level, const char *event, const struct log_field *fields,
	     size_t nfields, const char *msg)
{
	int saved = errno, err;
	char text[256];

	if (!journal_back() || journal_send(level, event, log_service, msg, fields, nfields) != 0) {
		err = errno;
		if (journal_missed++ == 0 && log_enabled(LOG_WARN)) {
			snprintf(text, sizeof(text),
				 "cannot write to the journal: %s; memwarden's lines go to stderr "
				 "until it takes them again",
				 strerror(err));
			stderr_emit(LOG_WARN, "log",
				    LOG_FIELDS(LF_STR("target", "journal"), LF_INT("errno", err)),
				    text);
		}
		errno = saved;
		return false;
	}
	errno = saved;
	return true;
}

static void
vlog_emit(enum log_level level, const char *event, const struct log_field *fields, size_t nfields,
	  const char *suffix, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	if (!log_enabled(level))
		return;
	/* ap is the caller's, started with va_start (the analyzer cannot follow). */
	n = vsnprintf(msg, sizeof(msg), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	if (n < 0)
		msg[0] = '\0';
	if (suffix) {
		size_t used = strlen(msg);

		snprintf(msg + used, sizeof(msg) - used, ": %s", suffix);
	}
	if (log_target_active == LOG_TARGET_JOURNAL &&
	    journal_emit(level, event, fields, nfields, msg))
		return;
	stderr_emit(level, event, fields, nfields, msg);
}

void
log_emit(enum log_level level, const char *event, const struct log_field *fields, size_t nfields,
	 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_emit(level, event, fields, nfields, NULL, fmt, ap);
	va_end(ap);
}

#define DEFINE_LOGGER(fn, level, with_errno)                                                       \
	void fn(const char *event, const char *fmt, ...)                                           \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		vlog_emit((level), event, NULL, 0, (with_errno) ? strerror(saved) : NULL, fmt,     \
			  ap);                                                                     \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

DEFINE_LOGGER(log_debug, LOG_DEBUG, 0)
DEFINE_LOGGER(log_info, LOG_INFO, 0)
DEFINE_LOGGER(log_warn, LOG_WARN, 1)
DEFINE_LOGGER(log_warnx, LOG_WARN, 0)
DEFINE_LOGGER(log_error, LOG_ERROR, 1)
DEFINE_LOGGER(log_errorx, LOG_ERROR, 0)
