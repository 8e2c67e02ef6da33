/*
 * Pure decisions of the supervisor: numbers in, a decision out. No I/O,
 * no clock: the caller passes the time, so unit tests can drive them.
 */
#ifndef MEMWARDEN_POLICY_H
#define MEMWARDEN_POLICY_H

#include <stdbool.h>
#include <stdint.h>

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

/* The status memwarden reports: success_exit_codes count as 0. */
int remap_exit_status(const struct config *cfg, int status);

#endif
