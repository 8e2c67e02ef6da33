/*
 * The supervisor: one epoll loop and the service's state machine.
 *
 * Once supervisor_run has started its loop, nothing may bail out: the
 * death of PID 1 kills every process of the container. Every failure in
 * the loop is logged and the loop carries on; it ends only by design
 * (the service ended and the policy says exit, or a shutdown finished).
 */
#ifndef MEMWARDEN_SUPERVISOR_H
#define MEMWARDEN_SUPERVISOR_H

#include "config.h"
#include "monitor.h"
#include "signals.h"

/* Runs the service until memwarden should exit. Returns the exit status
 * for memwarden. signal_fd comes from signals_setup; the monitor from
 * monitor_setup. */
int supervisor_run(const struct config *cfg, const struct inherited_signals *inherited,
		   int signal_fd, struct monitor *monitor);

#endif
