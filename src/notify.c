/*
 * The notify socket (SPEC section 6). The kernel-facing part is thin:
 * open, receive with credentials, reply. What a datagram says is decided
 * by notify_parse(), which is pure. The client side of `memwarden release`
 * is here too, so that both ends of the request share one parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"
#include "log.h"
#include "notify.h"
#include "parse.h"

/* Enough for every report of a large pre-fork server queued at once; the
 * kernel caps it at net.core.rmem_max, which is fine. */
#define NOTIFY_RCVBUF (1 << 20)
/* Datagrams dropped in one call before notify_receive returns 0, so that a
 * flood of garbage cannot hold the supervisor's loop. */
#define NOTIFY_MAX_DROPS 64
/* Descriptors a sender may pass (SCM_RIGHTS) that we can receive to close;
 * the kernel discards any beyond the control buffer. */
#define NOTIFY_MAX_FDS 16

/* ------------------------------------------------------------ parsing */

enum key_kind { KEY_FLAG, KEY_TEXT, KEY_ALLOCATOR, KEY_U64, KEY_UINT, KEY_PID };

/* Bits in seen for the values a report or a summary must have. */
#define SEEN_ALLOCATOR 0x001u
#define SEEN_IN_USE 0x002u
#define SEEN_HELD_BEFORE 0x004u
#define SEEN_HELD_AFTER 0x008u
#define SEEN_RSS_BEFORE 0x010u
#define SEEN_RSS_AFTER 0x020u
#define SEEN_USEC 0x040u
#define SEEN_SIGNALLED 0x100u
#define SEEN_REPORTS 0x200u
#define SEEN_SKIPPED 0x400u
/* SPEC section 6 lists these; DEFERRED_USEC came later and may be absent. */
#define SEEN_REPORT                                                                                \
	(SEEN_ALLOCATOR | SEEN_IN_USE | SEEN_HELD_BEFORE | SEEN_HELD_AFTER | SEEN_RSS_BEFORE |     \
	 SEEN_RSS_AFTER | SEEN_USEC)
#define SEEN_DONE (SEEN_SIGNALLED | SEEN_REPORTS | SEEN_SKIPPED)

struct key {
	const char *name;
	enum key_kind kind;
	unsigned bit;	   /* KEY_FLAG: the NOTIFY_ bit; else the SEEN_ bit (or 0) */
	const char *value; /* KEY_FLAG: its only accepted value */
	size_t offset;	   /* the field in struct notify_msg */
};

#define MSG_FIELD(f) offsetof(struct notify_msg, f)

static const struct key keys[] = {
    {"READY", KEY_FLAG, NOTIFY_READY, "1", 0},
    {"STOPPING", KEY_FLAG, NOTIFY_STOPPING, "1", 0},
    {"RELOADING", KEY_FLAG, NOTIFY_RELOADING, "1", 0},
    {"STATUS", KEY_TEXT, NOTIFY_STATUS, NULL, MSG_FIELD(status)},
    {AGENT_KEY_RELEASE, KEY_FLAG, NOTIFY_RELEASE, "1", 0},
    {AGENT_KEY_HANDLER, KEY_FLAG, NOTIFY_HANDLER, "program", 0},
    {AGENT_KEY_REQUEST, KEY_FLAG, NOTIFY_REQUEST, "1", 0},
    {AGENT_KEY_DONE, KEY_FLAG, NOTIFY_DONE, "1", 0},
    {"PID", KEY_PID, 0, NULL, MSG_FIELD(report.pid)},
    {"ALLOCATOR", KEY_ALLOCATOR, SEEN_ALLOCATOR, NULL, MSG_FIELD(report.allocator)},
    {"IN_USE", KEY_U64, SEEN_IN_USE, NULL, MSG_FIELD(report.in_use)},
    {"HELD_BEFORE", KEY_U64, SEEN_HELD_BEFORE, NULL, MSG_FIELD(report.held_before)},
    {"HELD_AFTER", KEY_U64, SEEN_HELD_AFTER, NULL, MSG_FIELD(report.held_after)},
    {"RSS_BEFORE", KEY_U64, SEEN_RSS_BEFORE, NULL, MSG_FIELD(report.rss_before)},
    {"RSS_AFTER", KEY_U64, SEEN_RSS_AFTER, NULL, MSG_FIELD(report.rss_after)},
    {"USEC", KEY_U64, SEEN_USEC, NULL, MSG_FIELD(report.usec)},
    {"DEFERRED_USEC", KEY_U64, 0, NULL, MSG_FIELD(report.deferred_usec)},
    {"SIGNALLED", KEY_UINT, SEEN_SIGNALLED, NULL, MSG_FIELD(done.signalled)},
    {"REPORTS", KEY_UINT, SEEN_REPORTS, NULL, MSG_FIELD(done.reports)},
    {"SKIPPED", KEY_UINT, SEEN_SKIPPED, NULL, MSG_FIELD(done.skipped)},
};

