/*
 * slowdrain MARKER DRAIN_MS [EXITCODE]
 *
 * A service that takes its time to shut down: when its handlers are set it
 * writes MARKER.ready; on SIGTERM or SIGINT it "drains" for DRAIN_MS
 * milliseconds, then writes "SIGNO ELAPSED_MS\n" to MARKER (by rename, so
 * it appears whole) and exits with EXITCODE (default 0). ELAPSED_MS is
 * measured from the signal to the end of the drain. Without a signal it
 * exits 0 by itself after 10 minutes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void
on_signal(int sig)
{
	got = sig;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		perror(path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t none;
	char path[4096], text[64];
	long drain_ms;
	long long t0;
	int code = 0, i;

	if (argc < 3) {
		fprintf(stderr, "usage: slowdrain MARKER DRAIN_MS [EXITCODE]\n");
		return 2;
	}
	drain_ms = atol(argv[2]);
	if (argc > 3)
		code = atoi(argv[3]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(path, sizeof(path), "%s.ready", argv[1]);
	write_file(path, "ready\n");
	for (i = 0; i < 600 * 20 && !got; i++)
		usleep(50000);
	if (!got)
		return 0;
	t0 = now_ms();
	printf("slowdrain: signal %d, draining for %ld ms\n", (int)got, drain_ms);
	fflush(stdout);
	{
		struct timespec ts = {drain_ms / 1000, (drain_ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	snprintf(text, sizeof(text), "%d %lld\n", (int)got, now_ms() - t0);
	write_file(argv[1], text);
	printf("slowdrain: drained, exiting %d\n", code);
	return code;
}
