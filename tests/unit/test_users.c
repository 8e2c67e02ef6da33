/*
 * users_resolve() against hand-made /etc/passwd and /etc/group files,
 * well-formed and otherwise.
 */
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

#include "users.h"

struct files {
	char passwd[64];
	char group[64];
};

static const char passwd_text[] = "# a comment\n"
				  "\n"
				  "root:x:0:0:root:/root:/bin/bash\n"
				  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
				  "broken line without colons\n"
				  "short:x:5\n"
				  "toomany:x:6:6:a:b:c:d:e\n"
				  "baduid:x:abc:1::/:/bin/sh\n"
				  "neguid:x:-1:1::/:/bin/sh\n"
				  "biguid:x:4294967295:1::/:/bin/sh\n"
				  "huge:x:99999999999999999999:1::/:/bin/sh\n"
				  ":x:77:77::/:/bin/sh\n"
				  "+nis\n"
				  "-nisuser:x:8:8::/:/bin/sh\n"
				  "bobby:x:1001:1001::/home/bobby:/bin/sh\n"
				  "bob:x:1000:1000:Bob,,,:/home/bob:/bin/bash\n"
				  "nohome:x:1002:1002::\n"
				  "crlf:x:1003:1003::/home/crlf:/bin/sh\r\n"
				  "1234:x:2000:2000::/home/digits:/bin/sh\n"
				  "dup:x:3000:3000::/first:/bin/sh\n"
				  "dup:x:3001:3001::/second:/bin/sh\n"
				  "nonl:x:4000:4000::/home/nonl:/bin/sh";

static const char group_text[] = "# groups\n"
				 "root:x:0:\n"
				 "daemon:x:1:\n"
				 "bob:x:1000:\n"
				 "staff:x:50:bob,alice\n"
				 "audio:x:29:alice,bob\n"
				 "video:x:44:bobby\n"
				 "dupe:x:50:bob\n" /* same gid again: listed once */
				 "bad:x:zz:bob\n"
				 "nomembers:x:60\n"
				 "garbage\n"
				 "sudo:x:27:alice , bob\n" /* members with spaces are not bob */
				 "1234:x:5000:\n";

static void
write_file(char *path, size_t len, const char *text, size_t textlen)
{
	int fd;

	snprintf(path, len, "/tmp/test_users.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, textlen), (ssize_t)textlen);
	close(fd);
}

static int
setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	write_file(f->passwd, sizeof(f->passwd), passwd_text, strlen(passwd_text));
	write_file(f->group, sizeof(f->group), group_text, strlen(group_text));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct files *f = *state;

	unlink(f->passwd);
	unlink(f->group);
	free(f);
	return 0;
}

static int
resolve(void **state, const char *user, const char *group, struct credentials *cred, char *err)
{
	const struct files *f = *state;

	return users_resolve(user, group, f->passwd, f->group, cred, err, 256);
}

static bool
has_group(const struct credentials *c, gid_t gid)
{
	size_t i;

	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

static void
test_user_by_name(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "bob", NULL, &c, err), 0);
	assert_true(c.set_uid);
	assert_true(c.set_gid);
	assert_int_equal(c.uid, 1000);
	assert_int_equal(c.gid, 1000);
	assert_string_equal(c.user_name, "bob");
	assert_string_equal(c.home, "/home/bob");
	/* Primary group first, then the memberships, each once. */
	assert_int_equal(c.ngroups, 3);
	assert_int_equal(c.groups[0], 1000);
	assert_true(has_group(&c, 50));
	assert_true(has_group(&c, 29));
	assert_false(has_group(&c, 44)); /* bobby's, not bob's */
	assert_false(has_group(&c, 27));
	credentials_free(&c);
	assert_null(c.groups);
	assert_null(c.user_name);
}

static void
test_user_root(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "root", NULL, &c, err), 0);
	assert_int_equal(c.uid, 0);
	assert_int_equal(c.gid, 0);
	assert_string_equal(c.home, "/root");
	assert_int_equal(c.ngroups, 1);
	assert_int_equal(c.groups[0], 0);
	credentials_free(&c);
}

static void
test_user_prefix_is_not_a_match(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "bobby", NULL, &c, err), 0);
	assert_int_equal(c.uid, 1001);
	assert_int_equal(c.ngroups, 2);
	assert_true(has_group(&c, 44));
	credentials_free(&c);
	assert_int_not_equal(resolve(state, "bo", NULL, &c, err), 0);
	assert_string_equal(c.user_name == NULL ? "" : "leak", "");
}

static void
test_user_by_number_known(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "1000", NULL, &c, err), 0);
	assert_int_equal(c.uid, 1000);
	assert_string_equal(c.user_name, "bob");
	assert_string_equal(c.home, "/home/bob");
	assert_true(has_group(&c, 50));
	credentials_free(&c);
}

