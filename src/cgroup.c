/*
 * The container's memory cgroup: discovery, sampling, notifications.
 *
 * Discovery asks libcgroup (the project's cgroup dependency) for the
 * memory controller's mount point and memwarden's path in it, in a child
 * process that answers through a pipe. Measured with the static musl
 * build on the v1 host: cgroup_init() in the process itself takes VmRSS
 * from 216 kB to 1064 kB for good (its mount table, 800 kB of .bss, is
 * cleared whole); with the child, 228 kB before discovery and 240 kB
 * after (stack pages, most of which sampling uses anyway: 244 kB after
 * the first sample). tests/unit/test_cgroup.c checks that none of
 * libcgroup's table is resident in the parent.
 *
 * What libcgroup 2.0.2 cannot do, done here from /proc instead:
 * - tell v1, v2 and hybrid apart and see read-only mounts: it reads
 *   /proc/mounts, without the mount's root, and its headers offer no
 *   hierarchy kind (cgroup_get_controller_version() is internal in 2.0.2);
 *   /proc/self/mountinfo has the file system type, the root and the flags;
 * - containers without a cgroup namespace: /proc/self/cgroup says
 *   /docker/abc while /sys/fs/cgroup/memory is a bind mount of that very
 *   directory (mountinfo root /docker/abc); libcgroup joins mount and path
 *   into /sys/fs/cgroup/memory/docker/abc, which does not exist. The
 *   directory is mount + (path minus root): cgroup_join_dir();
 * - cgroup v2: cgroup_init() and cgroup_get_subsys_mount_point() work
 *   (the memory controller's mount is the cgroup2 one), but
 *   cgroup_get_current_controller_path() only matches "N:controllers:path"
 *   lines naming the controller, never the unified "0::path" line: in the
 *   v2 VM (kernel 6.1) it fails with ECGOTHER, so that line is read here;
 * - cgroup_strerror() must not be called in the musl build: libcgroup.a
 *   expects glibc's strerror_r returning a string, musl's returns int;
 * - the limit (hierarchical, "max", PAGE_COUNTER_MAX) and cgroup
 *   namespaces, which it has no notion of.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libcgroup.h>

#include "cgroup.h"
#include "parse.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The inode of the initial cgroup namespace (PROC_CGROUP_INIT_INO). */
#define CGROUP_INIT_NS_INO 0xEFFFFFFBU

/* v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes, just under
 * 2^63; anything from 2^62 on is no limit. */
#define LIMIT_NONE_FROM (1ULL << 62)

/* memory.stat is under 2 kB, and the keys read come in its first lines:
 * a longer file is cut after a whole line. */
#define STAT_BUF 4096
#define SMALL_BUF 256

/* ---- Pure parsers ---- */

/* The next line of [*p, end) without its newline. Returns 0, 1 at the
 * end, -1 for a last line with no newline (the file was cut short). */
static int
next_line(const char **p, const char *end, const char **line, size_t *linelen)
{
	const char *nl;

	if (*p >= end)
		return 1;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (nl == NULL)
		return -1;
	*line = *p;
	*linelen = (size_t)(nl - *p);
	*p = nl + 1;
	return 0;
}

/* The whole buffer is one line holding one number. */
static int
single_line(const char *buf, size_t len, const char **line, size_t *linelen)
{
	const char *p = buf, *end = buf + len;

	if (next_line(&p, end, line, linelen) != 0 || p != end)
		return 1;
	return 0;
}

int
cgroup_parse_u64(const char *buf, size_t len, uint64_t *v)
{
	const char *line;
	size_t n;

	if (single_line(buf, len, &line, &n) != 0)
		return 1;
	return parse_u64_n(line, n, v);
}

int
cgroup_parse_limit(const char *buf, size_t len, bool *has, uint64_t *bytes)
{
	const char *line;
	uint64_t v;
	size_t n;

	if (single_line(buf, len, &line, &n) != 0)
		return 1;
	if (n == 3 && memcmp(line, "max", 3) == 0) {
		*has = false;
		*bytes = 0;
		return 0;
	}
	if (parse_u64_n(line, n, &v) != 0)
		return 1;
	*has = v < LIMIT_NONE_FROM;
	*bytes = *has ? v : 0;
	return 0;
}

struct key_slot {
	const char *key;
	uint64_t *dst;
	bool required;
	bool found;
};

/* "key value" lines; every line must be well formed, every required key
 * there. Values land in the slots' destinations only on success. */
static int
parse_keyed(const char *buf, size_t len, struct key_slot *slots, size_t nslots)
{
	const char *p = buf, *end = buf + len, *line, *sp;
	uint64_t vals[16];
	size_t n, i;
	int r;

	if (nslots > sizeof(vals) / sizeof(vals[0]))
		return 1;
	for (i = 0; i < nslots; i++)
		slots[i].found = false;
	while ((r = next_line(&p, end, &line, &n)) == 0) {
		uint64_t v;
		size_t klen;

		sp = memchr(line, ' ', n);
		if (sp == NULL || sp == line)
			return 1;
		klen = (size_t)(sp - line);
		if (parse_u64_n(sp + 1, n - klen - 1, &v) != 0)
			return 1;
		for (i = 0; i < nslots; i++) {
			if (strlen(slots[i].key) == klen && memcmp(slots[i].key, line, klen) == 0) {
				vals[i] = v;
				slots[i].found = true;
			}
		}
	}
	if (r < 0)
		return 1;
	for (i = 0; i < nslots; i++)
		if (slots[i].required && !slots[i].found)
			return 1;
	for (i = 0; i < nslots; i++)
		if (slots[i].found)
			*slots[i].dst = vals[i];
	return 0;
}

