/*
 * The value types of the configuration (SPEC section 9), parsed without
 * locale or floating point surprises: sizes, durations, percents, signals,
 * booleans, and command lines split into words as a shell would.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "parse.h"

static const uint64_t pow10_table[] = {1,      10,	100,	  1000,	     10000,
				       100000, 1000000, 10000000, 100000000, 1000000000};
#define MAX_FRACTION_DIGITS 9

/* Reads the digits at *sp into *v, advancing *sp past them. Returns 1
 * when there is no digit or the number overflows. */
static int
read_digits(const char **sp, uint64_t *v)
{
	const char *s = *sp;

	if (!isdigit((unsigned char)*s))
		return 1;
	for (*v = 0; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return 1;
		*v = *v * 10 + d;
	}
	*sp = s;
	return 0;
}

int
parse_u64_n(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 20)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return 1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int
parse_uint64(const char *s, uint64_t *out)
{
	uint64_t v;

	if (read_digits(&s, &v) != 0 || *s != '\0')
		return 1;
	*out = v;
	return 0;
}

/* Reads DIGITS[.DIGITS] at *sp: the integer part and the fraction as
 * frac / 10^fdigits. Leading signs, a bare ".5" and "5." are not numbers
 * here; neither is an integer part that overflows. */
static int
parse_decimal(const char **sp, uint64_t *ip, uint64_t *frac, unsigned *fdigits)
{
	const char *s = *sp;
	uint64_t v, f = 0;
	unsigned fd = 0;

	if (read_digits(&s, &v) != 0)
		return 1;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return 1;
		for (; isdigit((unsigned char)*s); s++) {
			if (fd == MAX_FRACTION_DIGITS)
				return 1;
			f = f * 10 + (uint64_t)(*s - '0');
			fd++;
		}
	}
	*sp = s;
	*ip = v;
	*frac = f;
	*fdigits = fd;
	return 0;
}

/* ip.frac * mult, rounded down to a whole unit, unless it overflows. */
static int
scale(uint64_t ip, uint64_t frac, unsigned fdigits, uint64_t mult, uint64_t *out)
{
	unsigned __int128 v = (unsigned __int128)ip * mult;

	v += (unsigned __int128)frac * mult / pow10_table[fdigits];
	if (v > UINT64_MAX)
		return 1;
	*out = (uint64_t)v;
	return 0;
}

int
parse_size(const char *s, uint64_t *bytes)
{
	static const char units[] = "kmgt";
	uint64_t ip, frac, mult = 1;
	unsigned fd;
	const char *u;

	if (s == NULL || parse_decimal(&s, &ip, &frac, &fd))
		return 1;
	if (*s != '\0' && (u = strchr(units, tolower((unsigned char)*s))) != NULL) {
		mult = 1ULL << (10 * (u - units + 1));
		s++;
		if (tolower((unsigned char)*s) == 'i')
			s++;
	}
	if (tolower((unsigned char)*s) == 'b')
		s++;
	if (*s != '\0')
		return 1;
	return scale(ip, frac, fd, mult, bytes);
}

int
parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"", MS_SECOND},  {"ms", 1},      {"s", MS_SECOND},
		     {"m", MS_MINUTE}, {"h", MS_HOUR}, {"d", MS_DAY}};
	uint64_t ip, frac;
	unsigned fd;
	size_t i;

	if (s == NULL || parse_decimal(&s, &ip, &frac, &fd))
		return 1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(s, units[i].unit) == 0)
			return scale(ip, frac, fd, units[i].ms, ms);
	return 1;
}

int
parse_percent(const char *s, double *percent)
{
	uint64_t ip, frac;
	unsigned fd;
	double p;

	if (s == NULL || parse_decimal(&s, &ip, &frac, &fd))
		return 1;
	if (s[0] != '%' || s[1] != '\0' || ip > 100)
		return 1;
	p = (double)ip + (double)frac / (double)pow10_table[fd];
	if (p > 100.0)
		return 1;
	*percent = p;
	return 0;
}

int
parse_bool(const char *s, bool *value)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	if (s == NULL)
		return 1;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value = false;
			return 0;
		}
	}
	return 1;
}

