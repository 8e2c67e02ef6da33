/*
 * The memory guard's decisions (SPEC section 4), as pure functions: one
 * call per sample with the measure, its growth and the time, and a verdict
 * out: nothing, release, or the action. No I/O, no clock.
 *
 * The growth rate comes from the monitor (monitor_growth: the slope from
 * the oldest to the newest of the samples it keeps, so one noisy sample in
 * between does not move it).
 */
#ifndef MEMWARDEN_GUARD_H
#define MEMWARDEN_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct guard_params {
	uint64_t limit; /* bytes; 0: the guard is off */
	uint64_t soft, hard;
	unsigned hard_for; /* samples; 0 counts as 1 */
	uint64_t release_interval_ms;
	uint64_t drain_delay_ms; /* the service keeps growing while it drains */
	uint64_t stop_ms;	 /* how long an action may take to free memory (stop_timeout) */
};

/* How long the count above hard waits for a release the guard sent while
 * that release is still running: the release may bring the measure back
 * below hard, which the count would not see if it acted first (a purge
 * took 240 ms, median, on the fragmenting workload on 2 busy CPUs, longer
 * than hard_for samples of 50 ms). The growth rule does not wait. */
#define GUARD_RELEASE_WAIT_MS 1000

/* What the guard remembers between samples. Zero it to start. */
struct guard {
	bool in_soft;	  /* within an excursion above soft (with hysteresis) */
	bool released;	  /* last_release_ms is set */
	bool last_chance; /* the release on reaching hard was sent in this excursion */
	bool cooling;	  /* an action was taken: none before quiet_until_ms */
	bool releasing;	  /* the caller's: a release round is running */
	uint64_t last_release_ms;
	uint64_t quiet_until_ms;
	unsigned above;	 /* consecutive samples above hard */
	uint64_t recent; /* bit i: the sample i samples ago was above hard */
};

struct guard_verdict {
	bool soft_entered; /* log memory.soft: once per excursion */
	bool release;	   /* send the release signal now */
	bool act;	   /* take the [memory] action now, then call guard_acted */
	char why[96];	   /* when act: which rule, for memory.hard */
};

/* The parameters from the configuration and the thresholds in bytes. */
void guard_params_init(struct guard_params *p, const struct config *cfg, uint64_t limit,
		       uint64_t soft, uint64_t hard);

/* One sample: the measure, its growth in bytes per second (0 when not
 * growing), the current sampling interval and the time. */
struct guard_verdict guard_step(struct guard *g, const struct guard_params *p, uint64_t measure,
				uint64_t growth_per_s, uint64_t interval_ms, uint64_t now_ms);

/* Whether a release round is running now; the caller says so before each
 * guard_step. Never said: the guard never waits for a release. */
void guard_release_running(struct guard *g, bool running);

/* The caller took the action: no other before it had time (drain_delay +
 * stop_ms, at least release_interval), then the count above hard starts
 * over. For a restart too, so nothing fires while it drains and stops. */
void guard_acted(struct guard *g, const struct guard_params *p, uint64_t now_ms);

/* A new instance of the service started (after a restart): forget all. */
void guard_reset(struct guard *g);

#endif
