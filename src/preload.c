#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent_proto.h"
#include "cgroup.h"
#include "log.h"
#include "preload.h"
#include "safepath.h"

#define JEMALLOC_SONAME "libjemalloc.so.2"

/* ------------------------------------------------------------ LD_PRELOAD */

static const char *
base_name(const char *p, size_t len, size_t *blen)
{
	const char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] == '/')
			b = p + i + 1;
	*blen = len - (size_t)(b - p);
	return b;
}

static bool
is_jemalloc(const char *entry, size_t len)
{
	size_t blen;
	const char *b = base_name(entry, len, &blen);

	return blen >= 14 && memcmp(b, "libjemalloc.so", 14) == 0;
}

static bool
is_sep(char c)
{
	return c == ' ' || c == ':' || c == '\t';
}

static bool
is_agent(const char *entry, size_t len)
{
	size_t blen;
	const char *b = base_name(entry, len, &blen);

	return blen == strlen(AGENT_SONAME) && memcmp(b, AGENT_SONAME, blen) == 0;
}

/* True when an entry of ld_preload satisfies is. */
static bool
has_entry(const char *ld_preload, bool (*is)(const char *, size_t))
{
	const char *p = ld_preload;

	while (p && *p) {
		size_t len = 0;

		while (*p && is_sep(*p))
			p++;
		while (p[len] && !is_sep(p[len]))
			len++;
		if (len > 0 && is(p, len))
			return true;
		p += len;
	}
	return false;
}

bool
preload_has_jemalloc(const char *ld_preload)
{
	return has_entry(ld_preload, is_jemalloc);
}

bool
preload_has_agent(const char *ld_preload)
{
	return has_entry(ld_preload, is_agent);
}

/* True when out (entries separated by ':') already holds entry. */
static bool
list_contains(const char *out, const char *entry, size_t len)
{
	const char *p = out;

	while (*p) {
		const char *c = strchr(p, ':');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == len && memcmp(p, entry, len) == 0)
			return true;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return false;
}

static void
list_append(char *out, const char *entry, size_t len)
{
	size_t n = strlen(out);

	if (len == 0 || list_contains(out, entry, len))
		return;
	if (n > 0)
		out[n++] = ':';
	memcpy(out + n, entry, len);
	out[n + len] = '\0';
}

char *
preload_compose_ld_preload(const char *existing, const char *lib)
{
	size_t cap = (existing ? strlen(existing) : 0) + (lib ? strlen(lib) : 0) + 2;
	const char *p = existing;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	/* One copy of a library, whatever its path: a second jemalloc would
	 * not be used, a second agent would only see the first's handler. */
	if (lib && !(is_jemalloc(lib, strlen(lib)) && preload_has_jemalloc(existing)) &&
	    !(is_agent(lib, strlen(lib)) && preload_has_agent(existing)))
		list_append(out, lib, strlen(lib));
	while (p && *p) {
		size_t len = 0;

		while (*p && is_sep(*p))
			p++;
		while (p[len] && !is_sep(p[len]))
			len++;
		list_append(out, p, len);
		p += len;
	}
	return out;
}

char *
preload_compose_libs(const char *existing, const char *jemalloc, const char *agent)
{
	char *with_agent = preload_compose_ld_preload(existing, agent), *out;

	if (with_agent == NULL)
		return NULL;
	out = preload_compose_ld_preload(with_agent, jemalloc);
	free(with_agent);
	return out;
}

/* ----------------------------------------------------- MALLOC_CONF, tunables */

int
preload_malloc_conf(const char *env_value, const char *config_conf, bool override, unsigned narenas,
		    char *out, size_t outlen)
{
	int n;

	if (config_conf == NULL || config_conf[0] == '\0')
		return 0;
	if (env_value != NULL && !override)
		return 0;
	if (narenas > 0 && strstr(config_conf, "narenas") == NULL)
		n = snprintf(out, outlen, "%s,narenas:%u", config_conf, narenas);
	else
		n = snprintf(out, outlen, "%s", config_conf);
	return n < 0 || (size_t)n >= outlen ? -1 : 1;
}

