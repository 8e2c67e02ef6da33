/* The allocator preload (SPEC section 5): LD_PRELOAD composition,
 * MALLOC_CONF and GLIBC_TUNABLES decisions, the CPU quota files, and the
 * ELF classification of real files. */
#include <setjmp.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload.h"
#include "safepath.h"
#include "spawn.h"

#define JE "/opt/memwarden/lib/libjemalloc.so.2"
#define AG "/opt/memwarden/lib/memwarden-agent.so"

static void
compose_is(const char *existing, const char *lib, const char *want)
{
	char *got = preload_compose_ld_preload(existing, lib);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void
ld_preload_composition(void **state)
{
	(void)state;
	compose_is(NULL, JE, JE);
	compose_is("", JE, JE);
	compose_is("   ", JE, JE);
	/* memwarden's entry first, the existing ones kept in order. */
	compose_is("/lib/a.so", JE, JE ":/lib/a.so");
	compose_is("/lib/a.so:/lib/b.so", JE, JE ":/lib/a.so:/lib/b.so");
	/* spaces, colons, both, repeated: written back with ':' */
	compose_is("/lib/a.so /lib/b.so", JE, JE ":/lib/a.so:/lib/b.so");
	compose_is(" /lib/a.so :: /lib/b.so  ", JE, JE ":/lib/a.so:/lib/b.so");
	/* duplicates: the same entry once */
	compose_is(JE, JE, JE);
	/* already there, in the user's place: kept where it is */
	compose_is("/lib/a.so:" JE, JE, "/lib/a.so:" JE);
	compose_is("/lib/a.so /lib/a.so", JE, JE ":/lib/a.so");
	/* a jemalloc from another path is kept, no second copy */
	compose_is("/usr/lib/libjemalloc.so.2", JE, "/usr/lib/libjemalloc.so.2");
	compose_is("/lib/a.so libjemalloc.so", JE, "/lib/a.so:libjemalloc.so");
	compose_is("/x/libjemalloc.so.1:/lib/a.so", JE, "/x/libjemalloc.so.1:/lib/a.so");
	/* a name that merely contains jemalloc is not jemalloc */
	compose_is("/lib/notlibjemalloc.so.2", JE, JE ":/lib/notlibjemalloc.so.2");
	/* no library: existing, deduplicated */
	compose_is("/lib/a.so /lib/a.so", NULL, "/lib/a.so");
	assert_true(preload_has_jemalloc("/a.so /usr/lib64/libjemalloc.so.2"));
	assert_false(preload_has_jemalloc("/a.so:/b.so"));
	assert_false(preload_has_jemalloc(NULL));
}

static void
libs_is(const char *existing, const char *je, const char *agent, const char *want)
{
	char *got = preload_compose_libs(existing, je, agent);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* jemalloc and the agent together, or either alone (preload = none keeps
 * the agent), each once whatever the path it is already preloaded from. */
static void
ld_preload_with_agent(void **state)
{
	(void)state;
	libs_is(NULL, JE, AG, JE ":" AG);
	libs_is("", JE, AG, JE ":" AG);
	libs_is(NULL, NULL, AG, AG);
	libs_is(NULL, JE, NULL, JE);
	libs_is(NULL, NULL, NULL, "");
	libs_is("/lib/a.so", JE, AG, JE ":" AG ":/lib/a.so");
	libs_is("/lib/a.so /lib/b.so", NULL, AG, AG ":/lib/a.so:/lib/b.so");
	/* the same agent already there: kept where it is */
	libs_is("/lib/a.so:" AG, JE, AG, JE ":/lib/a.so:" AG);
	/* an agent from another path: kept, no second copy */
	libs_is("/build/memwarden-agent.so", JE, AG, JE ":/build/memwarden-agent.so");
	libs_is("memwarden-agent.so /lib/a.so", NULL, AG, "memwarden-agent.so:/lib/a.so");
	/* both already there, from elsewhere: nothing added */
	libs_is("/x/libjemalloc.so.2 /y/memwarden-agent.so", JE, AG,
		"/x/libjemalloc.so.2:/y/memwarden-agent.so");
	/* a jemalloc there, the agent not: the agent in front */
	libs_is("/x/libjemalloc.so.2", JE, AG, AG ":/x/libjemalloc.so.2");
	/* names that merely contain the agent's are not the agent */
	libs_is("/lib/memwarden-agent.so.old:/lib/my-memwarden-agent.so", NULL, AG,
		AG ":/lib/memwarden-agent.so.old:/lib/my-memwarden-agent.so");
	compose_is("/y/memwarden-agent.so", AG, "/y/memwarden-agent.so");
	assert_true(preload_has_agent("/a.so:/opt/memwarden/lib/memwarden-agent.so"));
	assert_true(preload_has_agent(" memwarden-agent.so "));
	assert_false(preload_has_agent("/a.so:/lib/memwarden-agent.so.1"));
	assert_false(preload_has_agent(NULL));
	assert_false(preload_has_agent(""));
}

static void
malloc_conf_decision(void **state)
{
	char out[256];
	const char *def = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

	(void)state;
	assert_int_equal(preload_malloc_conf(NULL, def, false, 4, out, sizeof(out)), 1);
	assert_string_equal(
	    out, "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:4");
	/* no narenas: the config's as is */
	assert_int_equal(preload_malloc_conf(NULL, def, false, 0, out, sizeof(out)), 1);
	assert_string_equal(out, def);
	/* the environment's wins... */
	assert_int_equal(preload_malloc_conf("narenas:1", def, false, 4, out, sizeof(out)), 0);
	assert_int_equal(preload_malloc_conf("", def, false, 4, out, sizeof(out)), 0);
	/* ...unless override */
	assert_int_equal(preload_malloc_conf("narenas:1", def, true, 4, out, sizeof(out)), 1);
	assert_string_equal(
	    out, "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:4");
	/* the config's own narenas is not doubled */
	assert_int_equal(
	    preload_malloc_conf(NULL, "narenas:8,tcache:false", false, 4, out, sizeof(out)), 1);
	assert_string_equal(out, "narenas:8,tcache:false");
	/* empty config: nothing set, even with override */
	assert_int_equal(preload_malloc_conf(NULL, "", false, 4, out, sizeof(out)), 0);
	assert_int_equal(preload_malloc_conf("x", "", true, 4, out, sizeof(out)), 0);
	assert_int_equal(preload_malloc_conf(NULL, NULL, false, 4, out, sizeof(out)), 0);
	/* too small */
	assert_int_equal(preload_malloc_conf(NULL, def, false, 4, out, 10), -1);
}

static void
glibc_tunables(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(preload_glibc_tunables(NULL, 4, out, sizeof(out)), 1);
	assert_string_equal(out, "glibc.malloc.arena_max=4");
	assert_int_equal(preload_glibc_tunables("", 4, out, sizeof(out)), 1);
	assert_string_equal(out, "glibc.malloc.arena_max=4");
	assert_int_equal(
	    preload_glibc_tunables("glibc.malloc.trim_threshold=1", 2, out, sizeof(out)), 1);
	assert_string_equal(out, "glibc.malloc.trim_threshold=1:glibc.malloc.arena_max=2");
	/* one already there is kept */
	assert_int_equal(preload_glibc_tunables("glibc.malloc.arena_max=1", 4, out, sizeof(out)),
			 0);
	assert_int_equal(preload_glibc_tunables(NULL, 0, out, sizeof(out)), 0);
	assert_int_equal(preload_glibc_tunables(NULL, 4, out, 5), -1);
}

static void
cpu_max_parsing(void **state)
{
	unsigned n = 99;

	(void)state;
	assert_int_equal(preload_parse_cpu_max("max 100000\n", 11, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(preload_parse_cpu_max("150000 100000\n", 14, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(preload_parse_cpu_max("200000 100000\n", 14, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(preload_parse_cpu_max("1000 100000\n", 12, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(preload_parse_cpu_max("400000 100000", 13, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(preload_parse_cpu_max("garbage\n", 8, &n), 1);
	assert_int_equal(preload_parse_cpu_max("100 0\n", 6, &n), 1);
	assert_int_equal(preload_parse_cpu_max("-5 100000\n", 10, &n), 1);
	assert_int_equal(preload_parse_cpu_max("abc 100000\n", 11, &n), 1);
}

static void
cfs_parsing(void **state)
{
	unsigned n = 99;

	(void)state;
	assert_int_equal(preload_parse_cfs("-1\n", "100000\n", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(preload_parse_cfs("250000\n", "100000\n", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(preload_parse_cfs("50000\n", "100000\n", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(preload_parse_cfs("x\n", "100000\n", &n), 1);
	assert_int_equal(preload_parse_cfs("1000\n", "0\n", &n), 1);
	assert_true(preload_cpu_count() >= 1);
}

static void
find_command(void **state)
{
	char out[PRELOAD_PATH_MAX];

	(void)state;
	assert_int_equal(
	    preload_find_command("sh", "/nonexistent:/bin:/usr/bin", NULL, out, sizeof(out)), 0);
	assert_true(strcmp(out, "/bin/sh") == 0 || strcmp(out, "/usr/bin/sh") == 0);
	assert_int_equal(
	    preload_find_command("no-such-command-xyz", "/bin:/usr/bin", NULL, out, sizeof(out)),
	    1);
	assert_int_equal(preload_find_command("/bin/true", NULL, "/tmp", out, sizeof(out)), 0);
	assert_string_equal(out, "/bin/true");
	assert_int_equal(preload_find_command("./x", NULL, "/srv", out, sizeof(out)), 0);
	assert_string_equal(out, "/srv/./x");
}

/* A temporary directory for the files below. */
static char tmpdir[64];

static int
make_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mw-preload-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
remove_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
copy_file(const char *from, const char *to, mode_t mode)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod %o '%s'", from, to, (unsigned)mode, to);
	return system(cmd);
}

static void
elf_classification(void **state)
{
	char interp[PRELOAD_PATH_MAX], path[256], src[256], cmd[1024];
	FILE *f;

	(void)state;
	/* dynamic glibc */
	assert_int_equal(preload_classify("/bin/true", interp, sizeof(interp)), PRELOAD_ELF_GLIBC);
	assert_non_null(strstr(interp, "ld-linux"));
	/* a static binary built here */
	snprintf(src, sizeof(src), "%s/s.c", tmpdir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("int main(void) { return 0; }\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/static", tmpdir);
	snprintf(cmd, sizeof(cmd), "cc -static -o '%s' '%s' 2>/dev/null", path, src);
	if (system(cmd) == 0)
		assert_int_equal(preload_classify(path, NULL, 0), PRELOAD_ELF_STATIC);
	/* a musl program, when musl-gcc is there */
	snprintf(path, sizeof(path), "%s/musl", tmpdir);
	snprintf(cmd, sizeof(cmd), "musl-gcc -o '%s' '%s' 2>/dev/null", path, src);
	if (system(cmd) == 0 &&
	    preload_classify(path, interp, sizeof(interp)) != PRELOAD_ELF_STATIC) {
		assert_int_equal(preload_classify(path, interp, sizeof(interp)), PRELOAD_ELF_MUSL);
		assert_non_null(strstr(interp, "ld-musl"));
	}
	/* setuid and setgid copies */
	snprintf(path, sizeof(path), "%s/suid", tmpdir);
	assert_int_equal(copy_file("/bin/true", path, 04755), 0);
	assert_int_equal(preload_classify(path, NULL, 0), PRELOAD_ELF_SETID);
	snprintf(path, sizeof(path), "%s/sgid", tmpdir);
	assert_int_equal(copy_file("/bin/true", path, 02755), 0);
	assert_int_equal(preload_classify(path, NULL, 0), PRELOAD_ELF_SETID);
	/* a script: its interpreter is classified */
	snprintf(path, sizeof(path), "%s/script", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh -e\ntrue\n", f);
	fclose(f);
	assert_int_equal(preload_classify(path, NULL, 0), PRELOAD_ELF_GLIBC);
	/* not ELF, not there */
	snprintf(path, sizeof(path), "%s/s.c", tmpdir);
	assert_int_equal(preload_classify(path, NULL, 0), PRELOAD_ELF_UNKNOWN);
	assert_int_equal(preload_classify("/nonexistent/x", NULL, 0), PRELOAD_ELF_UNKNOWN);
	assert_int_equal(preload_classify("/tmp", NULL, 0), PRELOAD_ELF_UNKNOWN);
	/* the distribution's jemalloc is a glibc library */
	if (access("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", R_OK) == 0)
		assert_true(preload_lib_is_glibc("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"));
	assert_false(preload_lib_is_glibc(src));
}

static void
file_capabilities(void **state)
{
	char path[256], cmd[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/caps", tmpdir);
	assert_int_equal(copy_file("/bin/true", path, 0755), 0);
	snprintf(cmd, sizeof(cmd), "setcap cap_net_bind_service+ep '%s' 2>/dev/null", path);
	if (system(cmd) != 0)
		skip();
	assert_int_equal(preload_classify(path, NULL, 0), PRELOAD_ELF_CAPS);
}

/* The env strings of a plan, by name, or NULL. */
static const char *
plan_var(const struct preload_plan *plan, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; plan->env[i]; i++)
		if (strncmp(plan->env[i], name, n) == 0 && plan->env[i][n] == '=')
			return plan->env[i] + n + 1;
	return NULL;
}

/* preload_setup with real files: explicit paths for both libraries, with
 * jemalloc and with preload = none, the environment's LD_PRELOAD, a bad
 * agent path, and a static command that gets neither. */
static void
setup_with_agent(void **state)
{
	char je[256], ag[256], ag2[256], err[512], ld[1024], cmd[640], src[256], line[1200];
	char *argv[] = {"/bin/true", NULL};
	char *env_in[] = {"PATH=/bin:/usr/bin", NULL, NULL};
	struct preload_plan plan;
	struct config cfg;
	FILE *f;

	(void)state;
	/* Copies of a real glibc library stand for both: the ELF check
	 * looks at what they are built for. */
	snprintf(je, sizeof(je), "%s/libjemalloc.so.2", tmpdir);
	snprintf(ag, sizeof(ag), "%s/memwarden-agent.so", tmpdir);
	mkdir(strcat(strcpy(ag2, tmpdir), "/other"), 0755);
	strcat(ag2, "/memwarden-agent.so");
	assert_int_equal(copy_file("/bin/true", je, 0644), 0);
	assert_int_equal(copy_file("/bin/true", ag, 0644), 0);
	assert_int_equal(copy_file("/bin/true", ag2, 0644), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.argv = argv;
	cfg.jemalloc_path = je;
	cfg.agent_path = ag;
	cfg.release_signal = 45;
	cfg.malloc_conf = "dirty_decay_ms:0";

	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
	snprintf(ld, sizeof(ld), "%s:%s", je, ag);
	assert_string_equal(plan_var(&plan, "LD_PRELOAD"), ld);
	assert_string_equal(plan.agent, ag);
	assert_string_equal(plan.agent_reason, "configured");
	assert_string_equal(plan_var(&plan, "MEMWARDEN_RELEASE_SIGNAL"), "45");
	assert_non_null(plan_var(&plan, "MALLOC_CONF"));
	preload_free(&plan);

	/* preload = none: the agent alone, glibc's arena_max, the signal */
	cfg.preload = PRELOAD_NONE;
	cfg.arena_max = 3;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
	assert_null(plan.jemalloc);
	assert_string_equal(plan_var(&plan, "LD_PRELOAD"), ag);
	assert_string_equal(plan_var(&plan, "GLIBC_TUNABLES"), "glibc.malloc.arena_max=3");
	assert_string_equal(plan_var(&plan, "MEMWARDEN_RELEASE_SIGNAL"), "45");
	assert_null(plan_var(&plan, "MALLOC_CONF"));
	preload_free(&plan);

	/* an agent already preloaded from elsewhere: kept, no second one */
	snprintf(line, sizeof(line), "LD_PRELOAD=/lib/a.so %s", ag2);
	env_in[1] = line;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
	assert_null(plan.agent);
	assert_string_equal(plan.agent_reason, "already preloaded");
	/* nothing to add: the environment's LD_PRELOAD stays as it is */
	assert_null(plan_var(&plan, "LD_PRELOAD"));
	preload_free(&plan);
	cfg.preload = PRELOAD_JEMALLOC;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
	snprintf(ld, sizeof(ld), "%s:/lib/a.so:%s", je, ag2);
	assert_string_equal(plan_var(&plan, "LD_PRELOAD"), ld);
	preload_free(&plan);
	cfg.preload = PRELOAD_NONE;
	env_in[1] = NULL;

	/* auto finds the agent beside the build: this test runs from
	 * build/unit/, whose parent is build/ */
	cfg.agent_path = NULL;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
	if (access("build/memwarden-agent.so", F_OK) == 0 ||
	    access("../memwarden-agent.so", F_OK) == 0) {
		assert_non_null(plan.agent);
		assert_string_equal(plan.agent_reason, "build");
		assert_non_null(strstr(plan.agent, "/build/memwarden-agent.so"));
	}
	preload_free(&plan);

	/* a static command gets neither library */
	snprintf(src, sizeof(src), "%s/s2.c", tmpdir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("int main(void) { return 0; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cc -static -o '%s/static2' '%s' 2>/dev/null", tmpdir, src);
	if (system(cmd) == 0) {
		snprintf(cmd, sizeof(cmd), "%s/static2", tmpdir);
		argv[0] = cmd;
		cfg.preload = PRELOAD_JEMALLOC;
		cfg.agent_path = ag;
		assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
		assert_null(plan.jemalloc);
		assert_null(plan.agent);
		assert_string_equal(plan.agent_reason, "cannot apply");
		assert_null(plan_var(&plan, "LD_PRELOAD"));
		preload_free(&plan);
		argv[0] = "/bin/true";
	}

	/* an explicit agent path that is not a file: a start-up error */
	cfg.agent_path = "/nonexistent/memwarden-agent.so";
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "[allocator] agent = /nonexistent/memwarden-agent.so"));
	cfg.agent_path = tmpdir;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "not a regular file"));
}

/* The pure judgement of one object: root's or the trusted uid's, not
 * writable by group or others; a directory above may be with the sticky
 * bit, the state file's own directory may not. */
static void
safe_path_judge(void **state)
{
	(void)state;
	assert_null(safepath_judge(S_IFREG | 0644, 0, 0, SAFEPATH_FILE));
	assert_null(safepath_judge(S_IFREG | 0755, 1000, 1000, SAFEPATH_FILE));
	assert_null(safepath_judge(S_IFREG | 0444, 0, 1000, SAFEPATH_FILE));
	assert_string_equal(safepath_judge(S_IFREG | 0644, 1000, 0, SAFEPATH_FILE),
			    "owned by another user");
	assert_string_equal(safepath_judge(S_IFREG | 0644, 1001, 1000, SAFEPATH_FILE),
			    "owned by another user");
	assert_string_equal(safepath_judge(S_IFREG | 0664, 0, 0, SAFEPATH_FILE),
			    "writable by group or others");
	assert_string_equal(safepath_judge(S_IFREG | 0646, 0, 0, SAFEPATH_FILE),
			    "writable by group or others");
	/* the sticky bit does not make a file safe */
	assert_string_equal(safepath_judge(S_IFREG | 01666, 0, 0, SAFEPATH_FILE),
			    "writable by group or others");
	assert_string_equal(safepath_judge(S_IFDIR | 0755, 0, 0, SAFEPATH_FILE),
			    "not a regular file");
	assert_string_equal(safepath_judge(S_IFCHR | 0666, 0, 0, SAFEPATH_FILE),
			    "not a regular file");
	assert_null(safepath_judge(S_IFDIR | 0755, 0, 0, SAFEPATH_DIR));
	assert_null(safepath_judge(S_IFDIR | 01777, 0, 0, SAFEPATH_DIR)); /* /tmp */
	assert_string_equal(safepath_judge(S_IFDIR | 0777, 0, 0, SAFEPATH_DIR),
			    "writable by group or others without the sticky bit");
	assert_string_equal(safepath_judge(S_IFDIR | 0775, 0, 0, SAFEPATH_DIR),
			    "writable by group or others without the sticky bit");
	assert_string_equal(safepath_judge(S_IFDIR | 01777, 1000, 0, SAFEPATH_DIR),
			    "owned by another user");
	assert_string_equal(safepath_judge(S_IFREG | 0644, 0, 0, SAFEPATH_DIR), "not a directory");
	assert_null(safepath_judge(S_IFDIR | 0755, 0, 0, SAFEPATH_PRIVATE_DIR));
	assert_string_equal(safepath_judge(S_IFDIR | 01777, 0, 0, SAFEPATH_PRIVATE_DIR),
			    "writable by group or others");
}

/* safepath_check on real files under tmpdir (0700, in /tmp: sticky). */
static void
safe_path_walk(void **state)
{
	char good[128], canon[PATH_MAX], why[PATH_MAX + 128], open_dir[128], bad[256];
	char sticky[128], in_sticky[256], link[128], bad_link[128], rel[256];
	uid_t me = geteuid(), other = me == 0 ? 12345 : me + 1;

	(void)state;
	snprintf(good, sizeof(good), "%s/libgood.so", tmpdir);
	assert_int_equal(copy_file("/bin/true", good, 0644), 0);
	assert_int_equal(
	    safepath_check(good, SAFEPATH_FILE, me, canon, sizeof(canon), why, sizeof(why)), 0);
	assert_string_equal(canon, good);
	/* relative, missing, not a file */
	assert_int_equal(
	    safepath_check("lib/libgood.so", SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_string_equal(why, "not an absolute path");
	snprintf(rel, sizeof(rel), "%s/missing/lib.so", tmpdir);
	assert_int_equal(safepath_check(rel, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_string_equal(why, "No such file or directory");
	assert_int_equal(safepath_check(tmpdir, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_string_equal(why, "not a regular file");
	/* writable by group, by others */
	chmod(good, 0664);
	assert_int_equal(safepath_check(good, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_string_equal(why, "writable by group or others (mode 0664)");
	chmod(good, 0606);
	assert_int_equal(safepath_check(good, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	chmod(good, 0644);
	/* in a directory anyone may write: refused, named */
	snprintf(open_dir, sizeof(open_dir), "%s/open", tmpdir);
	assert_int_equal(mkdir(open_dir, 0755), 0);
	chmod(open_dir, 0777);
	snprintf(bad, sizeof(bad), "%s/lib.so", open_dir);
	assert_int_equal(copy_file("/bin/true", bad, 0644), 0);
	assert_int_equal(safepath_check(bad, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_non_null(strstr(why, open_dir));
	assert_non_null(
	    strstr(why, "writable by group or others without the sticky bit (mode 0777)"));
	/* ... unless it has the sticky bit (like /tmp) */
	snprintf(sticky, sizeof(sticky), "%s/sticky", tmpdir);
	assert_int_equal(mkdir(sticky, 0755), 0);
	chmod(sticky, 01777);
	snprintf(in_sticky, sizeof(in_sticky), "%s/lib.so", sticky);
	assert_int_equal(copy_file("/bin/true", in_sticky, 0644), 0);
	assert_int_equal(safepath_check(in_sticky, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)),
			 0);
	/* a symbolic link: checked as resolved too, which is what is used */
	snprintf(link, sizeof(link), "%s/liblink.so", tmpdir);
	assert_int_equal(symlink(good, link), 0);
	assert_int_equal(
	    safepath_check(link, SAFEPATH_FILE, me, canon, sizeof(canon), why, sizeof(why)), 0);
	assert_string_equal(canon, good);
	snprintf(bad_link, sizeof(bad_link), "%s/libbad.so", tmpdir);
	assert_int_equal(symlink(bad, bad_link), 0);
	assert_int_equal(safepath_check(bad_link, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_non_null(strstr(why, open_dir));
	/* a link to a safe file, in the open directory, where anyone could
	 * replace it: refused on the way */
	snprintf(rel, sizeof(rel), "%s/link.so", open_dir);
	assert_int_equal(symlink(good, rel), 0);
	assert_int_equal(safepath_check(rel, SAFEPATH_FILE, me, NULL, 0, why, sizeof(why)), 1);
	assert_non_null(strstr(why, open_dir));
	/* owned by someone else: root may chown to show it; anyone else
	 * trusts only root and themselves */
	if (me == 0) {
		assert_int_equal(chown(good, other, (gid_t)-1), 0);
		assert_int_equal(safepath_check(good, SAFEPATH_FILE, 0, NULL, 0, why, sizeof(why)),
				 1);
		assert_string_equal(why, "owned by uid 12345, not by root");
		/* memwarden running as that user trusts it */
		assert_int_equal(
		    safepath_check(good, SAFEPATH_FILE, other, NULL, 0, why, sizeof(why)), 0);
		assert_int_equal(chown(good, 0, (gid_t)-1), 0);
	} else {
		assert_int_equal(
		    safepath_check(good, SAFEPATH_FILE, other, NULL, 0, why, sizeof(why)), 1);
		assert_non_null(strstr(why, "owned by uid"));
	}
	/* a directory: its own kind */
	assert_int_equal(safepath_check(sticky, SAFEPATH_DIR, me, NULL, 0, why, sizeof(why)), 0);
	assert_int_equal(
	    safepath_check(sticky, SAFEPATH_PRIVATE_DIR, me, NULL, 0, why, sizeof(why)), 1);
	assert_string_equal(why, "writable by group or others (mode 1777)");
	assert_int_equal(
	    safepath_check(tmpdir, SAFEPATH_PRIVATE_DIR, me, NULL, 0, why, sizeof(why)), 0);
}

/* preload_setup refuses an explicit library that is not safe, naming the
 * key, the path and why; the service would get the resolved path. */
static void
setup_refuses_unsafe_library(void **state)
{
	char lib[256], link[128], dir[128], err[1024];
	char *argv[] = {"/bin/true", NULL};
	char *env_in[] = {"PATH=/bin:/usr/bin", NULL};
	struct preload_plan plan;
	struct config cfg;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/setup-open", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(lib, sizeof(lib), "%s/libjemalloc.so.2", dir);
	assert_int_equal(copy_file("/bin/true", lib, 0644), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.argv = argv;
	cfg.preload = PRELOAD_JEMALLOC;
	cfg.jemalloc_path = lib;
	cfg.agent_path = lib; /* a copy of /bin/true stands for both */
	chmod(dir, 0777);
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "[allocator] jemalloc = "));
	assert_non_null(strstr(err, lib));
	assert_non_null(strstr(err, "not safe to preload: the directory"));
	assert_non_null(strstr(err, "without the sticky bit (mode 0777)"));
	chmod(dir, 0755);
	chmod(lib, 0666);
	cfg.jemalloc_path = NULL;
	cfg.preload = PRELOAD_NONE;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "[allocator] agent = "));
	assert_non_null(
	    strstr(err, "not safe to preload: writable by group or others (mode 0666)"));
	/* safe again, through a link: the plan holds the resolved path */
	chmod(lib, 0644);
	snprintf(link, sizeof(link), "%s/agent-link.so", tmpdir);
	assert_int_equal(symlink(lib, link), 0);
	cfg.agent_path = link;
	assert_int_equal(preload_setup(&plan, &cfg, env_in, err, sizeof(err)), 0);
	assert_non_null(plan.agent);
	assert_string_equal(plan.agent, lib);
	preload_free(&plan);
}

/* service_environment adds the plan's strings last, replacing the
 * variables of the same name. */
static void
plan_in_service_environment(void **state)
{
	char ld[] = "LD_PRELOAD=" JE ":/lib/a.so", mc[] = "MALLOC_CONF=narenas:2";
	char *base[] = {"PATH=/bin", "LD_PRELOAD=/lib/a.so", NULL};
	struct preload_plan plan = {.env = {ld, mc, NULL}};
	struct config cfg;
	char **env;
	size_t n = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	spawn_set_preload(&plan);
	env = service_environment(&cfg, base);
	spawn_set_preload(NULL);
	assert_non_null(env);
	while (env[n])
		n++;
	assert_int_equal(n, 3);
	assert_string_equal(env[0], "PATH=/bin");
	assert_string_equal(env[1], ld);
	assert_string_equal(env[2], mc);
	free(env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ld_preload_composition), /* the pure functions first */
	    cmocka_unit_test(ld_preload_with_agent),
	    cmocka_unit_test(malloc_conf_decision),
	    cmocka_unit_test(glibc_tunables),
	    cmocka_unit_test(cpu_max_parsing),
	    cmocka_unit_test(cfs_parsing),
	    cmocka_unit_test(find_command),
	    cmocka_unit_test(elf_classification),
	    cmocka_unit_test(file_capabilities),
	    cmocka_unit_test(setup_with_agent),
	    cmocka_unit_test(safe_path_judge),
	    cmocka_unit_test(safe_path_walk),
	    cmocka_unit_test(setup_refuses_unsafe_library),
	    cmocka_unit_test(plan_in_service_environment),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
