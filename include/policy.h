/*
 * Pure decisions of the supervisor: numbers in, a decision out. No I/O,
 * no clock: the caller passes the time, so unit tests can drive them.
 */
#ifndef MEMWARDEN_POLICY_H
#define MEMWARDEN_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "config.h"

#define RESTART_HISTORY_MAX 1024

/* What the supervisor remembers about restarts. Zero it to start. */
struct restart_history {
	uint64_t times_ms[RESTART_HISTORY_MAX]; /* restarts within the window, oldest first */
	unsigned count;
	uint64_t next_backoff_ms; /* 0: not started yet, use restart_backoff */
	unsigned total;		  /* every restart since memwarden started */
};

enum restart_verdict {
	VERDICT_EXIT,	 /* the policy says no restart: exit with the status */
	VERDICT_RESTART, /* restart after *delay_ms */
	VERDICT_GIVE_UP, /* too many restarts within the window */
};

/* The service's main process ended with status (0–255, 128+N for a signal)
 * after running since started_ms. Decides, and when it is a restart,
 * records it in h. */
enum restart_verdict restart_decide(const struct config *cfg, struct restart_history *h, int status,
				    uint64_t started_ms, uint64_t now_ms, uint64_t *delay_ms);

/* A restart for memory (memory.hard with action = restart, or a kernel OOM
 * kill), decided when it begins: whatever [service] restart says, but
 * counted in the same history, so within max_restarts per restart_window
 * (VERDICT_GIVE_UP beyond) and after the same back-off. Never VERDICT_EXIT. */
enum restart_verdict restart_decide_memory(const struct config *cfg, struct restart_history *h,
					   uint64_t started_ms, uint64_t now_ms,
					   uint64_t *delay_ms);

/* The status memwarden reports: success_exit_codes count as 0. */
int remap_exit_status(const struct config *cfg, int status);

/* The measure compared with the thresholds ([memory] metric): workingset
 * is current - inactive_file floored at 0, as the kubelet computes it; rss
 * is the sum over the service's processes, passed in. */
uint64_t memory_measure(enum mem_metric metric, const struct mem_sample *s, uint64_t rss_sum);

/* A threshold in bytes for a limit. */
uint64_t threshold_bytes(const struct threshold *t, uint64_t limit);

/*
 * The measure's growth rate, for the guard's growth rule and the sampling
 * interval: the rise of the newest measure over the lowest since the last
 * measure above it, within the last GROWTH_WINDOW_MS (and the measure
 * before the newest, however old), divided by the time between them but by
 * no less than GROWTH_MIN_SPAN_MS.
 *
 * The floor keeps noise from reading as growth: workers that churn buffers
 * swing the measure by 10 MB within 50 ms, which over one 160 ms gap read
 * as 67 MB/s and restarted a healthy service at soft (the container example,
 * CI at stop 10); over 1 s it reads as 10 MB/s. The window keeps the rate
 * current: 2 s is 40 samples at the fast interval, so sustained growth is
 * read over its whole span and not the last 400 ms. Stopping at a measure
 * above the newest keeps a drop (a restart, a release) from hiding the
 * regrowth, and keeps an older trough, before the last peak, from spreading
 * one rise over two. Zero it to start.
 */
#define GROWTH_POINTS 64
#define GROWTH_WINDOW_MS 2000
#define GROWTH_MIN_SPAN_MS 1000

struct growth {
	uint64_t time_ms[GROWTH_POINTS], value[GROWTH_POINTS]; /* ring, newest at head */
	unsigned head, count;
};

/* A measure taken at now_ms. */
void growth_note(struct growth *g, uint64_t now_ms, uint64_t value);

/* Bytes per second, 0 when not growing (or before two measures). */
uint64_t growth_rate(const struct growth *g);

/* The next sampling interval: [memory] interval while the measure is far
 * below hard, shrinking toward fast_interval as it nears hard (and at it),
 * and short enough that growth at the recent rate (bytes per second,
 * 0 when not growing) cannot reach hard unseen within four intervals. */
uint64_t sample_interval_ms(const struct config *cfg, uint64_t measure, uint64_t hard,
			    uint64_t growth_per_s);

#endif
