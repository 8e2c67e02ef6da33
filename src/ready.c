#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "ready.h"

/* The state of a socket that listens, in /proc/net/tcp's "st" column
 * (TCP_LISTEN in the kernel's enum). */
#define TCP_STATE_LISTEN 0x0A

/* Warned already in the current streak of failures: a probe that fails
 * every 100 ms says so once, and again only after it worked in between. */
static bool probe_warned, prepare_warned;

static bool
first_failure(bool *warned)
{
	bool first = !*warned;

	*warned = true;
	return first;
}

static int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The run of hex digits at *p, moved past it: its length, and its value
 * in *value when it is short enough to fit (ports, states). */
static size_t
hex_run(const char **p, const char *end, unsigned *value)
{
	size_t n = 0;
	unsigned v = 0;
	int d;

	while (*p < end && (d = hex_digit((unsigned char)**p)) >= 0) {
		if (n < 8)
			v = v << 4 | (unsigned)d;
		(*p)++;
		n++;
	}
	*value = v;
	return n;
}

static size_t
skip_blanks(const char **p, const char *end)
{
	size_t n = 0;

	while (*p < end && **p == ' ') {
		(*p)++;
		n++;
	}
	return n;
}

/* "0100007F:1F90" (v4, 8 digits) or the same with 32 digits (v6); the
 * port in *port and the address's length in *alen. */
static bool
endpoint(const char **p, const char *end, size_t *alen, unsigned *port)
{
	unsigned ignored;

	*alen = hex_run(p, end, &ignored);
	if ((*alen != 8 && *alen != 32) || *p >= end || **p != ':')
		return false;
	(*p)++;
	return hex_run(p, end, port) == 4;
}

/*
 * One line of /proc/net/tcp{,6}, n bytes without its newline:
 *
 *    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 ...
 *
 * Every field up to the state and the blank after it must be whole, so
 * that a line cut short never matches on what is left of it.
 */
static bool
tcp_line_listens(const char *line, size_t n, uint16_t port)
{
	const char *p = line, *end = line + n;
	size_t llen, rlen;
	unsigned slot, lport, rport, state;

	skip_blanks(&p, end);
	if (hex_run(&p, end, &slot) == 0 || p >= end || *p++ != ':')
		return false;
	if (skip_blanks(&p, end) == 0 || !endpoint(&p, end, &llen, &lport))
		return false;
	if (skip_blanks(&p, end) == 0 || !endpoint(&p, end, &rlen, &rport) || rlen != llen)
		return false;
	if (skip_blanks(&p, end) == 0 || hex_run(&p, end, &state) != 2 || p >= end || *p != ' ')
		return false;
	return state == TCP_STATE_LISTEN && lport == port;
}

bool
ready_tcp_text_listens(const char *text, size_t len, uint16_t port)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (tcp_line_listens(p, n, port))
			return true;
		p += n + (nl != NULL);
	}
	return false;
}

