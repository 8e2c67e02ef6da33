#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"
#include "policy.h"
#include "procfs.h"

/* Processes listed in one `memory` event. */
#define SUMMARY_PROCESSES 32

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *const metric_names[] = {"workingset", "current", "anon", "rss"};

static double
percent_of(uint64_t value, uint64_t limit)
{
	return limit ? (double)value * 100.0 / (double)limit : 0.0;
}

/* Sum of the RSS of the service's processes. */
static uint64_t
rss_sum(void)
{
	struct proc_mem procs[256];
	size_t n, i;
	uint64_t sum = 0;

	n = procfs_service_processes(procs, sizeof(procs) / sizeof(procs[0]));
	for (i = 0; i < n; i++)
		sum += procs[i].rss;
	return sum;
}

static void
arm_timer(struct monitor *m, uint64_t ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (ms == 0)
		ms = 1;
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	m->interval_ms = ms;
	if (timerfd_settime(m->timerfd, 0, &its, NULL) != 0)
		log_warn("memory", "timerfd_settime");
}

static void
remember(struct monitor *m, const struct mem_sample *s, uint64_t measure)
{
	if (m->count > 0)
		m->head = (m->head + 1) % MONITOR_HISTORY;
	m->history[m->head] = *s;
	m->measures[m->head] = measure;
	if (m->count < MONITOR_HISTORY)
		m->count++;
	growth_note(&m->growth, s->time_ms, measure);
}