static void
test_user_by_number_unknown(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "4321", NULL, &c, err), 0);
	assert_true(c.set_uid);
	assert_true(c.set_gid);
	assert_int_equal(c.uid, 4321);
	assert_int_equal(c.gid, 4321);
	assert_null(c.user_name);
	assert_null(c.home);
	assert_int_equal(c.ngroups, 1);
	assert_int_equal(c.groups[0], 4321);
	credentials_free(&c);

	assert_int_equal(resolve(state, "4321", "50", &c, err), 0);
	assert_int_equal(c.uid, 4321);
	assert_int_equal(c.gid, 50);
	assert_int_equal(c.ngroups, 1);
	assert_int_equal(c.groups[0], 50);
	credentials_free(&c);

	assert_int_equal(resolve(state, "0", NULL, &c, err), 0);
	assert_int_equal(c.uid, 0);
	assert_string_equal(c.user_name, "root");
	credentials_free(&c);
}

static void
test_user_numeric_name(void **state)
{
	struct credentials c;
	char err[256];

	/* A name that looks like a number is a name first, as chown has it. */
	assert_int_equal(resolve(state, "1234", NULL, &c, err), 0);
	assert_int_equal(c.uid, 2000);
	assert_string_equal(c.user_name, "1234");
	credentials_free(&c);
}

static void
test_user_bad_numbers(void **state)
{
	struct credentials c;
	char err[256];

	/* (uid_t)-1 is "unchanged" to setresuid(): never a uid. */
	assert_int_not_equal(resolve(state, "4294967295", NULL, &c, err), 0);
	assert_int_not_equal(resolve(state, "4294967296", NULL, &c, err), 0);
	assert_int_not_equal(resolve(state, "-1", NULL, &c, err), 0);
	assert_int_not_equal(resolve(state, "+5", NULL, &c, err), 0);
	assert_int_not_equal(resolve(state, "5x", NULL, &c, err), 0);
	assert_int_equal(resolve(state, "4294967294", NULL, &c, err), 0);
	assert_int_equal(c.uid, 4294967294U);
	credentials_free(&c);
}

static void
test_user_unknown(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "nosuch", NULL, &c, err), 1);
	assert_non_null(strstr(err, "no user \"nosuch\""));
	assert_non_null(strstr(err, ((struct files *)*state)->passwd));
	assert_false(c.set_uid);
	assert_null(c.groups);
	/* Malformed lines never match. */
	assert_int_equal(resolve(state, "short", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "toomany", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "baduid", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "neguid", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "biguid", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "huge", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "broken line without colons", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "+nis", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "-nisuser", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "nisuser", NULL, &c, err), 1);
	assert_int_equal(resolve(state, "# a comment", NULL, &c, err), 1);
	/* An empty name field matches nothing, and uid 77 is then a bare
	 * number. */
	assert_int_equal(resolve(state, "77", NULL, &c, err), 0);
	assert_null(c.user_name);
	credentials_free(&c);
}

static void
test_user_odd_lines(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "nohome", NULL, &c, err), 0);
	assert_int_equal(c.uid, 1002);
	assert_null(c.home);
	credentials_free(&c);
	assert_int_equal(resolve(state, "crlf", NULL, &c, err), 0);
	assert_string_equal(c.home, "/home/crlf");
	credentials_free(&c);
	assert_int_equal(resolve(state, "nonl", NULL, &c, err), 0);
	assert_int_equal(c.uid, 4000);
	credentials_free(&c);
	/* The first of duplicate entries wins, as getpwnam() has it. */
	assert_int_equal(resolve(state, "dup", NULL, &c, err), 0);
	assert_int_equal(c.uid, 3000);
	assert_string_equal(c.home, "/first");
	credentials_free(&c);
}

static void
test_group_only(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, NULL, "staff", &c, err), 0);
	assert_false(c.set_uid);
	assert_true(c.set_gid);
	assert_int_equal(c.gid, 50);
	assert_int_equal(c.ngroups, 0);
	assert_null(c.groups);
	credentials_free(&c);

	assert_int_equal(resolve(state, "", "777", &c, err), 0);
	assert_false(c.set_uid);
	assert_int_equal(c.gid, 777);
	credentials_free(&c);

	/* A group named like a number is a name first. */
	assert_int_equal(resolve(state, NULL, "1234", &c, err), 0);
	assert_int_equal(c.gid, 5000);
	credentials_free(&c);
	assert_int_equal(resolve(state, NULL, "nomembers", &c, err), 0);
	assert_int_equal(c.gid, 60);
	credentials_free(&c);
}

