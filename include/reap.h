/*
 * Reaping, and finding every process memwarden started.
 *
 * "The service" is every descendant of memwarden: as PID 1 of a namespace
 * or as a child subreaper, orphans — daemons that double-forked, children
 * that called setsid() — are reparented to memwarden, so walking parent
 * links from /proc finds all of them. As PID 1 of its own PID namespace
 * that is simply every other process, and kill(-1, ...) reaches them all.
 */
#ifndef MEMWARDEN_REAP_H
#define MEMWARDEN_REAP_H

#include <stdbool.h>
#include <sys/types.h>

typedef void (*reap_fn)(void *ctx, pid_t pid, int wstatus);

/* Reaps every child that has exited, calling fn for each. Returns how
 * many were reaped. Never blocks. */
unsigned reap_children(reap_fn fn, void *ctx);

/* Sends sig to every process of the service (all descendants; with
 * namespace_init, every other process of the namespace). Returns how many
 * processes there were to signal. */
unsigned signal_service_processes(int sig, bool namespace_init);

/* True while any process of the service remains. */
bool service_processes_remain(void);

/* memwarden's status for a wait status: the exit code, or 128+N when
 * killed by signal N. */
int wait_status_code(int wstatus);

#endif
