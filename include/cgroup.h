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

#define CGROUP_PATH_MAX 512
#define CGROUP_DIR_MAX 1024

struct cgroup_info {
	enum cgroup_version version;
	bool hybrid;		     /* v1 memory controller with a cgroup2 mount beside it */
	bool writable;		     /* the cgroup directory can be written (notifications on v1) */
	bool namespaced;	     /* in a cgroup namespace other than the host's */
	bool read_only;		     /* the hierarchy is mounted read-only */
	bool via_libcgroup;	     /* libcgroup's mount point and path were used */
	char mount[CGROUP_PATH_MAX]; /* the memory hierarchy's mount point */
	char root[CGROUP_PATH_MAX];  /* the part of the hierarchy mounted there (mountinfo) */
	char path[CGROUP_PATH_MAX];  /* own cgroup as /proc/self/cgroup names it */
	char dir[CGROUP_DIR_MAX];    /* memwarden's memory cgroup directory */
	bool has_limit;
	uint64_t limit;			/* bytes: v2 memory.max, v1 the hierarchical limit */
	char limit_dir[CGROUP_DIR_MAX]; /* where it was found: dir or a visible ancestor */
	bool has_high;
	uint64_t high;		       /* v2 memory.high */
	char pressure[CGROUP_DIR_MAX]; /* this cgroup's memory.pressure file, "" if none */
};

/* Finds memwarden's memory cgroup and its limit. Returns 0 when a memory
 * cgroup was found (info filled; with no limit in it or its visible
 * ancestors has_limit is false and why says so), 1 when there is none
 * (why says why: "no memory cgroup mounted", ...). why is one line.
 * Forks a helper process and waits for it: call it before the service
 * starts, while nothing else reaps memwarden's children. */
int cgroup_discover(struct cgroup_info *info, char *why, size_t whylen);

/* One reading of the cgroup's files. Fields the kernel does not provide
 * stay 0 and their has_ flag false. */
struct mem_sample {
	uint64_t time_ms; /* CLOCK_MONOTONIC */
	uint64_t current; /* memory.current / memory.usage_in_bytes */
	uint64_t limit;	  /* as read now; 0: none */
	uint64_t high;	  /* v2 memory.high as read now; 0: none */
	/* memory.stat (v1: the total_* fields) */
	uint64_t anon, file, inactive_file, active_file, shmem;
	bool has_stat;
	uint64_t peak; /* memory.peak / memory.max_usage_in_bytes */
	bool has_peak;
	/* v2 memory.events; v1: oom_kill from memory.oom_control,
	 * events_max from memory.failcnt */
	uint64_t events_high, events_max, events_oom, events_oom_kill, events_oom_group_kill;
	bool has_events;   /* v2 memory.events was read */
	bool has_oom_kill; /* events_oom_kill is the kernel's counter */
	bool under_oom;	   /* v1 memory.oom_control */
	/* memory.pressure (v2, or the cgroup2 side of a hybrid host) */
	double psi_some_avg10, psi_full_avg10;
	uint64_t psi_some_total, psi_full_total; /* microseconds stalled */
	bool has_psi;
};

/* The files sampled, kept open. */
enum cgroup_file {
	CGF_CURRENT,  /* memory.current | memory.usage_in_bytes */
	CGF_MAX,      /* memory.max (of limit_dir) | - (memory.stat has the limit) */
	CGF_HIGH,     /* memory.high | - */
	CGF_STAT,     /* memory.stat */
	CGF_EVENTS,   /* memory.events | memory.oom_control */
	CGF_PEAK,     /* memory.peak | memory.max_usage_in_bytes */
	CGF_FAILCNT,  /* - | memory.failcnt */
	CGF_PRESSURE, /* memory.pressure */
	CGF_NFILES
};

struct cgroup_reader {
	enum cgroup_version version;
	bool writable;
	int fd[CGF_NFILES]; /* -1: not there */
	char dir[CGROUP_DIR_MAX];
	char pressure[CGROUP_DIR_MAX];
};

/* Opens the cgroup's files. Returns 0, or 1 when the usage or memory.stat
 * cannot be opened (the others are optional). */
int cgroup_reader_open(struct cgroup_reader *r, const struct cgroup_info *info);
void cgroup_reader_close(struct cgroup_reader *r);

/* Reads every open file once (one pread each). Returns 0, or 1 when the
 * usage could not be read; the other parts have their has_ flags. */
int cgroup_read_sample(struct cgroup_reader *r, struct mem_sample *s);

/*
 * Kernel notifications, each optional: the caller adds fds[i].fd to its
 * epoll set with fds[i].events, and calls cgroup_watch_ack() when it is
 * ready. Each only wakes memwarden early; the sample is what counts.
 */
enum {
	CGROUP_WATCH_EVENTS = 1 << 0,	 /* v2 memory.events changed (EPOLLPRI) */
	CGROUP_WATCH_PSI = 1 << 1,	 /* PSI trigger on memory.pressure (EPOLLPRI) */
	CGROUP_WATCH_THRESHOLD = 1 << 2, /* v1 usage crossed the threshold, up or down */
	CGROUP_WATCH_OOM = 1 << 3,	 /* v1 the cgroup hit an OOM */
};

