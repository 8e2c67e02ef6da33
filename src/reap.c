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

struct proc_entry {
	pid_t pid, ppid;
	char state;
	bool ours;
};

/* Reads "pid (comm) S ppid" from /proc/PID/stat. comm may hold spaces
 * and parentheses, so the fields after it are found from the last ')'. */
static int
read_proc_stat(pid_t pid, struct proc_entry *e)
{
	char path[64], buf[512];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* sscanf would pull 35 kB of scanf into the static binary. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
		return 1;
	e->state = p[2];
	e->ppid = (pid_t)strtol(p + 4, NULL, 10);
	e->pid = pid;
	e->ours = false;
	return 0;
}

/* Lists every process in /proc. Returns the count, *list to free. */
static size_t
list_processes(struct proc_entry **list)
{
	struct proc_entry *v = NULL, *grown;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dir;

	*list = NULL;
	dir = opendir("/proc");
	if (dir == NULL) {
		log_warn("reap", "cannot list /proc");
		return 0;
	}
	while ((d = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(v, cap * sizeof(*v));
			if (grown == NULL) {
				log_warn("reap", "cannot list /proc");
				break;
			}
			v = grown;
		}
		if (read_proc_stat((pid_t)atoi(d->d_name), &v[n]) == 0)
			n++;
	}
	closedir(dir);
	*list = v;
	return n;
}

/* Marks the descendants of self. Parents may come after their children
 * in /proc order, so the marking repeats until nothing changes. */
static void
mark_descendants(struct proc_entry *v, size_t n, pid_t self)
{
	bool changed = true;
	size_t i, j;

	while (changed) {
		changed = false;
		for (i = 0; i < n; i++) {
			if (v[i].ours)
				continue;
			if (v[i].ppid == self) {
				v[i].ours = changed = true;
				continue;
			}
			for (j = 0; j < n; j++) {
				if (v[j].ours && v[j].pid == v[i].ppid) {
					v[i].ours = changed = true;
					break;
				}
			}
		}
	}
}

static unsigned
walk_service_processes(int sig, bool living_only)
{
	struct proc_entry *v;
	size_t n, i;
	unsigned count = 0;

	n = list_processes(&v);
	mark_descendants(v, n, getpid());
	for (i = 0; i < n; i++) {
		if (!v[i].ours || (living_only && v[i].state == 'Z'))
			continue;
		count++;
		if (sig != 0 && kill(v[i].pid, sig) != 0 && errno != ESRCH)
			log_warn("signal", "cannot send signal %d to %d", sig, (int)v[i].pid);
	}
	free(v);
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
	return walk_service_processes(sig, false);
}

bool
service_processes_remain(bool namespace_init)
{
	/* As PID 1, kill(-1, 0) succeeds while any other process of the
	 * namespace exists. Zombies count, but only for a moment: ours are
	 * reaped before each check, the others' parents are still there. */
	if (namespace_init)
		return kill(-1, 0) == 0;
	return walk_service_processes(0, true) > 0;
}
