/*
 * The memory guard on synthetic sequences. Limit 1000 MB, soft 800 MB,
 * hard 900 MB, hard_for 3, release_interval 10 s, no drain, stop 10 s,
 * unless a test says otherwise. Expected verdicts are written as flags:
 * S memory.soft entered, R release, A the action; "" nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"

#define MB 1000000ULL

struct sample {
	uint64_t mb;	    /* the measure */
	uint64_t growth_mb; /* MB per second */
	uint64_t after_ms;  /* since the sample before; also the interval passed */
	const char *expect; /* flags */
};

static struct guard_params
params(void)
{
	struct guard_params p;

	memset(&p, 0, sizeof(p));
	p.limit = 1000 * MB;
	p.soft = 800 * MB;
	p.hard = 900 * MB;
	p.hard_for = 3;
	p.release_interval_ms = 10000;
	p.drain_delay_ms = 0;
	p.stop_ms = 10000;
	return p;
}

static const char *
flags(const struct guard_verdict *v)
{
	static char buf[4];
	size_t n = 0;

	if (v->soft_entered)
		buf[n++] = 'S';
	if (v->release)
		buf[n++] = 'R';
	if (v->act)
		buf[n++] = 'A';
	buf[n] = '\0';
	return buf;
}

/* Feeds the samples, checks each verdict; returns the last one. */
static struct guard_verdict
run(struct guard *g, const struct guard_params *p, uint64_t *now, const struct sample *s, size_t n)
{
	struct guard_verdict v;
	size_t i;

	memset(&v, 0, sizeof(v));
	for (i = 0; i < n; i++) {
		*now += s[i].after_ms;
		v = guard_step(g, p, s[i].mb * MB, s[i].growth_mb * MB, s[i].after_ms, *now);
		if (strcmp(flags(&v), s[i].expect) != 0)
			fail_msg("sample %zu (%llu MB at %llu ms): got \"%s\", want \"%s\"", i,
				 (unsigned long long)s[i].mb, (unsigned long long)*now, flags(&v),
				 s[i].expect);
	}
	return v;
}

/* The same measure n times, every ms; counts the flags seen. */
static void
hold(struct guard *g, const struct guard_params *p, uint64_t *now, uint64_t mb, uint64_t ms,
     unsigned n, unsigned *soft, unsigned *releases, unsigned *acts)
{
	struct guard_verdict v;
	unsigned i;

	for (i = 0; i < n; i++) {
		*now += ms;
		v = guard_step(g, p, mb * MB, 0, ms, *now);
		*soft += v.soft_entered;
		*releases += v.release;
		*acts += v.act;
	}
}

/* 500 to 790 MB and back, for 10 minutes: nothing, ever. */
static void
steady_below_soft(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0, i;

	(void)state;
	for (i = 0; i < 600; i++) {
		now += 1000;
		v = guard_step(&g, &p, (500 + (i * 37) % 291) * MB, i % 2 ? 5 * MB : 0, 1000, now);
		assert_string_equal(flags(&v), "");
	}
}

/* 780 MB growing 2 MB a second, sampled every second. Soft (800) at 10 s:
 * memory.soft once; releases at 10, 20, 30, 40, 50 and 60 s (the last one
 * also the first sample above hard, 900 MB); the action at 62 s, the third
 * sample above hard. The growth rule stays quiet: 10% of the limit at 2 MB/s
 * is 50 s away. */
static void
slow_leak(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0, i;
	unsigned soft = 0;

	(void)state;
	for (i = 0; i <= 62; i++) {
		now = i * 1000;
		v = guard_step(&g, &p, (780 + 2 * i) * MB, 2 * MB, 1000, now);
		soft += v.soft_entered;
		assert_int_equal(v.soft_entered, i == 10);
		assert_int_equal(v.release, i >= 10 && i % 10 == 0);
		assert_int_equal(v.act, i == 62);
	}
	assert_int_equal(soft, 1);
	assert_string_equal(v.why, "above hard for 3 samples");
}

/* 700, 800, then a jump to 976 MB growing 200 MB/s, samples 100 ms apart:
 * 24 MB from the limit is 120 ms away, less than the two samples hard_for
 * still wants (200 ms): the action at once. */
