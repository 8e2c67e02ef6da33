/*
 * [service] user and group against the container's /etc/passwd and
 * /etc/group (users.h): the files are parsed by hand, and an image's
 * files are outside input.
 *
 * Input: USER \0 GROUP \0 PASSWD-TEXT \0 GROUP-TEXT (the last part may
 * hold NUL bytes: lines with one are skipped).
 */
#include "fuzz.h"
#include "users.h"

static struct fuzz_file passwd, group;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_init(&passwd, "fuzz-passwd");
	fuzz_file_init(&group, "fuzz-group");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *nul;
	char *user, *grp, err[256];
	struct credentials cred;
	size_t i, j;

	user = fuzz_next_part(&p, end);
	grp = fuzz_next_part(&p, end);
	nul = memchr(p, '\0', (size_t)(end - p));
	fuzz_file_set(&passwd, p, nul ? (size_t)(nul - p) : (size_t)(end - p));
	p = nul ? nul + 1 : end;
	fuzz_file_set(&group, p, (size_t)(end - p));

	memset(&cred, 0xa5, sizeof(cred));
	if (users_resolve(user, grp, passwd.path, group.path, &cred, err, sizeof(err)) == 0) {
		FUZZ_CHECK(cred.set_uid == (user[0] != '\0'));
		FUZZ_CHECK(cred.set_gid == (user[0] != '\0' || grp[0] != '\0'));
		FUZZ_CHECK(cred.uid != (uid_t)-1 && cred.gid != (gid_t)-1);
		if (cred.set_uid) {
			/* setgroups(): the gid first, each group once. */
			FUZZ_CHECK(cred.ngroups >= 1 && cred.groups[0] == cred.gid);
			for (i = 0; i < cred.ngroups; i++)
				for (j = i + 1; j < cred.ngroups; j++)
					FUZZ_CHECK(cred.groups[i] != cred.groups[j]);
		} else {
			FUZZ_CHECK(cred.ngroups == 0 && cred.groups == NULL);
		}
		if (cred.user_name != NULL)
			FUZZ_CHECK(strchr(cred.user_name, ':') == NULL &&
				   cred.user_name[0] != '\0');
	} else {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(cred.groups == NULL && cred.user_name == NULL && cred.home == NULL);
	}
	credentials_free(&cred);
	free(user);
	free(grp);
	return 0;
}