int
cgroup_parse_memory_stat(const char *buf, size_t len, enum cgroup_version v, struct mem_sample *s)
{
	uint64_t anon = 0, file = 0, inact = 0, act = 0, shmem = 0, hlimit = UINT64_MAX;
	struct key_slot v2[] = {
	    {"anon", &anon, true, false},	    {"file", &file, true, false},
	    {"inactive_file", &inact, true, false}, {"active_file", &act, true, false},
	    {"shmem", &shmem, true, false},
	};
	struct key_slot v1[] = {
	    {"total_rss", &anon, true, false},
	    {"total_cache", &file, true, false},
	    {"total_inactive_file", &inact, true, false},
	    {"total_active_file", &act, true, false},
	    {"total_shmem", &shmem, true, false},
	    {"hierarchical_memory_limit", &hlimit, false, false},
	};

	if (v == CGROUP_V2) {
		if (parse_keyed(buf, len, v2, sizeof(v2) / sizeof(v2[0])) != 0)
			return 1;
	} else if (v == CGROUP_V1) {
		if (parse_keyed(buf, len, v1, sizeof(v1) / sizeof(v1[0])) != 0)
			return 1;
		s->limit = hlimit < LIMIT_NONE_FROM ? hlimit : 0;
	} else {
		return 1;
	}
	s->anon = anon;
	s->file = file;
	s->inactive_file = inact;
	s->active_file = act;
	s->shmem = shmem;
	s->has_stat = true;
	return 0;
}

int
cgroup_parse_memory_events(const char *buf, size_t len, struct mem_sample *s)
{
	uint64_t high = 0, max = 0, oom = 0, kill = 0, group = 0, low = 0;
	struct key_slot slots[] = {
	    {"low", &low, false, false},      {"high", &high, true, false},
	    {"max", &max, true, false},	      {"oom", &oom, true, false},
	    {"oom_kill", &kill, true, false}, {"oom_group_kill", &group, false, false},
	};

	if (parse_keyed(buf, len, slots, sizeof(slots) / sizeof(slots[0])) != 0)
		return 1;
	s->events_high = high;
	s->events_max = max;
	s->events_oom = oom;
	s->events_oom_kill = kill;
	s->events_oom_group_kill = group;
	s->has_events = true;
	s->has_oom_kill = true;
	return 0;
}

int
cgroup_parse_oom_control(const char *buf, size_t len, struct mem_sample *s)
{
	uint64_t disable = 0, under = 0, kill = 0;
	struct key_slot slots[] = {
	    {"oom_kill_disable", &disable, false, false},
	    {"under_oom", &under, true, false},
	    {"oom_kill", &kill, false, false}, /* kernel 4.13 and later */
	};

	if (parse_keyed(buf, len, slots, sizeof(slots) / sizeof(slots[0])) != 0)
		return 1;
	s->under_oom = under != 0;
	s->has_oom_kill = slots[2].found;
	s->events_oom_kill = kill;
	return 0;
}

/* "12.34" as the kernel prints PSI averages (LOAD_INT.LOAD_FRAC). */
static int
span_decimal(const char *s, size_t n, double *v)
{
	const char *dot = memchr(s, '.', n);
	uint64_t ip, fp = 0;
	size_t flen = 0;
	double scale = 1;

	if (dot == NULL)
		return parse_u64_n(s, n, &ip) != 0 ? 1 : (*v = (double)ip, 0);
	flen = n - (size_t)(dot - s) - 1;
	if (parse_u64_n(s, (size_t)(dot - s), &ip) != 0 || parse_u64_n(dot + 1, flen, &fp) != 0)
		return 1;
	while (flen-- > 0)
		scale *= 10;
	*v = (double)ip + (double)fp / scale;
	return 0;
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=89200" after the kind. */
static int
psi_line(const char *line, size_t n, double *avg10, uint64_t *total)
{
	const char *p = line, *end = line + n;
	bool got_avg = false, got_total = false;

	for (;;) {
		const char *tok = p, *sp = memchr(p, ' ', (size_t)(end - p)), *eq;
		size_t tlen;

		if (sp == NULL)
			sp = end;
		tlen = (size_t)(sp - tok);
		eq = memchr(tok, '=', tlen);
		if (eq == NULL)
			return 1; /* also an empty field: two spaces, one at the end */
		if (eq - tok == 5 && memcmp(tok, "avg10", 5) == 0) {
			if (span_decimal(eq + 1, (size_t)(sp - eq - 1), avg10) != 0)
				return 1;
			got_avg = true;
		} else if (eq - tok == 5 && memcmp(tok, "total", 5) == 0) {
			if (parse_u64_n(eq + 1, (size_t)(sp - eq - 1), total) != 0)
				return 1;
			got_total = true;
		}
		if (sp == end)
			break;
		p = sp + 1;
	}
	return got_avg && got_total ? 0 : 1;
}

int
cgroup_parse_pressure(const char *buf, size_t len, struct mem_sample *s)
{
	const char *p = buf, *end = buf + len, *line;
	double some_avg = 0, full_avg = 0;
	uint64_t some_total = 0, full_total = 0;
	bool some = false;
	size_t n;
	int r;

	while ((r = next_line(&p, end, &line, &n)) == 0) {
		if (n > 5 && memcmp(line, "some ", 5) == 0) {
			if (psi_line(line + 5, n - 5, &some_avg, &some_total) != 0)
				return 1;
			some = true;
		} else if (n > 5 && memcmp(line, "full ", 5) == 0) {
			if (psi_line(line + 5, n - 5, &full_avg, &full_total) != 0)
				return 1;
		} else {
			return 1;
		}
	}
	if (r < 0 || !some)
		return 1;
	s->psi_some_avg10 = some_avg;
	s->psi_full_avg10 = full_avg;
	s->psi_some_total = some_total;
	s->psi_full_total = full_total;
	s->has_psi = true;
	return 0;
}

/* Copies n bytes and a NUL into out; 1 if it does not fit. */
static int
copy_span(char *out, size_t outlen, const char *s, size_t n)
{
	if (n >= outlen)
		return 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* True when the comma-separated list [s, s+n) has the word w. */
static bool
list_has(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);
	const char *end = s + n;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t tl = comma ? (size_t)(comma - s) : (size_t)(end - s);

		if (tl == wl && memcmp(s, w, wl) == 0)
			return true;
		s += tl + 1;
	}
	return false;
}

