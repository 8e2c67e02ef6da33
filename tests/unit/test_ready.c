/* Readiness probes: /proc/net/tcp{,6} parsing and chunked reading, delay,
 * and the tcp and file probes against the real kernel and file system. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ready.h"

/* Captured on this machine: a listener on 127.0.0.1:46257 (B4B1), sshd on
 * 0.0.0.0:2024 (07E8), and a connection the server closed first, now in
 * TIME_WAIT (06); its local port, the listener's, was changed to C000 so
 * that it is alone there. Lines are padded by the kernel. */
static const char tcp4[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode                                                     \n"
    "   0: 0100007F:B4B1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "680334 1 00000000edf4be21 100 0 0 10 0                    \n"
    "   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "1592 1 00000000e6e11caa 100 0 0 10 0                      \n"
    "   2: 0100007F:C000 0100007F:D75C 06 00000000:00000000 03:0000175C 00000000     0        0 "
    "0 3 0000000001012f09                                      \n";

/* A listener on [::]:8080 (1F90) and both ends of a connection to it. */
static const char tcp6[] =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 681409 1 00000000b0d8fa17 100 0 0 10 "
    "0\n"
    "   1: 00000000000000000000000001000000:E824 00000000000000000000000001000000:1F90 01 "
    "00000000:00000000 00:00000000 00000000     0        0 680332 2 000000005cc10378 20 0 0 10 "
    "-1\n"
    "   2: 00000000000000000000000001000000:1F91 00000000000000000000000001000000:E825 01 "
    "00000000:00000000 00:00000000 00000000     0        0 680333 1 0000000059d64ac7 20 0 0 10 "
    "-1\n";

static const char listen_line[] =
    "   7: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "680334 1 00000000edf4be21 100 0 0 10 0                    \n";
static const char other_line[] =
    "   8: 0100007F:2F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "680335 1 00000000edf4be21 100 0 0 10 0                    \n";

static bool
listens(const char *text, uint16_t port)
{
	return ready_tcp_text_listens(text, strlen(text), port);
}

static void
v4_listeners(void **state)
{
	(void)state;
	assert_true(listens(tcp4, 0xB4B1));
	assert_true(listens(tcp4, 2024));
	assert_false(listens(tcp4, 80));
	/* Lower-case hex is not what the kernel writes, but is hex. */
	assert_true(listens("   0: 0100007f:b4b1 00000000:0000 0A 0\n", 0xB4B1));
}

static void
v6_listeners(void **state)
{
	(void)state;
	assert_true(listens(tcp6, 8080));
	/* Established connections, on either end, are not listening. */
	assert_false(listens(tcp6, 0xE824));
	assert_false(listens(tcp6, 0x1F91));
	assert_false(listens(tcp6, 0xE825));
}

static void
other_states_do_not_count(void **state)
{
	char line[128];
	unsigned st;

	(void)state;
	/* TIME_WAIT on the listener's own port, and its remote port. */
	assert_false(listens(tcp4, 0xC000));
	assert_false(listens(tcp4, 0xD75C));
	for (st = 1; st <= 0x0C; st++) {
		snprintf(line, sizeof(line),
			 "   0: 0100007F:1F90 00000000:0000 %02X 00000000:00000000 00:00000000\n",
			 st);
		assert_int_equal(listens(line, 8080), st == 0x0A);
	}
}

static void
headers_and_garbage(void **state)
{
	(void)state;
	assert_false(listens("", 8080));
	assert_false(listens("\n\n", 8080));
	assert_false(listens("  sl  local_address rem_address   st tx_queue\n", 8080));
	assert_false(listens("hello world\n1F90 0A\n", 8080));
	/* Address lengths that are neither v4 nor v6, or that differ. */
	assert_false(listens("   0: 0100007:1F90 00000000:0000 0A 0\n", 8080));
	assert_false(
	    listens("   0: 0100007F:1F90 00000000000000000000000000000000:0000 0A 0\n", 8080));
	/* A port that is not four digits; a state that is not two. */
	assert_false(listens("   0: 0100007F:01F90 00000000:0000 0A 0\n", 8080));
	assert_false(listens("   0: 0100007F:F90 00000000:0000 0A 0\n", 0xF90));
	assert_false(listens("   0: 0100007F:1F90 00000000:0000 00A 0\n", 8080));
	assert_false(listens("   0: 0100007F:1F90 00000000:0000 A 0\n", 8080));
	/* No slot, no blanks between fields. */
	assert_false(listens("0100007F:1F90 00000000:0000 0A 0\n", 8080));
	assert_false(listens("   0:0100007F:1F90 00000000:0000 0A 0\n", 8080));
	assert_false(listens("   0: 0100007F:1F9000000000:0000 0A 0\n", 8080));
	/* A NUL in the text is just a byte that is not hex. */
	{
		static const char nul[] = "   0: 0100007F:1F\0\x39\x30 00000000:0000 0A 0\n";

		assert_false(ready_tcp_text_listens(nul, sizeof(nul) - 1, 8080));
	}
	/* Garbage around a good line does not hide it. */
	assert_true(listens("garbage\n   0: 0100007F:1F90 00000000:0000 0A 0\n\x01\xff\n", 8080));
}

/* A line cut anywhere before the blank after its state never counts; the
 * last line needs no newline once that much of it is there. */
static void
truncated_lines(void **state)
{
	const char *full = listen_line;
	size_t whole = strstr(full, " 0A ") - full + 4, n;

	(void)state;
	for (n = 0; n < strlen(full); n++)
		assert_int_equal(ready_tcp_text_listens(full, n, 0x1F90), n >= whole);
	/* Cut before "0A" is whole: a port that merely starts like ours. */
	assert_false(listens("   0: 0100007F:1F", 0x1F));
	assert_false(listens("   0: 0100007F:1F90 00000000:0000 0", 0x1F90));
}

/* A temporary file holding text. */
static int
text_file(const char *text, size_t len)
{
	char path[] = "/tmp/test_ready.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static bool
scan(const char *text, size_t len, uint16_t port, size_t cap)
{
	char *buf = malloc(cap);
	bool listening = true;
	int fd = text_file(text, len);

	assert_non_null(buf);
	assert_int_equal(ready_tcp_scan(fd, port, buf, cap, &listening), 0);
	close(fd);
	free(buf);
	return listening;
}

/* Every buffer size from one line to a few, with the wanted line after
 * every count of other lines: it is cut at every possible place. */
static void
chunk_boundaries(void **state)
{
	size_t linelen = strlen(listen_line), cap, before, i;
	char *text = malloc(16 * linelen + 1);

	(void)state;
	assert_non_null(text);
	assert_int_equal(strlen(other_line), linelen);
	for (before = 0; before < 8; before++) {
		text[0] = '\0';
		for (i = 0; i < before; i++)
			strcat(text, other_line);
		strcat(text, listen_line);
		for (i = 0; i < 3; i++)
			strcat(text, other_line);
		for (cap = linelen; cap < 3 * linelen + 7; cap++) {
			assert_true(scan(text, strlen(text), 0x1F90, cap));
			assert_true(scan(text, strlen(text), 0x2F90, cap));
			assert_false(scan(text, strlen(text), 0x3F90, cap));
		}
	}
	/* The last line without its newline. */
	assert_true(scan(listen_line, linelen - 1, 0x1F90, linelen));
	free(text);
}

/* A line longer than the buffer is dropped whole, even when its tail
 * alone would look like a listening socket; the next line still counts. */
static void
overlong_lines(void **state)
{
	char text[1024];

	(void)state;
	memset(text, 'x', 500);
	snprintf(text + 500, sizeof(text) - 500, "   0: 0100007F:1F90 00000000:0000 0A 0\n");
	assert_false(scan(text, strlen(text), 0x1F90, 64));
	assert_false(scan(text, strlen(text), 0x1F90, 600)); /* as with ready_tcp_text_listens */
	strcat(text, "   1: 0100007F:2F90 00000000:0000 0A 0\n");
	assert_true(scan(text, strlen(text), 0x2F90, 64));
	assert_false(scan(text, strlen(text), 0x1F90, 64));
	/* A file larger than the probe's own buffer. */
	{
		size_t n = 0, linelen = strlen(other_line);
		char *big = malloc(READY_TCP_BUF * 3 + 2 * linelen);

		assert_non_null(big);
		while (n < READY_TCP_BUF * 3) {
			memcpy(big + n, other_line, linelen);
			n += linelen;
		}
		memcpy(big + n, listen_line, linelen);
		n += linelen;
		assert_true(scan(big, n, 0x1F90, READY_TCP_BUF));
		assert_false(scan(big, n, 0x1F91, READY_TCP_BUF));
		free(big);
	}
}

static struct config
ready_config(enum ready_mode mode)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.ready = mode;
	return cfg;
}

static bool
probe(const struct config *cfg, uint64_t started, uint64_t now)
{
	bool ready = true;

	assert_int_equal(ready_probe(cfg, started, now, &ready), 0);
	return ready;
}

/* The probe, and each of its two ways on its own, agree on the port. */
static bool
probe_port(const struct config *cfg)
{
	bool ready = probe(cfg, 0, 0), diag = !ready, proc = !ready;

	assert_int_equal(ready_tcp_diag(cfg->ready_port, &diag), 0);
	assert_int_equal(ready_tcp_proc(cfg->ready_port, &proc), 0);
	assert_int_equal(diag, ready);
	assert_int_equal(proc, ready);
	return ready;
}

static void
modes(void **state)
{
	struct config cfg;

	(void)state;
	cfg = ready_config(READY_STARTED);
	assert_false(ready_needs_probe(&cfg));
	assert_true(probe(&cfg, 0, 0));
	cfg = ready_config(READY_NOTIFY);
	assert_false(ready_needs_probe(&cfg));
	assert_false(probe(&cfg, 0, 1000000));
	cfg = ready_config(READY_TCP);
	assert_true(ready_needs_probe(&cfg));
	cfg = ready_config(READY_FILE);
	assert_true(ready_needs_probe(&cfg));
	cfg = ready_config(READY_DELAY);
	assert_true(ready_needs_probe(&cfg));
	/* Nothing to remove for the other modes. */
	cfg = ready_config(READY_TCP);
	ready_prepare(&cfg);
}

static void
delay(void **state)
{
	struct config cfg = ready_config(READY_DELAY);

	(void)state;
	cfg.ready_delay_ms = 500;
	assert_false(probe(&cfg, 1000, 1000));
	assert_false(probe(&cfg, 1000, 1499));
	assert_true(probe(&cfg, 1000, 1500));
	assert_true(probe(&cfg, 1000, 99999));
	assert_false(probe(&cfg, 1000, 999)); /* a clock that went backwards */
	cfg.ready_delay_ms = 0;
	assert_true(probe(&cfg, 1000, 1000));
}

/* A TCP listener on an ephemeral port of addr (AF_INET or AF_INET6). */
static int
listener(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	if (bind(fd, (struct sockaddr *)&ss,
		 family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) !=
		0 ||
	    listen(fd, 4) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int
connect_to(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	int fd = socket(family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	}
	assert_int_equal(
	    connect(fd, (struct sockaddr *)&ss,
		    family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)),
	    0);
	return fd;
}

/* Whether /proc/net/FILE shows a socket on local port in state st. */
static bool
proc_has_state(const char *file, uint16_t port, unsigned st)
{
	char line[512], want[16];
	bool found = false;
	FILE *f = fopen(file, "r");

	assert_non_null(f);
	snprintf(want, sizeof(want), ":%04X ", port);
	while (fgets(line, sizeof(line), f)) {
		char *at = strstr(line, want), *rest;
		unsigned s;

		/* The local address is the first field with a port. */
		if (at == NULL || at != strchr(strchr(line, ':') + 1, ':'))
			continue;
		rest = strchr(at + 6, ' ');
		if (rest && sscanf(rest, " %x", &s) == 1 && s == st)
			found = true;
	}
	fclose(f);
	return found;
}

/* The real thing, in this process's network namespace: ready while the
 * listener is open, not once it is closed, whatever its connections'
 * sockets on the same port are doing (ESTABLISHED, then TIME_WAIT). */
static void
real_listener(int family, const char *file)
{
	struct config cfg = ready_config(READY_TCP);
	uint16_t port = 0;
	int l, c, a;

	l = listener(family, &port);
	if (l < 0) {
		skip();
		return;
	}
	cfg.ready_port = port;
	assert_true(probe_port(&cfg));
	c = connect_to(family, port);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	assert_true(probe_port(&cfg));
	close(l);
	assert_true(proc_has_state(file, port, 0x01));
	assert_false(probe_port(&cfg));
	/* The server's end closes first: its socket on port ends in
	 * TIME_WAIT once the client's end closes too. */
	close(a);
	close(c);
	usleep(50000);
	assert_true(proc_has_state(file, port, 0x06));
	assert_false(probe_port(&cfg));
}

static void
real_tcp4(void **state)
{
	(void)state;
	real_listener(AF_INET, "/proc/net/tcp");
}

static void
real_tcp6(void **state)
{
	(void)state;
	if (access("/proc/net/tcp6", R_OK) != 0) {
		skip();
		return;
	}
	real_listener(AF_INET6, "/proc/net/tcp6");
}

static void
touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

static void
file_probe(void **state)
{
	struct config cfg = ready_config(READY_FILE);
	char dir[] = "/tmp/test_ready.XXXXXX", path[64], inner[80], cwd[PATH_MAX];

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* Absolute. */
	snprintf(path, sizeof(path), "%s/up", dir);
	cfg.ready_path = path;
	ready_prepare(&cfg); /* nothing there yet: fine */
	assert_false(probe(&cfg, 0, 0));
	touch(path);
	assert_true(probe(&cfg, 0, 0));
	ready_prepare(&cfg); /* a stale file is gone before the next start */
	assert_int_equal(access(path, F_OK), -1);
	assert_false(probe(&cfg, 0, 0));

	/* Relative to the service's directory. */
	cfg.ready_path = "up";
	cfg.directory = dir;
	assert_false(probe(&cfg, 0, 0));
	touch(path);
	assert_true(probe(&cfg, 0, 0));
	ready_prepare(&cfg);
	assert_int_equal(access(path, F_OK), -1);

	/* Relative to memwarden's own directory when the service has none. */
	cfg.directory = NULL;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_false(probe(&cfg, 0, 0));
	touch("up");
	assert_true(probe(&cfg, 0, 0));
	ready_prepare(&cfg);
	assert_int_equal(access("up", F_OK), -1);
	assert_int_equal(chdir(cwd), 0);

	/* A directory in the way: logged, never fatal; a missing parent is
	 * just not there yet. */
	cfg.directory = dir;
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(inner, sizeof(inner), "%s/x", path);
	touch(inner);
	ready_prepare(&cfg);
	assert_true(probe(&cfg, 0, 0));
	unlink(inner);
	cfg.ready_path = "no/such/dir/up";
	ready_prepare(&cfg);
	assert_false(probe(&cfg, 0, 0));
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(v4_listeners),
	    cmocka_unit_test(v6_listeners),
	    cmocka_unit_test(other_states_do_not_count),
	    cmocka_unit_test(headers_and_garbage),
	    cmocka_unit_test(truncated_lines),
	    cmocka_unit_test(chunk_boundaries),
	    cmocka_unit_test(overlong_lines),
	    cmocka_unit_test(modes),
	    cmocka_unit_test(delay),
	    cmocka_unit_test(real_tcp4),
	    cmocka_unit_test(real_tcp6),
	    cmocka_unit_test(file_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