int
ready_tcp_scan(int fd, uint16_t port, char *buf, size_t cap, bool *listening)
{
	size_t have = 0, start;
	bool overlong = false; /* in a line longer than buf: its rest is dropped */
	ssize_t got;

	*listening = false;
	for (;;) {
		got = read(fd, buf + have, cap - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return 1;
		if (got == 0)
			break;
		have += (size_t)got;
		for (start = 0;;) {
			const char *nl = memchr(buf + start, '\n', have - start);
			size_t n;

			if (nl == NULL)
				break;
			n = (size_t)(nl - (buf + start));
			if (!overlong && tcp_line_listens(buf + start, n, port)) {
				*listening = true;
				return 0; /* the rest need not be read */
			}
			overlong = false;
			start += n + 1;
		}
		/* A line cut by the end of the buffer waits for its rest. */
		have -= start;
		memmove(buf, buf + start, have);
		if (have == cap) {
			overlong = true;
			have = 0;
		}
	}
	/* A last line without its newline: only whole fields count. */
	if (have > 0 && !overlong && tcp_line_listens(buf, have, port))
		*listening = true;
	return 0;
}

/* Scans one of /proc/net/tcp{,6}; *exists is false when the kernel has
 * no such file (tcp6 without IPv6), which is not an error. */
static int
tcp_file(const char *path, uint16_t port, bool *exists, bool *listening)
{
	char buf[READY_TCP_BUF];
	int fd, rc, saved;

	*exists = false;
	*listening = false;
	/* No O_CLOEXEC: musl adds an fcntl() for it, and memwarden has one
	 * thread that closes the fd before it could fork. */
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : 1;
	*exists = true;
	rc = ready_tcp_scan(fd, port, buf, sizeof(buf), listening);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * The kernel's sock_diag interface (linux/netlink.h, linux/sock_diag.h,
 * linux/inet_diag.h: a stable ABI since Linux 3.3), written out because
 * musl's headers have no linux/ directory. Asked for listening sockets
 * only, the kernel walks its listening hash and nothing else, where
 * /proc/net/tcp formats every socket: with 27,000 TIME_WAIT sockets about,
 * as a busy server leaves behind when restarted, that was 100 ms of CPU
 * per read here, against tens of microseconds.
 */
#define NETLINK_SOCK_DIAG_ 4
#define SOCK_DIAG_BY_FAMILY_ 20
#define NLMSG_ERROR_ 2
#define NLMSG_DONE_ 3
#define NLM_F_REQUEST_ 0x001
#define NLM_F_DUMP_ 0x300
#define NL_ALIGN(n) (((n) + 3U) & ~3U)

struct nl_header {
	uint32_t len;
	uint16_t type, flags;
	uint32_t seq, pid;
};

struct diag_sockid {
	uint16_t sport, dport; /* network byte order */
	uint32_t src[4], dst[4];
	uint32_t ifindex;
	uint32_t cookie[2];
};

struct diag_request {
	struct nl_header nl;
	uint8_t family, protocol, ext, pad;
	uint32_t states; /* a bit per TCP state */
	struct diag_sockid id;
};

struct diag_message {
	uint8_t family, state, timer, retrans;
	struct diag_sockid id;
	uint32_t expires, rqueue, wqueue, uid, inode;
};

/* Walks one datagram of the dump's answer: *done at its end. */
static int
diag_answer(const char *buf, size_t len, uint16_t port, bool *done, bool *listening)
{
	const struct nl_header *h;
	const struct diag_message *m;
	size_t off = 0;

	while (len - off >= sizeof(*h)) {
		h = (const struct nl_header *)(const void *)(buf + off);
		if (h->len < sizeof(*h) || h->len > len - off)
			break;
		if (h->type == NLMSG_DONE_) {
			*done = true;
			return 0;
		}
		if (h->type == NLMSG_ERROR_) {
			int err = 0;

			if (h->len >= sizeof(*h) + sizeof(err))
				memcpy(&err, buf + off + sizeof(*h), sizeof(err));
			errno = err < 0 ? -err : EPROTO;
			return 1;
		}
		m = (const struct diag_message *)(const void *)(buf + off + sizeof(*h));
		if (h->type == SOCK_DIAG_BY_FAMILY_ && h->len >= sizeof(*h) + sizeof(*m) &&
		    m->state == TCP_STATE_LISTEN && ntohs(m->id.sport) == port) {
			*listening = true;
			*done = true;
			return 0;
		}
		off += NL_ALIGN(h->len);
	}
	return 0;
}

/* Asks for the listening TCP sockets of one family; the socket is closed
 * after, so an answer left unread does no harm. */
static int
diag_family(int fd, uint8_t family, uint16_t port, bool *listening)
{
	_Alignas(4) char buf[8192];
	struct diag_request req;
	bool done = false;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nl.len = sizeof(req);
	req.nl.type = SOCK_DIAG_BY_FAMILY_;
	req.nl.flags = NLM_F_REQUEST_ | NLM_F_DUMP_;
	req.nl.seq = family;
	req.family = family;
	req.protocol = IPPROTO_TCP;
	req.states = 1U << TCP_STATE_LISTEN;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		return 1;
	while (!done) {
		/* The kernel queues each part of a dump before the previous
		 * one is read back: an empty queue is a broken dump, and
		 * memwarden must not wait on it. MSG_TRUNC: the real length,
		 * to catch a message larger than buf. */
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (size_t)n > sizeof(buf)) {
			if (n >= 0)
				errno = EMSGSIZE;
			return 1;
		}
		if (diag_answer(buf, (size_t)n, port, &done, listening) != 0)
			return 1;
	}
	return 0;
}

