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

/* A memory or OOM restart happens with restart = no, and doubles its
 * back-off like any other. */
static void
memory_restarts_whatever_the_policy(void **state)
{
	struct config cfg = policy_config(RESTART_NO);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	assert_int_equal(restart_decide_memory(&cfg, &h, 0, 5000, &delay), VERDICT_RESTART);
	assert_int_equal(delay, 1000);
	assert_int_equal(restart_decide_memory(&cfg, &h, 6000, 7000, &delay), VERDICT_RESTART);
	assert_int_equal(delay, 2000);
	assert_int_equal(h.total, 2);
	/* The service ending by itself still follows restart = no. */
	assert_int_equal(restart_decide(&cfg, &h, 1, 8000, 9000, &delay), VERDICT_EXIT);
	assert_int_equal(h.total, 2);
}

/* Memory restarts and exit restarts share max_restarts per window. */
static void
memory_restarts_count_toward_giving_up(void **state)
{
	struct config cfg = policy_config(RESTART_ON_FAILURE);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	cfg.max_restarts = 3;
	cfg.restart_window_ms = 10000;
	assert_int_equal(restart_decide(&cfg, &h, 1, 0, 1000, &delay), VERDICT_RESTART);
	assert_int_equal(restart_decide_memory(&cfg, &h, 1000, 2000, &delay), VERDICT_RESTART);
	assert_int_equal(restart_decide_memory(&cfg, &h, 2000, 3000, &delay), VERDICT_RESTART);
	assert_int_equal(delay, 4000);
	assert_int_equal(restart_decide_memory(&cfg, &h, 3000, 4000, &delay), VERDICT_GIVE_UP);
	/* 11.5 s: the first two have left the window. */
	assert_int_equal(restart_decide_memory(&cfg, &h, 4000, 12500, &delay), VERDICT_RESTART);
}