int
preload_glibc_tunables(const char *existing, unsigned arena_max, char *out, size_t outlen)
{
	int n;

	if (arena_max == 0 || (existing && strstr(existing, "glibc.malloc.arena_max=") != NULL))
		return 0;
	if (existing && existing[0] != '\0')
		n = snprintf(out, outlen, "%s:glibc.malloc.arena_max=%u", existing, arena_max);
	else
		n = snprintf(out, outlen, "glibc.malloc.arena_max=%u", arena_max);
	return n < 0 || (size_t)n >= outlen ? -1 : 1;
}

/* ------------------------------------------------------------ CPU quota */

static int
parse_ll(const char *s, size_t len, long long *v)
{
	char buf[32];
	char *end;

	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	while (len > 0 && isspace((unsigned char)*s))
		s++, len--;
	if (len == 0 || len >= sizeof(buf))
		return 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*v = strtoll(buf, &end, 10);
	return errno != 0 || *end != '\0';
}

static unsigned
quota_cpus(long long quota, long long period)
{
	long long n;

	if (quota <= 0)
		return 0;
	n = (quota + period - 1) / period;
	if (n < 1)
		n = 1;
	return n > 65536 ? 65536 : (unsigned)n;
}

int
preload_parse_cpu_max(const char *buf, size_t len, unsigned *n)
{
	const char *sp = memchr(buf, ' ', len);
	long long quota, period;

	if (sp == NULL)
		return 1;
	if (parse_ll(sp + 1, len - (size_t)(sp + 1 - buf), &period) != 0 || period <= 0)
		return 1;
	if (sp - buf == 3 && memcmp(buf, "max", 3) == 0) {
		*n = 0;
		return 0;
	}
	if (parse_ll(buf, (size_t)(sp - buf), &quota) != 0 || quota <= 0)
		return 1;
	*n = quota_cpus(quota, period);
	return 0;
}

int
preload_parse_cfs(const char *quota, const char *period, unsigned *n)
{
	long long q, p;

	if (parse_ll(quota, strlen(quota), &q) != 0 || parse_ll(period, strlen(period), &p) != 0 ||
	    p <= 0)
		return 1;
	*n = q < 0 ? 0 : quota_cpus(q, p);
	return q == 0;
}

static int
read_small(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return 1;
	do {
		r = read(fd, buf, cap - 1);
	} while (r < 0 && errno == EINTR);
	close(fd);
	if (r < 0)
		return 1;
	buf[r] = '\0';
	*len = (size_t)r;
	return 0;
}

/* The quota of dir and of its parents up to the mount point: the smallest. */
static unsigned
quota_walk(char *dir, size_t mount_len, int version)
{
	unsigned best = 0;
	char path[CGROUP_PATH_MAX * 2 + 64], buf[128], buf2[64];

	for (;;) {
		size_t len, len2;
		unsigned n = 0;
		char *slash;

		if (version == CGROUP_V2) {
			snprintf(path, sizeof(path), "%s/cpu.max", dir);
			if (read_small(path, buf, sizeof(buf), &len) == 0 &&
			    preload_parse_cpu_max(buf, len, &n) == 0 && n > 0 &&
			    (best == 0 || n < best))
				best = n;
		} else {
			snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
			if (read_small(path, buf, sizeof(buf), &len) == 0) {
				snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
				if (read_small(path, buf2, sizeof(buf2), &len2) == 0 &&
				    preload_parse_cfs(buf, buf2, &n) == 0 && n > 0 &&
				    (best == 0 || n < best))
					best = n;
			}
		}
		slash = strrchr(dir, '/');
		if (slash == NULL || (size_t)(slash - dir) < mount_len || slash == dir)
			break;
		*slash = '\0';
	}
	return best;
}

