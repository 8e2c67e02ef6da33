/*
 * leaker --rate MB_PER_S [--marker PATH] [--work-ms N] [--ready-file PATH]
 *        [--listen PORT] [--ready-after-ms N] [--max-mb N] [--base-mb N]
 *
 * A service that leaks: it grows its anonymous memory steadily at --rate
 * megabytes a second (fractions allowed), touching every new page, in
 * steps every 10 ms, forever (or until --max-mb), from --base-mb allocated
 * at once at start (default 0: slow rates reach a limit sooner). Nothing is ever freed, so
 * a memory release cannot help; only a restart can.
 *
 * On SIGTERM it stops growing, "finishes its work" (sleeps --work-ms,
 * default 200), appends "graceful PID\n" to the --marker file with one
 * write(2) on an O_APPEND descriptor (so lines from successive instances
 * never mix), and exits 0. The handler only sets a flag.
 *
 * Readiness, for the ready probes' tests, --ready-after-ms (default 0)
 * after it started: --listen makes it listen on 127.0.0.1:PORT (accepting
 * and closing connections with one line, "leaker PID\n"), then
 * --ready-file is created.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MB (1024.0 * 1024.0)
#define STEP_NS 10000000L /* 10 ms */
/* Address space is reserved in regions of this size (not charged until
 * touched), so the growth is one mapping per GiB, not one per step. */
#define REGION (1UL << 30)

struct options {
	double rate, max_mb, base_mb;
	const char *marker, *ready_file;
	long work_ms, ready_after_ms;
	int port;
};

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: leaker --rate MB_PER_S [--marker PATH] [--work-ms N] "
			"[--ready-file PATH] [--listen PORT] [--ready-after-ms N] [--max-mb N] "
			"[--base-mb N]\n");
	exit(2);
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->rate = -1;
	o->work_ms = 200;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		if (strcmp(a, "--rate") == 0)
			o->rate = atof(v);
		else if (strcmp(a, "--marker") == 0)
			o->marker = v;
		else if (strcmp(a, "--work-ms") == 0)
			o->work_ms = atol(v);
		else if (strcmp(a, "--ready-file") == 0)
			o->ready_file = v;
		else if (strcmp(a, "--listen") == 0)
			o->port = atoi(v);
		else if (strcmp(a, "--ready-after-ms") == 0)
			o->ready_after_ms = atol(v);
		else if (strcmp(a, "--max-mb") == 0)
			o->max_mb = atof(v);
		else if (strcmp(a, "--base-mb") == 0)
			o->base_mb = atof(v);
		else
			usage();
		i++;
	}
	if (o->rate < 0 || o->port < 0 || o->port > 65535 || o->work_ms < 0)
		usage();
}

/* Touches the pages from *have up to want bytes, reserving regions as
 * needed. */
static void
grow(char **region, size_t *used, size_t *have, size_t want)
{
	long page = sysconf(_SC_PAGESIZE);

	while (*have < want && !got_term) {
		if (*region == NULL || *used == REGION) {
			*region = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (*region == MAP_FAILED) {
				perror("leaker: mmap");
				exit(3);
			}
			*used = 0;
		}
		/* One write per page makes it resident and charged. */
		(*region)[*used] = 'L';
		*used += (size_t)page;
		*have += (size_t)page;
	}
}

static int
listen_on(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 64) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Answers whatever connected since the last step. */
static void
serve(int fd)
{
	char line[32];
	int c, n = snprintf(line, sizeof(line), "leaker %d\n", (int)getpid());

	while ((c = accept(fd, NULL, NULL)) >= 0) {
		if (write(c, line, (size_t)n) < 0) {
			/* the client went away: nothing to do */
		}
		close(c);
	}
}

/* Listens, then creates the ready file: ready in both senses at once. */
static int
announce(const struct options *o)
{
	int lfd = -1, fd;

	if (o->port > 0 && (lfd = listen_on(o->port)) < 0) {
		perror("leaker: listen");
		exit(2);
	}
	if (o->ready_file) {
		fd = open(o->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror(o->ready_file);
			exit(2);
		}
		close(fd);
	}
	return lfd;
}

static void
finish(const struct options *o)
{
	struct timespec work = {o->work_ms / 1000, (o->work_ms % 1000) * 1000000L};
	char line[40];
	int fd, n;

	while (nanosleep(&work, &work) != 0 && errno == EINTR)
		;
	if (o->marker == NULL)
		exit(0);
	n = snprintf(line, sizeof(line), "graceful %d\n", (int)getpid());
	fd = open(o->marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n) {
		perror(o->marker);
		exit(1);
	}
	close(fd);
	exit(0);
}

int
main(int argc, char **argv)
{
	struct timespec step = {0, STEP_NS};
	struct sigaction sa;
	struct options o;
	double start;
	size_t have = 0, used = 0;
	char *region = NULL;
	bool announced = false;
	int lfd = -1;

	parse_options(argc, argv, &o);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	start = now_s();
	while (!got_term) {
		double elapsed = now_s() - start, want = (o.base_mb + o.rate * elapsed) * MB;

		if (o.max_mb > 0 && want > o.max_mb * MB)
			want = o.max_mb * MB;
		grow(&region, &used, &have, (size_t)want);
		if (!announced && elapsed * 1000 >= (double)o.ready_after_ms) {
			lfd = announce(&o);
			announced = true;
		}
		if (lfd >= 0)
			serve(lfd);
		nanosleep(&step, NULL);
	}
	finish(&o);
	return 0;
}