/* After an instance that ran a whole window, the back-off starts over. */
static void
memory_backoff_resets_after_a_healthy_window(void **state)
{
	struct config cfg = policy_config(RESTART_NO);
	struct restart_history h = {0};
	uint64_t delay = 0;

	(void)state;
	restart_decide_memory(&cfg, &h, 0, 100, &delay);
	restart_decide_memory(&cfg, &h, 200, 300, &delay);
	restart_decide_memory(&cfg, &h, 400, 500, &delay);
	assert_int_equal(delay, 4000);
	restart_decide_memory(&cfg, &h, 1000, 1000 + 600000, &delay);
	assert_int_equal(delay, 1000);
	cfg.max_restarts = 0;
	assert_int_equal(restart_decide_memory(&cfg, &h, 0, 10, &delay), VERDICT_GIVE_UP);
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

static void
measures(void **state)
{
	struct mem_sample s = {.current = 1000, .inactive_file = 300, .anon = 600};

	(void)state;
	assert_int_equal(memory_measure(METRIC_WORKINGSET, &s, 0), 700);
	assert_int_equal(memory_measure(METRIC_CURRENT, &s, 0), 1000);
	assert_int_equal(memory_measure(METRIC_ANON, &s, 0), 600);
	assert_int_equal(memory_measure(METRIC_RSS, &s, 4242), 4242);
	/* inactive_file can exceed current for a moment: floored at 0. */
	s.inactive_file = 1200;
	assert_int_equal(memory_measure(METRIC_WORKINGSET, &s, 0), 0);
}

static void
thresholds(void **state)
{
	struct threshold pct = {.is_percent = true, .percent = 80.0};
	struct threshold abs = {.is_percent = false, .bytes = 12345};

	(void)state;
	assert_int_equal(threshold_bytes(&pct, 1000), 800);
	assert_int_equal(threshold_bytes(&pct, 4831838208ULL), 3865470566ULL);
	assert_int_equal(threshold_bytes(&abs, 1000), 12345);
}

static void
interval_shrinks_toward_hard(void **state)
{
	struct config cfg = policy_config(RESTART_NO);
	uint64_t hard = 1000000, prev = UINT64_MAX, ms, m;

	(void)state;
	cfg.interval_ms = 1000;
	cfg.fast_interval_ms = 50;
	/* Far below: the full interval. */
	assert_int_equal(sample_interval_ms(&cfg, 0, hard, 0), 1000);
	assert_int_equal(sample_interval_ms(&cfg, hard / 2, hard, 0), 1000);
	/* Then never longer as the measure rises... */
	for (m = hard / 2; m <= hard; m += hard / 50) {
		ms = sample_interval_ms(&cfg, m, hard, 0);
		assert_true(ms <= prev);
		assert_true(ms >= 50);
		prev = ms;
	}
	/* ...down to fast_interval at hard and above. */
	assert_int_equal(sample_interval_ms(&cfg, hard, hard, 0), 50);
	assert_int_equal(sample_interval_ms(&cfg, 2 * hard, hard, 0), 50);
	/* No limit known: sample fast rather than blind. */
	assert_int_equal(sample_interval_ms(&cfg, 10, 0, 0), 50);
}

static void
interval_follows_growth(void **state)
{
	struct config cfg = policy_config(RESTART_NO);

	(void)state;
	cfg.interval_ms = 1000;
	cfg.fast_interval_ms = 50;
	/* 100 MB below hard, growing 200 MB/s: hard in 500 ms, so 125 ms. */
	assert_int_equal(sample_interval_ms(&cfg, 0, 100000000, 200000000), 125);
	/* Growing faster still: never below fast_interval. */
	assert_int_equal(sample_interval_ms(&cfg, 0, 100000000, 4000000000ULL), 50);
	/* Slow growth does not shorten the interval. */
	assert_int_equal(sample_interval_ms(&cfg, 0, 100000000, 1000), 1000);
}

#define MiB (1024ULL * 1024)

/* Measures every step_ms from t0 up to t_end, value(t) from the caller. */
static uint64_t
feed(struct growth *g, uint64_t t0, uint64_t t_end, uint64_t step_ms, uint64_t base, uint64_t per_s,
     uint64_t jitter)
{
	uint64_t t, v = base;

	for (t = t0; t <= t_end; t += step_ms) {
		v = base + (t - t0) * per_s / 1000;
		/* A swing of jitter bytes every other sample. */
		if (jitter && (t / step_ms) % 2)
			v -= jitter;
		growth_note(g, t, v);
	}
	return v;
}

/* Sustained growth reads at its rate, at any sampling speed. */
static void
growth_reads_sustained_growth(void **state)
{
	struct growth g;

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_int_equal(growth_rate(&g), 0);
	growth_note(&g, 1000, 100 * MiB);
	assert_int_equal(growth_rate(&g), 0); /* one measure */
	/* 20 MB/s sampled every 50 ms: read over 2 s (40 samples). */
	feed(&g, 1000, 5000, 50, 100 * MiB, 20 * MiB, 0);
	assert_in_range(growth_rate(&g), 19 * MiB, 21 * MiB);
	/* 200 MB/s sampled every 1 s. */
	memset(&g, 0, sizeof(g));
	feed(&g, 0, 8000, 1000, 0, 200 * MiB, 0);
	assert_in_range(growth_rate(&g), 199 * MiB, 201 * MiB);
	/* Falling or flat: 0. */
	memset(&g, 0, sizeof(g));
	growth_note(&g, 0, 300 * MiB);
	growth_note(&g, 1000, 200 * MiB);
	assert_int_equal(growth_rate(&g), 0);
	growth_note(&g, 2000, 200 * MiB);
	assert_int_equal(growth_rate(&g), 0);
}

/* Buffers churned by workers: 10 MB down and back every other 50 ms
 * sample, flat on average. The slope between two samples would read
 * 200 MB/s; over the floor of 1 s it reads 10 MB/s. */
static void
growth_ignores_short_swings(void **state)
{
	struct growth g;

	(void)state;
	memset(&g, 0, sizeof(g));
	feed(&g, 0, 3000, 50, 190 * MiB, 0, 10 * MiB);
	growth_note(&g, 3050, 190 * MiB);
	assert_true(growth_rate(&g) <= 10 * MiB);
	/* A single step of 40 MB reads as no more than 40 MB/s, and is
	 * forgotten once its low point is older than the 2 s window. */
	memset(&g, 0, sizeof(g));
	feed(&g, 0, 3000, 50, 150 * MiB, 0, 0);
	growth_note(&g, 3050, 190 * MiB);
	assert_int_equal(growth_rate(&g), 40 * MiB);
	feed(&g, 3100, 5500, 50, 190 * MiB, 0, 0);
	assert_int_equal(growth_rate(&g), 0);
}

/* After a drop (a restart, a release) the regrowth is read from the low,
 * not hidden behind the high points from before it. */
static void
growth_reads_regrowth_after_a_drop(void **state)
{
	struct growth g;

	(void)state;
	memset(&g, 0, sizeof(g));
	feed(&g, 0, 2000, 100, 500 * MiB, 0, 0);
	feed(&g, 2100, 4100, 100, 100 * MiB, 50 * MiB, 0);
	assert_in_range(growth_rate(&g), 49 * MiB, 51 * MiB);
}

/* The rise is read from its own start: not from a trough before the last
 * peak (a restart whose trough fell between two samples), nor from a dip
 * older than the window. */
static void
growth_reads_the_current_rise(void **state)
{
	struct growth g;

	(void)state;
	memset(&g, 0, sizeof(g));
	growth_note(&g, 0, 0);
	growth_note(&g, 500, 230 * MiB);
	growth_note(&g, 550, 150 * MiB);
	growth_note(&g, 1550, 200 * MiB);
	growth_note(&g, 1600, 210 * MiB);
	/* From 150 at 550: 60 MB in 1.05 s, not 210 MB in 1.6 s. */
	assert_int_equal(growth_rate(&g), 60 * MiB * 1000 / 1050);

	memset(&g, 0, sizeof(g));
	growth_note(&g, 0, 90 * MiB);
	feed(&g, 1000, 10000, 1000, 100 * MiB, 0, 0);
	feed(&g, 10050, 11500, 50, 100 * MiB + 50 * MiB / 20, 50 * MiB, 0);
	assert_in_range(growth_rate(&g), 49 * MiB, 51 * MiB);
}

/* A clock that goes back starts the ring again; huge values do not
 * overflow. */
static void
growth_survives_odd_input(void **state)
{
	struct growth g;

	(void)state;
	memset(&g, 0, sizeof(g));
	feed(&g, 10000, 12000, 250, 0, 10 * MiB, 0);
	growth_note(&g, 500, 50 * MiB);
	assert_int_equal(growth_rate(&g), 0);
	growth_note(&g, 1500, 60 * MiB);
	assert_int_equal(growth_rate(&g), 10 * MiB);
	memset(&g, 0, sizeof(g));
	growth_note(&g, 0, 0);
	growth_note(&g, 1000, UINT64_MAX);
	assert_int_equal(growth_rate(&g), UINT64_MAX / 1000 * 1000);
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
	    cmocka_unit_test(memory_restarts_whatever_the_policy),
	    cmocka_unit_test(memory_restarts_count_toward_giving_up),
	    cmocka_unit_test(memory_backoff_resets_after_a_healthy_window),
	    cmocka_unit_test(remap_only_listed_codes),
	    cmocka_unit_test(measures),
	    cmocka_unit_test(thresholds),
	    cmocka_unit_test(interval_shrinks_toward_hard),
	    cmocka_unit_test(interval_follows_growth),
	    cmocka_unit_test(growth_reads_sustained_growth),
	    cmocka_unit_test(growth_ignores_short_swings),
	    cmocka_unit_test(growth_reads_regrowth_after_a_drop),
	    cmocka_unit_test(growth_reads_the_current_rise),
	    cmocka_unit_test(growth_survives_odd_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