#define CGROUP_WATCH_MAX 4
/* PSI trigger: 150 ms of "some" stall within 2 s. Without
 * CAP_SYS_RESOURCE the window must be a multiple of 2 s. */
#define CGROUP_PSI_TRIGGER "some 150000 2000000"

struct cgroup_watch_fd {
	int fd;
	uint32_t events; /* EPOLLPRI or EPOLLIN */
	unsigned kind;	 /* one CGROUP_WATCH_ bit */
};

struct cgroup_watch {
	enum cgroup_version version;
	struct cgroup_watch_fd fds[CGROUP_WATCH_MAX];
	size_t nfds;
	unsigned armed;	    /* CGROUP_WATCH_ bits */
	uint64_t threshold; /* v1 usage threshold armed, bytes; 0: none */
	char dir[CGROUP_DIR_MAX];
	char why[256]; /* what could not be armed, and why ("" if all) */
};

/* Arms what the cgroup allows: v2 memory.events, a PSI trigger, v1
 * thresholds on the usage (threshold_bytes, 0: none) and on OOM. Returns
 * 0 when at least one is armed, 1 when none; w->why says what was not. */
int cgroup_watch_open(const struct cgroup_reader *r, uint64_t threshold_bytes,
		      struct cgroup_watch *w);

/* Consumes the notification on fd so that it does not fire again until
 * the next one. Returns its CGROUP_WATCH_ kind, 0 for an fd not of w. */
unsigned cgroup_watch_ack(struct cgroup_watch *w, int fd);

/* Moves the v1 usage threshold (the kernel cannot change one: a new
 * eventfd is registered, then the old one closed, which unregisters it
 * and drops it from any epoll set). *newfd is the fd to add to epoll, -1
 * when no threshold is armed now. Returns 0, 1 when it cannot be armed. */
int cgroup_watch_set_threshold(struct cgroup_watch *w, uint64_t threshold_bytes, int *newfd);

/* Names of the armed kinds, e.g. "memory.events,psi" or "none". */
void cgroup_watch_names(unsigned armed, char *buf, size_t len);

void cgroup_watch_close(struct cgroup_watch *w);

/*
 * Pure parsers (no I/O), exposed for the unit tests. Each takes exactly
 * len bytes (no terminating NUL needed), returns 0 or 1 (malformed or
 * truncated: a last line without its newline is truncated) and changes
 * its output only on success.
 */

/* A limit file: v2 memory.max / memory.high ("max" = none), v1
 * memory.limit_in_bytes (>= 2^62 = none: PAGE_COUNTER_MAX in bytes). */
int cgroup_parse_limit(const char *buf, size_t len, bool *has, uint64_t *bytes);
/* A single number: memory.current, memory.usage_in_bytes, failcnt... */
int cgroup_parse_u64(const char *buf, size_t len, uint64_t *v);
/* memory.stat by key. v2: anon, file, inactive_file, active_file, shmem;
 * v1: total_rss, total_cache, total_inactive_file, total_active_file,
 * total_shmem, and hierarchical_memory_limit into s->limit. */
int cgroup_parse_memory_stat(const char *buf, size_t len, enum cgroup_version v,
			     struct mem_sample *s);
/* v2 memory.events: high, max, oom, oom_kill (oom_group_kill if there). */
int cgroup_parse_memory_events(const char *buf, size_t len, struct mem_sample *s);
/* v1 memory.oom_control: under_oom, oom_kill (kernel 4.13+). */
int cgroup_parse_oom_control(const char *buf, size_t len, struct mem_sample *s);
/* memory.pressure or /proc/pressure/memory: "some" (and "full"). */
int cgroup_parse_pressure(const char *buf, size_t len, struct mem_sample *s);

/* /proc/self/cgroup: the v1 memory line and the "0::" line. */
struct cgroup_paths {
	bool has_v1, has_v2;
	char v1[CGROUP_PATH_MAX]; /* "N:...memory...:PATH" */
	char v2[CGROUP_PATH_MAX]; /* "0::PATH" */
};
int cgroup_parse_proc_cgroup(const char *buf, size_t len, struct cgroup_paths *p);

/* One line of /proc/self/mountinfo (without its newline). */
struct cgroup_mount {
	char root[CGROUP_PATH_MAX];
	char point[CGROUP_PATH_MAX];
	enum cgroup_version version; /* CGROUP_NONE: not a cgroup mount */
	bool memory;		     /* v1: the memory controller is on it */
	bool read_only;
};
int cgroup_parse_mountinfo_line(const char *line, size_t len, struct cgroup_mount *m);

/* The directory of cgroup path under a mount of the hierarchy's root:
 * mount + (path minus root). Returns 1 when path is not under root. */
int cgroup_join_dir(const char *mount, const char *root, const char *path, char *out, size_t len);

#endif
