/*
 * prefork --port P --workers N [--grow-kb K] [--pidfile PATH]
 *
 * A prefork TCP server, like the servers `[memory] action = signal` (HUP)
 * and `action = largest` are for. The master listens on 127.0.0.1:P
 * (SO_REUSEADDR) and forks N workers that accept connections and answer
 * each with one line, "prefork PID REQUESTS\n", then close it. Each worker
 * grows by K KB per request (touched, never freed): the workers, not the
 * master, are the largest processes, and recycling one frees memory.
 *
 * - SIGHUP: the master forks N fresh workers, then sends the old ones
 *   SIGTERM; they finish the connection in hand and exit. The listening
 *   socket is never closed, so no client is ever refused.
 * - A worker that dies otherwise (killed as the largest process) is reaped
 *   and replaced at once.
 * - SIGTERM or SIGINT: the master stops its workers (SIGTERM, SIGKILL
 *   after 10 s), reaps them, removes the pidfile and exits 0.
 *
 * The master writes its pid to --pidfile (by rename, so it appears whole)
 * once the first workers run. Workers ignore SIGHUP, so a HUP sent to the
 * whole group recycles them once, through the master; they get SIGTERM
 * when the master dies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 64
/* Room for a few generations still finishing their last connection. */
#define MAX_CHILDREN (8 * MAX_WORKERS)
#define STOP_TIMEOUT_S 10

struct options {
	int port, workers;
	long grow_kb;
	const char *pidfile;
};

struct child {
	pid_t pid;     /* 0: free slot */
	bool retiring; /* sent SIGTERM: not replaced when it exits */
};

static struct child children[MAX_CHILDREN];
static volatile sig_atomic_t worker_stop;

static void
on_worker_term(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* The master waits with sigtimedwait; SIGCHLD needs a handler to be sure
 * it is not discarded as ignored. */
static void
on_nothing(int sig)
{
	(void)sig;
}

static void
usage(void)
{
	fprintf(stderr, "usage: prefork --port P --workers N [--grow-kb K] [--pidfile PATH]\n");
	exit(2);
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			o->port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--workers") == 0)
			o->workers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--grow-kb") == 0)
			o->grow_kb = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--pidfile") == 0)
			o->pidfile = argv[i + 1];
		else
			usage();
	}
	if (i != argc || o->port < 1 || o->port > 65535 || o->workers < 1 ||
	    o->workers > MAX_WORKERS || o->grow_kb < 0)
		usage();
}

static int
listen_on(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	/* Non-blocking: every worker polls it and all but one find the
	 * connection taken already. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 1024) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What the worker leaked, as a list through the blocks' first words: kept
 * where the compiler must assume it is used, or it may drop the malloc
 * and the stores into memory nothing reads. */
static void *leaked;

/* Leaks kb kilobytes, every page touched. */
static void
grow(long kb)
{
	size_t n = (size_t)kb * 1024, i;
	char *p;

	if (n < sizeof(void *) || (p = malloc(n)) == NULL)
		return;
	for (i = 0; i < n; i += 4096)
		p[i] = 'w';
	*(void **)p = leaked;
	leaked = p;
}

static void
answer(int c, unsigned long requests)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "prefork %d %lu\n", (int)getpid(), requests);

	if (write(c, line, (size_t)n) < 0) {
		/* the client went away: nothing to do */
	}
	close(c);
}

/*
 * SIGTERM stays blocked but in ppoll, which unblocks it atomically: a
 * TERM that comes while a connection is in hand waits until that one is
 * answered, and one that comes just before the wait is not lost.
 */
static void __attribute__((noreturn)) worker(int lfd, long grow_kb, pid_t master)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	struct sigaction sa;
	unsigned long requests = 0;
	sigset_t waiting;
	int c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_worker_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(0);
	sigemptyset(&waiting);
	/* The master's mask blocks TERM, HUP, INT and CHLD; keep TERM
	 * blocked outside ppoll, nothing else. */
	sigaddset(&waiting, SIGTERM);
	sigprocmask(SIG_SETMASK, &waiting, NULL);
	sigemptyset(&waiting);
	while (!worker_stop) {
		if (ppoll(&pfd, 1, NULL, &waiting) < 0)
			continue; /* EINTR: look at worker_stop */
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue; /* another worker took it */
		answer(c, ++requests);
		grow(grow_kb);
	}
	_exit(0);
}

static struct child *
free_slot(void)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid == 0)
			return &children[i];
	return NULL;
}

static int
live_workers(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_CHILDREN; i++)
		n += children[i].pid != 0 && !children[i].retiring;
	return n;
}

/* Forks workers until there are n that are not retiring. A fork that
 * fails is retried at the next turn of the master's loop. */
static void
fill(int lfd, const struct options *o)
{
	pid_t master = getpid();
	struct child *slot;
	pid_t pid;

	while (live_workers() < o->workers && (slot = free_slot()) != NULL) {
		pid = fork();
		if (pid < 0) {
			perror("prefork: fork");
			return;
		}
		if (pid == 0)
			worker(lfd, o->grow_kb, master);
		slot->pid = pid;
		slot->retiring = false;
	}
}

/* Marks every worker there is now as one to go: fill() then forks their
 * successors, and stop_retiring() tells them to go. */
static void
retire_all(void)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0)
			children[i].retiring = true;
}

static void
stop_retiring(int sig)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0 && children[i].retiring)
			kill(children[i].pid, sig);
}

/* Reaps every child that ended; returns how many are left. */
static int
reap(void)
{
	int i, left = 0, status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < MAX_CHILDREN; i++)
			if (children[i].pid == pid)
				children[i].pid = 0;
	for (i = 0; i < MAX_CHILDREN; i++)
		left += children[i].pid != 0;
	return left;
}

static void
write_pidfile(const char *path)
{
	char tmp[4096], line[32];
	int fd, n = snprintf(line, sizeof(line), "%d\n", (int)getpid());

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) != 0 || rename(tmp, path) != 0) {
		perror(path);
		exit(2);
	}
}

/* Stops the workers and waits for them, SIGKILL after the timeout. */
static void
shut_down(const struct options *o)
{
	struct timespec tick = {0, 50000000L};
	int i;

	retire_all();
	stop_retiring(SIGTERM);
	for (i = 0; reap() > 0; i++) {
		if (i == STOP_TIMEOUT_S * 20)
			stop_retiring(SIGKILL);
		nanosleep(&tick, NULL);
	}
	if (o->pidfile)
		unlink(o->pidfile);
	exit(0);
}

int
main(int argc, char **argv)
{
	struct timespec second = {1, 0};
	struct sigaction sa;
	struct options o;
	sigset_t set;
	int lfd, sig;

	parse_options(argc, argv, &o);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_nothing;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((lfd = listen_on(o.port)) < 0) {
		perror("prefork: listen");
		return 2;
	}
	fill(lfd, &o);
	if (o.pidfile)
		write_pidfile(o.pidfile);
	for (;;) {
		/* The timeout retries forks that failed. */
		sig = sigtimedwait(&set, NULL, &second);
		if (sig == SIGTERM || sig == SIGINT)
			shut_down(&o);
		if (sig == SIGHUP) {
			/* The fresh ones first, then the old ones go. */
			retire_all();
			fill(lfd, &o);
			stop_retiring(SIGTERM);
		}
		reap();
		fill(lfd, &o);
	}
}
