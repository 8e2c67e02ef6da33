/*
 * cgroup.c: the pure parsers on files captured from real kernels
 * (tests/unit/data: v1 from this host's memory cgroups, v2 from the qemu
 * VM of TESTING.md section 2), cut short and broken; then, as root, the
 * real thing on a memory cgroup made for the test: discovery from inside
 * it, samples against the kernel's files, page cache, an OOM kill and the
 * notifications. Those skip when not root or without a memory controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libcgroup.h>

#include "cgroup.h"

/* libcgroup's mount table (about 800 kB of .bss; the type does not
 * matter here, only where it is). */
extern char cg_mount_table[];

#define MB (1024ULL * 1024)

/* ---- Captured files ---- */

static char *
data_path(const char *name)
{
	static char path[512];
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash ? (int)(slash - __FILE__) : 1;

	snprintf(path, sizeof(path), "%.*s/data/%s", dirlen, slash ? __FILE__ : ".", name);
	return path;
}

/* The file in a heap block of exactly its size: AddressSanitizer then
 * catches any read past the end. */
static char *
load(const char *name, size_t *len)
{
	char *buf;
	struct stat st;
	FILE *f;

	f = fopen(data_path(name), "r");
	if (f == NULL)
		fail_msg("cannot open %s", data_path(name));
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	assert_int_equal(*len, (size_t)st.st_size);
	return buf;
}

static char *
exact_copy(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);

	assert_non_null(b);
	memcpy(b, s, n);
	return b;
}

typedef int (*sample_parser)(const char *buf, size_t len, struct mem_sample *s);

/* Every prefix of a file: each either parses, when cut right after a
 * line and nothing required is missing, or fails leaving s untouched. */
static void
every_prefix(const char *whole, size_t len, sample_parser fn)
{
	struct mem_sample s, untouched;
	size_t n;

	for (n = 0; n < len; n++) {
		char *b = exact_copy(whole, n);
		int rc;

		memset(&s, 0x5a, sizeof(s));
		untouched = s;
		rc = fn(b, n, &s);
		if (rc != 0)
			assert_memory_equal(&s, &untouched, sizeof(s));
		else
			assert_true(n > 0 && whole[n - 1] == '\n');
		free(b);
	}
}

static int
stat_v1(const char *b, size_t n, struct mem_sample *s)
{
	return cgroup_parse_memory_stat(b, n, CGROUP_V1, s);
}

static int
stat_v2(const char *b, size_t n, struct mem_sample *s)
{
	return cgroup_parse_memory_stat(b, n, CGROUP_V2, s);
}

