/*
 * The cgroup files' parsers (cgroup.h): memory.max/high/limit_in_bytes,
 * the single numbers, memory.stat (v1 and v2), memory.events,
 * memory.oom_control, memory.pressure, /proc/self/cgroup and
 * /proc/self/mountinfo lines, and cgroup_join_dir over what they found.
 *
 * Every parser gets the same bytes, exactly len of them (no NUL after
 * them: ASan sees a read past the end). Each promises to change its
 * output only on success, which is checked.
 */
#include "cgroup.h"
#include "fuzz.h"

#define POISON 0xa5

/* As big as the largest output (struct cgroup_paths, cgroup_mount). */
static unsigned char poisoned[2048];

static void
poison(void *p, size_t n)
{
	memset(p, POISON, n);
}

/* memcmp, not a loop: the target is compiled with libFuzzer's comparison
 * tracing too, which would make a byte loop its slowest part. */
static bool
untouched(const void *p, size_t n)
{
	_Static_assert(sizeof(struct cgroup_paths) <= sizeof(poisoned), "poisoned");
	_Static_assert(sizeof(struct cgroup_mount) <= sizeof(poisoned), "poisoned");
	if (poisoned[0] != POISON)
		memset(poisoned, POISON, sizeof(poisoned));
	return memcmp(p, poisoned, n) == 0;
}

/* The len bytes in a buffer of their own, so that a read past them is
 * caught even when the fuzzer's buffer would have had room. */
static char *
exact_copy(const uint8_t *data, size_t len)
{
	char *b = malloc(len ? len : 1);

	if (b == NULL)
		abort();
	memcpy(b, data, len);
	return b;
}

static void
check_sample(const char *buf, size_t len)
{
	struct mem_sample s;
	enum cgroup_version v;

	for (v = CGROUP_NONE; v <= CGROUP_V2; v++) {
		poison(&s, sizeof(s));
		if (cgroup_parse_memory_stat(buf, len, v, &s) != 0) {
			FUZZ_CHECK(untouched(&s, sizeof(s)));
		} else {
			FUZZ_CHECK(v != CGROUP_NONE && s.has_stat);
			if (v == CGROUP_V1)
				FUZZ_CHECK(s.limit < (1ULL << 62));
		}
	}
	poison(&s, sizeof(s));
	if (cgroup_parse_memory_events(buf, len, &s) != 0)
		FUZZ_CHECK(untouched(&s, sizeof(s)));
	else
		FUZZ_CHECK(s.has_events && s.has_oom_kill);
	poison(&s, sizeof(s));
	if (cgroup_parse_oom_control(buf, len, &s) != 0)
		FUZZ_CHECK(untouched(&s, sizeof(s)));
	poison(&s, sizeof(s));
	if (cgroup_parse_pressure(buf, len, &s) != 0) {
		FUZZ_CHECK(untouched(&s, sizeof(s)));
	} else {
		FUZZ_CHECK(s.has_psi);
		FUZZ_CHECK(s.psi_some_avg10 >= 0 && s.psi_full_avg10 >= 0);
	}
}

static void
check_numbers(const char *buf, size_t len)
{
	uint64_t v = 0, bytes = 0;
	bool has = true;

	if (cgroup_parse_u64(buf, len, &v) == 0) {
		FUZZ_CHECK(len >= 2 && buf[len - 1] == '\n');
		FUZZ_CHECK(memchr(buf, '\n', len - 1) == NULL);
	}
	if (cgroup_parse_limit(buf, len, &has, &bytes) == 0) {
		FUZZ_CHECK(has ? bytes > 0 || buf[0] == '0' : bytes == 0);
		FUZZ_CHECK(bytes < (1ULL << 62));
	}
}

static bool
terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void
check_join(const char *mount, const char *root, const char *path)
{
	char out[CGROUP_DIR_MAX], tiny[8];

	if (cgroup_join_dir(mount, root, path, out, sizeof(out)) == 0) {
		FUZZ_CHECK(terminated(out, sizeof(out)));
		FUZZ_CHECK(strncmp(out, mount, strlen(mount)) == 0);
		/* A cgroup outside the mount's root ("/../x") never joins. */
		FUZZ_CHECK(strstr(out + strlen(mount), "/../") == NULL);
	}
	(void)cgroup_join_dir(mount, root, path, tiny, sizeof(tiny));
}

static void
check_paths(const char *buf, size_t len)
{
	struct cgroup_paths p, *pp = &p;
	struct cgroup_mount m;
	const char *line = buf, *end = buf + len;
	const char *path = "/";

	poison(&p, sizeof(p));
	if (cgroup_parse_proc_cgroup(buf, len, &p) != 0) {
		FUZZ_CHECK(untouched(&p, sizeof(p)));
		pp = NULL;
	} else {
		FUZZ_CHECK(p.has_v1 || p.has_v2);
		FUZZ_CHECK(terminated(p.v1, sizeof(p.v1)) && terminated(p.v2, sizeof(p.v2)));
		if (p.has_v2)
			FUZZ_CHECK(p.v2[0] == '/');
		if (p.has_v1)
			FUZZ_CHECK(p.v1[0] == '/');
		path = p.has_v2 ? p.v2 : p.v1;
	}
	/* Every line as a mountinfo line; the mounts found joined with the
	 * path found (or "/"). */
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		char *copy = exact_copy((const uint8_t *)line, n);

		poison(&m, sizeof(m));
		if (cgroup_parse_mountinfo_line(copy, n, &m) != 0) {
			FUZZ_CHECK(untouched(&m, sizeof(m)));
		} else {
			FUZZ_CHECK(terminated(m.root, sizeof(m.root)));
			FUZZ_CHECK(terminated(m.point, sizeof(m.point)));
			FUZZ_CHECK(!m.memory || m.version == CGROUP_V1);
			if (m.root[0] == '/')
				check_join(m.point, m.root, path);
			if (pp != NULL && p.has_v1 && p.has_v2)
				check_join(m.point, m.root, p.v1);
		}
		free(copy);
		line += n + (nl != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = exact_copy(data, size);

	check_numbers(buf, size);
	check_sample(buf, size);
	check_paths(buf, size);
	free(buf);
	return 0;
}
