#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "procfs.h"
#include "release.h"

void
release_init(struct release *r, int signo)
{
	memset(r, 0, sizeof(*r));
	r->signo = signo;
}

static bool
took_over(const struct release *r, pid_t pid)
{
	unsigned i;

	for (i = 0; i < r->ntakeover; i++)
		if (r->takeover[i] == pid)
			return true;
	return false;
}

/* Forgets processes that are gone, so a reused pid is not skipped. */
static void
prune_takeovers(struct release *r)
{
	unsigned keep = 0, i;

	for (i = 0; i < r->ntakeover; i++)
		if (kill(r->takeover[i], 0) == 0 || errno == EPERM)
			r->takeover[keep++] = r->takeover[i];
	r->ntakeover = keep;
}

void
release_on_handler(struct release *r, pid_t pid)
{
	if (took_over(r, pid))
		return;
	log_event(LOG_INFO, "release.handler", LOG_FIELDS(LF_INT("pid", pid)),
		  "pid %d installed its own handler for the release signal: it will not be sent "
		  "the signal",
		  (int)pid);
	if (r->ntakeover == RELEASE_TAKEOVER_MAX)
		prune_takeovers(r);
	if (r->ntakeover < RELEASE_TAKEOVER_MAX)
		r->takeover[r->ntakeover++] = pid;
}

/* Whether the process has a handler for the signal that is the agent's:
 * SigCgt shows a handler, and the agent did not say the program's own
 * replaced it. Without a handler the signal would kill it. */
static bool
has_agent_handler(const struct release *r, const struct proc_mem *p)
{
	if (!(p->sig_caught & (1ull << (r->signo - 1))))
		return false;
	return !took_over(r, p->pid);
}

static void
send_signals(struct release *r)
{
	static struct proc_mem procs[RELEASE_PIDS_MAX];
	union sigval value = {.sival_int = 0};
	size_t n, i;

	n = procfs_service_processes(procs, RELEASE_PIDS_MAX);
	for (i = 0; i < n; i++) {
		if (!has_agent_handler(r, &procs[i])) {
			r->skipped++;
			continue;
		}
		if (sigqueue(procs[i].pid, r->signo, value) != 0) {
			if (errno != ESRCH)
				log_warn("release", "cannot signal pid %d", (int)procs[i].pid);
			continue;
		}
		r->answered[r->n] = false;
		r->pids[r->n++] = procs[i].pid;
	}
}

static void
finish(struct release *r, const struct notify *n, uint64_t now_ms)
{
	struct release_done done = {r->n, r->reports, r->skipped};
	char buf[256];
	size_t len;

	log_event(r->reports < r->n ? LOG_WARN : LOG_INFO, "release.done",
		  LOG_FIELDS(LF_STR("reason", r->reason), LF_UINT("signalled", r->n),
			     LF_UINT("reports", r->reports), LF_UINT("skipped", r->skipped),
			     LF_UINT("freed_held", r->freed_held),
			     LF_UINT("freed_rss", r->freed_rss),
			     LF_UINT("ms", now_ms - r->began_ms)),
		  r->n == 0 ? "release: no process of the service has the agent's handler"
			    : "release: %u of %u processes reported, %llu bytes returned",
		  r->reports, r->n, (unsigned long long)r->freed_rss);
	if (r->has_requester) {
		len = notify_format_done(&done, buf, sizeof(buf));
		if (len > 0)
			(void)notify_reply(n, &r->requester, buf, len);
	}
	r->active = false;
	r->has_requester = false;
	r->ended_ms = now_ms;
}

bool
release_begin(struct release *r, const struct notify *n, const char *reason, uint64_t now_ms)
{
	if (r->active)
		return false;
	r->active = true;
	r->request_waiting = false; /* a waiting requester joins this round */
	r->reason = reason;
	r->began_ms = now_ms;
	r->deadline_ms = now_ms + RELEASE_WAIT_MS;
	r->n = r->reports = r->skipped = 0;
	r->freed_held = r->freed_rss = 0;
	prune_takeovers(r);
	send_signals(r);
	if (r->n == 0) {
		finish(r, n, now_ms);
		return false;
	}
	return true;
}

void
release_request(struct release *r, const struct notify *n, const struct notify_msg *m,
		uint64_t now_ms)
{
	r->requester = *m;
	r->has_requester = true;
	if (r->active || r->request_waiting)
		return;
	if (r->ended_ms != 0 && now_ms < r->ended_ms + RELEASE_REQUEST_GAP_MS) {
		r->request_waiting = true;
		return;
	}
	(void)release_begin(r, n, "request", now_ms);
}

static uint64_t
saved(uint64_t before, uint64_t after)
{
	return before > after ? before - after : 0;
}

void
release_on_report(struct release *r, const struct notify *n, const struct release_report *rep,
		  uint64_t now_ms)
{
	char buf[512];
	size_t len;
	unsigned i;

	notify_log_report(rep);
	if (!r->active)
		return; /* late: logged, not counted */
	for (i = 0; i < r->n; i++)
		if (r->pids[i] == rep->pid && !r->answered[i])
			break;
	if (i == r->n)
		return; /* a process not signalled in this round (a fork, a late one) */
	r->answered[i] = true;
	r->reports++;
	r->freed_held += saved(rep->held_before, rep->held_after);
	r->freed_rss += saved(rep->rss_before, rep->rss_after);
	if (r->has_requester) {
		len = notify_format_report(rep, buf, sizeof(buf));
		if (len > 0)
			(void)notify_reply(n, &r->requester, buf, len);
	}
	if (r->reports == r->n)
		finish(r, n, now_ms);
}

uint64_t
release_next_ms(const struct release *r)
{
	if (r->active)
		return r->deadline_ms;
	if (r->request_waiting)
		return r->ended_ms + RELEASE_REQUEST_GAP_MS;
	return 0;
}

uint64_t
release_tick(struct release *r, const struct notify *n, uint64_t now_ms)
{
	if (r->active && now_ms >= r->deadline_ms)
		finish(r, n, now_ms);
	if (!r->active && r->request_waiting && now_ms >= r->ended_ms + RELEASE_REQUEST_GAP_MS) {
		r->request_waiting = false;
		(void)release_begin(r, n, "request", now_ms);
	}
	return release_next_ms(r);
}