static void
numbers(void **state)
{
	uint64_t v = 7;
	bool has = true;

	(void)state;
	assert_int_equal(cgroup_parse_u64("51232768\n", 9, &v), 0);
	assert_int_equal(v, 51232768);
	assert_int_equal(cgroup_parse_u64("0\n", 2, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cgroup_parse_u64("18446744073709551615\n", 21, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 7;
	assert_int_equal(cgroup_parse_u64("18446744073709551616\n", 21, &v), 1);
	assert_int_equal(cgroup_parse_u64("512", 3, &v), 1); /* cut short */
	assert_int_equal(cgroup_parse_u64("", 0, &v), 1);
	assert_int_equal(cgroup_parse_u64("\n", 1, &v), 1);
	assert_int_equal(cgroup_parse_u64("12 \n", 4, &v), 1);
	assert_int_equal(cgroup_parse_u64("-1\n", 3, &v), 1);
	assert_int_equal(cgroup_parse_u64("1\n2\n", 4, &v), 1);
	assert_int_equal(v, 7);

	/* Limits: v2 "max", v1's PAGE_COUNTER_MAX in bytes, real ones. */
	assert_int_equal(cgroup_parse_limit("max\n", 4, &has, &v), 0);
	assert_false(has);
	assert_int_equal(cgroup_parse_limit("9223372036854771712\n", 20, &has, &v), 0);
	assert_false(has);
	assert_int_equal(cgroup_parse_limit("4611686018427387904\n", 20, &has, &v), 0);
	assert_false(has);
	assert_int_equal(cgroup_parse_limit("67108864\n", 9, &has, &v), 0);
	assert_true(has);
	assert_int_equal(v, 64 * MB);
	assert_int_equal(cgroup_parse_limit("max", 3, &has, &v), 1);
	assert_int_equal(cgroup_parse_limit("maximum\n", 8, &has, &v), 1);
	assert_int_equal(cgroup_parse_limit("64M\n", 4, &has, &v), 1);
	assert_true(has);
	assert_int_equal(v, 64 * MB);
}

static void
captured_limits(void **state)
{
	const char *files[] = {"v1.memory.limit_in_bytes", "v2.memory.max"};
	uint64_t v;
	size_t i, len;
	bool has;

	(void)state;
	for (i = 0; i < 2; i++) {
		char *b = load(files[i], &len);

		assert_int_equal(cgroup_parse_limit(b, len, &has, &v), 0);
		assert_true(has);
		assert_int_equal(v, 64 * MB);
		free(b);
	}
	{
		char *b = load("v2.memory.high", &len);

		assert_int_equal(cgroup_parse_limit(b, len, &has, &v), 0);
		assert_int_equal(v, 48 * MB);
		free(b);
	}
}

static void
memory_stat_v1(void **state)
{
	struct mem_sample s;
	size_t len;
	char *b = load("v1.memory.stat", &len);

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_stat(b, len, CGROUP_V1, &s), 0);
	assert_true(s.has_stat);
	assert_int_equal(s.anon, 28049408);
	assert_int_equal(s.file, 22392832);
	assert_int_equal(s.shmem, 4194304);
	assert_int_equal(s.inactive_file, 17108992);
	assert_int_equal(s.active_file, 1089536);
	assert_int_equal(s.limit, 64 * MB);
	/* The local fields (rss, cache...) are not the total_ ones, and a
	 * v1 file has none of v2's keys. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_stat(b, len, CGROUP_V2, &s), 1);
	assert_false(s.has_stat);
	every_prefix(b, len, stat_v1);
	free(b);

	b = load("v1.memory.stat.after_oom", &len);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_stat(b, len, CGROUP_V1, &s), 0);
	assert_int_equal(s.anon, 0);
	assert_int_equal(s.inactive_file, 4096);
	free(b);
}

static void
memory_stat_v2(void **state)
{
	struct mem_sample s;
	size_t len;
	char *b = load("v2.memory.stat", &len);

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_stat(b, len, CGROUP_V2, &s), 0);
	assert_int_equal(s.anon, 20983808);
	assert_int_equal(s.file, 8388608);
	assert_int_equal(s.shmem, 8388608); /* the VM's /tmp is tmpfs */
	assert_int_equal(s.inactive_file, 0);
	assert_int_equal(s.active_file, 0);
	assert_int_equal(s.limit, 0); /* v2's limit is in memory.max */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_stat(b, len, CGROUP_V1, &s), 1);
	assert_int_equal(cgroup_parse_memory_stat(b, len, CGROUP_NONE, &s), 1);
	every_prefix(b, len, stat_v2);
	free(b);
}

static void
memory_stat_malformed(void **state)
{
	static const char *bad[] = {
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\n",		 /* no shmem */
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\nshmem\n",	 /* no value */
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\nshmem x\n", /* not a number */
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\nshmem 5 6\n",
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\nshmem -5\n",
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\n 5\nshmem 5\n",
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\n\nshmem 5\n",
	    "anon 1\nfile 2\ninactive_file 3\nactive_file 4\nshmem 5", /* cut */
	    "anon 99999999999999999999\nfile 2\ninactive_file 3\nactive_file 4\nshmem 5\n",
	};
	const char good[] = "anon 1\nfile 2\ninactive_file 3\nactive_file 4\nshmem 5\nextra 6\n";
	struct mem_sample s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b = exact_copy(bad[i], strlen(bad[i]));
		int rc;

		memset(&s, 0, sizeof(s));
		rc = cgroup_parse_memory_stat(b, strlen(bad[i]), CGROUP_V2, &s);
		free(b);
		if (rc == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_false(s.has_stat);
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_stat(good, strlen(good), CGROUP_V2, &s), 0);
	assert_int_equal(s.anon + s.file + s.inactive_file + s.active_file + s.shmem, 15);
}

static int
events_fn(const char *b, size_t n, struct mem_sample *s)
{
	return cgroup_parse_memory_events(b, n, s);
}

static int
oom_fn(const char *b, size_t n, struct mem_sample *s)
{
	return cgroup_parse_oom_control(b, n, s);
}

static int
psi_fn(const char *b, size_t n, struct mem_sample *s)
{
	return cgroup_parse_pressure(b, n, s);
}

static void
memory_events(void **state)
{
	static const char old[] = "low 0\nhigh 2\nmax 3\noom 4\noom_kill 5\n";
	struct mem_sample s;
	size_t len;
	char *b = load("v2.memory.events.after_oom", &len);

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_events(b, len, &s), 0);
	assert_true(s.has_events);
	assert_true(s.has_oom_kill);
	assert_int_equal(s.events_high, 1345);
	assert_int_equal(s.events_max, 35);
	assert_int_equal(s.events_oom, 1);
	assert_int_equal(s.events_oom_kill, 1);
	assert_int_equal(s.events_oom_group_kill, 0);
	every_prefix(b, len, events_fn);
	free(b);

	b = load("v2.memory.events", &len);
	memset(&s, 0xff, sizeof(s));
	assert_int_equal(cgroup_parse_memory_events(b, len, &s), 0);
	assert_int_equal(s.events_oom_kill, 0);
	free(b);

	/* Kernels before 5.17 have no oom_group_kill line. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_events(old, strlen(old), &s), 0);
	assert_int_equal(s.events_oom_kill, 5);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_memory_events("high 2\nmax 3\noom 4\n", 19, &s), 1);
	assert_false(s.has_events);
}

static void
oom_control(void **state)
{
	struct mem_sample s;
	size_t len;
	char *b = load("v1.memory.oom_control.killed", &len);

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_oom_control(b, len, &s), 0);
	assert_true(s.has_oom_kill);
	assert_int_equal(s.events_oom_kill, 1);
	assert_false(s.under_oom);
	every_prefix(b, len, oom_fn);
	free(b);

	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_oom_control("oom_kill_disable 1\nunder_oom 1\n", 31, &s), 0);
	assert_true(s.under_oom);
	assert_false(s.has_oom_kill); /* before 4.13 */
	assert_int_equal(cgroup_parse_oom_control("oom_kill_disable 0\nunder_oom 1", 30, &s), 1);
	assert_int_equal(cgroup_parse_oom_control("oom_kill_disable 0\n", 19, &s), 1);
}