static const struct key *
find_key(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

static bool
value_is(const char *v, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(v, want, n) == 0;
}

/* Copies STATUS= text, cut to fit at a UTF-8 sequence boundary so that a
 * long status never ends in half a character. */
static void
copy_status(char *out, const char *v, size_t n)
{
	size_t cut = n, back = 0;

	if (n >= NOTIFY_STATUS_MAX) {
		cut = NOTIFY_STATUS_MAX - 1;
		while (cut > 0 && back < 3 && ((unsigned char)v[cut] & 0xc0) == 0x80) {
			cut--;
			back++;
		}
	}
	memcpy(out, v, cut);
	out[cut] = '\0';
}

static int
parse_allocator(const char *v, size_t n, enum release_allocator *a)
{
	if (value_is(v, n, "jemalloc"))
		*a = ALLOCATOR_JEMALLOC;
	else if (value_is(v, n, "glibc"))
		*a = ALLOCATOR_GLIBC;
	else if (n > 0)
		*a = ALLOCATOR_UNKNOWN; /* "unknown", or one this memwarden does not know */
	else
		return 1;
	return 0;
}

/* Stores one key's value. Returns 1 when the value is malformed. */
static int
set_value(struct notify_msg *m, const struct key *k, const char *v, size_t n)
{
	char *field = (char *)m + k->offset;
	uint64_t x;

	switch (k->kind) {
	case KEY_FLAG:
		if (!value_is(v, n, k->value))
			return 1;
		m->flags |= k->bit;
		return 0;
	case KEY_TEXT:
		copy_status(field, v, n);
		m->flags |= k->bit;
		return 0;
	case KEY_ALLOCATOR:
		return parse_allocator(v, n, (enum release_allocator *)(void *)field);
	case KEY_U64:
		if (parse_u64_n(v, n, &x) != 0)
			return 1;
		memcpy(field, &x, sizeof(x));
		return 0;
	case KEY_UINT:
		if (parse_u64_n(v, n, &x) != 0 || x > UINT_MAX)
			return 1;
		*(unsigned *)(void *)field = (unsigned)x;
		return 0;
	case KEY_PID:
		if (parse_u64_n(v, n, &x) != 0 || x == 0 || x > INT_MAX)
			return 1;
		*(pid_t *)(void *)field = (pid_t)x;
		return 0;
	}
	return 1;
}

int
notify_parse(const char *buf, size_t len, struct notify_msg *m)
{
	const char *p = buf, *end, *eq;
	const struct key *k;
	unsigned seen = 0;
	size_t left;

	memset(m, 0, sizeof(*m));
	/* Some senders count the C string's NUL; a NUL anywhere else could
	 * hide text from a reader that stops at it. */
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	if (len > 0 && memchr(buf, '\0', len) != NULL)
		return 1;
	while ((left = len - (size_t)(p - buf)) > 0) {
		end = memchr(p, '\n', left);
		if (end == NULL)
			end = p + left;
		if (end > p) {
			eq = memchr(p, '=', (size_t)(end - p));
			if (eq == NULL || eq == p)
				return 1;
			k = find_key(p, (size_t)(eq - p));
			if (k != NULL) {
				if (set_value(m, k, eq + 1, (size_t)(end - eq - 1)) != 0)
					return 1;
				if (k->kind != KEY_FLAG)
					seen |= k->bit;
			}
		}
		p = end < buf + len ? end + 1 : end;
	}
	if ((m->flags & NOTIFY_RELEASE) && (seen & SEEN_REPORT) != SEEN_REPORT)
		return 1;
	if ((m->flags & NOTIFY_DONE) && (seen & SEEN_DONE) != SEEN_DONE)
		return 1;
	return 0;
}

/* ------------------------------------------------------------ formatting */

double
notify_fragmentation(uint64_t held, uint64_t in_use)
{
	if (held == 0 || in_use > held)
		return 0;
	return (double)(held - in_use) / (double)held;
}

const char *
release_allocator_name(enum release_allocator a)
{
	switch (a) {
	case ALLOCATOR_JEMALLOC:
		return "jemalloc";
	case ALLOCATOR_GLIBC:
		return "glibc";
	case ALLOCATOR_UNKNOWN:
	default:
		return "unknown";
	}
}

static size_t
checked(int n, size_t cap)
{
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t
notify_format_report(const struct release_report *r, char *buf, size_t cap)
{
	return checked(
	    snprintf(buf, cap,
		     "PID=%d\n%s=1\nALLOCATOR=%s\nIN_USE=%" PRIu64 "\nHELD_BEFORE=%" PRIu64
		     "\nHELD_AFTER=%" PRIu64 "\nRSS_BEFORE=%" PRIu64 "\nRSS_AFTER=%" PRIu64
		     "\nUSEC=%" PRIu64 "\nDEFERRED_USEC=%" PRIu64 "\n",
		     (int)r->pid, AGENT_KEY_RELEASE, release_allocator_name(r->allocator),
		     r->in_use, r->held_before, r->held_after, r->rss_before, r->rss_after, r->usec,
		     r->deferred_usec),
	    cap);
}

size_t
notify_format_done(const struct release_done *d, char *buf, size_t cap)
{
	return checked(snprintf(buf, cap, "%s=1\nSIGNALLED=%u\nREPORTS=%u\nSKIPPED=%u\n",
				AGENT_KEY_DONE, d->signalled, d->reports, d->skipped),
		       cap);
}

/* 580.3 MiB: for people; the JSON forms carry the bytes. */
static const char *
human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

size_t
notify_report_line(const struct release_report *r, bool json, char *buf, size_t cap)
{
	char use[32], hb[32], ha[32], rb[32], ra[32];
	double frag = notify_fragmentation(r->held_before, r->in_use);

	if (json)
		return checked(snprintf(buf, cap,
					"{\"pid\":%d,\"allocator\":\"%s\",\"in_use\":%" PRIu64
					",\"held_before\":%" PRIu64 ",\"held_after\":%" PRIu64
					",\"rss_before\":%" PRIu64 ",\"rss_after\":%" PRIu64
					",\"fragmentation_before\":%.4f,\"duration_ms\":%.3f,"
					"\"deferred_ms\":%.3f}",
					(int)r->pid, release_allocator_name(r->allocator),
					r->in_use, r->held_before, r->held_after, r->rss_before,
					r->rss_after, frag, (double)r->usec / 1000,
					(double)r->deferred_usec / 1000),
			       cap);
	return checked(snprintf(buf, cap,
				"pid %d: %s, in use %s, held %s -> %s, RSS %s -> %s, "
				"fragmentation %.1f%% before, %.1f ms",
				(int)r->pid, release_allocator_name(r->allocator),
				human_size(r->in_use, use, sizeof(use)),
				human_size(r->held_before, hb, sizeof(hb)),
				human_size(r->held_after, ha, sizeof(ha)),
				human_size(r->rss_before, rb, sizeof(rb)),
				human_size(r->rss_after, ra, sizeof(ra)), frag * 100,
				(double)r->usec / 1000),
		       cap);
}

size_t
notify_done_line(const struct release_done *d, bool json, char *buf, size_t cap)
{
	if (json)
		return checked(snprintf(buf, cap,
					"{\"done\":true,\"signalled\":%u,\"reports\":%u,"
					"\"skipped\":%u}",
					d->signalled, d->reports, d->skipped),
			       cap);
	return checked(snprintf(buf, cap, "done: %u signalled, %u reports, %u skipped",
				d->signalled, d->reports, d->skipped),
		       cap);
}

void
notify_log_report(const struct release_report *r)
{
	char line[512];
	uint64_t freed = r->held_before > r->held_after ? r->held_before - r->held_after : 0;

	if (notify_report_line(r, false, line, sizeof(line)) == 0)
		line[0] = '\0';
	log_event(
	    LOG_INFO, "release",
	    LOG_FIELDS(
		LF_INT("pid", r->pid), LF_STR("allocator", release_allocator_name(r->allocator)),
		LF_UINT("in_use", r->in_use), LF_UINT("held_before", r->held_before),
		LF_UINT("held_after", r->held_after), LF_UINT("released", freed),
		LF_UINT("rss_before", r->rss_before), LF_UINT("rss_after", r->rss_after),
		LF_DBL("fragmentation", notify_fragmentation(r->held_before, r->in_use)),
		LF_UINT("duration_ms", (r->usec + 500) / 1000), LF_UINT("duration_us", r->usec),
		LF_UINT("deferred_ms", (r->deferred_usec + 500) / 1000)),
	    "%s", line);
}

/* ------------------------------------------------------------ the socket */

/* "@name" is abstract (a leading NUL, no trailing one, as systemd reads
 * NOTIFY_SOCKET); anything else is a path. */
static int
socket_address(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n > sizeof(sa->sun_path) - (name[0] == '@' ? 0 : 1)) {
		errno = EINVAL;
		return 1;
	}
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* 16 hex digits that another process cannot guess: it must not be able to
 * bind the name first and receive what is meant for memwarden. */
static int
random_hex(char *out, size_t len)
{
	unsigned char r[8];
	ssize_t n;
	size_t i;
	int fd;

	do
		n = getrandom(r, sizeof(r), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r)) {
		/* Kernels before 3.17 have no getrandom. */
		fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 1;
		n = read(fd, r, sizeof(r));
		close(fd);
		if (n != (ssize_t)sizeof(r))
			return 1;
	}
	for (i = 0; i < sizeof(r) && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int
notify_open(struct notify *n)
{
	struct sockaddr_un sa;
	socklen_t salen;
	char hex[17];
	int one = 1, rcvbuf = NOTIFY_RCVBUF, tries;

	memset(n, 0, sizeof(*n));
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		log_error("notify", "cannot create the notify socket");
		return 1;
	}
	/* Every datagram then carries the sender's pid, checked by the kernel. */
	if (setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
		log_error("notify", "cannot set SO_PASSCRED on the notify socket");
		notify_close(n);
		return 1;
	}
	(void)setsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	for (tries = 0; tries < 4; tries++) {
		if (random_hex(hex, sizeof(hex)) != 0) {
			log_error("notify", "cannot get random bytes for the socket's name");
			break;
		}
		snprintf(n->name, sizeof(n->name), "@memwarden-%d-%s", (int)getpid(), hex);
		if (socket_address(n->name, &sa, &salen) != 0)
			break;
		if (bind(n->fd, (struct sockaddr *)&sa, salen) == 0)
			return 0;
		if (errno != EADDRINUSE) {
			log_error("notify", "cannot bind the notify socket %s", n->name);
			break;
		}
	}
	notify_close(n);
	return 1;
}

void
notify_close(struct notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	n->name[0] = '\0';
}

/* Closes what a sender passed with SCM_RIGHTS (memwarden takes none) and
 * finds the credentials. Returns 1 when there are none. */
static int
take_control(struct msghdr *mh, struct ucred *cred)
{
	struct cmsghdr *c;
	bool found = false;
	size_t i, nfd;
	int fd;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < nfd; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(*cred))) {
			memcpy(cred, CMSG_DATA(c), sizeof(*cred));
			found = true;
		}
	}
	return !found;
}

