/*
 * sigrecord OUT READY [--fork] [--exit-on SIGNO]
 *
 * A service that records every signal it receives. It installs a handler
 * for every catchable signal (1-31 except KILL, STOP and CHLD; SIGRTMIN to
 * SIGRTMAX) and appends "PID SIGNO\n" to OUT with one write(2) per signal.
 * With --fork it first forks a child that stays in its process group and
 * records the same way (with its own pid). When everything is set up it
 * writes "ready" to READY (created with a rename, so it appears whole).
 * On the signal given with --exit-on (after recording it) it exits 0; the
 * child, if any, exits too. It also exits by itself after 10 minutes so
 * that nothing can linger forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int out_fd = -1;
static volatile sig_atomic_t exit_on = -1;
static volatile sig_atomic_t should_exit;

static void
on_signal(int sig)
{
	char buf[32];
	int saved = errno;
	int n = snprintf(buf, sizeof(buf), "%d %d\n", (int)getpid(), sig);

	/* snprintf with integers only is async-signal-safe in glibc practice;
	 * the write is one syscall, so lines never interleave. */
	if (write(out_fd, buf, (size_t)n) < 0) {
		/* nothing to do */
	}
	if (sig == exit_on)
		should_exit = 1;
	errno = saved;
}

static void
install(void)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask); /* one handler at a time */
	for (sig = 1; sig <= 31; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD)
			continue;
		if (sigaction(sig, &sa, NULL) != 0) {
			perror("sigaction");
			exit(1);
		}
	}
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		if (sigaction(sig, &sa, NULL) != 0) {
			perror("sigaction");
			exit(1);
		}
	}
	/* Whatever mask we inherited: we want to see everything. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
write_file(const char *path, const char *text)
{
	char tmp[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) != 0 ||
	    rename(tmp, path) != 0) {
		perror(path);
		exit(1);
	}
}

static void
wait_loop(void)
{
	int i;

	/* Sleep in short steps; signals interrupt the sleep anyway. */
	for (i = 0; i < 600 * 20 && !should_exit; i++)
		usleep(50000);
}

int
main(int argc, char **argv)
{
	const char *out, *ready;
	int do_fork = 0, i;
	pid_t child = -1;
	char readyname[4096];

	if (argc < 3) {
		fprintf(stderr, "usage: sigrecord OUT READY [--fork] [--exit-on SIGNO]\n");
		return 2;
	}
	out = argv[1];
	ready = argv[2];
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--fork") == 0)
			do_fork = 1;
		else if (strcmp(argv[i], "--exit-on") == 0 && i + 1 < argc)
			exit_on = atoi(argv[++i]);
		else {
			fprintf(stderr, "sigrecord: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (out_fd < 0) {
		perror(out);
		return 1;
	}
	install();
	if (do_fork) {
		child = fork();
		if (child < 0) {
			perror("fork");
			return 1;
		}
		if (child == 0) {
			snprintf(readyname, sizeof(readyname), "%s.child", ready);
			write_file(readyname, "ready\n");
			wait_loop();
			_exit(0);
		}
		/* Wait for the child to be set up before saying ready. */
		snprintf(readyname, sizeof(readyname), "%s.child", ready);
		for (i = 0; i < 20 * 60 && access(readyname, F_OK) != 0; i++)
			usleep(50000);
	}
	write_file(ready, "ready\n");
	wait_loop();
	if (child > 0) {
		/* Give the child a moment to record and exit by itself. */
		for (i = 0; i < 100; i++) {
			if (waitpid(child, NULL, WNOHANG) != 0)
				break;
			usleep(20000);
		}
	}
	return 0;
}