static void
pressure(void **state)
{
	static const char busy[] = "some avg10=98.78 avg60=40.05 avg300=9.71 total=86076258\n"
				   "full avg10=97.5 avg60=39.00 avg300=9.60 total=85000000\n";
	static const char *bad[] = {
	    "some avg10=0.00 avg60=0.00 avg300=0.00\n",
	    "some avg10=x.00 avg60=0.00 avg300=0.00 total=1\n",
	    "some avg10=0.0x avg60=0.00 avg300=0.00 total=1\n",
	    "some avg10 avg60=0.00 avg300=0.00 total=1\n",
	    "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n", /* no "some" */
	    "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nbogus\n",
	    "some avg10=0.00 avg60=0.00 avg300=0.00 total=1", /* cut */
	    "some avg10=0.00 avg60=0.00 avg300=0.00 total=1 \n",
	};
	struct mem_sample s;
	size_t len, i;
	char *b = load("proc.pressure.memory", &len);

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_pressure(b, len, &s), 0);
	assert_true(s.has_psi);
	assert_int_equal(s.psi_some_total, 89200);
	assert_int_equal(s.psi_full_total, 82440);
	every_prefix(b, len, psi_fn);
	free(b);
	b = load("v2.memory.pressure", &len);
	assert_int_equal(cgroup_parse_pressure(b, len, &s), 0);
	assert_int_equal(s.psi_some_total, 0);
	free(b);

	memset(&s, 0, sizeof(s));
	assert_int_equal(cgroup_parse_pressure(busy, strlen(busy), &s), 0);
	assert_true(s.psi_some_avg10 > 98.77 && s.psi_some_avg10 < 98.79);
	assert_true(s.psi_full_avg10 > 97.49 && s.psi_full_avg10 < 97.51);
	assert_int_equal(s.psi_some_total, 86076258);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *c = exact_copy(bad[i], strlen(bad[i]));

		memset(&s, 0, sizeof(s));
		int rc = cgroup_parse_pressure(c, strlen(bad[i]), &s);

		free(c);
		if (rc == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_false(s.has_psi);
	}
}

static void
proc_self_cgroup(void **state)
{
	struct cgroup_paths p;
	size_t len;
	char *b = load("host.cgroup", &len);

	(void)state;
	assert_int_equal(cgroup_parse_proc_cgroup(b, len, &p), 0);
	assert_true(p.has_v1);
	assert_string_equal(p.v1, "/process_api/f54f2f01ea7439eb3f0c3a56e533d598");
	assert_true(p.has_v2);
	assert_string_equal(p.v2, "/");
	free(b);

	b = load("v2.proc.cgroup", &len);
	assert_int_equal(cgroup_parse_proc_cgroup(b, len, &p), 0);
	assert_false(p.has_v1);
	assert_true(p.has_v2);
	assert_string_equal(p.v2, "/");
	free(b);

	/* Controllers mounted together; a path with a colon. */
	assert_int_equal(
	    cgroup_parse_proc_cgroup("5:hugetlb,memory:/docker/a:b\n1:name=x:/\n", 40, &p), 0);
	assert_string_equal(p.v1, "/docker/a:b");
	assert_false(p.has_v2);
	/* Not memory: "memoryx" is another controller. */
	assert_int_equal(cgroup_parse_proc_cgroup("4:memoryx:/a\n", 13, &p), 1);
	assert_int_equal(cgroup_parse_proc_cgroup("4:memory:/a", 11, &p), 1);
	assert_int_equal(cgroup_parse_proc_cgroup("x:memory:/a\n", 12, &p), 1);
	assert_int_equal(cgroup_parse_proc_cgroup("4:memory\n", 9, &p), 1);
	assert_int_equal(cgroup_parse_proc_cgroup("4:memory:a\n", 11, &p), 1);
	assert_int_equal(cgroup_parse_proc_cgroup("", 0, &p), 1);
	{
		char longer[CGROUP_PATH_MAX + 16];

		memset(longer, 'a', sizeof(longer));
		memcpy(longer, "0::/", 4);
		longer[sizeof(longer) - 1] = '\n';
		assert_int_equal(cgroup_parse_proc_cgroup(longer, sizeof(longer), &p), 1);
	}
}

/* The mounts of a mountinfo buffer, line by line. */
static size_t
mounts_of(const char *buf, size_t len, struct cgroup_mount *out, size_t max)
{
	const char *p = buf, *end = buf + len;
	size_t n = 0;

	while (p < end && n < max) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		assert_non_null(nl);
		if (cgroup_parse_mountinfo_line(p, (size_t)(nl - p), &out[n]) != 0)
			fail_msg("cannot parse: %.*s", (int)(nl - p), p);
		if (out[n].version != CGROUP_NONE)
			n++;
		p = nl + 1;
	}
	return n;
}

