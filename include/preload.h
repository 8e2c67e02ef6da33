/*
 * The allocator preload (SPEC section 5): which jemalloc, if any, goes into
 * the service's LD_PRELOAD, with what MALLOC_CONF, or which glibc arena_max
 * when it does not; and the agent (SPEC section 6), memwarden-agent.so,
 * preloaded with it, or alone when the service keeps glibc's malloc.
 * Decided once at start-up by preload_setup; the resulting "KEY=value"
 * strings are added by service_environment.
 *
 * The composition functions are pure (no I/O) for the unit tests.
 */
#ifndef MEMWARDEN_PRELOAD_H
#define MEMWARDEN_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define PRELOAD_PATH_MAX 4096

#define AGENT_SONAME "memwarden-agent.so"

struct preload_plan {
	char *jemalloc;		  /* the library memwarden preloads, NULL: none */
	const char *reason;	  /* why this plan: "bundled", "distribution", "configured",
				     "already preloaded", "preload = none", "not found", ... */
	char *agent;		  /* the agent memwarden preloads, NULL: none */
	const char *agent_reason; /* "bundled", "build", "configured", "already preloaded",
				     "not found", "cannot apply" */
	unsigned ncpu;		  /* CPUs from the quota (or the affinity mask) */
	unsigned narenas;	  /* appended to MALLOC_CONF, 0: not */
	unsigned arena_max;	  /* in GLIBC_TUNABLES, 0: not */
	/* "KEY=value" strings for the service, NULL-terminated: LD_PRELOAD,
	 * MALLOC_CONF or GLIBC_TUNABLES, MEMWARDEN_RELEASE_SIGNAL (room to
	 * spare: service_environment sizes itself from this array). */
	char *env[6];
};

/* What ELF inspection says about the command (preload_classify). */
enum preload_elf {
	PRELOAD_ELF_GLIBC,   /* dynamic, glibc's loader */
	PRELOAD_ELF_MUSL,    /* dynamic, musl's loader */
	PRELOAD_ELF_DYNAMIC, /* dynamic, another loader */
	PRELOAD_ELF_STATIC,  /* no PT_INTERP: LD_PRELOAD cannot apply */
	PRELOAD_ELF_SETID,   /* setuid/setgid: the loader ignores LD_PRELOAD */
	PRELOAD_ELF_CAPS,    /* file capabilities: same */
	PRELOAD_ELF_UNKNOWN  /* not found, unreadable, not ELF */
};

/* LD_PRELOAD's new value: lib in front of existing's entries (separated by
 * spaces or colons; written back separated by ':'), without duplicates.
 * When existing already has a libjemalloc.so* (from any path) and lib is
 * one too, lib is not added; the same for memwarden-agent.so. lib NULL:
 * existing, deduplicated. Returns a malloc'd string ("" possible), NULL
 * when out of memory. */
char *preload_compose_ld_preload(const char *existing, const char *lib);

/* The same with both of memwarden's libraries (either may be NULL):
 * jemalloc first, then the agent, then existing's entries. */
char *preload_compose_libs(const char *existing, const char *jemalloc, const char *agent);

/* True when the value of LD_PRELOAD has a libjemalloc.so* entry. */
bool preload_has_jemalloc(const char *ld_preload);

/* True when the value of LD_PRELOAD has a memwarden-agent.so entry. */
bool preload_has_agent(const char *ld_preload);

/* MALLOC_CONF for the service. env_value: the environment's MALLOC_CONF or
 * NULL. Returns 1 and writes the value into out when memwarden sets it,
 * 0 when it leaves it as is (the environment's stays; empty config: none),
 * -1 when out is too small. narenas 0: none appended. */
int preload_malloc_conf(const char *env_value, const char *config_conf, bool override,
			unsigned narenas, char *out, size_t outlen);

/* GLIBC_TUNABLES with glibc.malloc.arena_max=N appended to existing's
 * entries with ':' (an arena_max already there is kept: returns 0).
 * Returns 1 and writes out, 0 when unchanged, -1 when out is too small. */
int preload_glibc_tunables(const char *existing, unsigned arena_max, char *out, size_t outlen);

/* cgroup v2 cpu.max ("max 100000", "150000 100000"): *n = ceil(quota /
 * period), at least 1, or 0 for no quota. Returns 0, or 1 when malformed. */
int preload_parse_cpu_max(const char *buf, size_t len, unsigned *n);
/* cgroup v1 cpu.cfs_quota_us ("-1": none) and cpu.cfs_period_us. */
int preload_parse_cfs(const char *quota, const char *period, unsigned *n);

/* The CPU count of the quota of memwarden's own cgroup (and its parents),
 * else the CPUs memwarden may run on (sched_getaffinity), at least 1. */
unsigned preload_cpu_count(void);

/* Classifies the file at path; the interpreter's path (PT_INTERP) goes
 * into interp when not NULL. */
enum preload_elf preload_classify(const char *path, char *interp, size_t interplen);

/* Resolves argv0 like execvp, with path_env as PATH (NULL: the default) and
 * relative names under dir (NULL: the current directory). 0 or 1. */
int preload_find_command(const char *argv0, const char *path_env, const char *dir, char *out,
			 size_t outlen);

/* True when the library at path is linked against glibc (its symbols carry
 * GLIBC_ versions). */
bool preload_lib_is_glibc(const char *path);

/* Decides the plan for cfg, with environ_in as memwarden's environment.
 * Every library preloaded must be safe to (safepath.h): a regular file
 * that only root or memwarden's own user may change, in directories only
 * they may change; the service gets its resolved path. Returns 0, or 1
 * with a message in err naming the key, the path and the reason when an
 * explicit [allocator] jemalloc or agent path is not (a start-up error);
 * one auto finds that is not is skipped with a warning. Logs the warnings
 * and the `allocator` event. */
int preload_setup(struct preload_plan *plan, const struct config *cfg, char **environ_in, char *err,
		  size_t errlen);

void preload_free(struct preload_plan *plan);

#endif