static void
fast_spike(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0;
	const struct sample seq[] = {
	    {700, 0, 100, ""},
	    {800, 1000, 100, "SR"},
	    {976, 200, 100, "A"},
	};

	(void)state;
	v = run(&g, &p, &now, seq, sizeof(seq) / sizeof(seq[0]));
	assert_string_equal(v.why, "growth 200 MB/s reaches the limit in 120 ms");

	/* At the edge: 120 ms within the two 40 ms samples still needed
	 * plus one of margin acts; within three 39 ms ones it does not (yet). */
	guard_reset(&g);
	assert_true(guard_step(&g, &p, 976 * MB, 200 * MB, 40, now).act);
	guard_reset(&g);
	assert_false(guard_step(&g, &p, 976 * MB, 200 * MB, 39, now).act);
}

/* 950 MB growing 100 MB/s, samples 50 ms apart: the limit is 500 ms away.
 * Without a drain the two samples still needed take 100 ms: wait for them
 * (the first sample is the last-chance release). With a drain of 1 s the
 * service would reach the limit while draining: act at once. At the limit
 * itself, act without growth. */
static void
drain_counts_in_growth(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0;
	const struct sample wait[] = {
	    {950, 100, 50, "SR"},
	    {955, 100, 50, ""},
	    {960, 100, 50, "A"},
	};
	const struct sample act[] = {{950, 100, 50, "SA"}};
	const struct sample full[] = {{1000, 0, 50, "SA"}};

	(void)state;
	v = run(&g, &p, &now, wait, 3);
	assert_string_equal(v.why, "above hard for 3 samples");

	p.drain_delay_ms = 1000;
	guard_reset(&g);
	v = run(&g, &p, &now, act, 1);
	assert_string_equal(v.why, "growth 100 MB/s reaches the limit in 500 ms");

	guard_reset(&g);
	v = run(&g, &p, &now, full, 1);
	assert_string_equal(v.why, "at the limit");

	/* Slow growth: bytes per second in the why. */
	guard_reset(&g);
	p.limit = 1000;
	p.soft = 800;
	p.hard = 900;
	v = guard_step(&g, &p, 990, 500, 50, now);
	assert_true(v.act);
	assert_string_equal(v.why, "growth 500 bytes/s reaches the limit in 20 ms");
}

/* 790/810 MB alternating every second for a minute: memory.soft once, a
 * release every 10 s (at 1, 11, 21, 31, 41, 51 s). A dip to 760 MB stays
 * within the 5% margin (release due at 61 s). A drop to 740 MB ends the
 * excursion: the next 810 MB logs again, but releases stay 10 s apart. */
static void
sawtooth_around_soft(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0, i;
	unsigned soft = 0, releases = 0;
	const struct sample dip[] = {
	    {760, 0, 1000, ""},	 {810, 0, 1000, "R"}, {740, 0, 1000, ""},
	    {810, 0, 1000, "S"}, {760, 0, 1000, ""},  {810, 0, 1000, ""},
	};

	(void)state;
	for (i = 0; i < 60; i++) {
		now = i * 1000;
		v = guard_step(&g, &p, (i % 2 ? 810 : 790) * MB, 0, 1000, now);
		soft += v.soft_entered;
		releases += v.release;
		assert_int_equal(v.release, i % 10 == 1);
		assert_false(v.act);
	}
	assert_int_equal(soft, 1);
	assert_int_equal(releases, 6);
	run(&g, &p, &now, dip, sizeof(dip) / sizeof(dip[0]));
}

/* Around hard, samples 50 ms apart. Once above hard in four samples: a
 * release at the first crossing only, no action, for 5 s. Alternating
 * above and below: a service living at the edge, acted on when 3 of the
 * last 6 samples were above. Two above, a dip, one above: acted on too. */
