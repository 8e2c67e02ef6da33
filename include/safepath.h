/*
 * Whether a path may be trusted by memwarden: the allocator libraries it
 * preloads into the service (SPEC section 5) and the directory of its state
 * file (SPEC section 8).
 *
 * Like OpenSSH's safe_path(): the object and every directory above it must
 * belong to root or to the trusted uid (memwarden's own) and must not be
 * writable by group or others; otherwise whoever may write there could put a
 * library of their own into the service, or files of their own where
 * memwarden writes as root. A directory above the object may be writable by
 * others when it has the sticky bit (/tmp): no one else may then rename or
 * remove an entry they do not own. Access control lists are not looked at.
 */
#ifndef MEMWARDEN_SAFEPATH_H
#define MEMWARDEN_SAFEPATH_H

#include <stddef.h>
#include <sys/types.h>

enum safepath_kind {
	SAFEPATH_FILE,	      /* a regular file, not writable by group or others */
	SAFEPATH_PRIVATE_DIR, /* a directory not writable by group or others */
	SAFEPATH_DIR,	      /* a directory, writable by others only with the sticky bit */
};

/* Pure: why an object of this mode (st_mode) and owner cannot be trusted as
 * kind by uid trusted (root always is), or NULL when it can. A static
 * string: "not a regular file", "not a directory", "owned by another
 * user", "writable by group or others", "writable by group or others
 * without the sticky bit". */
const char *safepath_judge(mode_t mode, uid_t owner, uid_t trusted, enum safepath_kind kind);

/*
 * Checks path (absolute) as kind, and every directory above it, both as
 * written and as resolved (realpath: symbolic links followed). Returns 0
 * with the resolved path in canon (when not NULL), or 1 with the reason in
 * why: "not an absolute path", strerror(errno) when it cannot be resolved,
 * "not a regular file (...)", "the directory /tmp/x is writable by group or
 * others without the sticky bit (mode 0777)", "owned by uid 1000, not by
 * root or uid 0 (mode 0644)" and the like.
 */
int safepath_check(const char *path, enum safepath_kind kind, uid_t trusted, char *canon,
		   size_t canonlen, char *why, size_t whylen);

#endif
