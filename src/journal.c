/*
 * The journal target and sd_notify, through libsystemd, in the build made
 * with `make SYSTEMD=1` (MEMWARDEN_JOURNAL defined). Without it, stubs.
 *
 * sd_journal_sendv() writes to /run/systemd/journal/socket over a datagram
 * socket of its own, which it opens blocking: when journald does not read
 * (stopped, overloaded) and its queue is full (net.unix.max_dgram_qlen, 10
 * by default), the next send would block, and memwarden with it. After the
 * first entry, that socket is found (the lowest free descriptor before the
 * first call, checked to be an AF_UNIX datagram socket) and made
 * non-blocking: a full queue then gives EAGAIN, libsystemd tries once more
 * with the entry in a memfd, gets EAGAIN again and returns it, and log.c
 * writes the line to stderr instead. Also, libsystemd silently returns 0
 * when the socket does not exist (no journald): that is checked here first,
 * so that such a journal is reported unreachable rather than losing lines.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "journal.h"

#ifdef MEMWARDEN_JOURNAL

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* journal.h (log.h, config.h) comes before sd-journal.h, whose <syslog.h>
 * defines LOG_DEBUG and LOG_INFO as macros that would break enum log_level.
 * Past this point those two names are syslog's: levels are only indexed. */
_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARN == 2 && LOG_ERROR == 3,
	       "priorities[] is indexed by enum log_level");

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* One entry's text, every field included. A field that does not fit is
 * left out (the stderr line is cut at 4 KiB; this is 4 times that). */
#define ENTRY_MAX 16384
/* The fixed fields (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MEMWARDEN_EVENT,
 * MEMWARDEN_SERVICE) and the event's own; events have a dozen at most. */
#define ENTRY_FIELDS 64
/* Tries at finding libsystemd's socket to make it non-blocking. */
#define FIND_FD_TRIES 3

/* syslog priorities of debug, info, warn, error. */
static const char *const priorities[] = {"7", "6", "4", "3"};

struct entry {
	char buf[ENTRY_MAX];
	size_t len;
	struct iovec iov[ENTRY_FIELDS];
	int n;
};

bool
journal_available(void)
{
	return true;
}

/* Adds NAME=value (value of vlen bytes) as one field; false when it does
 * not fit. */
static bool
add_field(struct entry *e, const char *prefix, const char *name, const char *value, size_t vlen)
{
	size_t start = e->len, plen = strlen(prefix), i;

	if (e->n >= ENTRY_FIELDS || plen + strlen(name) + 1 + vlen > sizeof(e->buf) - e->len)
		return false;
	memcpy(e->buf + e->len, prefix, plen);
	e->len += plen;
	/* Journal field names: A-Z, 0-9 and '_'. */
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		e->buf[e->len++] = c;
	}
	e->buf[e->len++] = '=';
	memcpy(e->buf + e->len, value, vlen);
	e->len += vlen;
	e->iov[e->n].iov_base = e->buf + start;
	e->iov[e->n].iov_len = e->len - start;
	e->n++;
	return true;
}

static void
add_string(struct entry *e, const char *prefix, const char *name, const char *value)
{
	(void)add_field(e, prefix, name, value, strlen(value));
}

static void
add_log_field(struct entry *e, const struct log_field *f)
{
	char num[32];

	switch (f->type) {
	case LF_T_STR:
	case LF_T_RAW:
		/* NULL (JSON null): no field at all. */
		if (f->v.s)
			add_string(e, "MEMWARDEN_", f->key, f->v.s);
		return;
	case LF_T_INT:
		snprintf(num, sizeof(num), "%lld", f->v.i);
		break;
	case LF_T_UINT:
		snprintf(num, sizeof(num), "%llu", f->v.u);
		break;
	case LF_T_BOOL:
		snprintf(num, sizeof(num), "%s", f->v.b ? "true" : "false");
		break;
	case LF_T_DOUBLE:
		snprintf(num, sizeof(num), "%.4g", f->v.d);
		break;
	default:
		return;
	}
	add_string(e, "MEMWARDEN_", f->key, num);
}

/* The lowest descriptor not in use, which the next socket() gets. */
static int
lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* True when fd is an AF_UNIX datagram socket, now non-blocking. */
static bool
make_nonblocking(int fd)
{
	int type = 0, domain = 0, flags;
	socklen_t len = sizeof(type);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM)
		return false;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
		return false;
	flags = fcntl(fd, F_GETFL);
	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

int
journal_send(enum log_level level, const char *event, const char *service, const char *msg,
	     const struct log_field *fields, size_t nfields)
{
	static unsigned find_tries;
	static bool fd_nonblocking;
	/* Static: 16 KiB off PID 1's stack, touched only with this target. */
	static struct entry e;
	struct stat st;
	size_t i;
	int probe = -1, r;

	/* libsystemd says nothing when the socket is missing. */
	if (stat(JOURNAL_SOCKET, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		errno = ENOENT;
		return -1;
	}
	e.len = 0;
	e.n = 0;
	add_string(&e, "", "MESSAGE", msg ? msg : "");
	add_string(&e, "", "PRIORITY", priorities[(unsigned)level & 3u]);
	add_string(&e, "", "SYSLOG_IDENTIFIER", "memwarden");
	add_string(&e, "MEMWARDEN_", "EVENT", event ? event : "");
	add_string(&e, "MEMWARDEN_", "SERVICE", service ? service : "");
	for (i = 0; i < nfields; i++)
		add_log_field(&e, &fields[i]);

	if (!fd_nonblocking && find_tries < FIND_FD_TRIES) {
		find_tries++;
		probe = lowest_free_fd();
	}
	r = sd_journal_sendv(e.iov, e.n);
	if (probe >= 0 && make_nonblocking(probe))
		fd_nonblocking = true;
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ sd_notify */

/* NOTIFY_SOCKET is read by sd_notify() from memwarden's own environment,
 * which memwarden never changes (the service's copy, made in the child
 * after fork, leaves it out). Without it sd_notify() does nothing. */
static bool notify_ready;
static bool notify_stopping;
static char notify_status[128];

static void
notify(const char *text)
{
	/* A failure is not memwarden's to fix: the manager will see. */
	(void)sd_notify(0, text);
}

void
journal_notify_ready(bool ready)
{
	if (ready == notify_ready)
		return;
	notify_ready = ready;
	if (ready)
		notify("READY=1");
}

void
journal_notify_status(const char *text)
{
	char msg[sizeof(notify_status) + 8];

	if (text == NULL || strncmp(text, notify_status, sizeof(notify_status) - 1) == 0)
		return;
	snprintf(notify_status, sizeof(notify_status), "%s", text);
	snprintf(msg, sizeof(msg), "STATUS=%s", notify_status);
	notify(msg);
}

void
journal_notify_stopping(void)
{
	if (notify_stopping)
		return;
	notify_stopping = true;
	notify("STOPPING=1");
}

#else /* !MEMWARDEN_JOURNAL: the static build */

bool
journal_available(void)
{
	return false;
}

int
journal_send(enum log_level level, const char *event, const char *service, const char *msg,
	     const struct log_field *fields, size_t nfields)
{
	(void)level;
	(void)event;
	(void)service;
	(void)msg;
	(void)fields;
	(void)nfields;
	errno = ENOSYS;
	return -1;
}

void
journal_notify_ready(bool ready)
{
	(void)ready;
}

void
journal_notify_status(const char *text)
{
	(void)text;
}

void
journal_notify_stopping(void)
{
}

#endif