/* True when the comma-separated list (len bytes) has word. */
static bool
has_word(const char *list, size_t len, const char *word)
{
	size_t wl = strlen(word), i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && list[j] != ',')
			j++;
		if (j - i == wl && memcmp(list + i, word, wl) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

static unsigned
cgroup_quota(void)
{
	char cg[8192], *line, *save = NULL, v2path[CGROUP_PATH_MAX] = "",
			      v1path[CGROUP_PATH_MAX] = "";
	char dir[CGROUP_PATH_MAX * 2 + 32];
	size_t len;
	FILE *f;
	char *mi = NULL;
	size_t micap = 0;
	ssize_t n;
	unsigned best = 0;

	if (read_small("/proc/self/cgroup", cg, sizeof(cg), &len) != 0)
		return 0;
	for (line = strtok_r(cg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 == NULL)
			continue;
		if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0)
			snprintf(v2path, sizeof(v2path), "%s", c2 + 1);
		else if (has_word(c1 + 1, (size_t)(c2 - c1 - 1), "cpu"))
			snprintf(v1path, sizeof(v1path), "%s", c2 + 1);
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return 0;
	while ((n = getline(&mi, &micap, f)) > 0) {
		struct cgroup_mount m;
		const char *path, *dash, *opts;

		if (mi[n - 1] == '\n')
			mi[--n] = '\0';
		if (cgroup_parse_mountinfo_line(mi, (size_t)n, &m) != 0 || m.version == CGROUP_NONE)
			continue;
		if (m.version == CGROUP_V2) {
			path = v2path;
		} else {
			/* The super options, last field: the controllers. */
			dash = strstr(mi, " - ");
			opts = dash ? strrchr(dash, ' ') : NULL;
			if (opts == NULL || !has_word(opts + 1, strlen(opts + 1), "cpu"))
				continue;
			path = v1path;
		}
		if (path[0] == '\0' ||
		    cgroup_join_dir(m.point, m.root, path, dir, sizeof(dir)) != 0)
			continue;
		{
			unsigned q = quota_walk(dir, strlen(m.point), m.version);

			if (q > 0 && (best == 0 || q < best))
				best = q;
		}
	}
	free(mi);
	fclose(f);
	return best;
}

unsigned
preload_cpu_count(void)
{
	unsigned n = cgroup_quota();
	cpu_set_t set;

	if (n > 0)
		return n;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}

/* ------------------------------------------------------------ ELF */

static enum preload_elf
classify_elf(int fd, char *interp, size_t interplen)
{
	unsigned char ident[EI_NIDENT];
	Elf64_Ehdr e64;
	Elf32_Ehdr e32;
	uint64_t phoff;
	unsigned phnum, phentsize, i;
	bool is64;

	if (pread(fd, ident, sizeof(ident), 0) != (ssize_t)sizeof(ident) ||
	    memcmp(ident, ELFMAG, SELFMAG) != 0)
		return PRELOAD_ELF_UNKNOWN;
	is64 = ident[EI_CLASS] == ELFCLASS64;
	if (is64) {
		if (pread(fd, &e64, sizeof(e64), 0) != (ssize_t)sizeof(e64))
			return PRELOAD_ELF_UNKNOWN;
		phoff = e64.e_phoff, phnum = e64.e_phnum, phentsize = e64.e_phentsize;
	} else {
		if (pread(fd, &e32, sizeof(e32), 0) != (ssize_t)sizeof(e32))
			return PRELOAD_ELF_UNKNOWN;
		phoff = e32.e_phoff, phnum = e32.e_phnum, phentsize = e32.e_phentsize;
	}
	if (phentsize != (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) || phnum > 4096)
		return PRELOAD_ELF_UNKNOWN;
	for (i = 0; i < phnum; i++) {
		uint64_t type, off, sz;
		char buf[PRELOAD_PATH_MAX];
		ssize_t r;

		if (is64) {
			Elf64_Phdr ph;

			if (pread(fd, &ph, sizeof(ph), (off_t)(phoff + (uint64_t)i * phentsize)) !=
			    (ssize_t)sizeof(ph))
				return PRELOAD_ELF_UNKNOWN;
			type = ph.p_type, off = ph.p_offset, sz = ph.p_filesz;
		} else {
			Elf32_Phdr ph;

			if (pread(fd, &ph, sizeof(ph), (off_t)(phoff + (uint64_t)i * phentsize)) !=
			    (ssize_t)sizeof(ph))
				return PRELOAD_ELF_UNKNOWN;
			type = ph.p_type, off = ph.p_offset, sz = ph.p_filesz;
		}
		if (type != PT_INTERP)
			continue;
		if (sz == 0 || sz > sizeof(buf))
			return PRELOAD_ELF_UNKNOWN;
		r = pread(fd, buf, sz, (off_t)off);
		if (r != (ssize_t)sz)
			return PRELOAD_ELF_UNKNOWN;
		buf[sz - 1] = '\0';
		if (interp)
			snprintf(interp, interplen, "%s", buf);
		if (strstr(buf, "ld-musl"))
			return PRELOAD_ELF_MUSL;
		if (strstr(buf, "ld-linux") || strstr(buf, "ld64.so"))
			return PRELOAD_ELF_GLIBC;
		return PRELOAD_ELF_DYNAMIC;
	}
	return PRELOAD_ELF_STATIC;
}

enum preload_elf
preload_classify(const char *path, char *interp, size_t interplen)
{
	struct stat st;
	char line[PRELOAD_PATH_MAX];
	enum preload_elf k;
	ssize_t r;
	int fd, depth;

	if (interp && interplen)
		interp[0] = '\0';
	/* A script: what runs is its interpreter (one level is enough). */
	for (depth = 0; depth < 2; depth++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return PRELOAD_ELF_UNKNOWN;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return PRELOAD_ELF_UNKNOWN;
		}
		if (st.st_mode & (S_ISUID | S_ISGID)) {
			close(fd);
			return PRELOAD_ELF_SETID;
		}
		if (fgetxattr(fd, "security.capability", NULL, 0) > 0) {
			close(fd);
			return PRELOAD_ELF_CAPS;
		}
		r = pread(fd, line, sizeof(line) - 1, 0);
		if (depth == 0 && r > 2 && line[0] == '#' && line[1] == '!') {
			char *s = line + 2, *e;

			close(fd);
			line[r] = '\0';
			while (*s == ' ' || *s == '\t')
				s++;
			e = s;
			while (*e && *e != ' ' && *e != '\t' && *e != '\n')
				e++;
			*e = '\0';
			if (*s != '/')
				return PRELOAD_ELF_UNKNOWN;
			memmove(line, s, strlen(s) + 1);
			path = line;
			continue;
		}
		k = classify_elf(fd, interp, interplen);
		close(fd);
		return k;
	}
	return PRELOAD_ELF_UNKNOWN;
}