int
ready_tcp_diag(uint16_t port, bool *listening)
{
	int fd, rc, saved;

	*listening = false;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG_);
	if (fd < 0)
		return 1;
	rc = diag_family(fd, AF_INET, port, listening);
	/* A kernel without IPv6 answers the second with an error: the
	 * first said all there was to say. */
	if (rc == 0 && !*listening && diag_family(fd, AF_INET6, port, listening) != 0)
		*listening = false;
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
ready_tcp_proc(uint16_t port, bool *listening)
{
	static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	bool exists, any = false;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (tcp_file(files[i], port, &exists, listening) != 0) {
			if (first_failure(&probe_warned))
				log_warn("ready", "tcp:%u: cannot read %s", (unsigned)port,
					 files[i]);
			*listening = false;
			return 1;
		}
		if (*listening)
			return 0;
		any |= exists;
	}
	if (!any) {
		if (first_failure(&probe_warned))
			log_warnx("ready",
				  "tcp:%u: neither /proc/net/tcp nor /proc/net/tcp6 exists",
				  (unsigned)port);
		return 1;
	}
	return 0;
}

/* sock_diag, or /proc/net when the kernel lacks it (no inet_diag module,
 * and no right to load one in a container) or a filter forbids it. Tried
 * again every time: a failure costs one socket(2). */
static int
probe_tcp(uint16_t port, bool *ready)
{
	static bool said;

	if (ready_tcp_diag(port, ready) == 0)
		return 0;
	if (!said)
		log_debug("ready", "tcp:%u: sock_diag unavailable (%s): reading /proc/net/tcp",
			  (unsigned)port, strerror(errno));
	said = true;
	return ready_tcp_proc(port, ready);
}

/* The file's path as memwarden sees it: a relative one is taken from
 * where the service runs, its [service] directory when set. */
static int
file_path(const struct config *cfg, char *out, size_t len)
{
	const char *dir = cfg->directory;
	int n;

	if (cfg->ready_path == NULL || cfg->ready_path[0] == '\0') {
		errno = EINVAL;
		return 1;
	}
	if (cfg->ready_path[0] == '/' || dir == NULL || dir[0] == '\0')
		n = snprintf(out, len, "%s", cfg->ready_path);
	else
		n = snprintf(out, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
			     cfg->ready_path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return 1;
	}
	return 0;
}

static int
probe_file(const struct config *cfg, bool *ready)
{
	char path[PATH_MAX];
	struct stat st;

	*ready = false;
	if (file_path(cfg, path, sizeof(path)) != 0) {
		if (first_failure(&probe_warned))
			log_warn("ready", "file:%s", cfg->ready_path ? cfg->ready_path : "");
		return 1;
	}
	/* lstat: the name being there is the signal, whatever it points to;
	 * ready_prepare removes the same name. */
	if (lstat(path, &st) == 0) {
		*ready = true;
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	if (first_failure(&probe_warned))
		log_warn("ready", "file:%s: cannot tell whether it exists", path);
	return 1;
}

bool
ready_needs_probe(const struct config *cfg)
{
	return cfg->ready == READY_TCP || cfg->ready == READY_FILE || cfg->ready == READY_DELAY;
}

void
ready_prepare(const struct config *cfg)
{
	char path[PATH_MAX];

	if (cfg->ready != READY_FILE)
		return;
	if (file_path(cfg, path, sizeof(path)) != 0) {
		if (first_failure(&prepare_warned))
			log_warn("ready", "file:%s", cfg->ready_path ? cfg->ready_path : "");
		return;
	}
	if (unlink(path) == 0 || errno == ENOENT) {
		prepare_warned = false;
		return;
	}
	/* Not fatal: the service may still make it, only a stale file from
	 * the previous instance could then make this one ready too early. */
	if (first_failure(&prepare_warned))
		log_warn("ready", "cannot remove %s before the start; a stale one counts as ready",
			 path);
}

int
ready_probe(const struct config *cfg, uint64_t started_ms, uint64_t now_ms, bool *ready)
{
	int rc = 0;

	*ready = false;
	switch (cfg->ready) {
	case READY_STARTED:
		*ready = true;
		break;
	case READY_NOTIFY:
		break; /* READY=1 on the notify socket says it */
	case READY_TCP:
		rc = probe_tcp(cfg->ready_port, ready);
		break;
	case READY_FILE:
		rc = probe_file(cfg, ready);
		break;
	case READY_DELAY:
		/* A clock that went backwards is not yet ready. */
		*ready = now_ms >= started_ms && now_ms - started_ms >= cfg->ready_delay_ms;
		break;
	}
	if (rc == 0)
		probe_warned = false;
	return rc;
}
