#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "procfs.h"

/* "Key:" and the value after it, blanks skipped. */
static bool
key_is(const char *line, size_t n, const char *key, const char **val, size_t *vlen)
{
	size_t kl = strlen(key);

	if (n <= kl || memcmp(line, key, kl) != 0 || line[kl] != ':')
		return false;
	*val = line + kl + 1;
	*vlen = n - kl - 1;
	while (*vlen > 0 && (**val == ' ' || **val == '\t')) {
		(*val)++;
		(*vlen)--;
	}
	return true;
}

/* "   38320 kB" in bytes. */
static int
kb_value(const char *s, size_t n, uint64_t *bytes)
{
	uint64_t kb;

	if (n < 4 || memcmp(s + n - 3, " kB", 3) != 0 || parse_u64_n(s, n - 3, &kb) != 0 ||
	    kb > UINT64_MAX / 1024)
		return 1;
	*bytes = kb * 1024;
	return 0;
}

/* SigCgt: 16 hex digits. */
static int
hex_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 16)
		return 1;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (!isxdigit(c))
			return 1;
		x = x << 4 | (uint64_t)(isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	*v = x;
	return 0;
}

int
parse_proc_status(const char *buf, size_t len, struct proc_mem *out)
{
	static const struct {
		const char *key;
		size_t off;
	} kb[] = {
	    {"VmRSS", offsetof(struct proc_mem, rss)},
	    {"RssAnon", offsetof(struct proc_mem, rss_anon)},
	    {"RssFile", offsetof(struct proc_mem, rss_file)},
	    {"RssShmem", offsetof(struct proc_mem, rss_shmem)},
	    {"VmSwap", offsetof(struct proc_mem, swap)},
	};
	const char *p = buf, *end = buf + len, *val;
	bool name = false, pid = false, sig = false;
	struct proc_mem m;
	size_t vlen, i;
	uint64_t v;

	memset(&m, 0, sizeof(m));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *line = p;
		size_t n;

		if (nl == NULL)
			return 1; /* cut short */
		n = (size_t)(nl - p);
		p = nl + 1;
		if (key_is(line, n, "Name", &val, &vlen)) {
			/* The kernel escapes the name: it holds no newline. */
			if (vlen >= sizeof(m.name))
				vlen = sizeof(m.name) - 1;
			memcpy(m.name, val, vlen);
			m.name[vlen] = '\0';
			name = true;
		} else if (key_is(line, n, "Pid", &val, &vlen)) {
			if (parse_u64_n(val, vlen, &v) != 0 || v == 0 || v > 0x7fffffff)
				return 1;
			m.pid = (pid_t)v;
			pid = true;
		} else if (key_is(line, n, "Threads", &val, &vlen)) {
			if (parse_u64_n(val, vlen, &v) != 0 || v > 0xffffffffU)
				return 1;
			m.threads = (unsigned)v;
		} else if (key_is(line, n, "SigCgt", &val, &vlen)) {
			if (hex_u64(val, vlen, &m.sig_caught) != 0)
				return 1;
			sig = true;
		} else {
			for (i = 0; i < sizeof(kb) / sizeof(kb[0]); i++) {
				if (!key_is(line, n, kb[i].key, &val, &vlen))
					continue;
				if (kb_value(val, vlen, (uint64_t *)((char *)&m + kb[i].off)) != 0)
					return 1;
				break;
			}
		}
	}
	if (!name || !pid || !sig)
		return 1;
	*out = m;
	return 0;
}

int
procfs_read_status(pid_t pid, struct proc_mem *m)
{
	char path[32], buf[4096];
	ssize_t n;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	/* No O_CLOEXEC: musl adds an fcntl() for it, one syscall per
	 * process per sample, and memwarden has one thread that closes the
	 * fd before it could fork. */
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 1;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return 1;
	len = (size_t)n;
	/* The lines wanted come well before the long CPU and memory-node
	 * masks; a status larger than the buffer is cut after a whole line. */
	if (len == sizeof(buf))
		while (len > 0 && buf[len - 1] != '\n')
			len--;
	if (parse_proc_status(buf, len, m) != 0)
		return 1;
	m->pid = pid; /* as this /proc names it, whatever the namespace */
	return 0;
}

/* Appends the processes listed in one /proc/PID/task/TID/children file
 * ("pid pid pid "), read in pieces when long. */
static size_t
add_children_file(const char *path, struct proc_mem *out, size_t n, size_t max)
{
	char buf[1024];
	size_t have = 0;
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY); /* no O_CLOEXEC: see procfs_read_status */
	if (fd < 0)
		return n;
	while (n < max) {
		size_t i, start = 0, want = sizeof(buf) - have;

		got = read(fd, buf + have, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
		for (i = 0; i < have && n < max; i++) {
			uint64_t pid;

			if (buf[i] != ' ' && buf[i] != '\n')
				continue;
			if (i > start && parse_u64_n(buf + start, i - start, &pid) == 0 &&
			    procfs_read_status((pid_t)pid, &out[n]) == 0)
				n++;
			start = i + 1;
		}
		/* A number cut at the end of the buffer waits for the rest. */
		have -= start;
		memmove(buf, buf + start, have);
		/* The kernel fills the buffer with whole entries ("PID ", at
		 * most 12 bytes) as long as there are more: with room for
		 * another one left, this was the end, and no read for EOF. */
		if (have == sizeof(buf) || (size_t)got + 16 < want)
			break;
	}
	close(fd);
	return n;
}

/* Appends the children of every thread of pid. With one thread, its
 * children file is read directly, without listing /proc/PID/task. */
static size_t
add_children(pid_t pid, unsigned threads, struct proc_mem *out, size_t n, size_t max)
{
	char path[64];
	struct dirent *d;
	DIR *dir;

	if (threads == 1) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
		return add_children_file(path, out, n, max);
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return n; /* it has just exited */
	while (n < max && (d = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", (int)pid, d->d_name);
		n = add_children_file(path, out, n, max);
	}
	closedir(dir);
	return n;
}

size_t
procfs_service_processes(struct proc_mem *out, size_t max)
{
	size_t n, i;

	/* Breadth first, the output doubling as the queue: no allocation. A
	 * process reparented to memwarden while the walk runs may be missed
	 * or listed twice until the next one. */
	n = add_children(getpid(), 1, out, 0, max); /* memwarden has one thread */
	for (i = 0; i < n && n < max; i++)
		n = add_children(out[i].pid, out[i].threads, out, n, max);
	return n;
}

/* The parent of pid from /proc/PID/stat ("pid (comm) S ppid ..."; comm
 * may hold spaces and parentheses: the last ')' ends it). 0 when gone. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd, ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

bool
procfs_is_descendant(pid_t pid)
{
	pid_t self = getpid();
	int depth;

	/* Bounded: a chain that long is not a service's. */
	for (depth = 0; depth < 64 && pid > 1; depth++) {
		pid = parent_of(pid);
		if (pid == self)
			return true;
	}
	return false;
}