static void
mountinfo(void **state)
{
	struct cgroup_mount m[32];
	size_t len, n, i;
	char *b = load("host.mountinfo", &len);
	bool v1mem = false, unified = false;
	const char *docker = "1234 1200 0:32 /docker/abc /sys/fs/cgroup/memory "
			     "ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory";
	const char *spaced = "40 31 0:40 /a\\040b /mnt/my\\134cg rw shared:1 shared:2 - cgroup2 "
			     "cgroup2 rw,nsdelegate";

	(void)state;
	n = mounts_of(b, len, m, 32);
	for (i = 0; i < n; i++) {
		if (m[i].version == CGROUP_V1 && m[i].memory) {
			assert_string_equal(m[i].point, "/sys/fs/cgroup/memory");
			assert_string_equal(m[i].root, "/");
			assert_false(m[i].read_only);
			v1mem = true;
		}
		if (m[i].version == CGROUP_V2) {
			assert_string_equal(m[i].point, "/sys/fs/cgroup/unified");
			unified = true;
		}
	}
	assert_true(v1mem && unified);
	assert_int_equal(n, 10); /* 9 v1 hierarchies and cgroup2 */
	free(b);

	b = load("v2.mountinfo", &len);
	n = mounts_of(b, len, m, 32);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].version, CGROUP_V2);
	assert_string_equal(m[0].point, "/sys/fs/cgroup");
	assert_false(m[0].memory); /* v2 lists no controllers in its options */
	free(b);

	/* A container without a cgroup namespace: a bind mount of its own
	 * cgroup, read-only. */
	assert_int_equal(cgroup_parse_mountinfo_line(docker, strlen(docker), &m[0]), 0);
	assert_int_equal(m[0].version, CGROUP_V1);
	assert_true(m[0].memory);
	assert_true(m[0].read_only);
	assert_string_equal(m[0].root, "/docker/abc");
	assert_string_equal(m[0].point, "/sys/fs/cgroup/memory");
	/* Escaped names and several optional fields. */
	assert_int_equal(cgroup_parse_mountinfo_line(spaced, strlen(spaced), &m[0]), 0);
	assert_string_equal(m[0].root, "/a b");
	assert_string_equal(m[0].point, "/mnt/my\\cg");
	assert_int_equal(m[0].version, CGROUP_V2);
	/* Malformed: no separator, nothing after it, a cut escape. */
	assert_int_equal(cgroup_parse_mountinfo_line("1 2 0:3 / /x rw cgroup cgroup rw", 32, &m[0]),
			 1);
	assert_int_equal(cgroup_parse_mountinfo_line("1 2 0:3 / /x rw - cgroup", 24, &m[0]), 1);
	assert_int_equal(cgroup_parse_mountinfo_line("", 0, &m[0]), 1);
	assert_int_equal(cgroup_parse_mountinfo_line("1 2 0:3 /\\04 /x rw - tmpfs t rw", 31, &m[0]),
			 0);
	assert_string_equal(m[0].root, "/\\04");
	for (i = 0; i < strlen(docker); i++) {
		char *c = exact_copy(docker, i);
		struct cgroup_mount cut;

		(void)cgroup_parse_mountinfo_line(c, i, &cut);
		free(c);
	}
}

static void
join_dir(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup/memory", "/", "/a/b", out, sizeof(out)),
			 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory/a/b");
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup", "/", "/", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
	/* The bind mount of the container's own cgroup (no cgroup namespace). */
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc", out,
					 sizeof(out)),
			 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory");
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup/memory", "/docker/abc",
					 "/docker/abc/worker", out, sizeof(out)),
			 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory/worker");
	assert_int_equal(cgroup_join_dir("/m", "/docker/abc/", "/docker/abc/w", out, sizeof(out)),
			 0);
	assert_string_equal(out, "/m/w");
	/* Not under the mounted part. */
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abcd",
					 out, sizeof(out)),
			 1);
	assert_int_equal(cgroup_join_dir("/m", "/docker/abc", "/docker", out, sizeof(out)), 1);
	/* Outside a cgroup namespace's root. */
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup", "/", "/../sibling", out, sizeof(out)),
			 1);
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup", "/", "/a/..", out, sizeof(out)), 1);
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup", "/", "/a..b", out, sizeof(out)), 0);
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup", "/", "relative", out, sizeof(out)), 1);
	/* Too long for the buffer. */
	assert_int_equal(cgroup_join_dir("/sys/fs/cgroup/memory", "/",
					 "/a-long-path-that-does-not-fit-in-sixty-four-bytes", out,
					 sizeof(out)),
			 1);
}

static void
watch_names(void **state)
{
	char buf[64];

	(void)state;
	cgroup_watch_names(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	cgroup_watch_names(CGROUP_WATCH_EVENTS | CGROUP_WATCH_PSI, buf, sizeof(buf));
	assert_string_equal(buf, "memory.events,psi");
	cgroup_watch_names(CGROUP_WATCH_THRESHOLD | CGROUP_WATCH_OOM, buf, sizeof(buf));
	assert_string_equal(buf, "threshold,oom");
	cgroup_watch_names(CGROUP_WATCH_THRESHOLD | CGROUP_WATCH_OOM, buf, 8);
	assert_string_equal(buf, "thresho");
}

/* ---- A real memory cgroup (root only) ---- */

struct testcg {
	enum cgroup_version version;
	char dir[256];
	char base[64]; /* the hierarchy's mount point */
};

static int
write_file(const char *dir, const char *file, const char *value)
{
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

static bool
has_line(const char *path, const char *word)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, word) != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

/* A memory cgroup of 64 MB with a unique name: on v1 under the memory
 * hierarchy, on v2 (the VM) under the root with +memory. */
static int
cg_setup(void **state)
{
	static unsigned seq;
	struct testcg *cg;
	struct statfs sfs;
	const char *base;

	*state = NULL;
	if (geteuid() != 0)
		return 0;
	cg = calloc(1, sizeof(*cg));
	assert_non_null(cg);
	if (access("/sys/fs/cgroup/memory/memory.usage_in_bytes", F_OK) == 0) {
		cg->version = CGROUP_V1;
		base = "/sys/fs/cgroup/memory";
	} else if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == 0x63677270 &&
		   has_line("/sys/fs/cgroup/cgroup.subtree_control", "memory")) {
		cg->version = CGROUP_V2;
		base = "/sys/fs/cgroup";
	} else {
		free(cg);
		return 0;
	}
	snprintf(cg->base, sizeof(cg->base), "%s", base);
	snprintf(cg->dir, sizeof(cg->dir), "%s/mw-unit-%d-%u", base, (int)getpid(), seq++);
	if (mkdir(cg->dir, 0755) != 0)
		fail_msg("mkdir %s: %s", cg->dir, strerror(errno));
	if (write_file(cg->dir, cg->version == CGROUP_V1 ? "memory.limit_in_bytes" : "memory.max",
		       "67108864") != 0)
		fail_msg("cannot set the limit of %s", cg->dir);
	*state = cg;
	return 0;
}