static void
flapping_around_hard(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0;
	unsigned i, releases = 0, acts = 0, soft = 0;
	const struct sample edge[] = {
	    {880, 0, 50, "SR"}, {910, 0, 50, "R"}, {880, 0, 50, ""},
	    {910, 0, 50, ""},	{880, 0, 50, ""},  {910, 0, 50, "A"},
	};
	const struct sample dip[] = {
	    {910, 0, 50, "SR"},
	    {910, 0, 50, ""},
	    {880, 0, 50, ""},
	    {910, 0, 50, "A"},
	};

	(void)state;
	for (i = 0; i < 100; i++) {
		hold(&g, &p, &now, i % 4 == 1 ? 910 : 880, 50, 1, &soft, &releases, &acts);
		if (i == 1)
			assert_int_equal(releases, 2); /* soft, then hard */
	}
	assert_int_equal(soft, 1);
	assert_int_equal(releases, 2);
	assert_int_equal(acts, 0);

	guard_reset(&g);
	v = run(&g, &p, &now, edge, sizeof(edge) / sizeof(edge[0]));
	assert_string_equal(v.why, "above hard in 3 of the last 6 samples");

	guard_reset(&g);
	v = run(&g, &p, &now, dip, sizeof(dip) / sizeof(dip[0]));
	assert_string_equal(v.why, "above hard in 3 of the last 6 samples");
}

/* 850 then 910 MB (the last-chance release), then the release helps: 860
 * MB for a minute, no action; back above hard twice after the window has
 * forgotten: still none, and no second last chance. A release that brings
 * it below soft forgets the samples above hard at once (910 910 700 910
 * would otherwise be 3 of 6) and ends the excursion. */
static void
release_that_helps(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	uint64_t now = 0;
	unsigned releases = 0, acts = 0, soft = 0;
	const struct sample seq[] = {
	    {850, 0, 50, "SR"},
	    {910, 0, 50, "R"},
	    {920, 0, 50, ""},
	    {860, 0, 50, ""},
	};
	const struct sample again[] = {
	    {910, 0, 50, ""},
	    {910, 0, 50, ""},
	    {860, 0, 50, ""},
	};
	const struct sample below[] = {
	    {910, 0, 50, "SR"}, {910, 0, 50, ""}, {700, 0, 50, ""},
	    {910, 0, 50, "SR"}, {910, 0, 50, ""}, {700, 0, 50, ""},
	};

	(void)state;
	run(&g, &p, &now, seq, sizeof(seq) / sizeof(seq[0]));
	hold(&g, &p, &now, 860, 1000, 60, &soft, &releases, &acts);
	assert_int_equal(acts, 0);
	assert_int_equal(soft, 0);
	assert_int_equal(releases, 6); /* every 10 s above soft */
	run(&g, &p, &now, again, sizeof(again) / sizeof(again[0]));

	guard_reset(&g);
	now += 20000;
	run(&g, &p, &now, below, sizeof(below) / sizeof(below[0]));
}

/* 850, then 910 (release), 915, 920 MB: the release did not help, and the
 * third sample above hard is the action. */
static void
release_that_does_not_help(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0;
	const struct sample seq[] = {
	    {850, 0, 1000, "SR"},
	    {910, 0, 50, "R"},
	    {915, 0, 50, ""},
	    {920, 0, 50, "A"},
	};

	(void)state;
	v = run(&g, &p, &now, seq, sizeof(seq) / sizeof(seq[0]));
	assert_string_equal(v.why, "above hard for 3 samples");
}

/* Release first: the last-chance release at 910 MB is still running (the
 * caller says so) for the next four samples, above hard: no action while it
 * runs; it ends with the measure back at 860: none. Again, but it ends with
 * the measure still above hard: the action at once. A release that never
 * ends is waited for GUARD_RELEASE_WAIT_MS, no longer. The growth rule does
 * not wait, and counts the next sample as the one that could act. */