/* The last samples, newest first, as a JSON array for oom.kill. */
static void
history_json(const struct monitor *m, char *buf, size_t len)
{
	size_t used = 0;
	unsigned i, at;
	int n;

	n = snprintf(buf, len, "[");
	used = n > 0 ? (size_t)n : 0;
	for (i = 0; i < m->count && used < len; i++) {
		at = (m->head + MONITOR_HISTORY - i) % MONITOR_HISTORY;
		n = snprintf(buf + used, len - used,
			     "%s{\"ms_ago\":%llu,\"value\":%llu,\"current\":%llu,\"percent\":%.1f}",
			     i ? "," : "", (unsigned long long)(now_ms() - m->history[at].time_ms),
			     (unsigned long long)m->measures[at],
			     (unsigned long long)m->history[at].current,
			     percent_of(m->measures[at], m->limit));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (used + 2 <= len) {
		buf[used++] = ']';
		buf[used] = '\0';
	} else {
		snprintf(buf, len, "[]");
	}
}

static void
report_oom(struct monitor *m, const struct mem_sample *s, pid_t pid)
{
	char samples[1024], victim[16] = "null";

	/* The pid is known when the main process's SIGKILL came first; a
	 * notification may tell of the kill before the exit is seen. */
	if (pid > 0)
		snprintf(victim, sizeof(victim), "%d", (int)pid);
	history_json(m, samples, sizeof(samples));
	log_event(LOG_ERROR, "oom.kill",
		  LOG_FIELDS(LF_UINT("oom_kill", s->events_oom_kill), LF_RAW("pid", victim),
			     LF_UINT("limit", m->limit), LF_UINT("current", s->current),
			     LF_UINT("peak", s->peak), LF_RAW("last_samples", samples)),
		  "the kernel OOM-killed a process of the service (oom_kill %llu)",
		  (unsigned long long)s->events_oom_kill);
}

/* [{"pid":1,"name":"x","rss":2},...] of the service's processes. */
static void
processes_json(char *buf, size_t len)
{
	struct proc_mem procs[SUMMARY_PROCESSES];
	size_t n, i, used = 0;
	int w;

	n = procfs_service_processes(procs, SUMMARY_PROCESSES);
	buf[used++] = '[';
	for (i = 0; i < n && used + 64 < len; i++) {
		w = snprintf(buf + used, len - used, "%s{\"pid\":%d,\"name\":\"", i ? "," : "",
			     (int)procs[i].pid);
		if (w < 0)
			break;
		used += (size_t)w;
		json_escape(buf, &used, len - 40, procs[i].name);
		w = snprintf(buf + used, len - used, "\",\"rss\":%llu}",
			     (unsigned long long)procs[i].rss);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used >= len - 1)
		used = len - 2;
	buf[used++] = ']';
	buf[used] = '\0';
}

static void
log_summary(const struct monitor *m, const struct mem_sample *s, uint64_t measure)
{
	char procs[2048], limit[32], percent[32];
	uint64_t ws = memory_measure(METRIC_WORKINGSET, s, 0);

	processes_json(procs, sizeof(procs));
	snprintf(limit, sizeof(limit), "null");
	snprintf(percent, sizeof(percent), "null");
	if (m->limit) {
		snprintf(limit, sizeof(limit), "%llu", (unsigned long long)m->limit);
		snprintf(percent, sizeof(percent), "%.1f", percent_of(measure, m->limit));
	}
	log_event(LOG_INFO, "memory",
		  LOG_FIELDS(LF_STR("metric", metric_names[m->cfg->metric]),
			     LF_UINT("value", measure), LF_RAW("limit", limit),
			     LF_RAW("percent", percent), LF_UINT("current", s->current),
			     LF_UINT("workingset", ws), LF_UINT("anon", s->anon),
			     LF_UINT("file", s->file), LF_UINT("inactive_file", s->inactive_file),
			     LF_UINT("shmem", s->shmem), LF_UINT("peak", s->peak),
			     LF_UINT("oom_kill", s->events_oom_kill),
			     LF_UINT("interval_ms", m->interval_ms), LF_RAW("processes", procs)),
		  "%s %llu bytes, %s%s", metric_names[m->cfg->metric], (unsigned long long)measure,
		  m->limit ? percent : "no limit", m->limit ? "% of the limit" : "");
}

/* Takes a sample, reports what it shows, and sets the next timer. */
static bool
sample(struct monitor *m, pid_t killed)
{
	struct mem_sample s;
	uint64_t measure, now = now_ms();
	bool oom = false;

	memset(&s, 0, sizeof(s));
	if (cgroup_read_sample(&m->reader, &s) != 0) {
		if (!m->read_warned)
			log_warn("memory", "cannot read the memory cgroup %s", m->info.dir);
		m->read_warned = true;
		arm_timer(m, m->cfg->interval_ms);
		return false;
	}
	m->read_warned = false;
	s.time_ms = now;
	measure = memory_measure(m->cfg->metric, &s, m->cfg->metric == METRIC_RSS ? rss_sum() : 0);
	remember(m, &s, measure);
	if (s.has_oom_kill && s.events_oom_kill > m->oom_kill_seen) {
		oom = m->count > 1; /* the first sample is the baseline */
		if (oom) {
			report_oom(m, &s, killed);
			m->oom_pending = true;
		}
		m->oom_kill_seen = s.events_oom_kill;
	}
	/* The next sample first, so that the summary tells the interval
	 * now in force. */
	if (m->on)
		arm_timer(
		    m, sample_interval_ms(m->cfg, measure, m->hard_bytes, growth_rate(&m->growth)));
	else if (m->cfg->memory_interval_ms > 0)
		arm_timer(m, m->cfg->memory_interval_ms);
	if (m->cfg->memory_interval_ms > 0 && now >= m->next_summary_ms) {
		log_summary(m, &s, measure);
		m->next_summary_ms = now + m->cfg->memory_interval_ms;
	}
	return oom;
}

/* The limit and thresholds. Returns 1 when soft >= hard once both are in
 * bytes (a percent and a size could not be compared before). */
static int
settle_limit(struct monitor *m, const char *discovery_why)
{
	const struct config *cfg = m->cfg;

	m->limit = cfg->limit_auto ? (m->info.has_limit ? m->info.limit : 0) : cfg->limit_bytes;
	if (m->limit == 0) {
		snprintf(m->why, sizeof(m->why), "%s",
			 m->has_cgroup ? "the memory cgroup has no limit; set [memory] limit"
				       : discovery_why);
		return 0;
	}
	if (!m->has_cgroup && cfg->metric != METRIC_RSS) {
		snprintf(m->why, sizeof(m->why), "%s; metric = rss works without one",
			 discovery_why);
		return 0;
	}
	m->soft_bytes = threshold_bytes(&cfg->soft, m->limit);
	m->hard_bytes = threshold_bytes(&cfg->hard, m->limit);
	if (m->soft_bytes >= m->hard_bytes) {
		fprintf(stderr,
			"memwarden: [memory] soft (%llu bytes) must be below hard (%llu bytes) "
			"for the limit of %llu bytes\n",
			(unsigned long long)m->soft_bytes, (unsigned long long)m->hard_bytes,
			(unsigned long long)m->limit);
		return 1;
	}
	m->on = true;
	return 0;
}

int
monitor_setup(struct monitor *m, const struct config *cfg)
{
	char why[160] = "no memory cgroup found";

	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->timerfd = -1;
	m->has_cgroup = cgroup_discover(&m->info, why, sizeof(why)) == 0;
	if (settle_limit(m, why) != 0)
		return 1;
	if (m->has_cgroup && cgroup_reader_open(&m->reader, &m->info) != 0) {
		log_warn("memory", "cannot open the memory cgroup %s", m->info.dir);
		m->has_cgroup = m->on = false;
		snprintf(m->why, sizeof(m->why), "cannot open the memory cgroup's files");
	}
	if (!m->has_cgroup && !(m->on && cfg->metric == METRIC_RSS))
		return 0;
	m->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->timerfd < 0) {
		log_warn("memory", "timerfd_create");
		m->on = false;
		snprintf(m->why, sizeof(m->why), "no timer");
		return 0;
	}
	if (m->has_cgroup)
		(void)cgroup_watch_open(&m->reader, m->on ? m->soft_bytes : 0, &m->watch);
	arm_timer(m, 1); /* the baseline sample, at once */
	return 0;
}