int
preload_find_command(const char *argv0, const char *path_env, const char *dir, char *out,
		     size_t outlen)
{
	const char *p;
	int n;

	if (argv0 == NULL || argv0[0] == '\0')
		return 1;
	if (strchr(argv0, '/')) {
		if (argv0[0] == '/' || dir == NULL)
			n = snprintf(out, outlen, "%s", argv0);
		else
			n = snprintf(out, outlen, "%s/%s", dir, argv0);
		return n < 0 || (size_t)n >= outlen;
	}
	p = path_env ? path_env : "/usr/local/bin:/bin:/usr/bin";
	for (;;) {
		const char *c = strchr(p, ':');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		struct stat st;

		if (len == 0)
			n = snprintf(out, outlen, "%s%s%s", dir ? dir : ".", "/", argv0);
		else if (p[0] != '/' && dir)
			n = snprintf(out, outlen, "%s/%.*s/%s", dir, (int)len, p, argv0);
		else
			n = snprintf(out, outlen, "%.*s/%s", (int)len, p, argv0);
		if (n > 0 && (size_t)n < outlen && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 0111))
			return 0;
		if (c == NULL)
			return 1;
		p = c + 1;
	}
}

bool
preload_lib_is_glibc(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *m;
	bool glibc = false;

	if (fd < 0)
		return true;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return true;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return true;
	glibc = memmem(m, (size_t)st.st_size, "GLIBC_2.", 8) != NULL;
	munmap(m, (size_t)st.st_size);
	return glibc;
}