int
cgroup_parse_proc_cgroup(const char *buf, size_t len, struct cgroup_paths *out)
{
	const char *p = buf, *end = buf + len, *line;
	struct cgroup_paths res;
	size_t n;
	int r;

	memset(&res, 0, sizeof(res));
	while ((r = next_line(&p, end, &line, &n)) == 0) {
		const char *c1 = memchr(line, ':', n), *c2, *path;
		uint64_t id;
		size_t plen;

		if (c1 == NULL || parse_u64_n(line, (size_t)(c1 - line), &id) != 0)
			return 1;
		c2 = memchr(c1 + 1, ':', (size_t)(line + n - c1 - 1));
		if (c2 == NULL)
			return 1;
		path = c2 + 1;
		plen = (size_t)(line + n - path);
		if (plen == 0 || path[0] != '/')
			return 1;
		if (id == 0 && c2 == c1 + 1) {
			if (copy_span(res.v2, sizeof(res.v2), path, plen) != 0)
				return 1;
			res.has_v2 = true;
		} else if (list_has(c1 + 1, (size_t)(c2 - c1 - 1), "memory")) {
			if (copy_span(res.v1, sizeof(res.v1), path, plen) != 0)
				return 1;
			res.has_v1 = true;
		}
	}
	if (r < 0 || (!res.has_v1 && !res.has_v2))
		return 1;
	*out = res;
	return 0;
}

/* A mountinfo path field, with the kernel's octal escapes (\040 for a
 * space, \011, \012, \134) undone. */
static int
unescape_field(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= outlen)
			return 1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int
cgroup_parse_mountinfo_line(const char *line, size_t len, struct cgroup_mount *out)
{
	/* id parent maj:min root point options [optional...] - fstype source super */
	const char *f[32], *p = line, *end = line + len;
	size_t fl[32], nf = 0, dash = 0, i;
	struct cgroup_mount m;

	while (p < end) {
		const char *sp;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		sp = memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL)
			sp = end;
		if (nf == sizeof(f) / sizeof(f[0]))
			return 1;
		f[nf] = p;
		fl[nf] = (size_t)(sp - p);
		if (dash == 0 && nf >= 6 && fl[nf] == 1 && *p == '-')
			dash = nf;
		nf++;
		p = sp;
	}
	if (dash == 0 || nf < dash + 4)
		return 1;
	memset(&m, 0, sizeof(m));
	if (unescape_field(f[3], fl[3], m.root, sizeof(m.root)) != 0 ||
	    unescape_field(f[4], fl[4], m.point, sizeof(m.point)) != 0)
		return 1;
	if (fl[dash + 1] == 7 && memcmp(f[dash + 1], "cgroup2", 7) == 0)
		m.version = CGROUP_V2;
	else if (fl[dash + 1] == 6 && memcmp(f[dash + 1], "cgroup", 6) == 0)
		m.version = CGROUP_V1;
	m.memory = m.version == CGROUP_V1 && list_has(f[dash + 3], fl[dash + 3], "memory");
	m.read_only = list_has(f[5], fl[5], "ro") || list_has(f[dash + 3], fl[dash + 3], "ro");
	for (i = 0; i < 3; i++)
		if (fl[i] == 0)
			return 1;
	*out = m;
	return 0;
}

/* True when path has a ".." component (a cgroup outside the namespace's
 * root shows as "/../x"): it must not be joined under a mount. */
static bool
has_dotdot(const char *path)
{
	const char *p = path;

	while ((p = strstr(p, "..")) != NULL) {
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
		p += 2;
	}
	return false;
}

int
cgroup_join_dir(const char *mount, const char *root, const char *path, char *out, size_t len)
{
	const char *rel;
	size_t rl = strlen(root);
	int n;

	if (path[0] != '/' || root[0] != '/' || has_dotdot(path))
		return 1;
	if (strcmp(root, "/") == 0) {
		rel = path;
	} else {
		if (root[rl - 1] == '/')
			rl--;
		if (strncmp(path, root, rl) != 0 || (path[rl] != '\0' && path[rl] != '/'))
			return 1;
		rel = path + rl;
	}
	if (strcmp(rel, "/") == 0)
		rel = "";
	n = snprintf(out, len, "%s%s", mount, rel);
	return n < 0 || (size_t)n >= len ? 1 : 0;
}

/* ---- File helpers ---- */

