/*
 * Starting the service: fork, set the child up, exec.
 *
 * Like musl's posix_spawn, a failure in the child between fork and exec is
 * written to an O_CLOEXEC pipe: the parent reads end-of-file when exec
 * succeeded (the pipe closed with it) and a struct spawn_failure when it
 * did not, so "could not start" is never mistaken for "started and exited".
 */
#ifndef MEMWARDEN_SPAWN_H
#define MEMWARDEN_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "signals.h"

/* In this order in the child; STEP_CAPS after setuid() to a user other
 * than root: every capability cleared, the ambient set too (spawn.c). */
enum spawn_step {
	STEP_NONE,
	STEP_CHDIR,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_CAPS,
	STEP_EXEC
};

struct spawn_failure {
	int step; /* enum spawn_step */
	int err;  /* errno */
};

/* Forks and execs the service. On success returns 0 with the child's pid
 * and the read end of the error pipe (non-blocking, close-on-exec) for
 * the event loop; returns 1 with errno set when fork or pipe failed. */
int spawn_service(const struct config *cfg, const struct inherited_signals *inherited, pid_t *pid,
		  int *error_fd);

/* Reads the error pipe. Returns 1 and fills *f when the child reported a
 * failure, 0 at end of file (exec succeeded), -1 when nothing can be read
 * yet. */
int spawn_read_failure(int error_fd, struct spawn_failure *f);

/* The exit status for a failure: 127 when the command was not found,
 * 126 when it could not be executed. */
int spawn_failure_status(const struct spawn_failure *f);
const char *spawn_step_name(int step);

struct preload_plan;
/* The allocator's variables (LD_PRELOAD, MALLOC_CONF, GLIBC_TUNABLES),
 * decided at start-up, that service_environment adds last. NULL: none. */
void spawn_set_preload(const struct preload_plan *plan);

/* The notify socket's name (SPEC section 6), given to the service as
 * MEMWARDEN_SOCKET for the agent and, with notify_protocol (ready =
 * notify), as NOTIFY_SOCKET. NULL: neither. */
void spawn_set_notify(const char *name, bool notify_protocol);

/* The environment of the service: memwarden's own, with [environment]
 * and, when [service] user is set, HOME, USER and LOGNAME. NULL when out
 * of memory. Free with free(). */
char **service_environment(const struct config *cfg, char **environ_in);

#endif
