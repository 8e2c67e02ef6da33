/*
 * sigqueue PID SIGNO VALUE [COUNT [INTERVAL_US]]
 *
 * Sends SIGNO to PID COUNT times (1) with sigqueue(3) and the integer
 * VALUE, INTERVAL_US microseconds apart (0). A full real-time signal queue
 * (EAGAIN) is waited out and the signal sent again. Prints "SENT <n>" and
 * exits 0 when all were sent, 1 when the process went away.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void
pause_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	while (us > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	union sigval v;
	long count = 1, interval = 0, sent = 0;
	pid_t pid;
	int sig;

	if (argc < 4)
		return 2;
	pid = (pid_t)atoi(argv[1]);
	sig = atoi(argv[2]);
	v.sival_int = atoi(argv[3]);
	if (argc > 4)
		count = atol(argv[4]);
	if (argc > 5)
		interval = atol(argv[5]);
	while (sent < count) {
		if (sigqueue(pid, sig, v) != 0) {
			if (errno != EAGAIN)
				break;
			pause_us(1000);
			continue;
		}
		sent++;
		pause_us(interval);
	}
	printf("SENT %ld\n", sent);
	return sent == count ? 0 : 1;
}
