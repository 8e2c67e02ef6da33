/*
 * The state file (SPEC section 8): what `memwarden status` and a
 * Kubernetes readiness probe read. Written atomically: a temporary file in
 * the same directory, then rename(2), so a reader sees the old or the new
 * content, never half of one.
 */
#ifndef MEMWARDEN_STATE_H
#define MEMWARDEN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct service_state_info {
	pid_t pid;	   /* memwarden */
	pid_t service_pid; /* 0 when no instance runs */
	const char *service;
	const char *state; /* starting running draining restarting stopping stopped */
	bool ready;
	unsigned restarts;
	const char *last_restart_reason; /* NULL: none yet */
	int last_exit_status;		 /* -1: none yet */
	const char *last_sample_json;	 /* NULL: no sample yet */
	const char *socket;		 /* the notify socket's name; NULL: left out */
};

/* Returns 0, or 1 with errno set. */
int state_write(const char *path, const struct service_state_info *info);

/* Whether the state file at path (absolute) is safe from a service that
 * runs as another user than memwarden (SPEC section 8): its directory,
 * and every directory above it, must be root's or trusted's (memwarden's
 * uid) and not writable by group or others (a directory above it may be,
 * with the sticky bit, like /tmp). When the directory does not exist yet,
 * its parent is checked instead: memwarden creates it. Returns 0, or 1
 * with the reason in why. Whether the file itself may be written is not
 * checked: it is replaced at every write. */
int state_dir_check(const char *path, uid_t trusted, char *why, size_t whylen);

/* Reads the file whole into a NUL-terminated malloc'd buffer. Returns 0,
 * or 1 with errno set (ENOENT: no state file). */
int state_read(const char *path, char **content);

/* Looks up a top-level string or literal field of the state JSON written
 * by state_write (not a general JSON parser). Returns 0 and copies the
 * value without quotes into out, a string's escapes undone, or 1 when it
 * is absent. A value too long for out is cut. `memwarden release` finds
 * memwarden's socket as the "socket" field. */
int state_field(const char *json, const char *key, char *out, size_t outlen);

#endif
