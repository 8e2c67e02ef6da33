/* The restart policy: back-off, its reset, giving up, exit-code remapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

static struct config
policy_config(enum restart_policy restart)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.restart = restart;
	cfg.restart_backoff_ms = 1000;
	cfg.restart_backoff_max_ms = 30000;
	cfg.max_restarts = 10;
	cfg.restart_window_ms = 600000;
	return cfg;
}

static void
no_restart_means_exit(void **state)
{
	struct config cfg = policy_config(RESTART_NO);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	assert_int_equal(restart_decide(&cfg, &h, 1, 0, 5000, &delay), VERDICT_EXIT);
	assert_int_equal(h.total, 0);
}

static void
on_failure_restarts_only_failures(void **state)
{
	struct config cfg = policy_config(RESTART_ON_FAILURE);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	assert_int_equal(restart_decide(&cfg, &h, 0, 0, 5000, &delay), VERDICT_EXIT);
	assert_int_equal(restart_decide(&cfg, &h, 137, 0, 5000, &delay), VERDICT_RESTART);
	assert_int_equal(delay, 1000);
	/* A remapped code is a success. */
	cfg.success_exit[143] = true;
	assert_int_equal(restart_decide(&cfg, &h, 143, 0, 6000, &delay), VERDICT_EXIT);
}

static void
backoff_doubles_up_to_the_maximum(void **state)
{
	struct config cfg = policy_config(RESTART_ALWAYS);
	struct restart_history h = {0};
	uint64_t delay = 0, now = 0, want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
	size_t i;

	(void)state;
	cfg.max_restarts = 100;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		now += 100;
		assert_int_equal(restart_decide(&cfg, &h, 1, now - 50, now, &delay),
				 VERDICT_RESTART);
		assert_int_equal(delay, want[i]);
	}
}

static void
backoff_resets_after_a_healthy_window(void **state)
{
	struct config cfg = policy_config(RESTART_ALWAYS);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	restart_decide(&cfg, &h, 1, 0, 100, &delay);
	restart_decide(&cfg, &h, 1, 200, 300, &delay);
	assert_int_equal(delay, 2000);
	/* This instance ran for the whole window. */
	restart_decide(&cfg, &h, 1, 1000, 1000 + 600000, &delay);
	assert_int_equal(delay, 1000);
}

static void
gives_up_after_max_restarts_within_the_window(void **state)
{
	struct config cfg = policy_config(RESTART_ON_FAILURE);
	struct restart_history h = {0};
	uint64_t delay = 0, now = 0;
	unsigned i;

	(void)state;
	cfg.max_restarts = 3;
	for (i = 0; i < 3; i++) {
		now += 1000;
		assert_int_equal(restart_decide(&cfg, &h, 1, now - 10, now, &delay),
				 VERDICT_RESTART);
	}
	assert_int_equal(restart_decide(&cfg, &h, 1, now, now + 10, &delay), VERDICT_GIVE_UP);
	assert_int_equal(h.total, 3);
}

static void
old_restarts_leave_the_window(void **state)
{
	struct config cfg = policy_config(RESTART_ON_FAILURE);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	cfg.max_restarts = 2;
	cfg.restart_window_ms = 10000;
	assert_int_equal(restart_decide(&cfg, &h, 1, 0, 1000, &delay), VERDICT_RESTART);
	assert_int_equal(restart_decide(&cfg, &h, 1, 0, 2000, &delay), VERDICT_RESTART);
	assert_int_equal(restart_decide(&cfg, &h, 1, 0, 3000, &delay), VERDICT_GIVE_UP);
	/* 11 s after the first: it no longer counts. */
	assert_int_equal(restart_decide(&cfg, &h, 1, 0, 11500, &delay), VERDICT_RESTART);
}

static void
zero_max_restarts_never_restarts(void **state)
{
	struct config cfg = policy_config(RESTART_ALWAYS);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	cfg.max_restarts = 0;
	assert_int_equal(restart_decide(&cfg, &h, 0, 0, 10, &delay), VERDICT_GIVE_UP);
}

static void
remap_only_listed_codes(void **state)
{
	struct config cfg = policy_config(RESTART_NO);

	(void)state;
	cfg.success_exit[143] = true;
	assert_int_equal(remap_exit_status(&cfg, 143), 0);
	assert_int_equal(remap_exit_status(&cfg, 137), 137);
	assert_int_equal(remap_exit_status(&cfg, 0), 0);
	assert_int_equal(remap_exit_status(&cfg, 300), 300);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(no_restart_means_exit),
	    cmocka_unit_test(on_failure_restarts_only_failures),
	    cmocka_unit_test(backoff_doubles_up_to_the_maximum),
	    cmocka_unit_test(backoff_resets_after_a_healthy_window),
	    cmocka_unit_test(gives_up_after_max_restarts_within_the_window),
	    cmocka_unit_test(old_restarts_leave_the_window),
	    cmocka_unit_test(zero_max_restarts_never_restarts),
	    cmocka_unit_test(remap_only_listed_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
