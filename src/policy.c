#include "policy.h"

int
remap_exit_status(const struct config *cfg, int status)
{
	if (status >= 0 && status < 256 && cfg->success_exit[status])
		return 0;
	return status;
}

static bool
wants_restart(const struct config *cfg, int status)
{
	switch (cfg->restart) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_ON_FAILURE:
		return remap_exit_status(cfg, status) != 0;
	case RESTART_NO:
	default:
		return false;
	}
}

/* Forgets restarts older than the window. */
static void
prune(struct restart_history *h, uint64_t window_ms, uint64_t now_ms)
{
	unsigned keep = 0, i;

	for (i = 0; i < h->count; i++)
		if (now_ms - h->times_ms[i] < window_ms)
			h->times_ms[keep++] = h->times_ms[i];
	h->count = keep;
}

static void
record(struct restart_history *h, uint64_t now_ms)
{
	unsigned i;

	if (h->count == RESTART_HISTORY_MAX) {
		for (i = 1; i < h->count; i++)
			h->times_ms[i - 1] = h->times_ms[i];
		h->count--;
	}
	h->times_ms[h->count++] = now_ms;
	h->total++;
}

/* A restart memwarden allows: within max_restarts per window, after the
 * back-off, which doubles and starts over after a healthy window. */
static enum restart_verdict
schedule(const struct config *cfg, struct restart_history *h, uint64_t started_ms, uint64_t now_ms,
	 uint64_t *delay_ms)
{
	prune(h, cfg->restart_window_ms, now_ms);
	if (h->count >= cfg->max_restarts)
		return VERDICT_GIVE_UP;

	/* A run as long as the window was healthy: back-off starts over. */
	if (h->next_backoff_ms == 0 || now_ms - started_ms >= cfg->restart_window_ms)
		h->next_backoff_ms = cfg->restart_backoff_ms;
	*delay_ms = h->next_backoff_ms;
	h->next_backoff_ms = h->next_backoff_ms * 2;
	if (h->next_backoff_ms > cfg->restart_backoff_max_ms)
		h->next_backoff_ms = cfg->restart_backoff_max_ms;
	if (*delay_ms > cfg->restart_backoff_max_ms)
		*delay_ms = cfg->restart_backoff_max_ms;
	record(h, now_ms);
	return VERDICT_RESTART;
}

enum restart_verdict
restart_decide(const struct config *cfg, struct restart_history *h, int status, uint64_t started_ms,
	       uint64_t now_ms, uint64_t *delay_ms)
{
	if (!wants_restart(cfg, status))
		return VERDICT_EXIT;
	return schedule(cfg, h, started_ms, now_ms, delay_ms);
}

/* [service] restart is about the service ending by itself; a restart for
 * its memory is memwarden's doing, which the service did not ask for. */
enum restart_verdict
restart_decide_memory(const struct config *cfg, struct restart_history *h, uint64_t started_ms,
		      uint64_t now_ms, uint64_t *delay_ms)
{
	return schedule(cfg, h, started_ms, now_ms, delay_ms);
}

uint64_t
memory_measure(enum mem_metric metric, const struct mem_sample *s, uint64_t rss_sum)
{
	switch (metric) {
	case METRIC_CURRENT:
		return s->current;
	case METRIC_ANON:
		return s->anon;
	case METRIC_RSS:
		return rss_sum;
	case METRIC_WORKINGSET:
	default:
		return s->current > s->inactive_file ? s->current - s->inactive_file : 0;
	}
}

uint64_t
threshold_bytes(const struct threshold *t, uint64_t limit)
{
	if (!t->is_percent)
		return t->bytes;
	return (uint64_t)((double)limit * t->percent / 100.0);
}

uint64_t
sample_interval_ms(const struct config *cfg, uint64_t measure, uint64_t hard, uint64_t growth_per_s)
{
	uint64_t slow = cfg->interval_ms, fast = cfg->fast_interval_ms, ms, reach_ms;
	double distance;

	if (fast > slow)
		fast = slow;
	if (hard == 0 || measure >= hard)
		return fast;
	/* Full speed from half of hard, then quadratically faster: most of
	 * the shrinking happens in the last stretch before hard. */
	distance = (double)(hard - measure) / ((double)hard / 2.0);
	if (distance > 1.0)
		distance = 1.0;
	ms = fast + (uint64_t)((double)(slow - fast) * distance * distance);
	if (growth_per_s > 0) {
		reach_ms = (hard - measure) * 1000 / growth_per_s;
		if (reach_ms / 4 < ms)
			ms = reach_ms / 4;
	}
	return ms < fast ? fast : ms;
}

void
growth_note(struct growth *g, uint64_t now_ms, uint64_t value)
{
	/* A clock behind the newest point: start again from here. */
	if (g->count > 0 && now_ms < g->time_ms[g->head])
		g->count = 0;
	if (g->count > 0)
		g->head = (g->head + 1) % GROWTH_POINTS;
	g->time_ms[g->head] = now_ms;
	g->value[g->head] = value;
	if (g->count < GROWTH_POINTS)
		g->count++;
}

uint64_t
growth_rate(const struct growth *g)
{
	unsigned i, at, low = g->head;
	uint64_t now_ms = g->time_ms[g->head], now_value = g->value[g->head], dt, rise;

	for (i = 1; i < g->count; i++) {
		at = (g->head + GROWTH_POINTS - i) % GROWTH_POINTS;
		if (g->value[at] > now_value)
			break;
		if (i > 1 && now_ms - g->time_ms[at] > GROWTH_WINDOW_MS)
			break;
		if (g->value[at] < g->value[low])
			low = at;
	}
	if (low == g->head)
		return 0;
	rise = now_value - g->value[low];
	dt = now_ms - g->time_ms[low];
	if (dt < GROWTH_MIN_SPAN_MS)
		dt = GROWTH_MIN_SPAN_MS;
	/* Times 1000 would overflow above 18 PB: divide first there. */
	if (rise > UINT64_MAX / 1000)
		return rise / dt * 1000;
	return rise * 1000 / dt;
}