/* ------------------------------------------------------------ the plan */

static bool
regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A library found by auto, at buf: usable when it is a regular file that
 * is safe to preload (safepath.h); buf then holds its resolved path, what
 * the service's loader opens. Anything else there (a directory, /dev/null
 * bind-mounted over it) is silently not a candidate; an unsafe library is
 * skipped with a warning that says why. */
static bool
usable_lib(const char *key, char *buf, size_t len)
{
	char canon[PRELOAD_PATH_MAX], why[PRELOAD_PATH_MAX + 128];

	if (!regular_file(buf))
		return false;
	if (safepath_check(buf, SAFEPATH_FILE, geteuid(), canon, sizeof(canon), why, sizeof(why)) !=
	    0) {
		log_event(
		    LOG_WARN, "allocator",
		    LOG_FIELDS(LF_STR("key", key), LF_STR("path", buf), LF_STR("reason", why)),
		    "[allocator] %s = auto: not using %s, not safe to preload: %s", key, buf, why);
		return false;
	}
	if (strlen(canon) >= len)
		return false;
	memcpy(buf, canon, strlen(canon) + 1);
	return true;
}

/* The directory of memwarden's executable into dir; 0, or 1. */
static int
exe_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n <= 0)
		return 1;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 1;
	*slash = '\0';
	return 0;
}

/* dir/name into buf, when that is a library auto may use. */
static bool
try_path(const char *key, char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n > 0 && (size_t)n < len && usable_lib(key, buf, len);
}

/* lib/ beside memwarden's bin/: the /opt/memwarden image layout. */
static bool
beside_exe(const char *key, const char *name, char *buf, size_t len)
{
	char dir[PRELOAD_PATH_MAX], *slash;

	if (exe_dir(dir, sizeof(dir) - 4) != 0 || (slash = strrchr(dir, '/')) == NULL)
		return false;
	memcpy(slash, "/lib", 5);
	return try_path(key, buf, len, dir, name);
}

/* The build tree: build/memwarden-agent.so beside build/memwarden, or
 * above build/san/memwarden and build/vg/memwarden. */
static bool
in_build_dir(const char *key, const char *name, char *buf, size_t len)
{
	char dir[PRELOAD_PATH_MAX], *slash;
	int up;

	if (exe_dir(dir, sizeof(dir)) != 0)
		return false;
	for (up = 0; up < 2; up++) {
		slash = strrchr(dir, '/');
		if (slash == NULL)
			return false;
		if (strcmp(slash + 1, "build") == 0)
			return try_path(key, buf, len, dir, name);
		*slash = '\0';
	}
	return false;
}

/* The bundled copy: lib/ beside memwarden's bin/, then LIBDIR; then the
 * distribution's. */
static const char *
find_jemalloc(char *buf, size_t len)
{
	static const char *const distro[] = {
	    "/usr/lib/x86_64-linux-gnu/" JEMALLOC_SONAME,
	    "/usr/lib/aarch64-linux-gnu/" JEMALLOC_SONAME,
	    "/usr/lib/" JEMALLOC_SONAME,
	    "/usr/lib64/" JEMALLOC_SONAME,
	};
	size_t i;

	if (beside_exe("jemalloc", JEMALLOC_SONAME, buf, len) ||
	    try_path("jemalloc", buf, len, MEMWARDEN_LIBDIR, JEMALLOC_SONAME))
		return "bundled";
	for (i = 0; i < sizeof(distro) / sizeof(distro[0]); i++) {
		snprintf(buf, len, "%s", distro[i]);
		if (usable_lib("jemalloc", buf, len))
			return "distribution";
	}
	return NULL;
}

/* The agent is memwarden's own: lib/ beside bin/, then the build tree
 * (before LIBDIR, so that a build runs with its own agent, whose wire
 * format is its own, rather than an installed one), then LIBDIR. */
