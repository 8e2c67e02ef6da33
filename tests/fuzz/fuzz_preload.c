/*
 * The preload's handling of outside strings (preload.h): the service's
 * LD_PRELOAD, MALLOC_CONF and GLIBC_TUNABLES (from memwarden's
 * environment or [environment]), PATH with the command's name, and the
 * cgroup's cpu.max and cpu.cfs_quota_us/cpu.cfs_period_us files.
 *
 * Input: LD_PRELOAD \0 LIB \0 MALLOC_CONF \0 CONFIG-CONF \0 GLIBC_TUNABLES
 * \0 PATH \0 COMMAND \0 CFS-QUOTA \0 CFS-PERIOD \0 CPU.MAX (the last part
 * as exact bytes). Missing parts are empty.
 */
#include "fuzz.h"
#include "preload.h"

/* The ':'-separated entries of s are all different and none is empty. */
static bool
distinct_entries(const char *s)
{
	const char *p = s;

	if (*s == '\0')
		return true;
	for (;;) {
		const char *c = strchr(p, ':'), *q;
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (len == 0)
			return false;
		for (q = c ? c + 1 : NULL; q != NULL;) {
			const char *c2 = strchr(q, ':');
			size_t l2 = c2 ? (size_t)(c2 - q) : strlen(q);

			if (l2 == len && memcmp(p, q, len) == 0)
				return false;
			q = c2 ? c2 + 1 : NULL;
		}
		if (c == NULL)
			return true;
		p = c + 1;
	}
}

static void
check_ld_preload(const char *existing, const char *lib)
{
	char *out = preload_compose_ld_preload(existing, lib);
	char *both;
	/* lib is one path, put in as it is: one with a separator in it
	 * would be several entries (see README.md). */
	bool plain = strpbrk(lib, " :\t") == NULL;

	FUZZ_CHECK(out != NULL);
	if (plain) {
		FUZZ_CHECK(distinct_entries(out));
		FUZZ_CHECK(strchr(out, ' ') == NULL && strchr(out, '\t') == NULL);
	}
	if (preload_has_jemalloc(existing))
		FUZZ_CHECK(preload_has_jemalloc(out));
	if (preload_has_agent(existing))
		FUZZ_CHECK(preload_has_agent(out));
	free(out);
	out = preload_compose_ld_preload(existing, NULL);
	FUZZ_CHECK(out != NULL && distinct_entries(out));
	free(out);
	both = preload_compose_libs(existing, lib[0] ? lib : NULL, "/lib/" AGENT_SONAME);
	FUZZ_CHECK(both != NULL);
	if (plain)
		FUZZ_CHECK(distinct_entries(both));
	FUZZ_CHECK(preload_has_agent(both));
	free(both);
}

static void
check_env(const char *malloc_conf, const char *conf, const char *tunables, unsigned n)
{
	char out[256], tiny[4];
	int r;

	r = preload_malloc_conf(malloc_conf[0] ? malloc_conf : NULL, conf, n & 1, n >> 1, out,
				sizeof(out));
	FUZZ_CHECK(r >= -1 && r <= 1);
	if (r == 1)
		FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	(void)preload_malloc_conf(NULL, conf, true, n, tiny, sizeof(tiny));
	r = preload_glibc_tunables(tunables[0] ? tunables : NULL, n, out, sizeof(out));
	FUZZ_CHECK(r >= -1 && r <= 1);
	if (r == 1)
		FUZZ_CHECK(strstr(out, "glibc.malloc.arena_max=") != NULL);
	(void)preload_glibc_tunables(tunables, n, tiny, sizeof(tiny));
}

static void
check_quota(const char *quota, const char *period, const uint8_t *cpu_max, size_t len)
{
	char *copy = malloc(len ? len : 1);
	unsigned n = 12345;

	if (copy == NULL)
		abort();
	memcpy(copy, cpu_max, len);
	if (preload_parse_cpu_max(copy, len, &n) == 0)
		FUZZ_CHECK(n <= 65536);
	n = 12345;
	if (preload_parse_cfs(quota, period, &n) == 0)
		FUZZ_CHECK(n <= 65536);
	free(copy);
}

static void
check_find(const char *path_env, const char *command)
{
	char out[64], big[PRELOAD_PATH_MAX];

	if (preload_find_command(command, path_env[0] ? path_env : NULL, NULL, big, sizeof(big)) ==
	    0)
		FUZZ_CHECK(memchr(big, '\0', sizeof(big)) != NULL);
	(void)preload_find_command(command, path_env, "/nonexistent-dir", out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *part[9];
	size_t i;

	for (i = 0; i < 9; i++)
		part[i] = fuzz_next_part(&p, end);
	check_ld_preload(part[0], part[1]);
	check_env(part[2], part[3], part[4], size > 0 ? data[0] : 0);
	check_find(part[5], part[6]);
	check_quota(part[7], part[8], p, (size_t)(end - p));
	for (i = 0; i < 9; i++)
		free(part[i]);
	return 0;
}