unsigned
monitor_fds(const struct monitor *m, int *fds, uint32_t *events, unsigned max)
{
	unsigned n = 0, i;

	if (m->timerfd < 0 || max == 0)
		return 0;
	fds[n] = m->timerfd;
	events[n++] = EPOLLIN;
	for (i = 0; i < m->watch.nfds && n < max; i++, n++) {
		fds[n] = m->watch.fds[i].fd;
		events[n] = m->watch.fds[i].events;
	}
	return n;
}

bool
monitor_on_fd(struct monitor *m, unsigned i)
{
	uint64_t expirations;

	if (i == 0) {
		while (read(m->timerfd, &expirations, sizeof(expirations)) < 0 && errno == EINTR)
			;
	} else if (i - 1 < m->watch.nfds) {
		char kind[64];
		bool recent = m->count > 0 &&
			      now_ms() - m->history[m->head].time_ms < m->cfg->fast_interval_ms;

		cgroup_watch_names(cgroup_watch_ack(&m->watch, m->watch.fds[i - 1].fd), kind,
				   sizeof(kind));
		if (log_enabled(LOG_DEBUG))
			log_event(LOG_DEBUG, "memory.notify", LOG_FIELDS(LF_STR("source", kind)),
				  "woken by the kernel (%s)", kind);
		/* Above memory.high the kernel may change memory.events a
		 * hundred times a second: no more than a sample per
		 * fast_interval for that. */
		if (recent)
			return false;
	}
	(void)sample(m, 0);
	return true;
}

bool
monitor_take_oom(struct monitor *m)
{
	bool seen = m->oom_pending;

	m->oom_pending = false;
	return seen;
}

uint64_t
monitor_growth(const struct monitor *m)
{
	return growth_rate(&m->growth);
}

uint64_t
monitor_last_gap(const struct monitor *m)
{
	unsigned prev;

	if (m->count < 2)
		return 0;
	prev = (m->head + MONITOR_HISTORY - 1) % MONITOR_HISTORY;
	return m->history[m->head].time_ms - m->history[prev].time_ms;
}

uint64_t
monitor_limit(const struct monitor *m)
{
	return m->limit;
}