/* Kills what is left in the cgroup, waits for it to empty, removes it. */
static int
cg_teardown(void **state)
{
	struct testcg *cg = *state;
	char path[512], line[64];
	int tries;

	if (cg == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir);
	for (tries = 0; tries < 200; tries++) {
		FILE *f = fopen(path, "r");
		bool any = false;

		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			kill((pid_t)atoi(line), SIGKILL);
			any = true;
		}
		if (f != NULL)
			fclose(f);
		if (!any && rmdir(cg->dir) == 0)
			break;
		usleep(10000);
	}
	if (access(cg->dir, F_OK) == 0)
		fail_msg("could not remove %s", cg->dir);
	free(cg);
	return 0;
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atol(line + 6);
	if (f != NULL)
		fclose(f);
	return kb;
}

static uint64_t
file_u64(const char *dir, const char *file)
{
	char path[512];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* A "key value" line of a cgroup file, read independently of cgroup.c. */
static uint64_t
file_key(const char *dir, const char *file, const char *key)
{
	char path[512], k[128];
	unsigned long long v, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	while (f != NULL && fscanf(f, "%127s %llu", k, &v) == 2)
		if (strcmp(k, key) == 0)
			found = v;
	if (f != NULL)
		fclose(f);
	return found;
}

/* How many pages of libcgroup's mount table are resident. */
static long
table_pages_resident(void)
{
	const long page = sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)cg_mount_table & ~(uintptr_t)(page - 1);
	unsigned char vec[256];
	size_t npages = 0xc8640 / (size_t)page, i;
	long n = 0;

	if (npages > sizeof(vec))
		npages = sizeof(vec);
	if (mincore((void *)start, npages * (size_t)page, vec) != 0)
		return -1;
	for (i = 0; i < npages; i++)
		n += vec[i] & 1;
	return n;
}

/* What the child in the cgroup saw, sent back through a pipe. */
struct report {
	int rc;
	long table_before, table_after, table_in_process;
	char why[256];
	struct cgroup_info info;
	long rss_before, rss_after;
	struct mem_sample s0, s1;
	uint64_t usage_lo, usage_hi, f_anon, f_file, f_inactive, f_shmem, f_oom_kill, f_peak;
	int status;	/* of a grandchild */
	unsigned fired; /* notification kinds seen */
	unsigned armed; /* CGROUP_WATCH_ bits */
	bool tmpfs;	/* the cache file would be shmem, not page cache */
	int moved_fd;	/* fd of the moved v1 threshold, -1 if none */
	char watch_why[256];
};

typedef void (*in_cgroup_fn)(const struct testcg *cg, struct report *r);