static const char *
find_agent(char *buf, size_t len)
{
	if (beside_exe("agent", AGENT_SONAME, buf, len))
		return "bundled";
	if (in_build_dir("agent", AGENT_SONAME, buf, len))
		return "build";
	if (try_path("agent", buf, len, MEMWARDEN_LIBDIR, AGENT_SONAME))
		return "bundled";
	return NULL;
}

/* The service's variable name: [environment] wins over memwarden's own. */
static const char *
service_getenv(const struct config *cfg, char **environ_in, const char *name)
{
	size_t nl = strlen(name), i;
	const char *v = NULL;

	for (i = 0; environ_in && environ_in[i]; i++)
		if (strncmp(environ_in[i], name, nl) == 0 && environ_in[i][nl] == '=')
			v = environ_in[i] + nl + 1;
	for (i = 0; i < cfg->n_environment; i++)
		if (strncmp(cfg->environment[i], name, nl) == 0 && cfg->environment[i][nl] == '=')
			v = cfg->environment[i] + nl + 1;
	return v;
}

static int
add_env(struct preload_plan *plan, const char *name, const char *value)
{
	size_t i = 0;
	char *s;

	while (plan->env[i])
		i++;
	if (i + 1 >= sizeof(plan->env) / sizeof(plan->env[0]))
		return 1;
	if (asprintf(&s, "%s=%s", name, value) < 0)
		return 1;
	plan->env[i] = s;
	return 0;
}

/* The index of the last string added. */
static size_t
r_index(const struct preload_plan *plan)
{
	size_t i = 0;

	while (plan->env[i + 1])
		i++;
	return i;
}

/* Why LD_PRELOAD cannot apply to a program of kind k at all, or NULL. */
static const char *
program_obstacle(enum preload_elf k)
{
	switch (k) {
	case PRELOAD_ELF_STATIC:
		return "statically linked: LD_PRELOAD cannot apply";
	case PRELOAD_ELF_SETID:
		return "setuid/setgid: the dynamic loader ignores LD_PRELOAD (secure mode)";
	case PRELOAD_ELF_CAPS:
		return "has file capabilities: the dynamic loader ignores LD_PRELOAD (secure mode)";
	default:
		return NULL;
	}
}

/* Why lib cannot load into a program of kind k, or NULL. */
static const char *
lib_obstacle(enum preload_elf k, const char *lib)
{
	if (k == PRELOAD_ELF_MUSL && preload_lib_is_glibc(lib))
		return "a musl program, and %s is built for glibc: it would not load";
	if (k == PRELOAD_ELF_GLIBC && !preload_lib_is_glibc(lib))
		return "a glibc program, and %s is not built for glibc";
	return NULL;
}

static void
drop_lib(char **lib, const char **reason)
{
	free(*lib);
	*lib = NULL;
	*reason = "cannot apply";
}

static void
drop_mismatch(const char *cmd, enum preload_elf k, char **lib, const char **reason,
	      const char *what)
{
	const char *why = *lib ? lib_obstacle(k, *lib) : NULL;
	char msg[PRELOAD_PATH_MAX + 128];

	if (why == NULL)
		return;
	snprintf(msg, sizeof(msg), why, *lib);
	log_warnx("allocator", "%s is %s; it runs without %s", cmd, msg, what);
	drop_lib(lib, reason);
}

/* Drops what cannot apply to the command, saying so once. */
static void
check_command(struct preload_plan *plan, const struct config *cfg, char **environ_in)
{
	char cmd[PRELOAD_PATH_MAX];
	enum preload_elf k;
	const char *why;

	if (plan->jemalloc == NULL && plan->agent == NULL)
		return;
	if (preload_find_command(cfg->argv[0], service_getenv(cfg, environ_in, "PATH"),
				 cfg->directory, cmd, sizeof(cmd)) != 0)
		return; /* exec will say so */
	k = preload_classify(cmd, NULL, 0);
	why = program_obstacle(k);
	if (why) {
		log_warnx("allocator", "%s is %s; it runs without %s", cmd, why,
			  plan->jemalloc && plan->agent ? "jemalloc and the agent"
			  : plan->jemalloc		? "jemalloc"
							: "the agent");
		if (plan->jemalloc)
			drop_lib(&plan->jemalloc, &plan->reason);
		if (plan->agent)
			drop_lib(&plan->agent, &plan->agent_reason);
		return;
	}
	drop_mismatch(cmd, k, &plan->jemalloc, &plan->reason, "jemalloc");
	drop_mismatch(cmd, k, &plan->agent, &plan->agent_reason, "the agent");
}

