/* The state file's directory (SPEC section 8): when the service runs as
 * another user, one that user could change is refused; memwarden creates
 * a missing one 0755. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"

static char tmpdir[64];

static int
make_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mw-state-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
remove_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name, made with mode (chmod: whatever the umask). */
static const char *
dir_with_mode(char *buf, size_t len, const char *name, mode_t mode)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(buf, 0700), 0);
	assert_int_equal(chmod(buf, mode), 0);
	return buf;
}

static void
state_directory_checked(void **state)
{
	char dir[128], file[256], why[1024];
	uid_t me = geteuid();

	(void)state;
	/* memwarden's, 0755: fine */
	dir_with_mode(dir, sizeof(dir), "ok", 0755);
	snprintf(file, sizeof(file), "%s/svc.json", dir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 0);
	/* anyone may write it, with the sticky bit or without: refused */
	dir_with_mode(dir, sizeof(dir), "open", 0777);
	snprintf(file, sizeof(file), "%s/svc.json", dir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 1);
	assert_non_null(strstr(why, dir));
	assert_non_null(strstr(why, "writable by group or others (mode 0777)"));
	dir_with_mode(dir, sizeof(dir), "sticky", 01777);
	snprintf(file, sizeof(file), "%s/svc.json", dir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "(mode 1777)"));
	dir_with_mode(dir, sizeof(dir), "group", 0775);
	snprintf(file, sizeof(file), "%s/svc.json", dir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 1);
	/* safe itself, below an open one: refused, the open one named */
	snprintf(file, sizeof(file), "%s/open/inner", tmpdir);
	assert_int_equal(mkdir(file, 0755), 0);
	strcat(file, "/svc.json");
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "/open is writable by group or others without the sticky bit"));
	/* missing: memwarden creates it, so its parent is what counts; a
	 * sticky one (/tmp) will do */
	snprintf(file, sizeof(file), "%s/ok/new/svc.json", tmpdir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 0);
	snprintf(file, sizeof(file), "%s/sticky/new/svc.json", tmpdir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 0);
	snprintf(file, sizeof(file), "%s/open/new/svc.json", tmpdir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "where memwarden would create"));
	/* nothing there at all: the writes fail and say so */
	snprintf(file, sizeof(file), "%s/no/such/svc.json", tmpdir);
	assert_int_equal(state_dir_check(file, me, why, sizeof(why)), 0);
	/* another user's, when root can show it */
	if (me == 0) {
		dir_with_mode(dir, sizeof(dir), "theirs", 0755);
		assert_int_equal(chown(dir, 65534, 65534), 0);
		snprintf(file, sizeof(file), "%s/svc.json", dir);
		assert_int_equal(state_dir_check(file, 0, why, sizeof(why)), 1);
		assert_non_null(strstr(why, "owned by uid 65534, not by root"));
	}
}

/* A missing directory (one level) is created 0755, memwarden's. */
static void
state_write_creates_directory(void **state)
{
	struct service_state_info info = {
	    .pid = 1, .service = "svc", .state = "running", .last_exit_status = -1};
	char file[256];
	struct stat st;
	mode_t old = umask(022);

	(void)state;
	snprintf(file, sizeof(file), "%s/made/svc.json", tmpdir);
	assert_int_equal(state_write(file, &info), 0);
	umask(old);
	snprintf(file, sizeof(file), "%s/made", tmpdir);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, geteuid());
	snprintf(file, sizeof(file), "%s/made/svc.json", tmpdir);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(state_directory_checked),
	    cmocka_unit_test(state_write_creates_directory),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
