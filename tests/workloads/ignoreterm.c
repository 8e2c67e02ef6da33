/*
 * ignoreterm PIDFILE
 *
 * A service that will not stop: it ignores SIGTERM, forks a child that
 * calls setsid() (leaving the service's process group and session) and
 * ignores SIGTERM too, writes "MAINPID CHILDPID\n" to PIDFILE (by rename,
 * so it appears whole) and sleeps. Both exit by themselves after 10
 * minutes, so that a failed test cannot leave them forever.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char tmp[4096], buf[64];
	int fds[2], n;
	pid_t child;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: ignoreterm PIDFILE\n");
		return 2;
	}
	signal(SIGTERM, SIG_IGN);
	if (pipe(fds) != 0)
		return 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(fds[0]);
		if (setsid() < 0)
			_exit(1);
		signal(SIGTERM, SIG_IGN);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		close(fds[1]);
		sleep(600);
		_exit(0);
	}
	close(fds[1]);
	/* Wait until the child has called setsid(). */
	if (read(fds[0], buf, 1) != 1)
		return 1;
	close(fds[0]);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	n = fprintf(f, "%d %d\n", (int)getpid(), (int)child);
	if (n < 0 || fclose(f) != 0 || rename(tmp, argv[1]) != 0)
		return 1;
	sleep(600);
	return 0;
}