/* An explicit [allocator] path must be a library safe to preload: an
 * absolute path to a regular file that only root or memwarden's own user
 * may change, in directories only they may change (safepath.h). Whoever
 * may replace it runs code in every instance of the service, as the
 * service's user. Anything else is a start-up error. The service gets the
 * resolved path: what was checked is what its loader opens. */
static int
configured_lib(const char *key, const char *path, char **lib, char *err, size_t errlen)
{
	char canon[PRELOAD_PATH_MAX], why[PRELOAD_PATH_MAX + 128];

	if (safepath_check(path, SAFEPATH_FILE, geteuid(), canon, sizeof(canon), why,
			   sizeof(why)) != 0) {
		snprintf(err, errlen, "[allocator] %s = %s: %s%s", key, path,
			 regular_file(path) ? "not safe to preload: " : "", why);
		return 1;
	}
	*lib = strdup(canon);
	if (*lib == NULL) {
		snprintf(err, errlen, "allocator: out of memory");
		return 1;
	}
	return 0;
}

static int
choose_jemalloc(struct preload_plan *plan, const struct config *cfg, const char *existing,
		char *err, size_t errlen)
{
	char lib[PRELOAD_PATH_MAX];

	if (cfg->preload == PRELOAD_NONE) {
		plan->reason = "preload = none";
	} else if (cfg->jemalloc_path) {
		if (configured_lib("jemalloc", cfg->jemalloc_path, &plan->jemalloc, err, errlen))
			return 1;
		plan->reason = "configured";
	} else {
		plan->reason = find_jemalloc(lib, sizeof(lib));
		if (plan->reason)
			plan->jemalloc = strdup(lib);
		else if (preload_has_jemalloc(existing))
			plan->reason = "already preloaded";
		else {
			plan->reason = "not found";
			log_warnx("allocator",
				  "jemalloc not found (bundled copy, %s, distribution paths): "
				  "the service runs on its C library's malloc",
				  MEMWARDEN_LIBDIR);
		}
	}
	return 0;
}

/* The agent goes with jemalloc and without it: a service on glibc's
 * malloc needs it most (SPEC section 6). */
static int
choose_agent(struct preload_plan *plan, const struct config *cfg, const char *existing, char *err,
	     size_t errlen)
{
	char lib[PRELOAD_PATH_MAX];

	if (cfg->agent_path) {
		if (configured_lib("agent", cfg->agent_path, &plan->agent, err, errlen))
			return 1;
		plan->agent_reason = "configured";
	} else if (preload_has_agent(existing)) {
		plan->agent_reason = "already preloaded";
	} else {
		plan->agent_reason = find_agent(lib, sizeof(lib));
		if (plan->agent_reason) {
			plan->agent = strdup(lib);
		} else {
			plan->agent_reason = "not found";
			log_warnx("allocator",
				  "%s not found (beside memwarden, %s): the service's memory "
				  "cannot be released on request",
				  AGENT_SONAME, MEMWARDEN_LIBDIR);
		}
	}
	if (preload_has_agent(existing)) {
		/* Kept as it is: one agent per process. */
		free(plan->agent);
		plan->agent = NULL;
		plan->agent_reason = "already preloaded";
	}
	return 0;
}