static const struct {
	const char *name;
	int signo;
} signal_names[] = {
    {"HUP", SIGHUP},
    {"INT", SIGINT},
    {"QUIT", SIGQUIT},
    {"ILL", SIGILL},
    {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT},
    {"BUS", SIGBUS},
    {"FPE", SIGFPE},
    {"KILL", SIGKILL},
    {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},
    {"ALRM", SIGALRM},
    {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},
    {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},
    {"URG", SIGURG},
    {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},
    {"IO", SIGIO},
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
    {"SYS", SIGSYS},
    /* Aliases after the names signal_name() gives. */
    {"IOT", SIGABRT},
    {"POLL", SIGIO},
    {"CLD", SIGCHLD},
};

int
parse_small_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;

	if (!isdigit((unsigned char)*s))
		return 1;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return 1;
	}
	if (*s != '\0')
		return 1;
	*out = (unsigned)v;
	return 0;
}

int
parse_signal(const char *s, int *signo)
{
	unsigned n;
	size_t i;

	if (s == NULL)
		return 1;
	if (isdigit((unsigned char)*s)) {
		if (parse_small_uint(s, (unsigned)SERVICE_RTMAX, &n) || n == 0)
			return 1;
		*signo = (int)n;
		return 0;
	}
	if (strncasecmp(s, "SIG", 3) == 0 && s[3] != '\0')
		s += 3;
	for (i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
		if (strcasecmp(s, signal_names[i].name) == 0) {
			*signo = signal_names[i].signo;
			return 0;
		}
	}
	/* RTMIN as the service's C library means it (config.h). */
	if (strncasecmp(s, "RTMIN", 5) == 0) {
		if (s[5] == '\0')
			n = 0;
		else if (s[5] != '+' ||
			 parse_small_uint(s + 6, (unsigned)(SERVICE_RTMAX - SERVICE_RTMIN), &n))
			return 1;
		*signo = SERVICE_RTMIN + (int)n;
		return 0;
	}
	if (strncasecmp(s, "RTMAX", 5) == 0) {
		if (s[5] == '\0')
			n = 0;
		else if (s[5] != '-' ||
			 parse_small_uint(s + 6, (unsigned)(SERVICE_RTMAX - SERVICE_RTMIN), &n))
			return 1;
		*signo = SERVICE_RTMAX - (int)n;
		return 0;
	}
	return 1;
}

const char *
signal_name(int signo, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
		if (signal_names[i].signo == signo) {
			snprintf(buf, len, "%s", signal_names[i].name);
			return buf;
		}
	}
	/* Like bash's kill -l: the lower half counts from RTMIN, the upper
	 * half from RTMAX. */
	if (signo == SERVICE_RTMIN)
		snprintf(buf, len, "RTMIN");
	else if (signo == SERVICE_RTMAX)
		snprintf(buf, len, "RTMAX");
	else if (signo > SERVICE_RTMIN &&
		 signo - SERVICE_RTMIN <= (SERVICE_RTMAX - SERVICE_RTMIN) / 2)
		snprintf(buf, len, "RTMIN+%d", signo - SERVICE_RTMIN);
	else if (signo > SERVICE_RTMIN && signo < SERVICE_RTMAX)
		snprintf(buf, len, "RTMAX-%d", SERVICE_RTMAX - signo);
	else
		snprintf(buf, len, "%d", signo);
	return buf;
}

/* ---------------------------------------------------------------------
 * Shell-like word splitting
 */

struct strbuf {
	char *s;
	size_t len, cap;
};

