/*
 * Release rounds (SPEC section 4, "Release"): memwarden sends the release
 * signal to every process of the service whose SigCgt shows a handler for
 * it — never to one that would die of it, nor to one whose program
 * installed its own handler (the agent said so) — and collects what each
 * agent reports back on the notify socket, until every signalled process
 * answered or RELEASE_WAIT_MS passed.
 *
 * A round is started by the guard (soft threshold) or by `memwarden
 * release` (a request on the notify socket, answered with each report and
 * a summary). One round at a time; a request during a round joins it.
 * Requests may come from any process that shares the network namespace
 * (a pod's other containers too): one arriving less than
 * RELEASE_REQUEST_GAP_MS after a round ended waits until then, so a flood
 * of them costs the service at most one round per gap. Only the newest
 * waiting requester is answered.
 */
#ifndef MEMWARDEN_RELEASE_H
#define MEMWARDEN_RELEASE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "notify.h"

#define RELEASE_PIDS_MAX 256
#define RELEASE_TAKEOVER_MAX 64
/* How long a round waits for reports: glibc's malloc_trim(0) alone took
 * up to 2.8 s on the fragmenting workload (TESTING.md), and an agent
 * releases only at the program's next wait. */
#define RELEASE_WAIT_MS 10000
#define RELEASE_REQUEST_GAP_MS 1000

struct release {
	int signo;
	bool active;
	const char *reason; /* "soft", "hard", "request" */
	uint64_t began_ms, deadline_ms;
	pid_t pids[RELEASE_PIDS_MAX]; /* signalled this round */
	bool answered[RELEASE_PIDS_MAX];
	unsigned n, reports, skipped;
	uint64_t freed_held, freed_rss; /* summed over the reports */
	uint64_t ended_ms;		/* when the last round ended */
	bool request_waiting;		/* a request for a round after the gap */
	bool has_requester;
	struct notify_msg requester;
	pid_t takeover[RELEASE_TAKEOVER_MAX]; /* their program's own handler */
	unsigned ntakeover;
};

void release_init(struct release *r, int signo);

/* Starts a round now (unless one is running: then false). Returns true
 * when at least one process was signalled; with none, a `release.done`
 * says why and the round is over at once. */
bool release_begin(struct release *r, const struct notify *n, const char *reason, uint64_t now_ms);

/* A request from `memwarden release`: answered when the round it starts
 * (or joins, or waits for) ends. */
void release_request(struct release *r, const struct notify *n, const struct notify_msg *m,
		     uint64_t now_ms);

/* A report from a process, and a process that took the signal over. */
void release_on_report(struct release *r, const struct notify *n, const struct release_report *rep,
		       uint64_t now_ms);
void release_on_handler(struct release *r, pid_t pid);

/* Ends a round whose wait is over, starts a requested one whose gap has
 * passed. Returns release_next_ms(). */
uint64_t release_tick(struct release *r, const struct notify *n, uint64_t now_ms);
/* When release_tick has something to do (0: nothing). */
uint64_t release_next_ms(const struct release *r);

#endif