/* Runs fn in a child moved into the test cgroup. */
static void
run_in_cgroup(const struct testcg *cg, in_cgroup_fn fn, struct report *r)
{
	struct report mine;
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		memset(&mine, 0, sizeof(mine));
		mine.moved_fd = -1;
		if (write_file(cg->dir, "cgroup.procs", "0") != 0)
			_exit(3);
		fn(cg, &mine);
		if (write(p[1], &mine, sizeof(mine)) != (ssize_t)sizeof(mine))
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof(*r) && (n = read(p[0], (char *)r + got, sizeof(*r) - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("the child in the cgroup failed (status 0x%x)", st);
	assert_int_equal(got, sizeof(*r));
}

static void
discover_child(const struct testcg *cg, struct report *r)
{
	(void)cg;
	r->table_before = table_pages_resident();
	r->rss_before = rss_kb();
	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	r->rss_after = rss_kb();
	r->table_after = table_pages_resident();
	/* The control: what cgroup_init() does to the process that runs it. */
	if (cgroup_init() == 0)
		r->table_in_process = table_pages_resident();
}

static void
discovers_its_cgroup(void **state)
{
	struct testcg *cg = *state;
	struct report r;

	if (cg == NULL)
		skip();
	run_in_cgroup(cg, discover_child, &r);
	if (r.rc != 0)
		fail_msg("cgroup_discover: %s", r.why);
	assert_int_equal(r.info.version, cg->version);
	assert_string_equal(r.info.dir, cg->dir);
	assert_true(r.info.has_limit);
	assert_int_equal(r.info.limit, 64 * MB);
	assert_string_equal(r.info.limit_dir, cg->dir);
	assert_true(r.info.writable);
	assert_false(r.info.read_only);
	assert_string_equal(r.why, "");
	if (cg->version == CGROUP_V1) {
		/* libcgroup named the path; cgroup2 is mounted beside. */
		assert_true(r.info.via_libcgroup);
		assert_true(r.info.hybrid == (access("/sys/fs/cgroup/unified", F_OK) == 0));
	}
	/* libcgroup ran in a grandchild: none of its table is resident
	 * here, while cgroup_init() in this process makes it so. (VmRSS of
	 * this dynamic sanitizer build also counts the shared library code
	 * paged in by the first fork(), poll()...: shown, not judged.) */
	print_message("VmRSS around cgroup_discover: %ld kB -> %ld kB; libcgroup table pages "
		      "resident: %ld -> %ld, after cgroup_init() in-process: %ld\n",
		      r.rss_before, r.rss_after, r.table_before, r.table_after, r.table_in_process);
	assert_int_equal(r.table_before, 0);
	assert_int_equal(r.table_after, 0);
	assert_true(r.table_in_process > 100);
}

static void
sample_child(const struct testcg *cg, struct report *r)
{
	struct cgroup_reader rd;

	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	if (r->rc != 0 || cgroup_reader_open(&rd, &r->info) != 0) {
		r->rc = 1;
		return;
	}
	r->usage_lo = file_u64(cg->dir, cg->version == CGROUP_V1 ? "memory.usage_in_bytes"
								 : "memory.current");
	r->rc = cgroup_read_sample(&rd, &r->s0);
	r->usage_hi = file_u64(cg->dir, cg->version == CGROUP_V1 ? "memory.usage_in_bytes"
								 : "memory.current");
	if (cg->version == CGROUP_V1) {
		r->f_anon = file_key(cg->dir, "memory.stat", "total_rss");
		r->f_file = file_key(cg->dir, "memory.stat", "total_cache");
		r->f_shmem = file_key(cg->dir, "memory.stat", "total_shmem");
		r->f_oom_kill = file_key(cg->dir, "memory.oom_control", "oom_kill");
		r->f_peak = file_u64(cg->dir, "memory.max_usage_in_bytes");
	} else {
		r->f_anon = file_key(cg->dir, "memory.stat", "anon");
		r->f_file = file_key(cg->dir, "memory.stat", "file");
		r->f_shmem = file_key(cg->dir, "memory.stat", "shmem");
		r->f_oom_kill = file_key(cg->dir, "memory.events", "oom_kill");
		r->f_peak = file_u64(cg->dir, "memory.peak");
	}
	cgroup_reader_close(&rd);
}

static void
near(uint64_t got, uint64_t want, uint64_t slack, const char *what)
{
	if (got + slack < want || got > want + slack)
		fail_msg("%s: %llu, the kernel's file says %llu", what, (unsigned long long)got,
			 (unsigned long long)want);
}

static void
sample_matches_kernel(void **state)
{
	struct testcg *cg = *state;
	struct report r;

	if (cg == NULL)
		skip();
	run_in_cgroup(cg, sample_child, &r);
	if (r.rc != 0)
		fail_msg("discovery or sample failed: %s", r.why);
	/* Read between two reads of the file: within them, give or take the
	 * kernel's per-CPU charge batch (64 pages). */
	if (r.s0.current + 256 * 1024 < r.usage_lo || r.s0.current > r.usage_hi + 256 * 1024)
		fail_msg("current %llu, the file said %llu then %llu",
			 (unsigned long long)r.s0.current, (unsigned long long)r.usage_lo,
			 (unsigned long long)r.usage_hi);
	assert_int_equal(r.s0.limit, 64 * MB);
	assert_true(r.s0.has_stat);
	near(r.s0.anon, r.f_anon, 256 * 1024, "anon");
	near(r.s0.file, r.f_file, 256 * 1024, "file");
	assert_int_equal(r.s0.shmem, r.f_shmem);
	assert_true(r.s0.has_oom_kill);
	assert_int_equal(r.s0.events_oom_kill, r.f_oom_kill);
	assert_true(r.s0.has_peak);
	assert_true(r.s0.peak >= r.s0.current);
	assert_true(r.s0.peak <= r.f_peak);
	assert_true(r.s0.time_ms > 0);
}

static void
cache_child(const struct testcg *cg, struct report *r)
{
	static char chunk[1 << 20];
	struct cgroup_reader rd;
	struct statfs sfs;
	char path[64];
	int fd, i;

	(void)cg;
	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	if (r->rc != 0 || cgroup_reader_open(&rd, &r->info) != 0) {
		r->rc = 1;
		return;
	}
	/* The file is made inside the cgroup, so its pages are charged
	 * here (page cache stays with the cgroup that first touched it). */
	snprintf(path, sizeof(path), "mw-unit-cache-%d", (int)getpid());
	r->tmpfs =
	    statfs(".", &sfs) == 0 && (sfs.f_type == 0x01021994 /* tmpfs */ ||
				       sfs.f_type == (typeof(sfs.f_type))0x858458f6 /* ramfs */);
	(void)cgroup_read_sample(&rd, &r->s0);
	memset(chunk, 'c', sizeof(chunk));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	for (i = 0; fd >= 0 && i < 16; i++)
		if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			r->rc = 1;
	if (fd >= 0) {
		fsync(fd);
		for (i = 0; i < 16; i++)
			if (pread(fd, chunk, sizeof(chunk), (off_t)i << 20) < 0)
				r->rc = 1;
		close(fd);
	} else {
		r->rc = 1;
	}
	(void)cgroup_read_sample(&rd, &r->s1);
	unlink(path);
	cgroup_reader_close(&rd);
}

static void
page_cache_is_inactive_file(void **state)
{
	struct testcg *cg = *state;
	struct report r;
	uint64_t ws0, ws1;

	if (cg == NULL)
		skip();
	run_in_cgroup(cg, cache_child, &r);
	if (r.tmpfs)
		skip(); /* a tmpfs file is shmem: no page cache to see */
	assert_int_equal(r.rc, 0);
	print_message("inactive_file %llu -> %llu, current %llu -> %llu\n",
		      (unsigned long long)r.s0.inactive_file,
		      (unsigned long long)r.s1.inactive_file, (unsigned long long)r.s0.current,
		      (unsigned long long)r.s1.current);
	/* 16 MB written and read once: new page cache, on the inactive list. */
	assert_true(r.s1.inactive_file >= r.s0.inactive_file + 12 * MB);
	assert_true(r.s1.current >= r.s0.current + 12 * MB);
	/* The working set (current - inactive_file) leaves it out. */
	ws0 = r.s0.current - r.s0.inactive_file;
	ws1 = r.s1.current - r.s1.inactive_file;
	assert_true(ws1 < ws0 + 4 * MB);
}

/* Touches mb megabytes of anonymous memory, then holds it a little. */
static void
hog(unsigned mb, unsigned hold_ms)
{
	unsigned i;

	for (i = 0; i < mb; i++) {
		char *p =
		    mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(2);
		memset(p, 1, MB);
	}
	usleep(hold_ms * 1000);
	_exit(0);
}

/* Waits up to ms for notifications on the watch, acking each. */
static unsigned
collect(struct cgroup_watch *w, int ms)
{
	struct pollfd pfd[CGROUP_WATCH_MAX];
	unsigned fired = 0;
	size_t i;

	for (i = 0; i < w->nfds; i++) {
		pfd[i].fd = w->fds[i].fd;
		pfd[i].events = (short)(w->fds[i].events & 0xffff);
	}
	while (poll(pfd, w->nfds, ms) > 0) {
		for (i = 0; i < w->nfds; i++)
			if (pfd[i].revents != 0)
				fired |= cgroup_watch_ack(w, pfd[i].fd);
		ms = 100; /* the rest that came together */
	}
	return fired;
}

static void
oom_child(const struct testcg *cg, struct report *r)
{
	struct cgroup_reader rd;
	struct cgroup_watch w;
	pid_t pid;

	(void)cg;
	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	if (r->rc != 0 || cgroup_reader_open(&rd, &r->info) != 0) {
		r->rc = 1;
		return;
	}
	(void)cgroup_watch_open(&rd, 32 * MB, &w);
	r->armed = w.armed;
	snprintf(r->watch_why, sizeof(r->watch_why), "%s", w.why);
	(void)collect(&w, 0); /* nothing pending before */
	(void)cgroup_read_sample(&rd, &r->s0);
	pid = fork();
	if (pid == 0)
		hog(200, 0);
	while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
		;
	r->fired = collect(&w, 2000);
	(void)cgroup_read_sample(&rd, &r->s1);
	cgroup_watch_close(&w);
	cgroup_reader_close(&rd);
}

static void
oom_kill_counted_and_notified(void **state)
{
	struct testcg *cg = *state;
	struct report r;
	char armed[64], fired[64];

	if (cg == NULL)
		skip();
	run_in_cgroup(cg, oom_child, &r);
	assert_int_equal(r.rc, 0);
	cgroup_watch_names(r.armed, armed, sizeof(armed));
	cgroup_watch_names(r.fired, fired, sizeof(fired));
	print_message("armed %s (not: %s); fired %s; oom_kill %llu -> %llu\n", armed,
		      r.watch_why[0] ? r.watch_why : "-", fired,
		      (unsigned long long)r.s0.events_oom_kill,
		      (unsigned long long)r.s1.events_oom_kill);
	assert_true(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL);
	assert_true(r.s1.has_oom_kill);
	assert_int_equal(r.s1.events_oom_kill, r.s0.events_oom_kill + 1);
	if (cg->version == CGROUP_V1) {
		assert_true(r.s1.events_max > r.s0.events_max); /* failcnt */
		assert_true((r.armed & (CGROUP_WATCH_THRESHOLD | CGROUP_WATCH_OOM)) ==
			    (CGROUP_WATCH_THRESHOLD | CGROUP_WATCH_OOM));
		assert_true(r.fired & CGROUP_WATCH_THRESHOLD);
		assert_true(r.fired & CGROUP_WATCH_OOM);
	} else {
		assert_true(r.s1.events_max > r.s0.events_max);
		assert_true(r.armed & CGROUP_WATCH_EVENTS);
		assert_true(r.fired & CGROUP_WATCH_EVENTS);
	}
}

static void
threshold_child(const struct testcg *cg, struct report *r)
{
	struct cgroup_reader rd;
	struct cgroup_watch w;
	pid_t pid;

	(void)cg;
	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	if (r->rc != 0 || cgroup_reader_open(&rd, &r->info) != 0) {
		r->rc = 1;
		return;
	}
	/* Armed high, moved low: only the moved one may fire. */
	(void)cgroup_watch_open(&rd, 48 * MB, &w);
	if (cgroup_watch_set_threshold(&w, 16 * MB, &r->moved_fd) != 0)
		r->rc = 1;
	r->armed = w.armed;
	(void)collect(&w, 0);
	pid = fork();
	if (pid == 0)
		hog(24, 300);
	r->fired = collect(&w, 1000);
	while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
		;
	cgroup_watch_close(&w);
	cgroup_reader_close(&rd);
}

static void
v1_threshold_moves(void **state)
{
	struct testcg *cg = *state;
	struct report r;

	if (cg == NULL || cg->version != CGROUP_V1)
		skip();
	run_in_cgroup(cg, threshold_child, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.moved_fd >= 0);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_true(r.fired & CGROUP_WATCH_THRESHOLD);
	assert_false(r.fired & CGROUP_WATCH_OOM);
}

/* A private mount namespace, so that what the child mounts dies with it. */
static bool
private_mounts(int extra)
{
	return unshare(CLONE_NEWNS | extra) == 0 &&
	       mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

static void
watch_report(struct report *r)
{
	struct cgroup_reader rd;
	struct cgroup_watch w;

	if (cgroup_reader_open(&rd, &r->info) != 0) {
		r->rc = 1;
		return;
	}
	(void)cgroup_watch_open(&rd, 32 * MB, &w);
	r->armed = w.armed;
	snprintf(r->watch_why, sizeof(r->watch_why), "%s", w.why);
	r->rc |= cgroup_read_sample(&rd, &r->s0);
	cgroup_watch_close(&w);
	cgroup_reader_close(&rd);
}

/* A container without a cgroup namespace: its own cgroup directory
 * bind-mounted read-only where the hierarchy is usually mounted, while
 * /proc/self/cgroup still names the full path. */
static void
bind_child(const struct testcg *cg, struct report *r)
{
	r->rc = 1;
	if (!private_mounts(0) || mount(cg->dir, cg->base, NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, cg->base, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
		snprintf(r->why, sizeof(r->why), "cannot bind-mount: %s", strerror(errno));
		return;
	}
	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	if (r->rc == 0)
		watch_report(r);
}

static void
read_only_bind_mount(void **state)
{
	struct testcg *cg = *state;
	struct report r;
	const char *rel;

	if (cg == NULL)
		skip();
	run_in_cgroup(cg, bind_child, &r);
	if (r.rc != 0)
		fail_msg("%s", r.why);
	rel = cg->dir + strlen(cg->base);
	assert_string_equal(r.info.dir, cg->base); /* not base + path */
	assert_string_equal(r.info.root, rel);
	assert_string_equal(r.info.path, rel);
	assert_true(r.info.read_only);
	assert_false(r.info.writable);
	assert_false(r.info.namespaced);
	assert_true(r.info.has_limit);
	assert_int_equal(r.info.limit, 64 * MB);
	assert_int_equal(r.s0.limit, 64 * MB);
	print_message("read-only: armed 0x%x, not: %s\n", r.armed, r.watch_why);
	if (cg->version == CGROUP_V1) {
		/* cgroup.event_control cannot be written. */
		assert_int_equal(r.armed & (CGROUP_WATCH_THRESHOLD | CGROUP_WATCH_OOM), 0);
		assert_non_null(strstr(r.watch_why, "Read-only file system"));
	} else {
		/* memory.events only needs reading. */
		assert_true(r.armed & CGROUP_WATCH_EVENTS);
		assert_false(r.armed & CGROUP_WATCH_PSI);
	}
}

/* A cgroup namespace, as with docker --cgroupns=private or Kubernetes:
 * /proc/self/cgroup says "/", and the hierarchy mounted anew shows the
 * container's cgroup as its root. */
static void
cgroupns_child(const struct testcg *cg, struct report *r)
{
	int rc;

	r->rc = 1;
	if (!private_mounts(CLONE_NEWCGROUP) || umount2(cg->base, MNT_DETACH) != 0) {
		snprintf(r->why, sizeof(r->why), "cannot unshare: %s", strerror(errno));
		return;
	}
	if (cg->version == CGROUP_V1)
		rc = mount("cgroup", cg->base, "cgroup", MS_RDONLY | MS_NOSUID, "memory");
	else
		rc = mount("cgroup2", cg->base, "cgroup2", MS_RDONLY | MS_NOSUID, NULL);
	if (rc != 0) {
		snprintf(r->why, sizeof(r->why), "cannot mount: %s", strerror(errno));
		return;
	}
	r->rc = cgroup_discover(&r->info, r->why, sizeof(r->why));
	if (r->rc == 0)
		watch_report(r);
}

static void
cgroup_namespace(void **state)
{
	struct testcg *cg = *state;
	struct report r;

	if (cg == NULL)
		skip();
	run_in_cgroup(cg, cgroupns_child, &r);
	if (r.rc != 0)
		fail_msg("%s", r.why);
	assert_true(r.info.namespaced);
	assert_string_equal(r.info.path, "/");
	assert_string_equal(r.info.dir, cg->base);
	assert_true(r.info.read_only);
	assert_true(r.info.has_limit);
	assert_int_equal(r.info.limit, 64 * MB);
	assert_int_equal(r.s0.limit, 64 * MB);
	if (cg->version == CGROUP_V2)
		assert_true(r.armed & CGROUP_WATCH_EVENTS);
}

static void
outside_any_limit(void **state)
{
	struct cgroup_info info;
	char why[256];
	int rc;

	(void)state;
	/* Wherever the test runs: discovery answers, and says why when
	 * there is no cgroup or no limit. */
	rc = cgroup_discover(&info, why, sizeof(why));
	if (rc != 0 || !info.has_limit)
		assert_true(why[0] != '\0');
	else
		assert_string_equal(why, "");
	if (rc == 0)
		assert_true(info.version == CGROUP_V1 || info.version == CGROUP_V2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(numbers),
	    cmocka_unit_test(captured_limits),
	    cmocka_unit_test(memory_stat_v1),
	    cmocka_unit_test(memory_stat_v2),
	    cmocka_unit_test(memory_stat_malformed),
	    cmocka_unit_test(memory_events),
	    cmocka_unit_test(oom_control),
	    cmocka_unit_test(pressure),
	    cmocka_unit_test(proc_self_cgroup),
	    cmocka_unit_test(mountinfo),
	    cmocka_unit_test(join_dir),
	    cmocka_unit_test(watch_names),
	    cmocka_unit_test(outside_any_limit),
	    cmocka_unit_test_setup_teardown(discovers_its_cgroup, cg_setup, cg_teardown),
	    cmocka_unit_test_setup_teardown(sample_matches_kernel, cg_setup, cg_teardown),
	    cmocka_unit_test_setup_teardown(page_cache_is_inactive_file, cg_setup, cg_teardown),
	    cmocka_unit_test_setup_teardown(oom_kill_counted_and_notified, cg_setup, cg_teardown),
	    cmocka_unit_test_setup_teardown(v1_threshold_moves, cg_setup, cg_teardown),
	    cmocka_unit_test_setup_teardown(read_only_bind_mount, cg_setup, cg_teardown),
	    cmocka_unit_test_setup_teardown(cgroup_namespace, cg_setup, cg_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