int
preload_setup(struct preload_plan *plan, const struct config *cfg, char **environ_in, char *err,
	      size_t errlen)
{
	char value[4096];
	const char *existing = service_getenv(cfg, environ_in, "LD_PRELOAD");
	bool jemalloc_in_use = false;
	const char *mc_log = "";
	char *ld;
	int r;

	memset(plan, 0, sizeof(*plan));
	plan->ncpu = preload_cpu_count();
	if (choose_jemalloc(plan, cfg, existing, err, errlen) != 0 ||
	    choose_agent(plan, cfg, existing, err, errlen) != 0) {
		preload_free(plan);
		return 1;
	}
	check_command(plan, cfg, environ_in);
	if (preload_has_jemalloc(existing)) {
		/* Kept as it is: no second copy, whatever its path. */
		free(plan->jemalloc);
		plan->jemalloc = NULL;
		plan->reason = "already preloaded";
	}
	jemalloc_in_use = plan->jemalloc || preload_has_jemalloc(existing);
	if (plan->jemalloc || plan->agent) {
		ld = preload_compose_libs(existing, plan->jemalloc, plan->agent);
		if (ld == NULL || add_env(plan, "LD_PRELOAD", ld) != 0) {
			free(ld);
			goto oom;
		}
		free(ld);
	}
	if (jemalloc_in_use && strcmp(plan->reason, "cannot apply") != 0) {
		plan->narenas = plan->ncpu;
		r = preload_malloc_conf(service_getenv(cfg, environ_in, "MALLOC_CONF"),
					cfg->malloc_conf, cfg->malloc_conf_override, plan->narenas,
					value, sizeof(value));
		if (r > 0 && add_env(plan, "MALLOC_CONF", value) != 0)
			goto oom;
		if (r > 0)
			mc_log = strchr(plan->env[r_index(plan)], '=') + 1;
		else if (cfg->malloc_conf && cfg->malloc_conf[0] &&
			 service_getenv(cfg, environ_in, "MALLOC_CONF"))
			mc_log = "(the environment's)";
		if (r <= 0)
			plan->narenas = 0;
	} else if (!jemalloc_in_use) {
		/* glibc's default is 8 arenas per CPU of the host (64-bit), so a
		 * container with a quota of 2 CPUs on a 64-CPU host may grow 512
		 * arenas, each holding freed memory of its own. memwarden bounds
		 * them by the quota: 2 per CPU of the quota, since glibc's small
		 * per-thread cache sends more allocations to the arena lock than
		 * jemalloc's does, and twice the quota keeps that lock uncontended
		 * at full concurrency while staying far below the host's count. */
		plan->arena_max = cfg->arena_max ? cfg->arena_max : 2 * plan->ncpu;
		r = preload_glibc_tunables(service_getenv(cfg, environ_in, "GLIBC_TUNABLES"),
					   plan->arena_max, value, sizeof(value));
		if (r > 0 && add_env(plan, "GLIBC_TUNABLES", value) != 0)
			goto oom;
		if (r <= 0)
			plan->arena_max = 0;
	}
	/* The agent's signal: it needs to know which one to handle. */
	if (cfg->release_signal > 0) {
		snprintf(value, sizeof(value), "%d", cfg->release_signal);
		if (add_env(plan, AGENT_SIGNAL_ENV, value) != 0)
			goto oom;
	}
	log_event(LOG_INFO, "allocator",
		  LOG_FIELDS(LF_STR("preload", plan->jemalloc ? plan->jemalloc : "none"),
			     LF_STR("reason", plan->reason),
			     LF_STR("agent", plan->agent ? plan->agent : "none"),
			     LF_STR("agent_reason", plan->agent_reason),
			     LF_UINT("cpus", plan->ncpu), LF_STR("malloc_conf", mc_log),
			     LF_UINT("narenas", plan->narenas),
			     LF_UINT("arena_max", plan->arena_max)),
		  "preload %s (%s), agent %s (%s)", plan->jemalloc ? plan->jemalloc : "none",
		  plan->reason, plan->agent ? plan->agent : "none", plan->agent_reason);
	return 0;
oom:
	snprintf(err, errlen, "allocator: out of memory");
	preload_free(plan);
	return 1;
}

void
preload_free(struct preload_plan *plan)
{
	size_t i;

	free(plan->jemalloc);
	plan->jemalloc = NULL;
	free(plan->agent);
	plan->agent = NULL;
	for (i = 0; plan->env[i]; i++) {
		free(plan->env[i]);
		plan->env[i] = NULL;
	}
}