static void
dropped(const char *why, pid_t pid)
{
	log_event(LOG_DEBUG, "notify", LOG_FIELDS(LF_INT("pid", pid), LF_STR("reason", why)),
		  "dropped a datagram on the notify socket: %s", why);
}

/* Reads one datagram. Returns 1 with it in m, 0 when it was dropped, -1
 * with errno set when there is none (EAGAIN) or on an error. */
static int
receive_one(int fd, struct notify_msg *m)
{
	char buf[NOTIFY_DATAGRAM_MAX];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(sizeof(int) * NOTIFY_MAX_FDS)];
	} control;
	struct sockaddr_un from;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_name = &from,
	    .msg_namelen = sizeof(from),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf),
	};
	struct ucred cred = {0};
	ssize_t len;
	int nocred;

	len = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (len < 0)
		return -1;
	nocred = take_control(&mh, &cred);
	if (nocred) {
		dropped("no credentials", 0);
		return 0;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		dropped("truncated", cred.pid);
		return 0;
	}
	if (notify_parse(buf, (size_t)len, m) != 0) {
		dropped("malformed", cred.pid);
		return 0;
	}
	m->pid = cred.pid;
	m->uid = cred.uid;
	/* A report's pid is the kernel's word, never a PID= it carried. */
	m->report.pid = cred.pid;
	memcpy(&m->from, &from, sizeof(from));
	m->fromlen = mh.msg_namelen <= sizeof(from) ? mh.msg_namelen : 0;
	return 1;
}

