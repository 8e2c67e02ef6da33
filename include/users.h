/*
 * Looking up [service] user and group in the container's own /etc/passwd
 * and /etc/group. memwarden is linked statically, so it does not use NSS;
 * containers keep their accounts in these two files anyway.
 */
#ifndef MEMWARDEN_USERS_H
#define MEMWARDEN_USERS_H

#include <stddef.h>

#include "config.h"

/* Resolves user (a name or a number, may be NULL) and group (likewise)
 * into cred: uid, gid (the group's, else the user's primary group) and the
 * supplementary groups the user is a member of. The file paths are
 * parameters for the unit tests; memwarden passes /etc/passwd and
 * /etc/group. Returns 0, or 1 with err naming what was not found. */
int users_resolve(const char *user, const char *group, const char *passwd_path,
		  const char *group_path, struct credentials *cred, char *err, size_t errlen);

void credentials_free(struct credentials *cred);

#endif
