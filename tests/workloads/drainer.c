/*
 * drainer MARKER [EXITCODE]
 *
 * A service that shuts down cleanly: on SIGTERM, SIGINT, SIGQUIT, SIGHUP or
 * SIGUSR2 it writes "SIGNO MONOTONIC_NS\n" to MARKER (by rename) and exits
 * with EXITCODE (default 0). When its handlers are set it writes
 * MARKER.ready. It exits 0 by itself after 10 minutes.
 */
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
	static const int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2};
	struct sigaction sa;
	sigset_t none;
	char path[4096], text[64];
	int code = 0, i;

	if (argc < 2) {
		fprintf(stderr, "usage: drainer MARKER [EXITCODE]\n");
		return 2;
	}
	if (argc > 2)
		code = atoi(argv[2]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	for (i = 0; i < (int)(sizeof(sigs) / sizeof(sigs[0])); i++)
		sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(path, sizeof(path), "%s.ready", argv[1]);
	write_file(path, "ready\n");
	for (i = 0; i < 600 * 20 && !got; i++)
		usleep(50000);
	if (got) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(text, sizeof(text), "%d %lld\n", (int)got,
			 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
		write_file(argv[1], text);
		return code;
	}
	return 0;
}
