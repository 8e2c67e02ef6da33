/*
 * orphans DIR N LINGER_MS HOLD_MS
 *
 * Forks N children; each forks a grandchild and exits at once, so the N
 * grandchildren are orphaned and reparented to the init (or the nearest
 * subreaper). Each grandchild appends its pid to DIR/pids, then sleeps
 * LINGER_MS (-1: until killed) and exits 0. The main process reaps its
 * own children, writes DIR/spawned, then stays until DIR/stop exists or
 * HOLD_MS passed, and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	char path[4096], stop[4096];
	int n, i, fd;
	long linger, hold, waited;

	if (argc != 5) {
		fprintf(stderr, "usage: orphans DIR N LINGER_MS HOLD_MS\n");
		return 2;
	}
	n = atoi(argv[2]);
	linger = atol(argv[3]);
	hold = atol(argv[4]);
	snprintf(path, sizeof(path), "%s/pids", argv[1]);
	snprintf(stop, sizeof(stop), "%s/stop", argv[1]);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	for (i = 0; i < n; i++) {
		pid_t c = fork();

		if (c < 0) {
			perror("fork");
			return 1;
		}
		if (c == 0) {
			pid_t g = fork();

			if (g < 0)
				_exit(1);
			if (g == 0) {
				char buf[32];
				int len;

				len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
				if (write(fd, buf, (size_t)len) < 0)
					_exit(1);
				if (linger < 0)
					for (;;)
						pause();
				sleep_ms(linger);
				_exit(0);
			}
			_exit(0);
		}
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/spawned", argv[1]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd >= 0)
		close(fd);
	for (waited = 0; waited < hold && access(stop, F_OK) != 0; waited += 20)
		sleep_ms(20);
	return 0;
}