int
notify_receive(struct notify *n, struct notify_msg *m)
{
	int drops, r;

	for (drops = 0; drops < NOTIFY_MAX_DROPS; drops++) {
		r = receive_one(n->fd, m);
		if (r == 1) {
			n->error_logged = false;
			return 1;
		}
		if (r == 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			n->error_logged = false;
			return 0;
		}
		/* Once per streak: a broken socket must not flood the log. */
		if (!n->error_logged)
			log_warn("notify", "cannot receive on the notify socket");
		n->error_logged = true;
		return -1;
	}
	return 0;
}

int
notify_reply(const struct notify *n, const struct notify_msg *to, const char *buf, size_t len)
{
	ssize_t r;

	/* An unbound sender (sd_notify's socket) has no address to answer. */
	if (to->fromlen <= (socklen_t)sizeof(sa_family_t))
		return 1;
	do
		r = sendto(n->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&to->from, to->fromlen);
	while (r < 0 && errno == EINTR);
	return r != (ssize_t)len;
}

/* ------------------------------------------------------------ the client */

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline. Returns 0 when they came, 1 with
 * errno ETIMEDOUT when the deadline passed, or another errno. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left;
	int r;

	for (;;) {
		left = deadline - monotonic_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return 1;
		}
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return 1;
	}
}

