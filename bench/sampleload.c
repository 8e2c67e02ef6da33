/*
 * bench/sampleload.c — helper of bench/sample-cost.sh.
 *
 *   sampleload N                  the service: N processes that never wake up
 *   sampleload -t MS              the floor: a bare timer wake-up every MS ms
 *   sampleload -p|-o COUNT FILE...  the cost of reading each FILE
 *
 * sampleload N forks N-1 children that pause(), then pauses itself: the
 * service is N processes in a tree of depth two (this one and its
 * children), which is what memwarden's /proc walk goes through. Every child
 * dies with its parent (PR_SET_PDEATHSIG), and the parent dies on SIGTERM,
 * SIGINT or SIGKILL, so ending the parent ends the whole service. No
 * process of the service ever wakes up on its own: the CPU measured is the
 * init's alone.
 *
 * sampleload -t MS does what memwarden's loop does around a sample and
 * nothing else: epoll_pwait on a timerfd, read it, re-arm it relative to
 * now (timerfd_settime). Its CPU time per wake-up is the floor that any
 * timer-driven sampler pays on this machine (the scheduler's switch in and
 * out, the three syscalls); memwarden's cost above it is the sample's.
 *
 * sampleload -p COUNT FILE... reads each FILE COUNT times as memwarden reads
 * its cgroup files (pread at offset 0 of an fd kept open, 4 kB buffer), -o
 * as it reads /proc (open, read, close each time), and prints one line per
 * file: "FILE MICROSECONDS BYTES" (time on CPU per read, from
 * CLOCK_THREAD_CPUTIME_ID, and the size of the last read).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* This thread's time on CPU: preemption by other work does not count. */
static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
read_cost(bool keep_open, long count, char **files, int nfiles)
{
	char buf[4096];
	ssize_t got = 0;
	double t0;
	long i;
	int f, fd = -1;

	for (f = 0; f < nfiles; f++) {
		if (keep_open && (fd = open(files[f], O_RDONLY | O_CLOEXEC)) < 0) {
			perror(files[f]);
			return 1;
		}
		t0 = now_us();
		for (i = 0; i < count; i++) {
			if (keep_open) {
				got = pread(fd, buf, sizeof(buf), 0);
			} else {
				if ((fd = open(files[f], O_RDONLY)) < 0) {
					perror(files[f]);
					return 1;
				}
				got = read(fd, buf, sizeof(buf));
				close(fd);
			}
			if (got < 0) {
				perror(files[f]);
				return 1;
			}
		}
		printf("%s %.2f %zd\n", files[f], (now_us() - t0) / (double)count, got);
		if (keep_open)
			close(fd);
	}
	return 0;
}

static int
tick(long ms)
{
	struct itimerspec its;
	struct epoll_event ev = {.events = EPOLLIN};
	uint64_t expirations;
	int ep, tfd;

	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep < 0 || tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) {
		perror("sampleload: timer");
		return 1;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000L;
	for (;;) {
		if (timerfd_settime(tfd, 0, &its, NULL) != 0) {
			perror("sampleload: timerfd_settime");
			return 1;
		}
		while (epoll_pwait(ep, &ev, 1, -1, NULL) < 1)
			;
		if (read(tfd, &expirations, sizeof(expirations)) < 0)
			continue;
	}
}

int
main(int argc, char **argv)
{
	long n, i;
	pid_t parent = getpid();

	if (argc == 3 && strcmp(argv[1], "-t") == 0 && (n = strtol(argv[2], NULL, 10)) >= 1)
		return tick(n);
	if (argc >= 4 && (strcmp(argv[1], "-p") == 0 || strcmp(argv[1], "-o") == 0) &&
	    (n = strtol(argv[2], NULL, 10)) >= 1)
		return read_cost(argv[1][1] == 'p', n, argv + 3, argc - 3);
	if (argc != 2 || (n = strtol(argv[1], NULL, 10)) < 1 || n > 10000) {
		fprintf(stderr, "usage: sampleload N (1..10000 processes) | sampleload -t MS | "
				"sampleload -p|-o COUNT FILE...\n");
		return 2;
	}
	for (i = 1; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("sampleload: fork");
			return 1;
		}
		if (pid == 0) {
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
				_exit(0);
			for (;;)
				pause();
		}
	}
	for (;;)
		pause();
}
