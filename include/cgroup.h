/*
 * The container's memory cgroup: found once at start, then sampled.
 *
 * Discovery (hierarchy, memwarden's own memory cgroup, mount point,
 * writability, limit) runs libcgroup in a short-lived child process:
 * libcgroup's cgroup_init() fills tables that would add several hundred
 * kB to PID 1's resident memory for the rest of its life (measured in
 * src/cgroup.c). Sampling keeps the cgroup's files open and preads them.
 */
#ifndef MEMWARDEN_CGROUP_H
#define MEMWARDEN_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cgroup_version { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 };

struct cgroup_info {
	enum cgroup_version version;
	bool hybrid;     /* v1 memory controller with a cgroup2 mount beside it */
	bool writable;   /* the cgroup directory can be written (notifications on v1) */
	bool namespaced; /* /proc/self/cgroup shows "/": a cgroup namespace */
	char mount[512]; /* the memory hierarchy's mount point */
	char dir[1024];  /* memwarden's memory cgroup directory */
	bool has_limit;
	uint64_t limit; /* bytes: v2 memory.max, v1 the hierarchical limit */
	bool has_high;
	uint64_t high; /* v2 memory.high */
};

/* One reading of the cgroup's files. Fields the kernel does not provide
 * stay 0 and their has_ flag false. */
struct mem_sample {
	uint64_t time_ms; /* CLOCK_MONOTONIC */
	uint64_t current; /* memory.current / memory.usage_in_bytes */
	uint64_t limit;   /* as read now; 0: none */
	uint64_t high;
	/* memory.stat (v1: the total_* fields) */
	uint64_t anon, file, inactive_file, active_file, shmem;
	bool has_stat;
	uint64_t peak; /* memory.peak / memory.max_usage_in_bytes */
	/* v2 memory.events; v1: oom_kill from memory.oom_control,
	 * events_max from memory.failcnt */
	uint64_t events_high, events_max, events_oom, events_oom_kill;
	bool has_oom_kill;
	/* memory.pressure (v2 or a PSI-capable v1 host) */
	double psi_some_avg10, psi_full_avg10;
	bool has_psi;
};

#endif