/* A socket of our own, autobound (an abstract name the kernel picks) so
 * that memwarden can answer, and connected to memwarden's: the kernel then
 * delivers to it only what memwarden's socket sends. */
static int
client_socket(const char *name, int *fdp)
{
	struct sockaddr_un sa, self = {.sun_family = AF_UNIX};
	socklen_t salen;
	int fd, saved;

	if (socket_address(name, &sa, &salen) != 0)
		return 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	if (bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, salen) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return 1;
	}
	*fdp = fd;
	return 0;
}

static int
send_request(int fd, int64_t deadline)
{
	static const char request[] = AGENT_KEY_REQUEST "=1\n";
	ssize_t r;

	for (;;) {
		r = send(fd, request, sizeof(request) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r == (ssize_t)sizeof(request) - 1)
			return 0;
		if (r >= 0) {
			errno = EMSGSIZE;
			return 1;
		}
		if (errno == EINTR)
			continue;
		/* memwarden's queue is full: it is busy, wait for room. */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return 1;
		if (wait_fd(fd, POLLOUT, deadline) != 0)
			return 1;
	}
}

/* Reads answers until the summary. Returns 0 or 1 with errno set. */
static int
read_answers(int fd, int64_t deadline, notify_report_fn *fn, void *arg, struct release_done *done)
{
	char buf[NOTIFY_DATAGRAM_MAX];
	struct notify_msg m;
	ssize_t n;

	for (;;) {
		if (wait_fd(fd, POLLIN, deadline) != 0)
			return 1;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return 1; /* ECONNRESET: memwarden closed its socket */
		if ((size_t)n > sizeof(buf) || notify_parse(buf, (size_t)n, &m) != 0)
			continue;
		if (m.flags & NOTIFY_RELEASE)
			fn(&m.report, arg);
		if (m.flags & NOTIFY_DONE) {
			*done = m.done;
			return 0;
		}
	}
}

int
notify_request_release(const char *name, int timeout_ms, notify_report_fn *fn, void *arg,
		       struct release_done *done)
{
	int64_t deadline = monotonic_ms() + timeout_ms;
	int fd, r, saved;

	memset(done, 0, sizeof(*done));
	if (client_socket(name, &fd) != 0)
		return 1;
	r = send_request(fd, deadline);
	if (r == 0)
		r = read_answers(fd, deadline, fn, arg, done);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}
