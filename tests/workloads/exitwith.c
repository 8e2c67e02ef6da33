/*
 * exitwith [--log FILE] [--hold FILE] CODE       exit with CODE
 * exitwith [--log FILE] [--hold FILE] -k SIGNAL  kill itself with SIGNAL
 *
 * With --log, first appends "PID MONOTONIC_NS\n" to FILE (one write), so
 * that a test can count the runs and measure the gaps between them.
 * With --hold FILE, a run that finds FILE present waits for a signal
 * instead of exiting, so a test can look at its supervisor at rest.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	int i = 1;

	if (i + 1 < argc && strcmp(argv[i], "--log") == 0) {
		struct timespec ts;
		char buf[64];
		int fd = open(argv[i + 1], O_WRONLY | O_CREAT | O_APPEND, 0666);
		int n;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = snprintf(buf, sizeof(buf), "%d %lld\n", (int)getpid(),
			     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
		if (fd < 0 || write(fd, buf, (size_t)n) != n) {
			perror(argv[i + 1]);
			return 99;
		}
		close(fd);
		i += 2;
	}
	if (i + 1 < argc && strcmp(argv[i], "--hold") == 0) {
		if (access(argv[i + 1], F_OK) == 0)
			for (;;)
				pause();
		i += 2;
	}
	if (i < argc && strcmp(argv[i], "-k") == 0 && i + 1 < argc) {
		int sig = atoi(argv[i + 1]);
		struct sigaction sa;
		sigset_t set;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(sig, &sa, NULL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
		/* Stopped or ignored: should not happen for the signals used. */
		fprintf(stderr, "exitwith: still alive after signal %d\n", sig);
		return 98;
	}
	if (i < argc)
		return atoi(argv[i]);
	fprintf(stderr, "usage: exitwith [--log FILE] [--hold FILE] CODE | -k SIGNAL\n");
	return 97;
}
