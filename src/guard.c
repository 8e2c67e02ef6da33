/*
 * The memory guard's decisions. Three things are decided per sample:
 *
 * memory.soft is logged once per excursion. An excursion ends only when the
 * measure falls below soft by a margin of 5% of the limit (at most half of
 * soft): allocators hand memory back in chunks and request bursts make
 * usage swing by a few percent, so a service sawing around soft would
 * otherwise log at every tooth. 5% is half the gap between the default
 * soft and hard, so a real drop still ends the excursion.
 *
 * A release is sent at most every release_interval while the measure is at
 * or above soft, and once more on reaching hard whatever the interval: the
 * last chance before the action. Once per excursion, so that a measure
 * flapping around hard does not turn into a release per crossing.
 *
 * The action is taken on a sample above hard when hard_for of the last
 * 2 x hard_for samples were above hard (hard_for in a row is the usual
 * case), or sooner when the growth rate says the limit would be reached
 * before the samples still needed came in and the drain was over. While a
 * release the guard sent less than GUARD_RELEASE_WAIT_MS ago is running,
 * the count waits for it (release first): only the growth rule acts, and
 * it counts the next sample as the one that could act.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"

#define MB 1000000ULL

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Time elapsed since then; 0 should the clock be behind it. */
static uint64_t
since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

static unsigned
hard_for(const struct guard_params *p)
{
	return p->hard_for > 0 ? p->hard_for : 1;
}

/* How many past samples the count above hard looks at: bits of recent. */
static unsigned
window(const struct guard_params *p)
{
	return hard_for(p) >= 32 ? 64 : 2 * hard_for(p);
}

static uint64_t
window_mask(const struct guard_params *p)
{
	return window(p) >= 64 ? UINT64_MAX : (1ULL << window(p)) - 1;
}

/* Milliseconds until growth fills headroom, without overflowing for any
 * pair of 64-bit numbers. */
static uint64_t
eta_ms(uint64_t headroom, uint64_t growth)
{
	uint64_t whole = headroom / growth, rest = headroom % growth, frac;

	if (whole >= UINT64_MAX / 1000)
		return UINT64_MAX;
	if (rest <= UINT64_MAX / 1000)
		frac = rest * 1000 / growth;
	else
		frac = rest / (growth / 1000); /* growth > rest: above 18 PB/s */
	return whole * 1000 + (frac > 999 ? 999 : frac);
}

void
guard_params_init(struct guard_params *p, const struct config *cfg, uint64_t limit, uint64_t soft,
		  uint64_t hard)
{
	memset(p, 0, sizeof(*p));
	p->limit = limit;
	p->soft = soft;
	p->hard = hard;
	p->hard_for = cfg->hard_for;
	p->release_interval_ms = cfg->release_interval_ms;
	p->drain_delay_ms = cfg->drain_delay_ms;
	p->stop_ms = cfg->stop_timeout_ms;
}

static void
track_soft(struct guard *g, const struct guard_params *p, uint64_t measure, struct guard_verdict *v)
{
	uint64_t margin = p->limit / 20;

	if (margin > p->soft / 2)
		margin = p->soft / 2;
	if (measure >= p->soft) {
		v->soft_entered = !g->in_soft;
		g->in_soft = true;
	} else if (measure < p->soft - margin) {
		g->in_soft = false;
		g->last_chance = false;
	}
}

/*
 * Below hard, the run of samples above it starts over, but the window
 * remembers: a service alternating above and below hard forever lives at
 * the edge, where a single dip per hard_for samples would otherwise put
 * the action off until the kernel kills it. Half of its samples above hard
 * is as good as a level at hard, which the action is for. Occasional
 * crossings (fewer than hard_for in 2 x hard_for) are left alone. Below
 * soft, the danger is over and the window is cleared too.
 */
static void
count_hard(struct guard *g, const struct guard_params *p, uint64_t measure)
{
	bool above = measure >= p->hard;

	g->recent = ((g->recent << 1) | above) & window_mask(p);
	if (above && g->above < UINT_MAX)
		g->above++;
	else if (!above)
		g->above = 0;
	if (measure < p->soft)
		g->recent = 0;
}

/* A release the guard sent is still running, and has not run long. */
static bool
waits_for_release(const struct guard *g, uint64_t now_ms)
{
	return g->releasing && g->released &&
	       since(now_ms, g->last_release_ms) < GUARD_RELEASE_WAIT_MS;
}

