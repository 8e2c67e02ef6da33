/*
 * [service] user and group, resolved against the container's own
 * /etc/passwd and /etc/group.
 *
 * memwarden is linked statically, so getpwnam() and friends (NSS) are not
 * an option; containers keep their accounts in these two files anyway. The
 * files are parsed by hand and defensively: images ship them with comments,
 * blank lines, NIS "+" entries and the odd hand-edited line, none of which
 * must stop the service from starting when the entry we need is fine.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

#define PASSWD_FIELDS 7
#define GROUP_FIELDS 4

/* (uid_t)-1 and (gid_t)-1 mean "leave unchanged" to setresuid() and
 * friends, so they are never valid ids. */
#define ID_MAX 0xfffffffeUL

struct account {
	char *name;
	uint32_t id;  /* uid or gid */
	uint32_t gid; /* passwd: primary group */
	char *home;   /* passwd */
};

/* Called for each well-formed line; returns 1 to stop reading. */
typedef int (*entry_fn)(char **field, size_t nfield, void *arg);

static int
parse_id(const char *s, uint32_t *id)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return 1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > ID_MAX)
			return 1;
	}
	*id = (uint32_t)v;
	return 0;
}

/* Splits line at ':' into at most max fields; returns how many there are,
 * or max + 1 when there are more (the line is then malformed). */
static size_t
split_fields(char *line, char **field, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *colon = strchr(p, ':');

		if (n == max)
			return max + 1;
		field[n++] = p;
		if (colon == NULL)
			return n;
		*colon = '\0';
		p = colon + 1;
	}
}

/*
 * Calls fn for every line of path that has between min and max fields and
 * is not a comment, blank or a NIS compat entry ("+name", "-name", "+").
 * Returns 0, or 1 with errno set when the file cannot be read. A missing
 * file is not an error: images built FROM scratch often have none, and a
 * numeric user needs no entry. *missing tells the caller so it can say so.
 */
static int
for_each_entry(const char *path, size_t min, size_t max, entry_fn fn, void *arg, bool *missing)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	char *field[8];
	int saved, rc = 0;

	*missing = false;
	fp = fopen(path, "re");
	if (fp == NULL) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		return 1;
	}
	/* getline: an over-long line (a group with thousands of members) is
	 * read whole rather than split into bogus entries. */
	while ((len = getline(&line, &cap, fp)) >= 0) {
		size_t n;

		if (memchr(line, '\0', (size_t)len) != NULL)
			continue;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (line[0] == '\0' || line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		n = split_fields(line, field, max);
		if (n < min || n > max || field[0][0] == '\0')
			continue;
		if (fn(field, n, arg))
			break;
	}
	if (ferror(fp))
		rc = 1;
	saved = errno;
	free(line);
	fclose(fp);
	errno = saved;
	return rc;
}

struct lookup {
	const char *name; /* look up by name, or */
	uint32_t id;	  /* by id when name is NULL */
	bool found;
	bool oom;
	struct account acct;
};

static int
take_account(struct lookup *lk, const char *name, uint32_t id, uint32_t gid, const char *home)
{
	lk->acct.name = strdup(name);
	lk->acct.home = home != NULL && home[0] != '\0' ? strdup(home) : NULL;
	if (lk->acct.name == NULL || (home != NULL && home[0] != '\0' && lk->acct.home == NULL)) {
		free(lk->acct.name);
		free(lk->acct.home);
		lk->acct.name = lk->acct.home = NULL;
		lk->oom = true;
		return 1;
	}
	lk->acct.id = id;
	lk->acct.gid = gid;
	lk->found = true;
	return 1;
}

static int
match_passwd(char **field, size_t nfield, void *arg)
{
	struct lookup *lk = arg;
	uint32_t uid, gid;

	if (parse_id(field[2], &uid) || parse_id(field[3], &gid))
		return 0;
	if (lk->name != NULL ? strcmp(field[0], lk->name) != 0 : uid != lk->id)
		return 0;
	return take_account(lk, field[0], uid, gid, nfield > 5 ? field[5] : NULL);
}

static int
match_group(char **field, size_t nfield, void *arg)
{
	struct lookup *lk = arg;
	uint32_t gid;

	(void)nfield;
	if (parse_id(field[2], &gid))
		return 0;
	if (lk->name != NULL ? strcmp(field[0], lk->name) != 0 : gid != lk->id)
		return 0;
	return take_account(lk, field[0], gid, gid, NULL);
}

struct membership {
	const char *user;
	gid_t *groups;
	size_t n, cap;
	bool oom;
};

static int
add_group(struct membership *m, gid_t gid)
{
	gid_t *grown;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->groups[i] == gid)
			return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap != 0 ? m->cap * 2 : 8;

		grown = reallocarray(m->groups, cap, sizeof(*grown));
		if (grown == NULL) {
			m->oom = true;
			return 1;
		}
		m->groups = grown;
		m->cap = cap;
	}
	m->groups[m->n++] = gid;
	return 0;
}