static void
release_running_is_waited_for(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0, sent;
	unsigned i;
	const struct sample start[] = {
	    {850, 0, 1000, "SR"},
	    {910, 0, 50, "R"},
	};
	const struct sample running[] = {
	    {915, 0, 50, ""},
	    {920, 0, 50, ""},
	    {920, 0, 50, ""},
	    {920, 0, 50, ""},
	};

	(void)state;
	run(&g, &p, &now, start, 2);
	guard_release_running(&g, true);
	run(&g, &p, &now, running, 4);
	guard_release_running(&g, false);
	v = guard_step(&g, &p, 860 * MB, 0, 50, now += 50);
	assert_string_equal(flags(&v), "");

	guard_reset(&g);
	run(&g, &p, &now, start, 2);
	guard_release_running(&g, true);
	run(&g, &p, &now, running, 4);
	guard_release_running(&g, false);
	v = guard_step(&g, &p, 920 * MB, 0, 50, now += 50);
	assert_string_equal(flags(&v), "A");
	assert_string_equal(v.why, "above hard for 6 samples");

	guard_reset(&g);
	run(&g, &p, &now, start, 2);
	sent = now;
	guard_release_running(&g, true);
	for (i = 1; i <= 20; i++) {
		v = guard_step(&g, &p, 920 * MB, 0, 50, now += 50);
		assert_int_equal(v.act, now - sent >= GUARD_RELEASE_WAIT_MS);
	}
	assert_true(v.act);

	guard_reset(&g);
	run(&g, &p, &now, start, 2);
	guard_release_running(&g, true);
	v = guard_step(&g, &p, 950 * MB, 400 * MB, 50, now += 50);
	assert_false(v.act); /* 125 ms away, beyond two samples */
	v = guard_step(&g, &p, 950 * MB, 600 * MB, 50, now += 50);
	assert_true(v.act);
	assert_string_equal(v.why, "growth 600 MB/s reaches the limit in 83 ms");
}

/* action = signal or largest: after the action, 920 MB growing fast for
 * the cool-down (10 s: the stop budget, at least release_interval) brings
 * no other, only the regular release at 10 s. Then the count starts over:
 * a last-chance release, and the action at the third sample. A longer
 * stop budget makes a longer cool-down. */
static void
cool_down_after_an_action(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0, acted;
	unsigned i;
	const struct sample seq[] = {
	    {910, 0, 50, "SR"},
	    {915, 0, 50, ""},
	    {920, 0, 50, "A"},
	};
	const struct sample after[] = {
	    {920, 0, 50, "R"},
	    {920, 0, 50, ""},
	    {920, 0, 50, "A"},
	};

	(void)state;
	run(&g, &p, &now, seq, 3);
	guard_acted(&g, &p, now);
	acted = now;
	for (i = 0; i < 199; i++) {
		now += 50;
		v = guard_step(&g, &p, 920 * MB, 500 * MB, 50, now);
		assert_false(v.act);
		assert_false(v.soft_entered);
		assert_int_equal(v.release, now - acted == 9900);
	}
	run(&g, &p, &now, after, 3);

	p.stop_ms = 30000;
	guard_acted(&g, &p, now);
	acted = now;
	for (i = 0; i < 599; i++) {
		now += 50;
		v = guard_step(&g, &p, 920 * MB, 0, 50, now);
		assert_false(v.act);
	}
	run(&g, &p, &now, after, 3);
}

/* After a restart, the new instance starts afresh: memory.soft again. */
static void
reset_for_a_new_instance(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	uint64_t now = 0;
	const struct sample seq[] = {
	    {850, 0, 1000, "SR"},
	    {910, 0, 50, "R"},
	    {915, 0, 50, ""},
	    {920, 0, 50, "A"},
	};

	(void)state;
	run(&g, &p, &now, seq, 4);
	guard_reset(&g);
	run(&g, &p, &now, seq, 4);
}

/* No limit: the guard is off whatever the measure. hard_for 0 counts as
 * 1; a long hard_for (beyond the 64-sample window) still counts in a row. */
static void
off_and_edge_parameters(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = 0;
	unsigned i;

	(void)state;
	p.limit = 0;
	for (i = 0; i < 10; i++) {
		v = guard_step(&g, &p, UINT64_MAX, UINT64_MAX, 50, now += 50);
		assert_string_equal(flags(&v), "");
	}

	p = params();
	p.hard_for = 0;
	v = guard_step(&g, &p, 910 * MB, 0, 50, now += 50);
	assert_string_equal(flags(&v), "SA");
	assert_string_equal(v.why, "above hard for 1 sample");

	p = params();
	p.hard_for = 100;
	guard_reset(&g);
	for (i = 1; i <= 100; i++) {
		v = guard_step(&g, &p, 910 * MB, 0, 50, now += 50);
		assert_int_equal(v.act, i == 100);
	}
	assert_string_equal(v.why, "above hard for 100 samples");
}