static void
test_user_and_group(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "bob", "audio", &c, err), 0);
	assert_int_equal(c.uid, 1000);
	assert_int_equal(c.gid, 29);
	assert_int_equal(c.groups[0], 29);
	assert_true(has_group(&c, 50));
	assert_false(has_group(&c, 1000)); /* the passwd primary group gave way */
	credentials_free(&c);
}

static void
test_group_unknown(void **state)
{
	struct credentials c;
	char err[256];

	assert_int_equal(resolve(state, "bob", "nosuch", &c, err), 1);
	assert_non_null(strstr(err, "no group \"nosuch\""));
	assert_false(c.set_uid);
	assert_null(c.user_name);
	assert_null(c.groups);
	assert_int_equal(resolve(state, NULL, "bad", &c, err), 1);
	assert_int_equal(resolve(state, NULL, "garbage", &c, err), 1);
	assert_int_equal(resolve(state, NULL, "4294967295", &c, err), 1);
}

static void
test_nothing(void **state)
{
	struct credentials c;
	char err[256] = "x";

	assert_int_equal(resolve(state, NULL, NULL, &c, err), 0);
	assert_false(c.set_uid);
	assert_false(c.set_gid);
	assert_string_equal(err, "");
	credentials_free(&c);
	assert_int_equal(resolve(state, "", "", &c, err), 0);
	assert_false(c.set_gid);
	credentials_free(&c);
}

static void
test_missing_files(void **state)
{
	struct credentials c;
	char err[256];

	(void)state;
	/* An image FROM scratch has no /etc/passwd: numbers still work. */
	assert_int_equal(users_resolve("1000", "1000", "/nonexistent/passwd", "/nonexistent/group",
				       &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.uid, 1000);
	assert_int_equal(c.gid, 1000);
	credentials_free(&c);
	assert_int_equal(users_resolve("bob", NULL, "/nonexistent/passwd", "/nonexistent/group", &c,
				       err, sizeof(err)),
			 1);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(users_resolve(NULL, "staff", "/nonexistent/passwd", "/nonexistent/group",
				       &c, err, sizeof(err)),
			 1);
	assert_non_null(strstr(err, "no group \"staff\""));
	/* A directory cannot be read: that is an error, not "no such user". */
	assert_int_equal(users_resolve("bob", NULL, "/", "/", &c, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "cannot read /"));
}

static void
test_long_lines(void **state)
{
	struct credentials c;
	char err[256], pw[64], gr[64];
	size_t n = 200000, len = 0, i;
	char *group = malloc(n + 256), *passwd = malloc(n + 256);

	(void)state;
	assert_non_null(group);
	assert_non_null(passwd);
	/* A group with thousands of members, bob last, and a gecos field far
	 * longer than any fixed buffer. */
	len += (size_t)sprintf(group + len, "big:x:700:");
	for (i = 0; len < n; i++)
		len += (size_t)sprintf(group + len, "user%zu,", i);
	len += (size_t)sprintf(group + len, "bob\nsmall:x:701:bob\n");
	len = (size_t)sprintf(passwd, "bob:x:1000:1000:");
	memset(passwd + len, 'g', n);
	len += n;
	len += (size_t)sprintf(passwd + len, ":/home/bob:/bin/sh\n");
	write_file(pw, sizeof(pw), passwd, len);
	write_file(gr, sizeof(gr), group, strlen(group));
	assert_int_equal(users_resolve("bob", NULL, pw, gr, &c, err, sizeof(err)), 0);
	assert_int_equal(c.uid, 1000);
	assert_string_equal(c.home, "/home/bob");
	assert_int_equal(c.ngroups, 3);
	assert_true(has_group(&c, 700));
	assert_true(has_group(&c, 701));
	credentials_free(&c);
	unlink(pw);
	unlink(gr);
	free(group);
	free(passwd);
}

static void
test_binary_file(void **state)
{
	static const char junk[] = "\x7f"
				   "ELF\x02\x01\x01\0\0\0bob:x:1:1::/:/bin/sh\0\n"
				   "\xff\xfe:x:\n"
				   "bob:x:1000:1000::/home/bob:/bin/sh\n";
	struct credentials c;
	char err[256], pw[64];

	(void)state;
	write_file(pw, sizeof(pw), junk, sizeof(junk) - 1);
	/* The line with NUL bytes is skipped; the good one still counts. */
	assert_int_equal(users_resolve("bob", NULL, pw, "/nonexistent", &c, err, sizeof(err)), 0);
	assert_int_equal(c.uid, 1000);
	credentials_free(&c);
	unlink(pw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_user_by_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_prefix_is_not_a_match, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_by_number_known, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_by_number_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_numeric_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_bad_numbers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_odd_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_and_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing, setup, teardown),
	    cmocka_unit_test(test_missing_files),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_binary_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