static int
strbuf_add(struct strbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 64;
		char *grown = realloc(b->s, cap);

		if (grown == NULL)
			return 1;
		b->s = grown;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

struct wordlist {
	char **w;
	size_t n, cap;
};

/* Moves word, complete, to the end of wl. On failure word stays the
 * caller's to free. */
static int
wordlist_add(struct wordlist *wl, struct strbuf *word)
{
	if (wl->n + 2 > wl->cap) {
		size_t cap = wl->cap != 0 ? wl->cap * 2 : 8;
		char **grown = reallocarray(wl->w, cap, sizeof(*grown));

		if (grown == NULL)
			return 1;
		wl->w = grown;
		wl->cap = cap;
	}
	/* An empty word ('' or "") has no buffer yet. */
	if (word->s == NULL && (word->s = strdup("")) == NULL)
		return 1;
	wl->w[wl->n++] = word->s;
	wl->w[wl->n] = NULL;
	memset(word, 0, sizeof(*word));
	return 0;
}

void
free_words(char **words)
{
	char **w;

	if (words == NULL)
		return;
	for (w = words; *w != NULL; w++)
		free(*w);
	free(words);
}

/*
 * Splits s the way a POSIX shell splits a simple command into words, minus
 * expansions: blanks separate words; '...' is literal; "..." is literal but
 * for \" \\ \$ \` and backslash-newline; a backslash outside quotes quotes
 * the next character; a '#' that starts a word starts a comment. Since no
 * shell runs, an unquoted operator (| & ; < > ( )) would silently become an
 * argument: it is an error instead, which points at sh -c.
 */
char **
split_words(const char *s, char *err, size_t errlen)
{
	struct wordlist wl = {0};
	struct strbuf word = {0};
	bool in_word = false; /* also true for a word that is empty: '' or "" */
	const char *p = s;
	const char *why = "out of memory";

	if (errlen > 0)
		err[0] = '\0';
	if ((wl.w = calloc(1, sizeof(*wl.w))) == NULL)
		goto fail;
	wl.cap = 1;
	while (*p != '\0') {
		char c = *p;

		if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word && wordlist_add(&wl, &word))
				goto fail;
			in_word = false;
			p++;
		} else if (c == '#' && !in_word) {
			while (*p != '\0' && *p != '\n')
				p++;
		} else if (c == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (end == NULL) {
				why = "unterminated single quote";
				goto fail;
			}
			in_word = true;
			for (p++; p < end; p++)
				if (strbuf_add(&word, *p))
					goto fail;
			p = end + 1;
		} else if (c == '"') {
			in_word = true;
			for (p++; *p != '"'; p++) {
				if (*p == '\0') {
					why = "unterminated double quote";
					goto fail;
				}
				if (*p == '\\' && p[1] == '\n') {
					p++;
					continue;
				}
				if (*p == '\\' && p[1] != '\0' && strchr("\"\\$`", p[1]) != NULL)
					p++;
				if (strbuf_add(&word, *p))
					goto fail;
			}
			p++;
		} else if (c == '\\') {
			if (p[1] == '\0') {
				why = "a backslash at the end escapes nothing";
				goto fail;
			}
			if (p[1] != '\n') { /* backslash-newline joins lines */
				in_word = true;
				if (strbuf_add(&word, p[1]))
					goto fail;
			}
			p += 2;
		} else if (strchr("|&;<>()", c) != NULL) {
			snprintf(err, errlen,
				 "unquoted '%c': no shell runs the command (quote it, or use "
				 "sh -c '...')",
				 c);
			why = NULL;
			goto fail;
		} else {
			in_word = true;
			if (strbuf_add(&word, c))
				goto fail;
			p++;
		}
	}
	if (in_word && wordlist_add(&wl, &word))
		goto fail;
	return wl.w;
fail:
	if (why != NULL)
		snprintf(err, errlen, "%s", why);
	free(word.s);
	free_words(wl.w);
	return NULL;
}

/* The reverse, for printing: words that a shell would not split or expand
 * as they are, the others in single quotes. */
char *
join_words(char *const *argv)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_@%+=:,./-";
	struct strbuf b = {0};
	size_t i;
	const char *p;

	for (i = 0; argv[i] != NULL; i++) {
		bool plain = argv[i][0] != '\0' && strspn(argv[i], safe) == strlen(argv[i]);

		if (i > 0 && strbuf_add(&b, ' '))
			goto oom;
		if (plain) {
			for (p = argv[i]; *p != '\0'; p++)
				if (strbuf_add(&b, *p))
					goto oom;
			continue;
		}
		if (strbuf_add(&b, '\''))
			goto oom;
		for (p = argv[i]; *p != '\0'; p++) {
			if (*p == '\'') {
				if (strbuf_add(&b, '\'') || strbuf_add(&b, '\\') ||
				    strbuf_add(&b, '\'') || strbuf_add(&b, '\''))
					goto oom;
			} else if (strbuf_add(&b, *p)) {
				goto oom;
			}
		}
		if (strbuf_add(&b, '\''))
			goto oom;
	}
	return b.s != NULL ? b.s : strdup("");
oom:
	free(b.s);
	return NULL;
}