static void
grows_to_limit(const struct guard *g, const struct guard_params *p, uint64_t measure,
	       uint64_t growth, uint64_t interval_ms, bool waiting, struct guard_verdict *v)
{
	uint64_t headroom, wait_ms, eta;
	unsigned needed;

	if (measure >= p->limit) {
		v->act = true;
		snprintf(v->why, sizeof(v->why), "at the limit");
		return;
	}
	if (growth == 0)
		return;
	/* The action comes after the samples still needed, then the drain,
	 * during which the service still serves. After stop_signal it
	 * stops taking work: the stop time is not counted, or any growth
	 * at all would skip hard_for. One interval more is the margin for
	 * a sample that comes late (a busy machine) and for the moment the
	 * service takes to stop growing once signalled: measured at 100 MB/s
	 * without it, the restart came at 94.8% of the limit. */
	headroom = p->limit - measure;
	needed = waiting || g->above >= hard_for(p) ? 1 : hard_for(p) - g->above;
	wait_ms = sat_add(sat_mul((uint64_t)needed + 1, interval_ms), p->drain_delay_ms);
	eta = eta_ms(headroom, growth);
	if (eta > wait_ms || eta == UINT64_MAX) /* the latter: never */
		return;
	v->act = true;
	if (growth >= MB)
		snprintf(v->why, sizeof(v->why), "growth %llu MB/s reaches the limit in %llu ms",
			 (unsigned long long)(growth / MB), (unsigned long long)eta);
	else
		snprintf(v->why, sizeof(v->why), "growth %llu bytes/s reaches the limit in %llu ms",
			 (unsigned long long)growth, (unsigned long long)eta);
}

/*
 * Between soft and hard only the drain counts: act when the limit would
 * come within drain_delay plus one interval even if the action started
 * now. Waiting for hard could not save such a service (it keeps serving,
 * and growing, while it drains: found with the container example, 20 MB/s
 * and a 2 s drain). Anything slower waits for hard, where the user said
 * the action starts: a burst below it should not restart a service.
 */
static void
drain_outruns_limit(const struct guard_params *p, uint64_t measure, uint64_t growth,
		    uint64_t interval_ms, struct guard_verdict *v)
{
	uint64_t eta;

	if (p->drain_delay_ms == 0 || growth == 0 || measure < p->soft)
		return;
	eta = eta_ms(p->limit - measure, growth);
	if (eta == UINT64_MAX || eta > sat_add(p->drain_delay_ms, interval_ms))
		return;
	v->act = true;
	snprintf(v->why, sizeof(v->why),
		 "growth %llu MB/s reaches the limit in %llu ms, within the drain",
		 (unsigned long long)(growth / MB), (unsigned long long)eta);
}

static void
decide_act(const struct guard *g, const struct guard_params *p, uint64_t measure, uint64_t growth,
	   uint64_t interval_ms, uint64_t now_ms, struct guard_verdict *v)
{
	bool waiting = waits_for_release(g, now_ms);
	unsigned n;

	if (measure < p->hard) {
		drain_outruns_limit(p, measure, growth, interval_ms, v);
		return;
	}
	if (waiting) {
		grows_to_limit(g, p, measure, growth, interval_ms, true, v);
		return;
	}
	if (g->above >= hard_for(p)) {
		v->act = true;
		snprintf(v->why, sizeof(v->why), "above hard for %u sample%s", g->above,
			 g->above == 1 ? "" : "s");
		return;
	}
	n = (unsigned)__builtin_popcountll(g->recent);
	if (n >= hard_for(p)) {
		v->act = true;
		snprintf(v->why, sizeof(v->why), "above hard in %u of the last %u samples", n,
			 window(p));
		return;
	}
	grows_to_limit(g, p, measure, growth, interval_ms, false, v);
}

static void
decide_release(struct guard *g, const struct guard_params *p, uint64_t measure, uint64_t now_ms,
	       struct guard_verdict *v)
{
	if (measure < p->soft)
		return;
	if (!g->released || since(now_ms, g->last_release_ms) >= p->release_interval_ms)
		v->release = true;
	if (g->above == 1 && !g->last_chance) {
		g->last_chance = true;
		v->release = true;
	}
	if (v->release) {
		g->released = true;
		g->last_release_ms = now_ms;
	}
}

struct guard_verdict
guard_step(struct guard *g, const struct guard_params *p, uint64_t measure, uint64_t growth_per_s,
	   uint64_t interval_ms, uint64_t now_ms)
{
	struct guard_verdict v;

	memset(&v, 0, sizeof(v));
	if (p->limit == 0)
		return v;
	track_soft(g, p, measure, &v);
	/* After an action nothing is counted until it had time to work. */
	if (g->cooling && now_ms < g->quiet_until_ms) {
		g->above = 0;
	} else {
		g->cooling = false;
		count_hard(g, p, measure);
		decide_act(g, p, measure, growth_per_s, interval_ms, now_ms, &v);
	}
	/* The action supersedes a release: it frees more, and a release
	 * to a service about to stop is wasted. */
	if (!v.act)
		decide_release(g, p, measure, now_ms, &v);
	return v;
}

/*
 * The action needs the drain and the stop budget to free memory (the
 * largest process stops within stop_timeout; a graceful reload recycles its
 * workers in about that time), and no less than release_interval.
 */
void
guard_acted(struct guard *g, const struct guard_params *p, uint64_t now_ms)
{
	uint64_t cool = sat_add(p->drain_delay_ms, p->stop_ms);

	if (cool < p->release_interval_ms)
		cool = p->release_interval_ms;
	g->cooling = true;
	g->quiet_until_ms = sat_add(now_ms, cool);
	g->above = 0;
	g->recent = 0;
	g->last_chance = false;
}

void
guard_release_running(struct guard *g, bool running)
{
	g->releasing = running;
}

void
guard_reset(struct guard *g)
{
	memset(g, 0, sizeof(*g));
}
