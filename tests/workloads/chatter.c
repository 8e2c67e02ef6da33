/*
 * chatter STOPFILE
 *
 * Writes whole lines ("chatter stdout N" / "chatter stderr N", one write(2)
 * each) to stdout and stderr as fast as it can, until STOPFILE exists (or
 * 10 minutes passed), then exits 0. It ignores SIGUSR1, SIGUSR2 and SIGHUP
 * so that a test can make memwarden log while it chatters.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char buf[64];
	long i;
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: chatter STOPFILE\n");
		return 2;
	}
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	for (i = 0; i < 600L * 1000; i++) {
		n = snprintf(buf, sizeof(buf), "chatter stdout %ld\n", i);
		if (write(1, buf, (size_t)n) != n)
			return 1;
		n = snprintf(buf, sizeof(buf), "chatter stderr %ld\n", i);
		if (write(2, buf, (size_t)n) != n)
			return 1;
		if (i % 50 == 0) {
			if (access(argv[1], F_OK) == 0)
				return 0;
			usleep(1000);
		}
	}
	return 0;
}
