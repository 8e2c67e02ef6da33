/*
 * nsrun [--cgroup DIR] [--container] [--pidfile FILE] [--log FILE] [--no-pidns]
 *       -- CMD [ARG...]
 *
 * The VM tier's launcher. Runs CMD as PID 1 of a new PID namespace (with
 * its own /proc), in the cgroup DIR when given, with its stdout and stderr
 * on a pipe. nsrun itself stays outside that cgroup, so it sees how CMD
 * ended even when the cgroup is OOM-killed as a whole, and says so:
 *
 *   MWVM-NSRUN: pid=N               CMD's pid as seen from outside
 *   MW|UPTIME|LINE                  every line CMD (or its children) wrote,
 *                                   UPTIME in seconds like /proc/uptime
 *   MWVM-NSRUN: exit=N | signal=N   how CMD ended
 *
 * --container also gives CMD a cgroup namespace and a fresh cgroup2 mount on
 * /sys/fs/cgroup, read-only, whose root is DIR: what a Kubernetes pod sees.
 * --pidfile writes CMD's outside pid (by rename, so it appears whole);
 * --log appends each line as it was written, for the test script to grep.
 * nsrun exits with CMD's status, or 128+N when a signal N killed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

static double
uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
emit(const char *line, size_t len)
{
	static char out[70000];
	int head = snprintf(out, sizeof(out), "MW|%.3f|", uptime());

	if (len > sizeof(out) - (size_t)head - 1)
		len = sizeof(out) - (size_t)head - 1;
	memcpy(out + head, line, len);
	out[head + len] = '\n';
	write_all(1, out, (size_t)head + len + 1);
	if (log_fd >= 0) {
		write_all(log_fd, line, len);
		write_all(log_fd, "\n", 1);
	}
}

static void
die(const char *what)
{
	fprintf(stderr, "nsrun: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void
child(const char *cgroup, bool pidns, bool container, int out, char **argv)
{
	if (pidns) {
		if (unshare(CLONE_NEWNS) < 0)
			die("unshare(CLONE_NEWNS)");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("mount --make-rprivate /");
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			die("mount /proc");
	}
	if (cgroup) {
		char path[4096];
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1)
			die(path);
		close(fd);
	}
	if (container) {
		if (unshare(CLONE_NEWCGROUP) < 0)
			die("unshare(CLONE_NEWCGROUP)");
		if (umount2("/sys/fs/cgroup", MNT_DETACH) < 0)
			die("umount /sys/fs/cgroup");
		if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			die("mount cgroup2 read-only");
	}
	if (dup2(out, 1) < 0 || dup2(out, 2) < 0)
		die("dup2");
	if (out > 2)
		close(out);
	execvp(argv[0], argv);
	die(argv[0]);
}

int
main(int argc, char **argv)
{
	const char *cgroup = NULL, *pidfile = NULL, *logfile = NULL;
	bool pidns = true, container = false;
	int i, p[2], status = 0;
	pid_t pid;
	static char buf[65536];
	size_t have = 0;
	bool exited = false;
	double quiet_since = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc)
			cgroup = argv[++i];
		else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc)
			pidfile = argv[++i];
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
			logfile = argv[++i];
		else if (strcmp(argv[i], "--container") == 0)
			container = true;
		else if (strcmp(argv[i], "--no-pidns") == 0)
			pidns = false;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else
			break;
	}
	if (container && (!pidns || !cgroup)) {
		fprintf(stderr, "nsrun: --container needs --cgroup and a PID namespace\n");
		return 2;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: nsrun [--cgroup DIR] [--container] [--pidfile FILE] "
				"[--log FILE] [--no-pidns] -- CMD [ARG...]\n");
		return 2;
	}
	if (logfile &&
	    (log_fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		die(logfile);
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe");
	if (pidns && unshare(CLONE_NEWPID) < 0)
		die("unshare(CLONE_NEWPID)");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		child(cgroup, pidns, container, p[1], argv + i);
	}
	close(p[1]);
	if (pidfile) {
		char tmp[4096], text[32];
		int fd, n = snprintf(text, sizeof(text), "%d\n", (int)pid);

		snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0 ||
		    rename(tmp, pidfile) < 0)
			die(pidfile);
	}
	printf("MWVM-NSRUN: pid=%d\n", (int)pid);
	fflush(stdout);

	/* Copy lines until the pipe's last writer is gone; once CMD has ended,
	 * give stragglers (orphans that kept the pipe, without a PID
	 * namespace) one quiet second at most. */
	for (;;) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int r = poll(&pfd, 1, 100);

		if (r > 0) {
			ssize_t n = read(p[0], buf + have, sizeof(buf) - have);

			if (n <= 0)
				break;
			have += (size_t)n;
			quiet_since = uptime();
			for (;;) {
				char *nl = memchr(buf, '\n', have);
				size_t len;

				if (!nl && have < sizeof(buf))
					break;
				len = nl ? (size_t)(nl - buf) : have;
				emit(buf, len);
				if (nl)
					len++;
				memmove(buf, buf + len, have - len);
				have -= len;
			}
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			quiet_since = uptime();
		}
		if (exited && r == 0 && uptime() - quiet_since > 1.0)
			break;
	}
	if (have)
		emit(buf, have);
	if (!exited)
		waitpid(pid, &status, 0);
	if (WIFSIGNALED(status)) {
		printf("MWVM-NSRUN: signal=%d\n", WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	printf("MWVM-NSRUN: exit=%d\n", WEXITSTATUS(status));
	return WEXITSTATUS(status);
}