/* Numbers at the edge of 64 bits: no overflow, sensible verdicts. */
static void
huge_numbers(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;
	uint64_t now = UINT64_MAX - 1000;

	(void)state;
	p.limit = UINT64_MAX;
	p.soft = UINT64_MAX / 10 * 8;
	p.hard = UINT64_MAX / 10 * 9;
	p.release_interval_ms = UINT64_MAX;
	p.drain_delay_ms = UINT64_MAX;
	p.stop_ms = UINT64_MAX;

	/* Growth of 1 byte/s: the limit is ages away, even with the longest
	 * wait. */
	v = guard_step(&g, &p, p.hard, 1, UINT64_MAX, now);
	assert_string_equal(flags(&v), "SR");
	/* The longest growth: reached at once. */
	v = guard_step(&g, &p, p.hard, UINT64_MAX, UINT64_MAX, now + 1);
	assert_true(v.act);
	assert_string_equal(v.why, "growth 18446744073709 MB/s reaches the limit in 100 ms");
	/* Half the space left at the largest growth: 500 ms, beyond the
	 * 2 ms wait without drain; then 1 byte left: 0 ms. */
	guard_reset(&g);
	p.drain_delay_ms = 0;
	p.soft = UINT64_MAX / 4;
	p.hard = UINT64_MAX / 2;
	v = guard_step(&g, &p, UINT64_MAX / 2 + 1, UINT64_MAX, 1, now);
	assert_false(v.act);
	v = guard_step(&g, &p, UINT64_MAX - 1, UINT64_MAX, 1, now + 1);
	assert_true(v.act);
	assert_string_equal(v.why, "growth 18446744073709 MB/s reaches the limit in 0 ms");
	/* The cool-down saturates instead of wrapping to the past. */
	guard_acted(&g, &p, now);
	v = guard_step(&g, &p, UINT64_MAX, UINT64_MAX, 1, UINT64_MAX - 1);
	assert_false(v.act);
	/* A clock behind the last release does not wrap into a release. */
	guard_reset(&g);
	p.release_interval_ms = 1000;
	v = guard_step(&g, &p, UINT64_MAX / 10 * 8, 0, 1, 5000);
	assert_true(v.release);
	v = guard_step(&g, &p, UINT64_MAX / 10 * 8, 0, 1, 10);
	assert_false(v.release);
}

/* A 2 s drain and 100 MB/s: from 810 MB the limit is 1.9 s away, less
 * than the drain itself: act below hard. At 790 MB (below soft) never;
 * without a drain, wait for hard; 50 MB/s leaves time to reach hard. */
static void
drain_longer_than_the_headroom(void **state)
{
	struct guard_params p = params();
	struct guard g = {0};
	struct guard_verdict v;

	(void)state;
	p.drain_delay_ms = 2000;
	v = guard_step(&g, &p, 790 * MB, 100 * MB, 50, 0);
	assert_false(v.act);
	v = guard_step(&g, &p, 810 * MB, 100 * MB, 50, 50);
	assert_true(v.act);
	assert_string_equal(v.why,
			    "growth 100 MB/s reaches the limit in 1900 ms, within the drain");
	guard_reset(&g);
	assert_false(guard_step(&g, &p, 810 * MB, 50 * MB, 50, 100).act);
	p.drain_delay_ms = 0;
	guard_reset(&g);
	assert_false(guard_step(&g, &p, 810 * MB, 100 * MB, 50, 150).act);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(steady_below_soft),
	    cmocka_unit_test(slow_leak),
	    cmocka_unit_test(fast_spike),
	    cmocka_unit_test(drain_longer_than_the_headroom),
	    cmocka_unit_test(drain_counts_in_growth),
	    cmocka_unit_test(sawtooth_around_soft),
	    cmocka_unit_test(flapping_around_hard),
	    cmocka_unit_test(release_that_helps),
	    cmocka_unit_test(release_that_does_not_help),
	    cmocka_unit_test(release_running_is_waited_for),
	    cmocka_unit_test(cool_down_after_an_action),
	    cmocka_unit_test(reset_for_a_new_instance),
	    cmocka_unit_test(off_and_edge_parameters),
	    cmocka_unit_test(huge_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