static int
match_member(char **field, size_t nfield, void *arg)
{
	struct membership *m = arg;
	uint32_t gid;
	char *member, *next;

	if (nfield < GROUP_FIELDS || parse_id(field[2], &gid))
		return 0;
	for (member = field[3]; member != NULL; member = next) {
		next = strchr(member, ',');
		if (next != NULL)
			*next++ = '\0';
		if (strcmp(member, m->user) == 0)
			return add_group(m, gid);
	}
	return 0;
}

static int
io_error(const char *path, char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
	return 1;
}

/* A read error after an entry matched: the account found is dropped. */
static int
lookup_io_error(struct lookup *lk, const char *path, char *err, size_t errlen)
{
	free(lk->acct.name);
	free(lk->acct.home);
	lk->acct.name = lk->acct.home = NULL;
	return io_error(path, err, errlen);
}

static int
oom(char *err, size_t errlen)
{
	snprintf(err, errlen, "out of memory");
	return 1;
}

/* Finds user (a name, else a number) in passwd_path. A number that is not
 * there is still a valid uid: its primary group is then the same number, as
 * Docker and Kubernetes (runAsUser) do. */
static int
resolve_user(const char *user, const char *passwd_path, struct credentials *cred, char *err,
	     size_t errlen)
{
	struct lookup lk = {.name = user};
	bool missing;
	uint32_t uid;

	if (for_each_entry(passwd_path, 6, PASSWD_FIELDS, match_passwd, &lk, &missing))
		return lookup_io_error(&lk, passwd_path, err, errlen);
	if (!lk.found && !lk.oom && parse_id(user, &uid) == 0) {
		lk.name = NULL;
		lk.id = uid;
		if (for_each_entry(passwd_path, 6, PASSWD_FIELDS, match_passwd, &lk, &missing))
			return lookup_io_error(&lk, passwd_path, err, errlen);
		if (!lk.found && !lk.oom) {
			cred->uid = (uid_t)uid;
			cred->gid = (gid_t)uid;
			return 0;
		}
	}
	if (lk.oom)
		return oom(err, errlen);
	if (!lk.found) {
		snprintf(err, errlen, "no user \"%s\" in %s%s", user, passwd_path,
			 missing ? " (the file does not exist)" : "");
		return 1;
	}
	cred->uid = (uid_t)lk.acct.id;
	cred->gid = (gid_t)lk.acct.gid;
	cred->user_name = lk.acct.name;
	cred->home = lk.acct.home;
	return 0;
}

/* Finds group (a name, else a number, which needs no entry) in group_path. */
static int
resolve_group(const char *group, const char *group_path, gid_t *gid, char *err, size_t errlen)
{
	struct lookup lk = {.name = group};
	bool missing;
	uint32_t id;

	if (for_each_entry(group_path, 3, GROUP_FIELDS, match_group, &lk, &missing))
		return lookup_io_error(&lk, group_path, err, errlen);
	if (lk.oom)
		return oom(err, errlen);
	if (lk.found) {
		*gid = (gid_t)lk.acct.id;
		free(lk.acct.name);
		return 0;
	}
	if (parse_id(group, &id) == 0) {
		*gid = (gid_t)id;
		return 0;
	}
	snprintf(err, errlen, "no group \"%s\" in %s%s", group, group_path,
		 missing ? " (the file does not exist)" : "");
	return 1;
}

/* The supplementary groups: the service's gid first, then every group that
 * lists the user as a member, as initgroups() would. Always at least the
 * gid, so that setgroups() drops the supplementary groups memwarden itself
 * runs with (root's, typically). */
static int
resolve_groups(const char *group_path, struct credentials *cred, char *err, size_t errlen)
{
	struct membership m = {.user = cred->user_name};
	bool missing;

	if (add_group(&m, cred->gid))
		return oom(err, errlen);
	if (cred->user_name != NULL &&
	    for_each_entry(group_path, GROUP_FIELDS, GROUP_FIELDS, match_member, &m, &missing)) {
		free(m.groups);
		return io_error(group_path, err, errlen);
	}
	if (m.oom) {
		free(m.groups);
		return oom(err, errlen);
	}
	cred->groups = m.groups;
	cred->ngroups = m.n;
	return 0;
}

int
users_resolve(const char *user, const char *group, const char *passwd_path, const char *group_path,
	      struct credentials *cred, char *err, size_t errlen)
{
	memset(cred, 0, sizeof(*cred));
	if (errlen > 0)
		err[0] = '\0';
	if (user != NULL && user[0] != '\0') {
		if (resolve_user(user, passwd_path, cred, err, errlen))
			goto fail;
		cred->set_uid = cred->set_gid = true;
	}
	if (group != NULL && group[0] != '\0') {
		if (resolve_group(group, group_path, &cred->gid, err, errlen))
			goto fail;
		cred->set_gid = true;
	}
	if (cred->set_uid && resolve_groups(group_path, cred, err, errlen))
		goto fail;
	return 0;
fail:
	credentials_free(cred);
	return 1;
}

void
credentials_free(struct credentials *cred)
{
	free(cred->groups);
	free(cred->user_name);
	free(cred->home);
	memset(cred, 0, sizeof(*cred));
}
