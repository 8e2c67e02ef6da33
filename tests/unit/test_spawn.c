/* The service's environment: memwarden's own, [environment] over it, and
 * the user's HOME/USER/LOGNAME when [service] user is set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spawn.h"

static const char *
lookup(char **env, const char *name)
{
	size_t len = strlen(name);

	for (; *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

static size_t
count(char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	return n;
}

static void
environment_overrides_without_duplicates(void **state)
{
	char *base[] = {"PATH=/bin", "LANG=C", "KEEP=1", NULL};
	char *extra[] = {"LANG=C.UTF-8", "NEW=x"};
	struct config cfg;
	char **env;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.environment = extra;
	cfg.n_environment = 2;
	env = service_environment(&cfg, base);
	assert_non_null(env);
	assert_int_equal(count(env), 4);
	assert_string_equal(lookup(env, "LANG"), "C.UTF-8");
	assert_string_equal(lookup(env, "NEW"), "x");
	assert_string_equal(lookup(env, "KEEP"), "1");
	assert_null(lookup(env, "HOME"));
	free(env);
}

static void
user_sets_home_user_logname(void **state)
{
	char *base[] = {"HOME=/root", "USER=root", NULL};
	char *extra[] = {"HOME=/srv"};
	struct config cfg;
	char **env;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cred.set_uid = true;
	cfg.cred.uid = 65534;
	cfg.cred.user_name = "nobody";
	cfg.cred.home = "/nonexistent";
	env = service_environment(&cfg, base);
	assert_non_null(env);
	assert_string_equal(lookup(env, "HOME"), "/nonexistent");
	assert_string_equal(lookup(env, "USER"), "nobody");
	assert_string_equal(lookup(env, "LOGNAME"), "nobody");
	assert_int_equal(count(env), 3);
	free(env);
	/* [environment] wins over the user's entry. */
	cfg.environment = extra;
	cfg.n_environment = 1;
	env = service_environment(&cfg, base);
	assert_string_equal(lookup(env, "HOME"), "/srv");
	free(env);
}

static void
exec_failure_statuses(void **state)
{
	struct spawn_failure notfound = {.step = STEP_EXEC, .err = 2 /* ENOENT */};
	struct spawn_failure denied = {.step = STEP_EXEC, .err = 13 /* EACCES */};
	struct spawn_failure chdir_failed = {.step = STEP_CHDIR, .err = 2};

	(void)state;
	assert_int_equal(spawn_failure_status(&notfound), 127);
	assert_int_equal(spawn_failure_status(&denied), 126);
	assert_int_equal(spawn_failure_status(&chdir_failed), 126);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(environment_overrides_without_duplicates),
	    cmocka_unit_test(user_sets_home_user_logname),
	    cmocka_unit_test(exec_failure_statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
