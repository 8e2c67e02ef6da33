/*
 * The memory monitor: the cgroup found at start, sampled on a timer whose
 * interval shrinks as the measure nears the hard threshold, and woken
 * early by the kernel's notifications where it gives them. It logs the
 * periodic `memory` event and `oom.kill`, and keeps the last samples for
 * the state file and for the decisions of the guard.
 *
 * Everything here is best effort after the loop has started: a file that
 * cannot be read is logged once and the monitor carries on without it.
 */
#ifndef MEMWARDEN_MONITOR_H
#define MEMWARDEN_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "config.h"
#include "policy.h"

#define MONITOR_HISTORY 8
#define MONITOR_MAX_FDS (1 + CGROUP_WATCH_MAX)

struct monitor {
	const struct config *cfg;
	bool on;	 /* the guard has a limit to compare with */
	char why[256];	 /* when off: why */
	bool has_cgroup; /* a memory cgroup was found (even without a limit) */
	struct cgroup_info info;
	struct cgroup_reader reader;
	struct cgroup_watch watch;
	uint64_t limit, soft_bytes, hard_bytes;
	int timerfd;
	uint64_t interval_ms; /* the current sampling interval */

	struct mem_sample history[MONITOR_HISTORY]; /* ring, newest at head */
	uint64_t measures[MONITOR_HISTORY];
	unsigned head, count;
	struct growth growth; /* the measure's growth rate (policy.h) */
	uint64_t oom_kill_seen;
	bool oom_pending; /* an OOM kill seen, not yet taken by the supervisor */
	uint64_t next_summary_ms;
	char state_json[256]; /* the last sample, for the state file */
	bool read_warned;
};

/* Finds the cgroup and its limit, opens its files, arms notifications and
 * the sampling timer. Without a cgroup or a limit the monitor is off and
 * m->why says why; returns 1 (a configuration error, printed) only when
 * soft >= hard once the limit is known. */
int monitor_setup(struct monitor *m, const struct config *cfg);

/* The fds to watch with epoll (the timer and the notifications), with the
 * events to wait for. Returns how many. */
unsigned monitor_fds(const struct monitor *m, int *fds, uint32_t *events, unsigned max);

/* fd number i of monitor_fds became ready: take a sample. Returns true
 * when a sample was taken (a burst of notifications may be skipped). */
bool monitor_on_fd(struct monitor *m, unsigned i);

/* Whether a sample saw the kernel's oom_kill counter rise since the last
 * call (the event is logged already; the supervisor decides what next). */
bool monitor_take_oom(struct monitor *m);

/* Growth of the measure, bytes per second over about the last 2 s (0 when
 * not growing; growth_rate in policy.h), and the limit in force (0: the
 * guard is off). */
uint64_t monitor_growth(const struct monitor *m);
uint64_t monitor_limit(const struct monitor *m);

/* Milliseconds between the last two samples (0 before two): more than the
 * interval when the machine is too busy to wake memwarden on time. */
uint64_t monitor_last_gap(const struct monitor *m);

/* The service's main process was SIGKILLed: sample now, so that an OOM
 * kill is reported with its figures before anything else happens. Returns
 * true when the kernel's oom_kill counter rose. */
bool monitor_check_oom(struct monitor *m, pid_t pid);

/* Whether the last measure moved by 1% of the limit (of the value, without
 * one) from value, the one last published; true when nothing was. */
bool monitor_sample_moved(const struct monitor *m, bool published, uint64_t value);
uint64_t monitor_last_measure(const struct monitor *m);

/* The last sample as a JSON object for the state file; NULL before the
 * first one. */
const char *monitor_state_json(struct monitor *m);

/* The `start` event, with what discovery found. */
void monitor_log_start(const struct monitor *m, bool subreaper);

void monitor_close(struct monitor *m);

#endif