bool
monitor_check_oom(struct monitor *m, pid_t pid)
{
	if (m->timerfd < 0 || !m->has_cgroup)
		return false;
	return sample(m, pid);
}

bool
monitor_sample_moved(const struct monitor *m, bool published, uint64_t value)
{
	uint64_t now = m->measures[m->head], step;

	if (m->count == 0)
		return false;
	if (!published)
		return true;
	step = (m->limit ? m->limit : value) / 100;
	return (now > value ? now - value : value - now) >= step;
}

uint64_t
monitor_last_measure(const struct monitor *m)
{
	return m->count ? m->measures[m->head] : 0;
}

/* Formatted only when the state file is written, not at every sample. */
const char *
monitor_state_json(struct monitor *m)
{
	uint64_t measure = m->measures[m->head];

	if (m->count == 0)
		return NULL;
	snprintf(m->state_json, sizeof(m->state_json),
		 "{\"measure\":\"%s\",\"value\":%llu,\"limit\":%llu,\"percent\":%.1f,"
		 "\"current\":%llu}",
		 metric_names[m->cfg->metric], (unsigned long long)measure,
		 (unsigned long long)m->limit, percent_of(measure, m->limit),
		 (unsigned long long)m->history[m->head].current);
	return m->state_json;
}

void
monitor_close(struct monitor *m)
{
	if (m->has_cgroup) {
		cgroup_watch_close(&m->watch);
		cgroup_reader_close(&m->reader);
	}
	if (m->timerfd >= 0)
		close(m->timerfd);
	m->timerfd = -1;
}

static const char *
version_name(const struct monitor *m)
{
	if (!m->has_cgroup)
		return "none";
	return m->info.version == CGROUP_V2 ? "v2" : "v1";
}

/* ["memory.events","psi"]: the notifications armed. */
static void
notify_json(const struct monitor *m, char *buf, size_t len)
{
	char names[128], *name, *save = NULL;
	size_t used = 0;
	int n;

	buf[used++] = '[';
	cgroup_watch_names(m->watch.armed, names, sizeof(names));
	for (name = strtok_r(names, ",", &save); m->watch.armed && name;
	     name = strtok_r(NULL, ",", &save)) {
		n = snprintf(buf + used, len - used, "%s\"%s\"", used > 1 ? "," : "", name);
		if (n < 0 || (size_t)n >= len - used - 1)
			break;
		used += (size_t)n;
	}
	buf[used++] = ']';
	buf[used] = '\0';
}

void
monitor_log_start(const struct monitor *m, bool subreaper)
{
	const struct config *cfg = m->cfg;
	char notify[128], limit[32];

	notify_json(m, notify, sizeof(notify));
	if (m->limit)
		snprintf(limit, sizeof(limit), "%llu", (unsigned long long)m->limit);
	else
		snprintf(limit, sizeof(limit), "null");
	log_event(
	    LOG_INFO, "start",
	    LOG_FIELDS(LF_STR("version", MEMWARDEN_VERSION), LF_INT("pid", getpid()),
		       LF_BOOL("pid1", getpid() == 1), LF_BOOL("subreaper", subreaper),
		       LF_STR("config", cfg->source), LF_STR("command", cfg->argv[0]),
		       LF_STR("state_file", cfg->state_file), LF_STR("cgroup", version_name(m)),
		       LF_STR("cgroup_path", m->has_cgroup ? m->info.dir : NULL),
		       LF_BOOL("hybrid", m->info.hybrid), LF_BOOL("writable", m->info.writable),
		       LF_RAW("limit", limit), LF_STR("metric", metric_names[cfg->metric]),
		       LF_UINT("soft", m->soft_bytes), LF_UINT("hard", m->hard_bytes),
		       LF_STR("guard", m->on ? "on" : "off"),
		       LF_STR("guard_reason", m->on ? NULL : m->why), LF_RAW("notify", notify)),
	    "memwarden %s supervising %s", MEMWARDEN_VERSION, cfg->argv[0]);
	if (!m->on)
		log_warnx("memory", "memory guard off: %s", m->why);
}
