#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safepath.h"

#define OWNER_REASON "owned by another user"

const char *
safepath_judge(mode_t mode, uid_t owner, uid_t trusted, enum safepath_kind kind)
{
	if (kind == SAFEPATH_FILE && !S_ISREG(mode))
		return "not a regular file";
	if (kind != SAFEPATH_FILE && !S_ISDIR(mode))
		return "not a directory";
	if (owner != 0 && owner != trusted)
		return OWNER_REASON;
	if ((mode & (S_IWGRP | S_IWOTH)) == 0)
		return NULL;
	if (kind == SAFEPATH_DIR && (mode & S_ISVTX))
		return NULL;
	return kind == SAFEPATH_DIR ? "writable by group or others without the sticky bit"
				    : "writable by group or others";
}

/* why: "[the directory DIR is ]REASON (...)". */
static int
refuse(const char *dir, const struct stat *st, uid_t trusted, const char *reason, char *why,
       size_t whylen)
{
	char who[64];

	if (trusted == 0)
		snprintf(who, sizeof(who), "root");
	else
		snprintf(who, sizeof(who), "root or uid %u", (unsigned)trusted);
	if (strcmp(reason, OWNER_REASON) == 0)
		snprintf(why, whylen, "%s%s%sowned by uid %u, not by %s",
			 dir ? "the directory " : "", dir ? dir : "", dir ? " is " : "",
			 (unsigned)st->st_uid, who);
	else
		snprintf(why, whylen, "%s%s%s%s (mode %04o)", dir ? "the directory " : "",
			 dir ? dir : "", dir ? " is " : "", reason,
			 (unsigned)(st->st_mode & 07777));
	return 1;
}

/* Every directory above path (/, /a, /a/b for /a/b/c), then path itself. */
static int
walk(const char *path, enum safepath_kind kind, uid_t trusted, char *why, size_t whylen)
{
	char prefix[PATH_MAX];
	const char *reason;
	struct stat st;
	size_t i, len = strlen(path);

	if (len >= sizeof(prefix)) {
		snprintf(why, whylen, "%s", strerror(ENAMETOOLONG));
		return 1;
	}
	for (i = 0; i < len; i++) {
		if (path[i] != '/' || (i > 0 && path[i - 1] == '/'))
			continue;
		/* "/" itself, then each directory up to this slash. */
		memcpy(prefix, path, i == 0 ? 1 : i);
		prefix[i == 0 ? 1 : i] = '\0';
		if (stat(prefix, &st) != 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "%s", strerror(ENOTDIR));
			return 1;
		}
		reason = safepath_judge(st.st_mode, st.st_uid, trusted, SAFEPATH_DIR);
		if (reason != NULL)
			return refuse(prefix, &st, trusted, reason, why, whylen);
	}
	if (stat(path, &st) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return 1;
	}
	reason = safepath_judge(st.st_mode, st.st_uid, trusted, kind);
	if (reason != NULL &&
	    (strcmp(reason, "not a regular file") == 0 || strcmp(reason, "not a directory") == 0)) {
		snprintf(why, whylen, "%s", reason);
		return 1;
	}
	return reason ? refuse(NULL, &st, trusted, reason, why, whylen) : 0;
}

int
safepath_check(const char *path, enum safepath_kind kind, uid_t trusted, char *canon,
	       size_t canonlen, char *why, size_t whylen)
{
	char real[PATH_MAX];

	if (path == NULL || path[0] != '/') {
		snprintf(why, whylen, "not an absolute path");
		return 1;
	}
	/* As written: the directories the lookup goes through, symbolic
	 * links and all; then as resolved, which is what gets opened. */
	if (walk(path, kind, trusted, why, whylen) != 0)
		return 1;
	if (realpath(path, real) == NULL) {
		snprintf(why, whylen, "%s", strerror(errno));
		return 1;
	}
	if (strcmp(real, path) != 0 && walk(real, kind, trusted, why, whylen) != 0)
		return 1;
	if (canon != NULL) {
		if (strlen(real) >= canonlen) {
			snprintf(why, whylen, "%s", strerror(ENAMETOOLONG));
			return 1;
		}
		memcpy(canon, real, strlen(real) + 1);
	}
	return 0;
}