static int
read_path(const char *path, char *buf, size_t size, size_t *len)
{
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* A buffer filled to the brim may end in a cut line: the length up to
 * its last complete line. */
static size_t
whole_lines(const char *buf, size_t len, size_t size)
{
	if (len == size)
		while (len > 0 && buf[len - 1] != '\n')
			len--;
	return len;
}

/* One pread from offset 0: cgroup files are generated whole on each
 * read from the start. A buffer filled to the brim is cut after its last
 * complete line, so the parsers see whole lines only. */
static int
pread_whole(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t n;

	if (fd < 0)
		return 1;
	do
		n = pread(fd, buf, size, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 1;
	*len = whole_lines(buf, (size_t)n, size);
	return 0;
}

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---- libcgroup, in a child ---- */

struct lcg_answer {
	int init_rc, path_rc, mount_rc;
	char path[CGROUP_PATH_MAX];
	char mount[CGROUP_PATH_MAX];
};

static void
lcg_child(int wfd)
{
	struct lcg_answer a;
	char *path = NULL, *mount = NULL;
	const char *p = (const char *)&a;
	size_t left = sizeof(a);
	ssize_t n;

	memset(&a, 0, sizeof(a));
	a.init_rc = cgroup_init();
	if (a.init_rc == 0) {
		a.path_rc = cgroup_get_current_controller_path(getpid(), "memory", &path);
		if (a.path_rc == 0 && path != NULL)
			snprintf(a.path, sizeof(a.path), "%s", path);
		a.mount_rc = cgroup_get_subsys_mount_point("memory", &mount);
		if (a.mount_rc == 0 && mount != NULL)
			snprintf(a.mount, sizeof(a.mount), "%s", mount);
	}
	while (left > 0) {
		n = write(wfd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		p += n;
		left -= (size_t)n;
	}
	_exit(0);
}

/* Runs libcgroup's discovery in a child that answers through a pipe, so
 * that its tables never live in memwarden. Returns 0 when libcgroup found
 * the memory mount point; a->path is "" when it could not name
 * memwarden's cgroup (always so on cgroup v2 with libcgroup 2.0.2). */
static int
lcg_ask(struct lcg_answer *a)
{
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	memset(a, 0, sizeof(*a));
	if (pipe2(p, O_CLOEXEC) != 0)
		return 1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		lcg_child(p[1]);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (got < sizeof(*a)) {
		/* libcgroup only reads /proc: 2 s is ample, and PID 1 must
		 * not hang on it. */
		if (poll(&pfd, 1, 2000) <= 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n = read(p[0], (char *)a + got, sizeof(*a) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	if (got < sizeof(*a))
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got < sizeof(*a) || a->init_rc != 0) {
		memset(a, 0, sizeof(*a));
		return 1;
	}
	a->path[sizeof(a->path) - 1] = '\0';
	a->mount[sizeof(a->mount) - 1] = '\0';
	if (a->mount_rc != 0 || a->mount[0] != '/')
		a->mount[0] = '\0';
	if (a->path_rc != 0 || a->path[0] != '/')
		a->path[0] = '\0';
	return a->mount[0] != '\0' ? 0 : 1;
}

/* ---- Discovery ---- */

/* Calls fn for every line of a file of any length, from a stack buffer
 * (no heap: memwarden's resident size stays flat). Longer lines than the
 * buffer are skipped. */
static int
each_line(const char *path, void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
	char buf[4096];
	size_t have = 0;
	bool skipping = false;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	for (;;) {
		char *p = buf, *nl;

		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			if (!skipping)
				fn(ctx, p, (size_t)(nl - p));
			skipping = false;
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == sizeof(buf)) {
			have = 0;
			skipping = true;
		}
	}
	close(fd);
	return 0;
}

struct mount_pick {
	const char *v1_path, *v2_path, *lcg_mount;
	struct cgroup_mount v1, v2;
	int v1_score, v2_score; /* 0: none seen */
	bool any_v2;
};

static bool
root_covers(const char *root, const char *path)
{
	size_t rl = strlen(root);

	if (strcmp(root, "/") == 0)
		return true;
	if (rl > 0 && root[rl - 1] == '/')
		rl--;
	return strncmp(path, root, rl) == 0 && (path[rl] == '\0' || path[rl] == '/');
}

/* Among several mounts of a hierarchy, the one that shows our cgroup,
 * then the one libcgroup named, then the usual place. */
static int
mount_score(const struct cgroup_mount *m, const char *path, const char *lcg_mount)
{
	int score = 1;

	if (path != NULL && root_covers(m->root, path))
		score += 4;
	if (lcg_mount != NULL && strcmp(m->point, lcg_mount) == 0)
		score += 2;
	if (strncmp(m->point, "/sys/fs/cgroup", 14) == 0)
		score += 1;
	return score;
}

static void
pick_line(void *ctx, const char *line, size_t len)
{
	struct mount_pick *pk = ctx;
	struct cgroup_mount m;
	int s;

	if (cgroup_parse_mountinfo_line(line, len, &m) != 0)
		return;
	/* A later mount on the same point hides the earlier one (a
	 * container's bind mount over the host's): it replaces it. */
	if (m.version == CGROUP_V1 && m.memory) {
		s = mount_score(&m, pk->v1_path, pk->lcg_mount);
		if (s > pk->v1_score || strcmp(m.point, pk->v1.point) == 0) {
			pk->v1 = m;
			pk->v1_score = s;
		}
	} else if (m.version == CGROUP_V2) {
		pk->any_v2 = true;
		s = mount_score(&m, pk->v2_path, pk->lcg_mount);
		if (s > pk->v2_score || strcmp(m.point, pk->v2.point) == 0) {
			pk->v2 = m;
			pk->v2_score = s;
		}
	}
}

static bool
exists_in(const char *dir, const char *file)
{
	char path[CGROUP_DIR_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* The limit set on one directory: v2 memory.max; v1 the smaller of
 * memory.limit_in_bytes and memory.stat's hierarchical_memory_limit
 * (which already includes every ancestor, even those not visible). */
static int
dir_limit(enum cgroup_version v, const char *dir, bool *has, uint64_t *limit)
{
	/* 4 kB: memory.stat is under 1 kB on v1, and a smaller stack than a
	 * sample's keeps discovery from adding resident pages of its own. */
	char path[CGROUP_DIR_MAX + 64], buf[4096];
	struct mem_sample s;
	size_t len;

	*has = false;
	snprintf(path, sizeof(path), "%s/%s", dir,
		 v == CGROUP_V2 ? "memory.max" : "memory.limit_in_bytes");
	if (read_path(path, buf, sizeof(buf), &len) != 0 ||
	    cgroup_parse_limit(buf, len, has, limit) != 0)
		return 1;
	if (v == CGROUP_V1) {
		memset(&s, 0, sizeof(s));
		snprintf(path, sizeof(path), "%s/memory.stat", dir);
		if (read_path(path, buf, sizeof(buf), &len) == 0 &&
		    cgroup_parse_memory_stat(buf, whole_lines(buf, len, sizeof(buf)), v, &s) == 0 &&
		    s.limit != 0 && (!*has || s.limit < *limit)) {
			*has = true;
			*limit = s.limit;
		}
	}
	return 0;
}

/* The smallest limit on the cgroup and its ancestors up to the mount
 * point: a container may sit in a child of the cgroup that has the limit
 * (v2 "leaf" cgroups, systemd's init.scope). Ancestors above the mount
 * are not visible; a v1 hierarchical limit covers them anyway. */
static void
find_limit(struct cgroup_info *info)
{
	char d[CGROUP_DIR_MAX], buf[SMALL_BUF], path[CGROUP_DIR_MAX + 64];
	size_t ml = strlen(info->mount), len;
	uint64_t limit;
	bool has;

	snprintf(d, sizeof(d), "%s", info->dir);
	for (;;) {
		char *slash;

		if (dir_limit(info->version, d, &has, &limit) == 0 && has &&
		    (!info->has_limit || limit < info->limit)) {
			info->has_limit = true;
			info->limit = limit;
			snprintf(info->limit_dir, sizeof(info->limit_dir), "%s", d);
		}
		slash = strrchr(d, '/');
		if (strlen(d) <= ml || slash == NULL || slash - d < (ptrdiff_t)ml)
			break;
		*slash = '\0';
	}
	if (info->version == CGROUP_V2) {
		snprintf(path, sizeof(path), "%s/memory.high", info->dir);
		if (read_path(path, buf, sizeof(buf), &len) == 0 &&
		    cgroup_parse_limit(buf, len, &has, &limit) == 0 && has) {
			info->has_high = true;
			info->high = limit;
		}
	}
}

static bool
in_cgroup_namespace(void)
{
	struct stat st;

	/* Every cgroup namespace but the host's has another inode. */
	return stat("/proc/self/ns/cgroup", &st) == 0 && st.st_ino != CGROUP_INIT_NS_INO;
}

/* The memory.pressure of our cgroup2 directory: on v2 beside the other
 * files; on a hybrid host the cgroup2 mount has PSI per cgroup even
 * without the memory controller. /proc/pressure/memory is not used: it
 * measures the whole machine, not the container against its limit; it
 * would cost a pread per sample for a figure that says nothing here. */
static void
find_pressure(struct cgroup_info *info, const struct mount_pick *pk,
	      const struct cgroup_paths *paths)
{
	char d[CGROUP_DIR_MAX];

	if (info->version == CGROUP_V2) {
		snprintf(d, sizeof(d), "%s", info->dir);
	} else {
		if (!paths->has_v2 || pk->v2_score == 0 ||
		    cgroup_join_dir(pk->v2.point, pk->v2.root, paths->v2, d, sizeof(d)) != 0)
			return;
	}
	/* The root cgroup has memory.pressure too (kernel 6.x): the whole
	 * machine's, like /proc/pressure/memory. cgroup.events is on every
	 * cgroup but the root. */
	if (exists_in(d, "memory.pressure") && exists_in(d, "cgroup.events") &&
	    (size_t)snprintf(info->pressure, sizeof(info->pressure), "%s/memory.pressure", d) >=
		sizeof(info->pressure))
		info->pressure[0] = '\0';
}

/* Uses libcgroup's answer where it names a mount of the hierarchy that
 * mountinfo shows (for its root and flags), and the path it read. */
static void
take_libcgroup(struct cgroup_info *info, const struct lcg_answer *a,
	       const struct cgroup_mount *chosen)
{
	if (a->path[0] == '\0' || strcmp(a->mount, chosen->point) != 0 ||
	    !root_covers(chosen->root, a->path))
		return;
	snprintf(info->path, sizeof(info->path), "%s", a->path);
	info->via_libcgroup = true;
}

/* Its own function, so that the buffer's stack is reused later. */
static int
read_own_paths(struct cgroup_paths *paths)
{
	char buf[4096];
	size_t len;

	if (read_path("/proc/self/cgroup", buf, sizeof(buf), &len) != 0)
		return 1;
	return cgroup_parse_proc_cgroup(buf, whole_lines(buf, len, sizeof(buf)), paths);
}

int
cgroup_discover(struct cgroup_info *info, char *why, size_t whylen)
{
	struct cgroup_paths paths;
	struct mount_pick pk;
	struct lcg_answer a;
	const struct cgroup_mount *m;
	struct statfs sfs;
	bool lcg_ok;

	memset(info, 0, sizeof(*info));
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (read_own_paths(&paths) != 0) {
		set_why(why, whylen, "cannot read /proc/self/cgroup");
		return 1;
	}
	lcg_ok = lcg_ask(&a) == 0;

	memset(&pk, 0, sizeof(pk));
	pk.v1_path = paths.has_v1 ? paths.v1 : NULL;
	pk.v2_path = paths.has_v2 ? paths.v2 : NULL;
	pk.lcg_mount = lcg_ok ? a.mount : NULL;
	if (each_line("/proc/self/mountinfo", pick_line, &pk) != 0) {
		set_why(why, whylen, "cannot read /proc/self/mountinfo");
		return 1;
	}

	/* The memory controller is in one hierarchy only: v1 when a v1
	 * hierarchy has it (hybrid when cgroup2 is mounted beside it),
	 * else the unified one. */
	if (pk.v1_score > 0 && paths.has_v1) {
		info->version = CGROUP_V1;
		info->hybrid = pk.any_v2;
		m = &pk.v1;
		snprintf(info->path, sizeof(info->path), "%s", paths.v1);
	} else if (pk.v2_score > 0 && paths.has_v2) {
		info->version = CGROUP_V2;
		m = &pk.v2;
		snprintf(info->path, sizeof(info->path), "%s", paths.v2);
	} else {
		set_why(why, whylen, "no memory cgroup mounted");
		return 1;
	}
	if (lcg_ok)
		take_libcgroup(info, &a, m);
	snprintf(info->mount, sizeof(info->mount), "%s", m->point);
	snprintf(info->root, sizeof(info->root), "%s", m->root);
	info->read_only = m->read_only;

	if (cgroup_join_dir(info->mount, info->root, info->path, info->dir, sizeof(info->dir)) !=
	    0) {
		set_why(why, whylen, "own memory cgroup %s is not visible under %s", info->path,
			info->mount);
		return 1;
	}
	if (statfs(info->dir, &sfs) != 0) {
		set_why(why, whylen, "%s: %s", info->dir, strerror(errno));
		return 1;
	}
	if (sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC) {
		set_why(why, whylen, "%s is not a cgroup directory", info->dir);
		return 1;
	}
	if (!exists_in(info->dir,
		       info->version == CGROUP_V2 ? "memory.current" : "memory.usage_in_bytes")) {
		/* v2's root cgroup has no memory files (and no limit). */
		if (strcmp(info->path, "/") == 0 && strcmp(info->root, "/") == 0)
			set_why(why, whylen, "in the root cgroup of %s: no memory limit",
				info->mount);
		else
			set_why(why, whylen, "memory controller not enabled for %s", info->dir);
		return 1;
	}
	info->namespaced = in_cgroup_namespace();
	info->writable = !info->read_only && access(info->dir, W_OK) == 0;
	find_limit(info);
	find_pressure(info, &pk, &paths);
	if (!info->has_limit)
		set_why(why, whylen, "no memory limit on %s or the ancestors visible", info->dir);
	return 0;
}

/* ---- Sampling ---- */

static int
open_in(const char *dir, const char *file)
{
	char path[CGROUP_DIR_MAX + 64];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int
open_in_w(const char *dir, const char *file)
{
	char path[CGROUP_DIR_MAX + 64];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -1;
	return open(path, O_WRONLY | O_CLOEXEC);
}

int
cgroup_reader_open(struct cgroup_reader *r, const struct cgroup_info *info)
{
	bool v2 = info->version == CGROUP_V2;
	const char *limit_dir = info->limit_dir[0] ? info->limit_dir : info->dir;
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < CGF_NFILES; i++)
		r->fd[i] = -1;
	if (info->version == CGROUP_NONE)
		return 1;
	r->version = info->version;
	r->writable = info->writable;
	snprintf(r->dir, sizeof(r->dir), "%s", info->dir);
	snprintf(r->pressure, sizeof(r->pressure), "%s", info->pressure);
	r->fd[CGF_CURRENT] = open_in(info->dir, v2 ? "memory.current" : "memory.usage_in_bytes");
	r->fd[CGF_STAT] = open_in(info->dir, "memory.stat");
	r->fd[CGF_EVENTS] = open_in(info->dir, v2 ? "memory.events" : "memory.oom_control");
	r->fd[CGF_PEAK] = open_in(info->dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes");
	if (v2) {
		/* v1's limit comes with memory.stat (hierarchical_memory_limit):
		 * one file fewer to read. */
		r->fd[CGF_MAX] = open_in(limit_dir, "memory.max");
		r->fd[CGF_HIGH] = open_in(info->dir, "memory.high");
	} else {
		r->fd[CGF_FAILCNT] = open_in(info->dir, "memory.failcnt");
	}
	if (info->pressure[0] != '\0')
		r->fd[CGF_PRESSURE] = open(info->pressure, O_RDONLY | O_CLOEXEC);
	if (r->fd[CGF_CURRENT] < 0 || r->fd[CGF_STAT] < 0) {
		cgroup_reader_close(r);
		return 1;
	}
	return 0;
}

void
cgroup_reader_close(struct cgroup_reader *r)
{
	size_t i;

	for (i = 0; i < CGF_NFILES; i++) {
		if (r->fd[i] >= 0)
			close(r->fd[i]);
		r->fd[i] = -1;
	}
}

static void
sample_limit(int fd, uint64_t *out)
{
	char buf[SMALL_BUF];
	uint64_t v;
	size_t len;
	bool has;

	if (pread_whole(fd, buf, sizeof(buf), &len) == 0 &&
	    cgroup_parse_limit(buf, len, &has, &v) == 0 && has)
		*out = v;
}

int
cgroup_read_sample(struct cgroup_reader *r, struct mem_sample *s)
{
	char buf[STAT_BUF];
	struct timespec ts;
	size_t len;
	uint64_t v;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (pread_whole(r->fd[CGF_CURRENT], buf, SMALL_BUF, &len) != 0 ||
	    cgroup_parse_u64(buf, len, &s->current) != 0)
		rc = 1;
	if (pread_whole(r->fd[CGF_STAT], buf, sizeof(buf), &len) == 0)
		(void)cgroup_parse_memory_stat(buf, len, r->version, s);
	if (r->version == CGROUP_V2) {
		sample_limit(r->fd[CGF_MAX], &s->limit);
		sample_limit(r->fd[CGF_HIGH], &s->high);
		if (pread_whole(r->fd[CGF_EVENTS], buf, sizeof(buf), &len) == 0)
			(void)cgroup_parse_memory_events(buf, len, s);
	} else {
		if (pread_whole(r->fd[CGF_EVENTS], buf, SMALL_BUF, &len) == 0)
			(void)cgroup_parse_oom_control(buf, len, s);
		if (pread_whole(r->fd[CGF_FAILCNT], buf, SMALL_BUF, &len) == 0 &&
		    cgroup_parse_u64(buf, len, &v) == 0)
			s->events_max = v;
	}
	if (pread_whole(r->fd[CGF_PEAK], buf, SMALL_BUF, &len) == 0 &&
	    cgroup_parse_u64(buf, len, &s->peak) == 0)
		s->has_peak = true;
	if (pread_whole(r->fd[CGF_PRESSURE], buf, SMALL_BUF, &len) == 0)
		(void)cgroup_parse_pressure(buf, len, s);
	return rc;
}

/* ---- Notifications ---- */

static void
why_add(struct cgroup_watch *w, const char *what, const char *file, int err)
{
	size_t used = strlen(w->why);

	snprintf(w->why + used, sizeof(w->why) - used, "%s%s: %s: %s", used ? "; " : "", what, file,
		 strerror(err));
}

static void
watch_add(struct cgroup_watch *w, int fd, uint32_t events, unsigned kind)
{
	w->fds[w->nfds].fd = fd;
	w->fds[w->nfds].events = events;
	w->fds[w->nfds].kind = kind;
	w->nfds++;
	w->armed |= kind;
}

/* v2: memory.events is a kernfs file that raises EPOLLPRI whenever
 * the kernel changes it, until it is read again. Reading needs no
 * write access: it works on the read-only mount of a container. */
static void
arm_events(struct cgroup_watch *w)
{
	char buf[SMALL_BUF];
	int fd;

	fd = open_in(w->dir, "memory.events");
	if (fd < 0) {
		why_add(w, "memory.events", "open", errno);
		return;
	}
	/* A fresh open file counts as unread: read once so that only
	 * later changes wake. */
	if (pread(fd, buf, sizeof(buf), 0) < 0) {
		why_add(w, "memory.events", "read", errno);
		close(fd);
		return;
	}
	watch_add(w, fd, EPOLLPRI, CGROUP_WATCH_EVENTS);
}

/* A PSI trigger: the kernel wakes the fd with EPOLLPRI when "some"
 * stall passes the threshold within the window. Writing needs the file
 * open for writing (not on a read-only mount) and, without
 * CAP_SYS_RESOURCE, a window that is a multiple of 2 s (else EINVAL). */
static void
arm_psi(struct cgroup_watch *w, const char *pressure)
{
	ssize_t n;
	int fd;

	fd = open(pressure, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		why_add(w, "psi", pressure, errno);
		return;
	}
	n = write(fd, CGROUP_PSI_TRIGGER, strlen(CGROUP_PSI_TRIGGER) + 1);
	if (n < 0) {
		why_add(w, "psi", pressure, errno);
		close(fd);
		return;
	}
	watch_add(w, fd, EPOLLPRI, CGROUP_WATCH_PSI);
}

/* v1: an eventfd registered through cgroup.event_control on the given
 * file (with an argument: a usage threshold). Needs the cgroup directory
 * writable. Returns the eventfd, or -1 with errno set and *failed naming
 * the file. The registration lasts until the eventfd is closed. */
static int
v1_register(const char *dir, const char *file, uint64_t arg, bool with_arg, const char **failed)
{
	char line[96];
	int efd, ffd = -1, cfd = -1, saved, n;

	*failed = "eventfd";
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -1;
	*failed = file;
	ffd = open_in(dir, file);
	if (ffd < 0)
		goto fail;
	*failed = "cgroup.event_control";
	cfd = open_in_w(dir, "cgroup.event_control");
	if (cfd < 0)
		goto fail;
	if (with_arg)
		n = snprintf(line, sizeof(line), "%d %d %llu", efd, ffd, (unsigned long long)arg);
	else
		n = snprintf(line, sizeof(line), "%d %d", efd, ffd);
	if (write(cfd, line, (size_t)n) != n)
		goto fail;
	/* The kernel holds the cgroup, not these files. */
	close(cfd);
	close(ffd);
	return efd;
fail:
	saved = errno;
	if (cfd >= 0)
		close(cfd);
	if (ffd >= 0)
		close(ffd);
	close(efd);
	errno = saved;
	return -1;
}

static void
arm_v1(struct cgroup_watch *w, const char *file, uint64_t arg, bool with_arg, unsigned kind)
{
	const char *failed;
	int efd = v1_register(w->dir, file, arg, with_arg, &failed);

	if (efd < 0) {
		why_add(w, kind == CGROUP_WATCH_OOM ? "oom" : "threshold", failed, errno);
		return;
	}
	watch_add(w, efd, EPOLLIN, kind);
	if (kind == CGROUP_WATCH_THRESHOLD)
		w->threshold = arg;
}

int
cgroup_watch_open(const struct cgroup_reader *r, uint64_t threshold_bytes, struct cgroup_watch *w)
{
	size_t i;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < CGROUP_WATCH_MAX; i++)
		w->fds[i].fd = -1;
	w->version = r->version;
	snprintf(w->dir, sizeof(w->dir), "%s", r->dir);
	if (r->version == CGROUP_V2)
		arm_events(w);
	if (r->pressure[0] != '\0')
		arm_psi(w, r->pressure);
	else
		snprintf(w->why + strlen(w->why), sizeof(w->why) - strlen(w->why),
			 "%spsi: no memory.pressure for this cgroup", w->why[0] ? "; " : "");
	if (r->version == CGROUP_V1) {
		if (threshold_bytes > 0)
			arm_v1(w, "memory.usage_in_bytes", threshold_bytes, true,
			       CGROUP_WATCH_THRESHOLD);
		arm_v1(w, "memory.oom_control", 0, false, CGROUP_WATCH_OOM);
	}
	return w->armed != 0 ? 0 : 1;
}

unsigned
cgroup_watch_ack(struct cgroup_watch *w, int fd)
{
	char buf[SMALL_BUF];
	uint64_t count;
	size_t i;

	for (i = 0; i < w->nfds; i++) {
		if (w->fds[i].fd != fd)
			continue;
		switch (w->fds[i].kind) {
		case CGROUP_WATCH_EVENTS:
			/* Reading the file is what clears EPOLLPRI. */
			(void)pread(fd, buf, sizeof(buf), 0);
			break;
		case CGROUP_WATCH_THRESHOLD:
		case CGROUP_WATCH_OOM:
			/* The eventfd counts notifications; reading resets it. */
			(void)read(fd, &count, sizeof(count));
			break;
		default:
			/* PSI: the poll that reported the event consumed it. */
			break;
		}
		return w->fds[i].kind;
	}
	return 0;
}

static ssize_t
watch_slot(const struct cgroup_watch *w, unsigned kind)
{
	size_t i;

	for (i = 0; i < w->nfds; i++)
		if (w->fds[i].kind == kind)
			return (ssize_t)i;
	return -1;
}

static void
watch_remove(struct cgroup_watch *w, size_t i)
{
	w->armed &= ~w->fds[i].kind;
	close(w->fds[i].fd);
	w->fds[i] = w->fds[w->nfds - 1];
	w->fds[w->nfds - 1].fd = -1;
	w->nfds--;
}

int
cgroup_watch_set_threshold(struct cgroup_watch *w, uint64_t threshold_bytes, int *newfd)
{
	ssize_t slot = watch_slot(w, CGROUP_WATCH_THRESHOLD);
	const char *failed;
	int efd;

	*newfd = -1;
	if (w->version != CGROUP_V1)
		return 1;
	if (threshold_bytes == 0) {
		if (slot >= 0)
			watch_remove(w, (size_t)slot);
		w->threshold = 0;
		return 0;
	}
	/* The new registration first, so that no crossing is missed in
	 * between; closing the old eventfd unregisters it. */
	efd = v1_register(w->dir, "memory.usage_in_bytes", threshold_bytes, true, &failed);
	if (efd < 0)
		return 1;
	if (slot >= 0) {
		close(w->fds[slot].fd);
		w->fds[slot].fd = efd;
	} else if (w->nfds < CGROUP_WATCH_MAX) {
		watch_add(w, efd, EPOLLIN, CGROUP_WATCH_THRESHOLD);
	} else {
		close(efd);
		return 1;
	}
	w->threshold = threshold_bytes;
	*newfd = efd;
	return 0;
}

void
cgroup_watch_names(unsigned armed, char *buf, size_t len)
{
	static const struct {
		unsigned kind;
		const char *name;
	} names[] = {
	    {CGROUP_WATCH_EVENTS, "memory.events"},
	    {CGROUP_WATCH_PSI, "psi"},
	    {CGROUP_WATCH_THRESHOLD, "threshold"},
	    {CGROUP_WATCH_OOM, "oom"},
	};
	size_t i, used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((armed & names[i].kind) == 0 || used >= len)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
					 names[i].name);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

void
cgroup_watch_close(struct cgroup_watch *w)
{
	while (w->nfds > 0)
		watch_remove(w, w->nfds - 1);
	w->armed = 0;
	w->threshold = 0;
}
