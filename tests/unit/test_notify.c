/* The notify socket: the datagram parser (every key, combinations,
 * malformed input, truncated datagrams, NUL bytes), the format helpers,
 * a real socket round trip with credentials, the release client, and the
 * state file's socket field. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"
#include "state.h"

#define REPORT                                                                                     \
	"MEMWARDEN_RELEASE=1\nALLOCATOR=jemalloc\nIN_USE=283115520\n"                              \
	"HELD_BEFORE=608174080\nHELD_AFTER=289406976\nRSS_BEFORE=629145600\n"                      \
	"RSS_AFTER=310378496\nUSEC=1234\nDEFERRED_USEC=56\n"

/* Parses s from a heap copy of exactly its length, so that AddressSanitizer
 * catches any read past the end. */
static int
parse_exact(const char *s, size_t len, struct notify_msg *m)
{
	char *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, s, len);
	r = notify_parse(copy, len, m);
	free(copy);
	return r;
}

static int
parse(const char *s, struct notify_msg *m)
{
	return parse_exact(s, strlen(s), m);
}

static void
systemd_keys(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_int_equal(parse("READY=1", &m), 0);
	assert_int_equal(m.flags, NOTIFY_READY);
	assert_int_equal(parse("STOPPING=1\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_STOPPING);
	assert_int_equal(parse("RELOADING=1\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_RELOADING);
	assert_int_equal(parse("STATUS=Serving 42 clients = fine\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_STATUS);
	assert_string_equal(m.status, "Serving 42 clients = fine");
	assert_int_equal(parse("STATUS=", &m), 0);
	assert_int_equal(m.flags, NOTIFY_STATUS);
	assert_string_equal(m.status, "");
	assert_int_equal(m.pid, 0);
}

static void
combined_and_unknown_keys(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_int_equal(parse("READY=1\nSTATUS=up\nMAINPID=42\nX_FOO=not a number\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_READY | NOTIFY_STATUS);
	assert_string_equal(m.status, "up");
	/* The last of a repeated key wins, as in systemd. */
	assert_int_equal(parse("STATUS=one\nSTATUS=two", &m), 0);
	assert_string_equal(m.status, "two");
	/* Empty lines and an empty datagram carry nothing and are fine. */
	assert_int_equal(parse("\n\nREADY=1\n\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_READY);
	assert_int_equal(parse("", &m), 0);
	assert_int_equal(m.flags, 0);
	/* Report keys without MEMWARDEN_RELEASE=1 are not a report. */
	assert_int_equal(parse("IN_USE=5\nREADY=1", &m), 0);
	assert_int_equal(m.flags, NOTIFY_READY);
}

static void
release_report(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_int_equal(parse(REPORT, &m), 0);
	assert_int_equal(m.flags, NOTIFY_RELEASE);
	assert_int_equal(m.report.allocator, ALLOCATOR_JEMALLOC);
	assert_int_equal(m.report.in_use, 283115520);
	assert_int_equal(m.report.held_before, 608174080);
	assert_int_equal(m.report.held_after, 289406976);
	assert_int_equal(m.report.rss_before, 629145600);
	assert_int_equal(m.report.rss_after, 310378496);
	assert_int_equal(m.report.usec, 1234);
	assert_int_equal(m.report.deferred_usec, 56);
	assert_int_equal(m.report.pid, 0);
	/* Any order; big numbers; glibc; unknown allocators; no DEFERRED_USEC. */
	assert_int_equal(parse("USEC=0\nRSS_AFTER=0\nRSS_BEFORE=0\nHELD_AFTER=0\n"
			       "HELD_BEFORE=18446744073709551615\nIN_USE=0\nALLOCATOR=glibc\n"
			       "MEMWARDEN_RELEASE=1\nVERSION=2\n",
			       &m),
			 0);
	assert_int_equal(m.report.allocator, ALLOCATOR_GLIBC);
	assert_true(m.report.held_before == UINT64_MAX);
	assert_int_equal(m.report.deferred_usec, 0);
	assert_int_equal(parse("MEMWARDEN_RELEASE=1\nALLOCATOR=unknown\nIN_USE=1\nHELD_BEFORE=2\n"
			       "HELD_AFTER=3\nRSS_BEFORE=4\nRSS_AFTER=5\nUSEC=6",
			       &m),
			 0);
	assert_int_equal(m.report.allocator, ALLOCATOR_UNKNOWN);
	assert_int_equal(parse("MEMWARDEN_RELEASE=1\nALLOCATOR=mimalloc\nIN_USE=1\nHELD_BEFORE=2\n"
			       "HELD_AFTER=3\nRSS_BEFORE=4\nRSS_AFTER=5\nUSEC=6",
			       &m),
			 0);
	assert_int_equal(m.report.allocator, ALLOCATOR_UNKNOWN);
	/* A report that lacks one of SPEC section 6's figures is refused
	 * rather than logged with a zero that looks measured. */
	assert_int_equal(parse("MEMWARDEN_RELEASE=1\nALLOCATOR=glibc\nIN_USE=1\nHELD_BEFORE=2\n"
			       "HELD_AFTER=3\nRSS_BEFORE=4\nUSEC=6",
			       &m),
			 1);
	assert_int_equal(parse("MEMWARDEN_RELEASE=1\n", &m), 1);
	/* A reply to `memwarden release`: PID= first. */
	assert_int_equal(parse("PID=4242\n" REPORT, &m), 0);
	assert_int_equal(m.report.pid, 4242);
}

static void
agent_and_client_keys(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_int_equal(parse("MEMWARDEN_HANDLER=program\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_HANDLER);
	assert_int_equal(parse("MEMWARDEN_RELEASE_REQUEST=1\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_REQUEST);
	assert_int_equal(
	    parse("MEMWARDEN_RELEASE_DONE=1\nSIGNALLED=3\nREPORTS=2\nSKIPPED=4294967295\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_DONE);
	assert_int_equal(m.done.signalled, 3);
	assert_int_equal(m.done.reports, 2);
	assert_int_equal(m.done.skipped, 4294967295u);
	assert_int_equal(parse("MEMWARDEN_RELEASE_DONE=1\nSIGNALLED=3\nREPORTS=2\n", &m), 1);
	/* A datagram may carry a report and the handler's takeover. */
	assert_int_equal(parse(REPORT "MEMWARDEN_HANDLER=program\nREADY=1\n", &m), 0);
	assert_int_equal(m.flags, NOTIFY_RELEASE | NOTIFY_HANDLER | NOTIFY_READY);
}

static void
malformed(void **state)
{
	static const char *const bad[] = {
	    "READY",
	    "READY=2",
	    "READY=1 ",
	    "READY=",
	    "=1",
	    "READY=1\nnonsense\n",
	    "MEMWARDEN_HANDLER=agent",
	    "MEMWARDEN_RELEASE_REQUEST=yes",
	    "MEMWARDEN_RELEASE=0",
	    "IN_USE=",
	    "IN_USE=12a",
	    "IN_USE=-1",
	    "IN_USE=+1",
	    "IN_USE= 1",
	    "IN_USE=18446744073709551616",
	    "IN_USE=111111111111111111111111111111",
	    "USEC=1.5",
	    "ALLOCATOR=",
	    "PID=0",
	    "PID=-3",
	    "PID=2147483648",
	    "SIGNALLED=4294967296",
	    "REPORTS=x",
	    "READY=1\r\n",
	};
	struct notify_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &m) != 1)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
nul_bytes(void **state)
{
	static const char trailing[] = "READY=1\nSTATUS=up\n\0\0";
	static const char inside[] = "READY=1\0STATUS=hidden\n";
	static const char in_value[] = "STATUS=a\0b";
	static const char nothing[] = "\0";
	struct notify_msg m;

	(void)state;
	assert_int_equal(parse_exact(trailing, sizeof(trailing) - 1, &m), 0);
	assert_int_equal(m.flags, NOTIFY_READY | NOTIFY_STATUS);
	assert_int_equal(parse_exact(inside, sizeof(inside) - 1, &m), 1);
	assert_int_equal(parse_exact(in_value, sizeof(in_value) - 1, &m), 1);
	assert_int_equal(parse_exact(nothing, 1, &m), 0);
	assert_int_equal(m.flags, 0);
	assert_int_equal(notify_parse(NULL, 0, &m), 0);
}

/* Every prefix of a valid datagram: never a read past it, and a prefix
 * that parses as a report has its complete figures right. */
static void
truncated_prefixes(void **state)
{
	static const char full[] = "PID=77\nREADY=1\nSTATUS=ok\n" REPORT;
	struct notify_msg want, m;
	size_t len;
	int r;

	(void)state;
	assert_int_equal(parse(full, &want), 0);
	for (len = 0; len <= sizeof(full) - 1; len++) {
		r = parse_exact(full, len, &m);
		assert_true(r == 0 || r == 1);
		if (r != 0 || !(m.flags & NOTIFY_RELEASE))
			continue;
		/* USEC is the last figure a report needs: all before it are whole. */
		assert_true(len > (size_t)(strstr(full, "\nUSEC=") - full + 6));
		assert_int_equal(m.report.in_use, want.report.in_use);
		assert_int_equal(m.report.held_before, want.report.held_before);
		assert_int_equal(m.report.held_after, want.report.held_after);
		assert_int_equal(m.report.rss_before, want.report.rss_before);
		assert_int_equal(m.report.rss_after, want.report.rss_after);
		assert_int_equal(m.report.pid, 77);
	}
	/* The whole datagram and the one without its final newline. */
	assert_int_equal(parse_exact(full, sizeof(full) - 2, &m), 0);
	assert_int_equal(m.report.deferred_usec, 56);
}

static void
huge_status(void **state)
{
	size_t n = 100000, i;
	char *buf = malloc(n);
	struct notify_msg m;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, "STATUS=", 7);
	memset(buf + 7, 'x', n - 7);
	assert_int_equal(parse_exact(buf, n, &m), 0);
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX - 1);
	/* Two-byte characters: cut before a half one, not through it. */
	for (i = 7; i + 1 < n; i += 2) {
		buf[i] = (char)0xc3;
		buf[i + 1] = (char)0xa9;
	}
	assert_int_equal(parse_exact(buf, n - (n - 7) % 2, &m), 0);
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX - 2);
	assert_int_equal((unsigned char)m.status[NOTIFY_STATUS_MAX - 3], 0xa9);
	/* Exactly as much as fits is kept whole. */
	memset(buf + 7, 'y', NOTIFY_STATUS_MAX - 1);
	assert_int_equal(parse_exact(buf, 7 + NOTIFY_STATUS_MAX - 1, &m), 0);
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX - 1);
	free(buf);
}

static void
fragmentation(void **state)
{
	(void)state;
	assert_true(notify_fragmentation(0, 0) == 0);
	assert_true(notify_fragmentation(0, 10) == 0);
	assert_true(notify_fragmentation(100, 200) == 0);
	assert_true(notify_fragmentation(100, 100) == 0);
	assert_true(notify_fragmentation(100, 0) == 1);
	assert_true(notify_fragmentation(100, 25) == 0.75);
	assert_true(notify_fragmentation(UINT64_MAX, 0) == 1);
	/* The motivating incident: 580 MB held, 270 MB in use. */
	assert_true(notify_fragmentation(580, 270) > 0.534 &&
		    notify_fragmentation(580, 270) < 0.535);
}

static void
format_round_trip(void **state)
{
	struct release_report r = {
	    .pid = 31337,
	    .allocator = ALLOCATOR_GLIBC,
	    .in_use = 270000000,
	    .held_before = 580000000,
	    .held_after = 574000000,
	    .rss_before = 600000000,
	    .rss_after = 594000000,
	    .usec = 2800000,
	    .deferred_usec = 12,
	};
	struct release_done d = {.signalled = 4, .reports = 3, .skipped = 2};
	struct notify_msg m;
	char buf[512];
	size_t len;

	(void)state;
	len = notify_format_report(&r, buf, sizeof(buf));
	assert_true(len > 0 && len == strlen(buf));
	assert_memory_equal(buf, "PID=31337\n", 10);
	assert_int_equal(notify_parse(buf, len, &m), 0);
	assert_int_equal(m.flags, NOTIFY_RELEASE);
	assert_memory_equal(&m.report, &r, sizeof(r));
	assert_int_equal(notify_format_report(&r, buf, 20), 0);
	len = notify_format_done(&d, buf, sizeof(buf));
	assert_int_equal(notify_parse(buf, len, &m), 0);
	assert_int_equal(m.flags, NOTIFY_DONE);
	assert_int_equal(m.done.signalled, 4);
	assert_int_equal(m.done.reports, 3);
	assert_int_equal(m.done.skipped, 2);
	assert_int_equal(notify_format_done(&d, buf, 10), 0);

	assert_true(notify_report_line(&r, false, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "pid 31337: glibc"));
	assert_non_null(strstr(buf, "held 553.1 MiB -> 547.4 MiB"));
	assert_non_null(strstr(buf, "fragmentation 53.4% before"));
	assert_non_null(strstr(buf, "2800.0 ms"));
	assert_true(notify_report_line(&r, true, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"pid\":31337,\"allocator\":\"glibc\",\"in_use\":270000000,"
				 "\"held_before\":580000000,\"held_after\":574000000,"
				 "\"rss_before\":600000000,\"rss_after\":594000000,"
				 "\"fragmentation_before\":0.5345,\"duration_ms\":2800.000,"
				 "\"deferred_ms\":0.012}");
	assert_true(notify_done_line(&d, true, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"done\":true,\"signalled\":4,\"reports\":3,\"skipped\":2}");
	assert_true(notify_done_line(&d, false, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "done: 4 signalled, 3 reports, 2 skipped");
	assert_string_equal(release_allocator_name(ALLOCATOR_JEMALLOC), "jemalloc");
}

/* ------------------------------------------------------------ sockets */

static socklen_t
address_of(const char *name, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, strlen(name));
	sa->sun_path[0] = '\0';
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
}

/* A socket like `memwarden release`'s or the agent's: autobound when
 * bound is true, else like sd_notify's, with no address. */
static int
sender(bool bound)
{
	struct sockaddr_un self = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (bound)
		assert_int_equal(bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)), 0);
	return fd;
}

static void
send_to(int fd, const struct notify *n, const char *text, size_t len)
{
	struct sockaddr_un sa;
	socklen_t salen = address_of(n->name, &sa);

	assert_int_equal(sendto(fd, text, len, 0, (struct sockaddr *)&sa, salen), (ssize_t)len);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
socket_round_trip(void **state)
{
	struct notify n;
	struct notify_msg m;
	char want[64], buf[64], *big;
	int fd, fl;
	ssize_t len;

	(void)state;
	assert_int_equal(notify_open(&n), 0);
	snprintf(want, sizeof(want), "@memwarden-%d-", (int)getpid());
	assert_memory_equal(n.name, want, strlen(want));
	assert_int_equal(strlen(n.name), strlen(want) + 16);
	assert_int_equal(strspn(n.name + strlen(want), "0123456789abcdef"), 16);
	fl = fcntl(n.fd, F_GETFL);
	assert_true(fl & O_NONBLOCK);
	assert_true(fcntl(n.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(notify_receive(&n, &m), 0);

	fd = sender(true);
	/* Dropped: malformed, then too long for the buffer. */
	send_to(fd, &n, "READY=maybe", 11);
	big = calloc(1, NOTIFY_DATAGRAM_MAX + 100);
	assert_non_null(big);
	memcpy(big, "READY=1\nSTATUS=", 15);
	memset(big + 15, 'z', NOTIFY_DATAGRAM_MAX + 100 - 15);
	send_to(fd, &n, big, NOTIFY_DATAGRAM_MAX + 100);
	free(big);
	send_to(fd, &n, "READY=1\nSTATUS=up", 17);
	assert_int_equal(notify_receive(&n, &m), 1);
	assert_int_equal(m.flags, NOTIFY_READY | NOTIFY_STATUS);
	assert_string_equal(m.status, "up");
	assert_int_equal(m.pid, getpid());
	assert_int_equal(m.uid, getuid());
	assert_int_equal(notify_receive(&n, &m), 0);

	/* A report's pid is the sender's, whatever PID= it claims. */
	send_to(fd, &n, "PID=1\n" REPORT, strlen("PID=1\n" REPORT));
	assert_int_equal(notify_receive(&n, &m), 1);
	assert_int_equal(m.flags, NOTIFY_RELEASE);
	assert_int_equal(m.report.pid, getpid());

	/* The answer goes back to the sender's address. */
	assert_int_equal(notify_reply(&n, &m, "PID=9\n", 6), 0);
	len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "PID=9\n", 6);
	close(fd);
	/* Gone: the reply fails quietly. */
	assert_int_equal(notify_reply(&n, &m, "x=1\n", 4), 1);

	/* sd_notify's unbound socket: received, but cannot be answered. */
	fd = sender(false);
	send_to(fd, &n, "STOPPING=1\n", 11);
	assert_int_equal(notify_receive(&n, &m), 1);
	assert_int_equal(m.flags, NOTIFY_STOPPING);
	assert_int_equal(notify_reply(&n, &m, "x=1\n", 4), 1);
	close(fd);
	notify_close(&n);
	assert_int_equal(n.fd, -1);
}

/* Descriptors a sender passes are closed, not left in memwarden. */
static void
passed_descriptors_are_closed(void **state)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} control;
	struct notify n;
	struct notify_msg m;
	struct sockaddr_un sa;
	struct iovec iov = {.iov_base = "READY=1", .iov_len = 7};
	struct msghdr mh = {0};
	struct cmsghdr *c;
	int fds[2], fd, before;

	(void)state;
	assert_int_equal(notify_open(&n), 0);
	fd = sender(true);
	assert_int_equal(pipe(fds), 0);
	mh.msg_name = &sa;
	mh.msg_namelen = address_of(n.name, &sa);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	assert_int_equal(sendmsg(fd, &mh, 0), 7);
	before = count_fds();
	assert_int_equal(notify_receive(&n, &m), 1);
	assert_int_equal(m.flags, NOTIFY_READY);
	assert_int_equal(count_fds(), before);
	close(fds[0]);
	close(fds[1]);
	close(fd);
	notify_close(&n);
}

struct seen {
	unsigned n;
	pid_t pids[4];
};

static void
on_report(const struct release_report *r, void *arg)
{
	struct seen *s = arg;

	if (s->n < 4)
		s->pids[s->n] = r->pid;
	s->n++;
}

/* A fake memwarden in a child: answers one request with two reports and
 * the summary. */
static void
fake_memwarden(struct notify *n)
{
	struct release_report r = {.allocator = ALLOCATOR_JEMALLOC, .held_before = 10};
	struct release_done d = {.signalled = 2, .reports = 2, .skipped = 1};
	struct pollfd p = {.fd = n->fd, .events = POLLIN};
	struct notify_msg m;
	char buf[512];
	size_t len;

	if (poll(&p, 1, 5000) != 1 || notify_receive(n, &m) != 1 || m.flags != NOTIFY_REQUEST)
		_exit(1);
	r.pid = 101;
	len = notify_format_report(&r, buf, sizeof(buf));
	(void)notify_reply(n, &m, buf, len);
	/* Not a report: the client skips it. */
	(void)notify_reply(n, &m, "STATUS=noise\n", 13);
	r.pid = 102;
	len = notify_format_report(&r, buf, sizeof(buf));
	(void)notify_reply(n, &m, buf, len);
	len = notify_format_done(&d, buf, sizeof(buf));
	_exit(notify_reply(n, &m, buf, len));
}

static void
release_client(void **state)
{
	struct notify n;
	struct release_done done;
	struct seen s = {0};
	pid_t child;
	int st;

	(void)state;
	assert_int_equal(notify_open(&n), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		fake_memwarden(&n);
	assert_int_equal(notify_request_release(n.name, 5000, on_report, &s, &done), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.pids[0], 101);
	assert_int_equal(s.pids[1], 102);
	assert_int_equal(done.signalled, 2);
	assert_int_equal(done.reports, 2);
	assert_int_equal(done.skipped, 1);
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Nobody answers: a timeout; nobody listens: refused. */
	s.n = 0;
	assert_int_equal(notify_request_release(n.name, 200, on_report, &s, &done), 1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(s.n, 0);
	assert_int_equal(notify_receive(&n, &(struct notify_msg){0}), 1);
	notify_close(&n);
	assert_int_equal(
	    notify_request_release("@memwarden-test-nobody-here", 200, on_report, &s, &done), 1);
	assert_int_equal(errno, ECONNREFUSED);
}

/* ------------------------------------------------------------ state file */

static void
state_file_socket(void **state)
{
	char path[] = "/tmp/memwarden-test-state-XXXXXX", value[128];
	struct service_state_info info = {
	    .pid = 1,
	    .service = "a \"quoted\"\\name\t\x01",
	    .state = "running",
	    .last_exit_status = -1,
	    .last_sample_json = "{\"socket\":\"@not-this-one\"}",
	    .socket = "@memwarden-1-0123456789abcdef",
	};
	char *json = NULL;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(state_write(path, &info), 0);
	assert_int_equal(state_read(path, &json), 0);
	assert_int_equal(state_field(json, "socket", value, sizeof(value)), 0);
	assert_string_equal(value, "@memwarden-1-0123456789abcdef");
	/* Escapes are undone: the name reads back as it was written. */
	assert_int_equal(state_field(json, "service", value, sizeof(value)), 0);
	assert_string_equal(value, info.service);
	/* Cut to fit. */
	assert_int_equal(state_field(json, "socket", value, 8), 0);
	assert_string_equal(value, "@memwar");
	free(json);

	info.socket = NULL;
	info.last_sample_json = NULL;
	assert_int_equal(state_write(path, &info), 0);
	assert_int_equal(state_read(path, &json), 0);
	assert_int_equal(state_field(json, "socket", value, sizeof(value)), 1);
	assert_null(strstr(json, "socket"));
	free(json);
	assert_int_equal(state_field("{\"socket\":\"@open", "socket", value, sizeof(value)), 1);
	assert_int_equal(state_field("{\"s\":\"a\\q\"}", "s", value, sizeof(value)), 1);
	assert_int_equal(state_field("{\"s\":\"\\u00e9\\u20ac\"}", "s", value, sizeof(value)), 0);
	assert_string_equal(value, "\xc3\xa9\xe2\x82\xac");
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(systemd_keys),	  cmocka_unit_test(combined_and_unknown_keys),
	    cmocka_unit_test(release_report),	  cmocka_unit_test(agent_and_client_keys),
	    cmocka_unit_test(malformed),	  cmocka_unit_test(nul_bytes),
	    cmocka_unit_test(truncated_prefixes), cmocka_unit_test(huge_status),
	    cmocka_unit_test(fragmentation),	  cmocka_unit_test(format_round_trip),
	    cmocka_unit_test(socket_round_trip),  cmocka_unit_test(passed_descriptors_are_closed),
	    cmocka_unit_test(release_client),	  cmocka_unit_test(state_file_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
