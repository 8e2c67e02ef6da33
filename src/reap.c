#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "reap.h"

unsigned
reap_children(reap_fn fn, void *ctx)
{
	unsigned reaped = 0;
	int wstatus;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid > 0) {
			reaped++;
			fn(ctx, pid, wstatus);
			continue;
		}
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0 && errno != ECHILD)
			log_warn("reap", "waitpid");
		return reaped;
	}
}

int
wait_status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

struct pid_list {
	pid_t *v;
	size_t n, cap;
};

#define PID_LIST_MAX 65536

static void
pid_list_add(struct pid_list *l, pid_t pid)
{
	pid_t *grown;

	if (l->n == l->cap) {
		if (l->cap >= PID_LIST_MAX)
			return;
		l->cap = l->cap ? l->cap * 2 : 64;
		grown = realloc(l->v, l->cap * sizeof(pid_t));
		if (grown == NULL) {
			l->cap = l->n;
			return;
		}
		l->v = grown;
	}
	l->v[l->n++] = pid;
}

/* Appends the children of every thread of pid, from the kernel's
 * /proc/PID/task/TID/children lists. */
static void
add_children(pid_t pid, struct pid_list *l)
{
	char path[64], buf[4096], *p, *end;
	struct dirent *d;
	ssize_t n;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return; /* it has just exited */
	while ((d = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", (int)pid, d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* A list longer than the buffer is read on the next pass:
		 * the caller repeats until nothing is left. */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (p = buf;; p = end) {
			long child = strtol(p, &end, 10);

			if (end == p)
				break;
			pid_list_add(l, (pid_t)child);
		}
	}
	closedir(dir);
}

/* Signals every descendant of memwarden, walking down from its children.
 * Orphans are reparented to memwarden (PID 1 or subreaper), so none is
 * missed for long; one forked during the walk is caught by the next one,
 * as the callers repeat until no child remains. */
static unsigned
signal_descendants(int sig)
{
	struct pid_list l = {0};
	unsigned count = 0;
	size_t i;

	add_children(getpid(), &l);
	for (i = 0; i < l.n; i++) {
		count++;
		if (kill(l.v[i], sig) != 0 && errno != ESRCH)
			log_warn("signal", "cannot send signal %d to %d", sig, (int)l.v[i]);
		add_children(l.v[i], &l);
	}
	free(l.v);
	return count;
}

unsigned
signal_service_processes(int sig, bool namespace_init)
{
	if (namespace_init) {
		/* kill(-1) from PID 1 reaches every process of the namespace
		 * but itself — and nothing outside it. */
		if (kill(-1, sig) == 0)
			return 1;
		if (errno != ESRCH)
			log_warn("signal", "kill(-1, %d)", sig);
		return 0;
	}
	return signal_descendants(sig);
}

bool
service_processes_remain(void)
{
	siginfo_t si;

	/* As PID 1 or as a subreaper, every process of the service is a
	 * child of memwarden or has an ancestor that is: something remains
	 * exactly while memwarden has a child. One syscall, no /proc walk.
	 * (Zombies among them are reaped before each check.) */
	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}
