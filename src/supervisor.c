/*
 * The service's life as an explicit state machine:
 *
 *   STARTING --exec ok--> RUNNING --exits--> STOPPING (leftovers) --> BACKOFF --> STARTING
 *       \                    |                         \--> exit
 *        \--SIGTERM--> DRAINING --drain_delay--> STOPPING --all gone--> exit
 *
 * STOPPING sends stop_signal, waits stop_timeout for every process of the
 * service to end, then SIGKILLs what remains. What comes after STOPPING
 * (exit, or a restart after the back-off) is decided when it is entered.
 * Signals, exits and timers are events read from one epoll loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "journal.h"
#include "log.h"
#include "monitor.h"
#include "notify.h"
#include "parse.h"
#include "policy.h"
#include "procfs.h"
#include "ready.h"
#include "reap.h"
#include "release.h"
#include "spawn.h"
#include "state.h"
#include "supervisor.h"

/* While processes are being stopped, how often memwarden looks whether
 * they are gone (only processes that are its own children tell it). */
#define STOP_POLL_MS 100
/* How long to wait for SIGKILLed processes to disappear (a process in
 * uninterruptible sleep dies only when it wakes) before exiting anyway. */
#define KILL_WAIT_MS 5000

enum phase { PH_STARTING, PH_RUNNING, PH_DRAINING, PH_STOPPING, PH_BACKOFF, PH_DONE };
enum after_stop { AFTER_EXIT, AFTER_RESTART };
/* Where an epoll event came from; the monitor's fds are SRC_MONITOR + i. */
enum source { SRC_SIGNAL = 1, SRC_TIMER, SRC_EXEC, SRC_NOTIFY, SRC_MONITOR = 16 };

/* The sample in the state file is rewritten when it moved by 1% of the
 * limit, and at least this often; a change of state rewrites it at once. */
#define STATE_SAMPLE_EVERY_MS 10000
/* How often a tcp/file readiness probe looks, until the service is ready. */
#define READY_POLL_MS 100
/* Notify datagrams handled per wake-up, like signals. */
#define NOTIFY_PER_WAKEUP 64

struct supervisor {
	const struct config *cfg;
	struct monitor *monitor;
	const struct inherited_signals *inherited;
	pid_t self;
	bool namespace_init; /* PID 1 of a PID namespace */
	int epfd, sigfd, timerfd, execfd;
	struct notify notify; /* fd -1: none (the agent cannot report) */
	struct release release;
	struct guard guard;
	struct guard_params guard_params;

	enum phase phase;
	pid_t main_pid; /* 0 when no instance runs */
	uint64_t started_ms;
	unsigned instance;
	bool ready;
	bool exec_failed; /* this instance never got to exec */

	bool shutdown; /* SIGTERM received */
	/* A restart memwarden decided (memory.hard or an OOM kill), from
	 * the decision until the new instance is spawned. */
	bool memory_restart;
	const char *restart_reason; /* "memory" or "oom" */
	uint64_t restart_began_ms;
	uint64_t drain_ended_ms;  /* every process of the old instance gone */
	uint64_t restart_measure; /* the measure that decided it */
	bool restart_killed;	  /* SIGKILL was needed: not graceful */
	bool restart_oom;	  /* the kernel OOM-killed during the stop */
	bool gave_up;		  /* too many memory restarts: exit */
	enum after_stop after;
	uint64_t restart_delay_ms;
	uint64_t deadline_ms; /* end of the drain, the stop_timeout or the back-off */
	uint64_t timer_at;    /* what the timerfd is armed for; 0: disarmed */
	bool killed;	      /* SIGKILL sent in this STOPPING */
	uint64_t kill_deadline_ms;

	int last_status; /* the service's last status: code or 128+N; -1 none */
	const char *last_restart_reason;
	struct restart_history history;
	bool dirty; /* the state file needs writing */
	uint64_t published_ms;
	bool sample_published;
	uint64_t published_measure;
	bool state_warned;
	int exit_status;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *
phase_name(const struct supervisor *s)
{
	switch (s->phase) {
	case PH_STARTING:
		return "starting";
	case PH_RUNNING:
		return "running";
	case PH_DRAINING:
		return "draining";
	case PH_STOPPING:
		return s->after == AFTER_RESTART ? "restarting" : "stopping";
	case PH_BACKOFF:
		return "restarting";
	case PH_DONE:
	default:
		return "stopped";
	}
}

static void
set_phase(struct supervisor *s, enum phase phase)
{
	s->phase = phase;
	s->dirty = true;
}

/* Readiness changes are logged: they gate the service's traffic. */
static void
set_ready(struct supervisor *s, bool ready, const char *how)
{
	if (s->ready == ready)
		return;
	s->ready = ready;
	s->dirty = true;
	if (ready)
		log_event(LOG_INFO, "ready",
			  LOG_FIELDS(LF_INT("pid", s->main_pid), LF_STR("how", how)),
			  "service ready (%s)", how);
}

/* A tcp/file/delay probe, while the service runs and is not ready. */
static bool
probing(const struct supervisor *s)
{
	return s->phase == PH_RUNNING && !s->ready && !s->shutdown && !s->memory_restart &&
	       ready_needs_probe(s->cfg);
}

static void
probe_ready(struct supervisor *s)
{
	bool ready = false;

	if (probing(s) && ready_probe(s->cfg, s->started_ms, now_ms(), &ready) == 0 && ready)
		set_ready(s, true,
			  s->cfg->ready == READY_TCP	? "tcp"
			  : s->cfg->ready == READY_FILE ? "file"
							: "delay");
}

static void
publish_state(struct supervisor *s)
{
	struct service_state_info info = {
	    .pid = getpid(),
	    .service_pid = s->main_pid,
	    .service = s->cfg->name,
	    .state = phase_name(s),
	    .ready = s->ready,
	    .restarts = s->history.total,
	    .last_restart_reason = s->last_restart_reason,
	    .last_exit_status = s->last_status,
	    .last_sample_json = monitor_state_json(s->monitor),
	    .socket = s->notify.fd >= 0 ? s->notify.name : NULL,
	};

	/* memwarden's own manager, when it is a systemd Type=notify service
	 * (a no-op otherwise, and in the static build): STATUS= at each
	 * change of state, READY=1 when the service becomes ready. */
	journal_notify_status(info.state);
	journal_notify_ready(s->ready);
	s->dirty = false;
	s->published_ms = now_ms();
	s->sample_published = info.last_sample_json != NULL;
	s->published_measure = monitor_last_measure(s->monitor);
	if (state_write(s->cfg->state_file, &info) == 0) {
		s->state_warned = false;
		return;
	}
	/* Once per failure streak: a full disk must not flood the log. */
	if (!s->state_warned)
		log_warn("state", "cannot write the state file %s", s->cfg->state_file);
	s->state_warned = true;
}

static void
watch_fd(struct supervisor *s, int fd, enum source src)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = src};

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		log_warn("loop", "epoll_ctl add");
}

static void
watch_monitor(struct supervisor *s)
{
	int fds[MONITOR_MAX_FDS];
	uint32_t events[MONITOR_MAX_FDS];
	unsigned n, i;

	n = monitor_fds(s->monitor, fds, events, MONITOR_MAX_FDS);
	for (i = 0; i < n; i++) {
		struct epoll_event ev = {.events = events[i], .data.u32 = SRC_MONITOR + i};

		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fds[i], &ev) != 0)
			log_warn("memory", "epoll_ctl add");
	}
}

static void
close_execfd(struct supervisor *s)
{
	if (s->execfd < 0)
		return;
	(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->execfd, NULL);
	close(s->execfd);
	s->execfd = -1;
}

static void finish_stop(struct supervisor *s);
static void instance_ended(struct supervisor *s, int status);
static void begin_memory_restart(struct supervisor *s, const char *reason, bool main_gone);

/* The `restart` event of a memory restart, once the new instance runs:
 * why, the figures that decided it, and how long each part took. */
static void
log_memory_restart(struct supervisor *s)
{
	uint64_t now = now_ms(), limit = monitor_limit(s->monitor);
	uint64_t drain =
	    s->drain_ended_ms > s->restart_began_ms ? s->drain_ended_ms - s->restart_began_ms : 0;

	log_event(
	    LOG_WARN, "restart",
	    LOG_FIELDS(
		LF_STR("reason", s->restart_reason), LF_UINT("value", s->restart_measure),
		LF_UINT("limit", limit),
		LF_DBL("percent", limit ? (double)s->restart_measure * 100.0 / (double)limit : 0.0),
		LF_BOOL("graceful", !s->restart_killed && !s->restart_oom),
		LF_BOOL("oom_killed", s->restart_oom), LF_UINT("drain_ms", drain),
		LF_UINT("restart_ms", now - s->restart_began_ms),
		LF_UINT("backoff_ms", s->restart_delay_ms), LF_UINT("restarts", s->history.total),
		LF_INT("pid", s->main_pid)),
	    "restarted for %s in %llu ms (%s)", s->restart_reason,
	    (unsigned long long)(now - s->restart_began_ms),
	    s->restart_oom	? "the kernel OOM-killed first"
	    : s->restart_killed ? "SIGKILL was needed"
				: "graceful");
	s->memory_restart = false;
	s->restart_killed = false;
	s->restart_oom = false;
	s->drain_ended_ms = 0;
}

static void
spawn_instance(struct supervisor *s)
{
	char **argv = s->cfg->argv;

	s->instance++;
	guard_reset(&s->guard);
	ready_prepare(s->cfg);
	s->started_ms = now_ms();
	s->exec_failed = false;
	if (spawn_service(s->cfg, s->inherited, &s->main_pid, &s->execfd) != 0) {
		log_error("spawn.error", "cannot start %s", argv[0]);
		s->main_pid = 0;
		instance_ended(s, 126);
		return;
	}
	set_phase(s, PH_STARTING);
	watch_fd(s, s->execfd, SRC_EXEC);
	log_event(LOG_INFO, "spawn",
		  LOG_FIELDS(LF_INT("pid", s->main_pid), LF_STR("command", argv[0]),
			     LF_UINT("instance", s->instance)),
		  "started %s as pid %d", argv[0], (int)s->main_pid);
	if (s->memory_restart)
		log_memory_restart(s);
}

/* "cannot execute CMD: ENOENT", or the step between fork and exec that
 * failed, with the directory when it was the chdir. */
static void
log_spawn_failure(const struct config *cfg, const struct spawn_failure *f)
{
	char what[512];
	const char *cmd = cfg->argv[0];

	if (f->step == STEP_EXEC)
		snprintf(what, sizeof(what), "cannot execute %s", cmd);
	else if (f->step == STEP_CHDIR)
		snprintf(what, sizeof(what), "cannot start %s: cannot change to directory %s", cmd,
			 cfg->directory);
	else
		snprintf(what, sizeof(what), "cannot start %s: %s failed", cmd,
			 spawn_step_name(f->step));
	log_event(LOG_ERROR, "spawn.error",
		  LOG_FIELDS(LF_STR("command", cmd), LF_STR("step", spawn_step_name(f->step)),
			     LF_STR("error", strerror(f->err)), LF_INT("errno", f->err),
			     LF_INT("status", spawn_failure_status(f))),
		  "%s: %s", what, strerror(f->err));
}

/* The exec-error pipe: end of file means exec succeeded. */
static void
check_exec(struct supervisor *s)
{
	struct spawn_failure f;
	int r;

	r = spawn_read_failure(s->execfd, &f);
	if (r < 0)
		return;
	close_execfd(s);
	if (r == 0) {
		if (s->phase == PH_STARTING) {
			set_phase(s, PH_RUNNING);
			if (s->cfg->ready == READY_STARTED)
				set_ready(s, true, "started");
		}
		return;
	}
	s->exec_failed = true;
	log_spawn_failure(s->cfg, &f);
}

/* Leaves the processes that remain of an instance STOPPING: stop_signal
 * now, SIGKILL after stop_timeout. */
static void
stop_leftovers(struct supervisor *s)
{
	if (!service_processes_remain()) {
		finish_stop(s);
		return;
	}
	signal_service_processes(s->cfg->stop_signal, s->namespace_init);
	s->killed = false;
	s->deadline_ms = now_ms() + s->cfg->stop_timeout_ms;
	set_phase(s, PH_STOPPING);
}

static void
give_up(struct supervisor *s, int status)
{
	log_event(LOG_ERROR, "giveup",
		  LOG_FIELDS(LF_UINT("restarts", s->history.count),
			     LF_UINT("window_ms", s->cfg->restart_window_ms),
			     LF_INT("status", status)),
		  "more than %u restarts within %llu ms: giving up", s->cfg->max_restarts,
		  (unsigned long long)s->cfg->restart_window_ms);
}

/* The main process of an instance is gone (or never started). */
static void
instance_ended(struct supervisor *s, int status)
{
	enum restart_verdict verdict;

	s->main_pid = 0;
	s->ready = false;
	s->last_status = status;
	s->dirty = true;
	if (s->shutdown || s->memory_restart) {
		/* An end memwarden asked for: what comes next is decided. */
		s->after = s->shutdown ? AFTER_EXIT : AFTER_RESTART;
		if (s->phase != PH_STOPPING) {
			stop_leftovers(s); /* it ended while draining */
		} else if (!s->killed) {
			/* stop_signal went to the main process only; what it
			 * leaves behind gets it now, within the same deadline. */
			signal_service_processes(s->cfg->stop_signal, s->namespace_init);
		}
		return;
	}
	verdict = restart_decide(s->cfg, &s->history, status, s->started_ms, now_ms(),
				 &s->restart_delay_ms);
	s->after = verdict == VERDICT_RESTART ? AFTER_RESTART : AFTER_EXIT;
	if (verdict == VERDICT_GIVE_UP)
		give_up(s, status);
	if (verdict == VERDICT_RESTART) {
		s->last_restart_reason = "exit";
		log_event(LOG_WARN, "restart",
			  LOG_FIELDS(LF_STR("reason", "exit"), LF_INT("status", status),
				     LF_UINT("restarts", s->history.total),
				     LF_UINT("backoff_ms", s->restart_delay_ms)),
			  "service ended with status %d: restarting in %llu ms", status,
			  (unsigned long long)s->restart_delay_ms);
	}
	stop_leftovers(s);
}

static void
log_exit(const struct supervisor *s, pid_t pid, int wstatus)
{
	char name[32];
	uint64_t ran = now_ms() - s->started_ms;
	int status = wait_status_code(wstatus);

	if (WIFSIGNALED(wstatus)) {
		signal_name(WTERMSIG(wstatus), name, sizeof(name));
		log_event(LOG_INFO, "exit",
			  LOG_FIELDS(LF_INT("pid", pid), LF_INT("status", status),
				     LF_STR("signal", name), LF_UINT("ran_ms", ran)),
			  "service killed by SIG%s", name);
	} else {
		log_event(LOG_INFO, "exit",
			  LOG_FIELDS(LF_INT("pid", pid), LF_INT("status", status),
				     LF_INT("code", WEXITSTATUS(wstatus)), LF_UINT("ran_ms", ran),
				     LF_BOOL("started", !s->exec_failed)),
			  s->exec_failed ? "service could not start: status %d"
					 : "service exited with code %d",
			  WEXITSTATUS(wstatus));
	}
}

static void
on_reaped(void *ctx, pid_t pid, int wstatus)
{
	struct supervisor *s = ctx;

	if (pid != s->main_pid) {
		if (log_enabled(LOG_DEBUG))
			log_debug("reap", "reaped pid %d (status %d)", (int)pid,
				  wait_status_code(wstatus));
		return;
	}
	/* The exit may be seen before the pipe is read: read it now, so a
	 * failed exec is reported as such. */
	if (s->execfd >= 0)
		check_exec(s);
	log_exit(s, pid, wstatus);
	/* SIGKILL may be the kernel's OOM killer: look at once, while the
	 * figures are still those of the moment. */
	if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL &&
	    (monitor_check_oom(s->monitor, pid) || monitor_take_oom(s->monitor))) {
		(void)monitor_take_oom(s->monitor);
		s->last_status = wait_status_code(wstatus);
		if (s->memory_restart)
			s->restart_oom = true;
		else
			begin_memory_restart(s, "oom", true);
	}
	instance_ended(s, wait_status_code(wstatus));
}

/* The events of stopping the service tell whether memwarden exits after
 * it or restarts the service for its memory. */
static const char *
stop_event(const struct supervisor *s)
{
	return s->memory_restart && !s->shutdown ? "restart.stop" : "shutdown";
}

static void
begin_stop(struct supervisor *s, enum after_stop after)
{
	char name[32];
	pid_t target = s->cfg->signal_group ? -s->main_pid : s->main_pid;

	signal_name(s->cfg->stop_signal, name, sizeof(name));
	log_event(LOG_INFO, stop_event(s),
		  LOG_FIELDS(LF_STR("phase", "stop"), LF_STR("signal", name),
			     LF_UINT("stop_timeout_ms", s->cfg->stop_timeout_ms)),
		  "sending SIG%s, waiting up to %llu ms", name,
		  (unsigned long long)s->cfg->stop_timeout_ms);
	s->after = after;
	s->killed = false;
	s->deadline_ms = now_ms() + s->cfg->stop_timeout_ms;
	set_phase(s, PH_STOPPING);
	if (s->main_pid > 0 && kill(target, s->cfg->stop_signal) != 0 && errno != ESRCH)
		log_warn("shutdown", "cannot send SIG%s to %d", name, (int)target);
}

static void
kill_everything(struct supervisor *s, const char *why)
{
	log_event(LOG_WARN, stop_event(s), LOG_FIELDS(LF_STR("phase", "kill")),
		  "%s: sending SIGKILL to every process of the service", why);
	signal_service_processes(SIGKILL, s->namespace_init);
	s->killed = true;
	if (s->memory_restart)
		s->restart_killed = true;
	s->kill_deadline_ms = now_ms() + KILL_WAIT_MS;
	set_phase(s, PH_STOPPING);
}

/*
 * memwarden restarts the service for its memory (memory.hard with action =
 * restart, or an OOM kill): not ready, drain_delay, stop_signal,
 * stop_timeout, SIGKILL, reap, then a new instance after the back-off.
 * main_gone: the main process has already ended (its reaping follows).
 */
static void
begin_memory_restart(struct supervisor *s, const char *reason, bool main_gone)
{
	enum restart_verdict verdict;
	uint64_t now = now_ms();

	if (s->shutdown || s->memory_restart || s->phase == PH_DONE)
		return;
	verdict =
	    restart_decide_memory(s->cfg, &s->history, s->started_ms, now, &s->restart_delay_ms);
	if (verdict == VERDICT_GIVE_UP) {
		give_up(s, s->last_status);
		s->gave_up = true;
		s->shutdown = true; /* stop it and exit */
	} else {
		s->memory_restart = true;
	}
	s->restart_reason = reason;
	s->last_restart_reason = reason;
	s->restart_began_ms = now;
	s->restart_measure = monitor_last_measure(s->monitor);
	s->restart_killed = false;
	s->restart_oom = strcmp(reason, "oom") == 0;
	s->ready = false;
	s->dirty = true;
	if (main_gone || s->main_pid == 0)
		return; /* instance_ended carries on */
	if (s->cfg->drain_delay_ms == 0) {
		begin_stop(s, s->shutdown ? AFTER_EXIT : AFTER_RESTART);
		return;
	}
	log_event(LOG_INFO, stop_event(s), LOG_FIELDS(LF_STR("phase", "drain")),
		  "not ready; draining for %llu ms", (unsigned long long)s->cfg->drain_delay_ms);
	s->deadline_ms = now + s->cfg->drain_delay_ms;
	set_phase(s, PH_DRAINING);
}

static void
on_sigterm(struct supervisor *s)
{
	if (s->shutdown) {
		kill_everything(s, "second SIGTERM");
		return;
	}
	s->shutdown = true;
	s->ready = false;
	s->dirty = true;
	journal_notify_stopping();
	log_event(
	    LOG_INFO, "shutdown",
	    LOG_FIELDS(LF_STR("phase", "begin"), LF_UINT("drain_delay_ms", s->cfg->drain_delay_ms)),
	    "SIGTERM received: shutting down");
	if (s->main_pid == 0) {
		/* Between instances: only leftovers can remain. */
		s->after = AFTER_EXIT;
		if (s->phase != PH_STOPPING)
			stop_leftovers(s);
		return;
	}
	if (s->phase == PH_STOPPING) {
		/* A memory restart is stopping the service already: same
		 * deadline, but no new instance after it. */
		s->after = AFTER_EXIT;
		return;
	}
	if (s->phase == PH_DRAINING)
		return; /* a memory restart's drain: it ends as planned */
	if (s->cfg->drain_delay_ms == 0) {
		begin_stop(s, AFTER_EXIT);
		return;
	}
	log_event(LOG_INFO, "shutdown", LOG_FIELDS(LF_STR("phase", "drain")),
		  "not ready; draining for %llu ms", (unsigned long long)s->cfg->drain_delay_ms);
	s->deadline_ms = now_ms() + s->cfg->drain_delay_ms;
	set_phase(s, PH_DRAINING);
}

static void
forward_signal(struct supervisor *s, int signo)
{
	char name[32];
	pid_t target = s->cfg->signal_group ? -s->main_pid : s->main_pid;

	signal_name(signo, name, sizeof(name));
	if (s->main_pid == 0) {
		log_event(LOG_INFO, "signal", LOG_FIELDS(LF_STR("signal", name)),
			  "SIG%s received while no service runs: dropped", name);
		return;
	}
	if (kill(target, signo) != 0 && errno != ESRCH) {
		log_warn("signal", "cannot forward SIG%s to %d", name, (int)target);
		return;
	}
	log_event(LOG_INFO, "signal",
		  LOG_FIELDS(LF_STR("signal", name), LF_INT("signo", signo),
			     LF_INT("pid", s->main_pid), LF_BOOL("group", s->cfg->signal_group)),
		  "forwarded SIG%s", name);
}

/* At most this many signals per wake-up, so that no stream of signals can
 * keep the loop from its other work. */
#define SIGNALS_PER_WAKEUP 64

static void
read_signals(struct supervisor *s)
{
	struct signalfd_siginfo si;
	unsigned handled;
	ssize_t n;

	for (handled = 0; handled < SIGNALS_PER_WAKEUP; handled++) {
		n = read(s->sigfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			if (n < 0 && errno != EAGAIN)
				log_warn("loop", "reading the signalfd");
			return;
		}
		/* A signal memwarden raised itself is a consequence, not a
		 * request: SIGPIPE from a log line written to a closed
		 * stderr would otherwise be logged, raise another SIGPIPE,
		 * and so on for ever. */
		if (si.ssi_pid == (uint32_t)s->self && si.ssi_signo != SIGCHLD)
			continue;
		if (si.ssi_signo == SIGCHLD)
			reap_children(on_reaped, s);
		else if (si.ssi_signo == SIGTERM)
			on_sigterm(s);
		else if (signal_is_forwarded((int)si.ssi_signo))
			forward_signal(s, (int)si.ssi_signo);
	}
}

/* STOPPING is over: exit, or restart after the back-off. */
static void
finish_stop(struct supervisor *s)
{
	if (s->after == AFTER_EXIT || s->shutdown) {
		journal_notify_stopping(); /* when the service ended by itself */
		if (s->shutdown)
			log_event(LOG_INFO, "shutdown", LOG_FIELDS(LF_STR("phase", "done")),
				  "every process of the service has ended");
		s->exit_status = remap_exit_status(s->cfg, s->last_status < 0 ? 0 : s->last_status);
		/* Given up on memory restarts, the orchestrator must see a
		 * failure even when the service stopped cleanly. */
		if (s->gave_up && s->exit_status == 0)
			s->exit_status = 1;
		set_phase(s, PH_DONE);
		return;
	}
	if (s->memory_restart)
		s->drain_ended_ms = now_ms();
	s->deadline_ms = now_ms() + s->restart_delay_ms;
	set_phase(s, PH_BACKOFF);
}

static void
advance_stopping(struct supervisor *s, uint64_t now)
{
	if (s->main_pid == 0 && !service_processes_remain()) {
		finish_stop(s);
		return;
	}
	if (!s->killed) {
		if (now >= s->deadline_ms)
			kill_everything(s, "stop_timeout expired");
		return;
	}
	if (now >= s->kill_deadline_ms) {
		log_warnx("shutdown", "processes remain after SIGKILL; going on");
		finish_stop(s);
		return;
	}
	/* Catch processes forked while the kill went round. */
	signal_service_processes(SIGKILL, s->namespace_init);
}

/* Time-driven transitions, checked after every event. */
static void
advance(struct supervisor *s)
{
	uint64_t now = now_ms();

	switch (s->phase) {
	case PH_DRAINING:
		if (now >= s->deadline_ms)
			begin_stop(s, s->shutdown ? AFTER_EXIT : AFTER_RESTART);
		break;
	case PH_STOPPING:
		advance_stopping(s, now);
		break;
	case PH_BACKOFF:
		if (now >= s->deadline_ms)
			spawn_instance(s);
		break;
	case PH_RUNNING:
		probe_ready(s);
		break;
	default:
		break;
	}
	(void)release_tick(&s->release, &s->notify, now);
}

/* The one timer: the phase's deadline, or the poll while stopping. */
static void
arm_timer(struct supervisor *s)
{
	struct itimerspec its;
	uint64_t at = 0;

	memset(&its, 0, sizeof(its));
	if (s->phase == PH_DRAINING || s->phase == PH_BACKOFF)
		at = s->deadline_ms;
	else if (s->phase == PH_STOPPING)
		at = now_ms() + STOP_POLL_MS;
	else if (probing(s))
		at = s->cfg->ready == READY_DELAY ? s->started_ms + s->cfg->ready_delay_ms
						  : now_ms() + READY_POLL_MS;
	if (release_next_ms(&s->release) != 0 && (at == 0 || release_next_ms(&s->release) < at))
		at = release_next_ms(&s->release);
	/* Most passes change nothing (a memory sample while RUNNING): no
	 * syscall for those. */
	if (at == s->timer_at)
		return;
	s->timer_at = at;
	if (at != 0) {
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
		log_warn("loop", "timerfd_settime");
}

static void
drain_timer(struct supervisor *s)
{
	uint64_t expirations;

	s->timer_at = 0; /* fired: disarmed */
	while (read(s->timerfd, &expirations, sizeof(expirations)) < 0 && errno == EINTR)
		;
}

/* systemd's protocol (from a process of the service): READY=1 and
 * STOPPING=1 count with ready = notify; STATUS= is logged. */
static void
on_sd_notify(struct supervisor *s, const struct notify_msg *m)
{
	if (m->flags & NOTIFY_STATUS)
		log_event(LOG_INFO, "status",
			  LOG_FIELDS(LF_INT("pid", m->pid), LF_STR("status", m->status)),
			  "service status: %s", m->status);
	if (s->cfg->ready != READY_NOTIFY)
		return;
	if ((m->flags & NOTIFY_STOPPING) && s->ready) {
		set_ready(s, false, "notify");
		return;
	}
	if ((m->flags & NOTIFY_READY) && s->phase == PH_RUNNING && !s->shutdown &&
	    !s->memory_restart)
		set_ready(s, true, "notify");
}

/* A memory event's figures: the measure, the limit, the percent. */
#define MEMORY_FIGURES(s, threshold_key, threshold)                                                \
	LF_UINT("value", monitor_last_measure((s)->monitor)),                                      \
	    LF_UINT("limit", monitor_limit((s)->monitor)), LF_DBL("percent", percent_of_limit(s)), \
	    LF_UINT(threshold_key, threshold),                                                     \
	    LF_UINT("growth_per_s", monitor_growth((s)->monitor))

static double
percent_of_limit(const struct supervisor *s)
{
	uint64_t limit = monitor_limit(s->monitor);

	return limit ? (double)monitor_last_measure(s->monitor) * 100.0 / (double)limit : 0.0;
}

/* action = largest: stop_signal to the largest process of the service
 * other than the main one; its master starts a fresh one. */
static void
stop_largest(struct supervisor *s)
{
	static struct proc_mem procs[RELEASE_PIDS_MAX];
	size_t n, i, best = RELEASE_PIDS_MAX;
	char name[32];

	n = procfs_service_processes(procs, RELEASE_PIDS_MAX);
	for (i = 0; i < n; i++)
		if (procs[i].pid != s->main_pid &&
		    (best == RELEASE_PIDS_MAX || procs[i].rss > procs[best].rss))
			best = i;
	if (best == RELEASE_PIDS_MAX) {
		log_warnx("memory.hard", "action = largest: the main process is alone");
		return;
	}
	signal_name(s->cfg->stop_signal, name, sizeof(name));
	if (kill(procs[best].pid, s->cfg->stop_signal) != 0 && errno != ESRCH)
		log_warn("memory.hard", "cannot send SIG%s to %d", name, (int)procs[best].pid);
	log_event(LOG_WARN, "action",
		  LOG_FIELDS(LF_STR("action", "largest"), LF_INT("pid", procs[best].pid),
			     LF_STR("name", procs[best].name), LF_UINT("rss", procs[best].rss),
			     LF_STR("signal", name)),
		  "sent SIG%s to the largest process, pid %d (%s, %llu bytes)", name,
		  (int)procs[best].pid, procs[best].name, (unsigned long long)procs[best].rss);
}

static void
signal_main(struct supervisor *s)
{
	char name[32];

	signal_name(s->cfg->action_signal, name, sizeof(name));
	if (kill(s->main_pid, s->cfg->action_signal) != 0 && errno != ESRCH)
		log_warn("memory.hard", "cannot send SIG%s to %d", name, (int)s->main_pid);
	log_event(LOG_WARN, "action",
		  LOG_FIELDS(LF_STR("action", "signal"), LF_INT("pid", s->main_pid),
			     LF_STR("signal", name)),
		  "sent SIG%s to the main process %d", name, (int)s->main_pid);
}

static const char *const action_names[] = {"restart", "signal", "largest"};

static void
take_action(struct supervisor *s, const char *why)
{
	log_event(LOG_WARN, "memory.hard",
		  LOG_FIELDS(MEMORY_FIGURES(s, "hard", s->guard_params.hard),
			     LF_STR("action", action_names[s->cfg->action]), LF_STR("why", why)),
		  "memory above hard (%s): %s", why, action_names[s->cfg->action]);
	switch (s->cfg->action) {
	case ACTION_SIGNAL:
		signal_main(s);
		guard_acted(&s->guard, &s->guard_params, now_ms());
		break;
	case ACTION_LARGEST:
		stop_largest(s);
		guard_acted(&s->guard, &s->guard_params, now_ms());
		break;
	case ACTION_RESTART:
	default:
		guard_acted(&s->guard, &s->guard_params, now_ms());
		begin_memory_restart(s, "memory", false);
		break;
	}
}

/* After each sample: an OOM kill it saw, then the guard's verdict. */
static void
on_sample(struct supervisor *s)
{
	struct guard_verdict v;
	uint64_t now = now_ms(), interval;

	if (monitor_take_oom(s->monitor)) {
		if (s->memory_restart)
			s->restart_oom = true; /* too late: the restart was not graceful */
		else if (s->main_pid > 0 && s->cfg->action == ACTION_RESTART)
			begin_memory_restart(s, "oom", false); /* a process of it was killed */
	}
	if (!s->monitor->on || s->phase != PH_RUNNING || s->shutdown || s->memory_restart)
		return;
	/* The next samples come no sooner than the last one did: on a busy
	 * machine the timer fires late, and the growth rule must count with
	 * the gaps as they are, not as they were asked for. */
	interval = s->monitor->interval_ms;
	if (monitor_last_gap(s->monitor) > interval)
		interval = monitor_last_gap(s->monitor);
	guard_release_running(&s->guard, s->release.active);
	v = guard_step(&s->guard, &s->guard_params, monitor_last_measure(s->monitor),
		       monitor_growth(s->monitor), interval, now);
	if (v.soft_entered)
		log_event(LOG_WARN, "memory.soft",
			  LOG_FIELDS(MEMORY_FIGURES(s, "soft", s->guard_params.soft)),
			  "memory above soft: %.1f%% of the limit", percent_of_limit(s));
	/* A release in the sample that restarts the service would only keep
	 * it busy while it drains, and report memory the stop gives back. */
	if (v.release && !(v.act && s->cfg->action == ACTION_RESTART))
		(void)release_begin(
		    &s->release, &s->notify,
		    monitor_last_measure(s->monitor) >= s->guard_params.hard ? "hard" : "soft",
		    now);
	if (v.act)
		take_action(s, v.why);
}

static void
read_notify(struct supervisor *s)
{
	struct notify_msg m;
	unsigned handled;
	uint64_t now;

	for (handled = 0; handled < NOTIFY_PER_WAKEUP; handled++) {
		if (notify_receive(&s->notify, &m) != 1)
			return;
		now = now_ms();
		/* `memwarden release` may come from anywhere in the
		 * container (kubectl exec); everything else only from the
		 * service's own processes, whose pid the kernel vouches for. */
		if (m.flags & NOTIFY_REQUEST)
			release_request(&s->release, &s->notify, &m, now);
		if (!(m.flags & ~NOTIFY_REQUEST))
			continue;
		if (!procfs_is_descendant(m.pid)) {
			if (log_enabled(LOG_DEBUG))
				log_debug("notify",
					  "ignored a datagram from pid %d, not of the service",
					  (int)m.pid);
			continue;
		}
		if (m.flags & (NOTIFY_READY | NOTIFY_STOPPING | NOTIFY_STATUS))
			on_sd_notify(s, &m);
		if (m.flags & NOTIFY_RELEASE)
			release_on_report(&s->release, &s->notify, &m.report, now);
		if (m.flags & NOTIFY_HANDLER)
			release_on_handler(&s->release, m.pid);
	}
}

static void
dispatch(struct supervisor *s, uint32_t src)
{
	switch (src) {
	case SRC_SIGNAL:
		read_signals(s);
		break;
	case SRC_TIMER:
		drain_timer(s);
		break;
	case SRC_EXEC:
		if (s->execfd >= 0)
			check_exec(s);
		break;
	case SRC_NOTIFY:
		read_notify(s);
		break;
	default:
		if (src >= SRC_MONITOR) {
			if (monitor_on_fd(s->monitor, src - SRC_MONITOR))
				on_sample(s);
			if (monitor_sample_moved(s->monitor, s->sample_published,
						 s->published_measure) ||
			    now_ms() - s->published_ms >= STATE_SAMPLE_EVERY_MS)
				s->dirty = true;
		}
		break;
	}
}

static int
setup_loop(struct supervisor *s)
{
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return 1;
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timerfd < 0)
		return 1;
	watch_fd(s, s->sigfd, SRC_SIGNAL);
	watch_fd(s, s->timerfd, SRC_TIMER);
	watch_monitor(s);
	release_init(&s->release, s->cfg->release_signal);
	guard_params_init(&s->guard_params, s->cfg, monitor_limit(s->monitor),
			  s->monitor->soft_bytes, s->monitor->hard_bytes);
	/* Without the socket the service still runs: the agent cannot
	 * report, so no release is asked for, and ready = notify never
	 * comes (said once). */
	if (notify_open(&s->notify) == 0) {
		watch_fd(s, s->notify.fd, SRC_NOTIFY);
		spawn_set_notify(s->notify.name, s->cfg->ready == READY_NOTIFY);
	} else {
		log_warnx("notify", "no notify socket: no release, no ready = notify");
	}
	return 0;
}

static void
run_loop(struct supervisor *s)
{
	struct epoll_event events[8];
	int n, i;

	while (s->phase != PH_DONE) {
		if (s->dirty)
			publish_state(s);
		arm_timer(s);
		n = epoll_wait(s->epfd, events, 8, -1);
		if (n < 0) {
			if (errno != EINTR) {
				/* Cannot happen with valid fds; never spin. */
				log_warn("loop", "epoll_wait");
				usleep(100000);
			}
			continue;
		}
		for (i = 0; i < n; i++)
			dispatch(s, events[i].data.u32);
		advance(s);
	}
}

int
supervisor_run(const struct config *cfg, const struct inherited_signals *inherited, int signal_fd,
	       struct monitor *monitor)
{
	struct supervisor *s;
	int status;

	/* The history is large; keep it off the stack. */
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		log_error("loop", "cannot start the supervisor");
		return 2;
	}
	s->cfg = cfg;
	s->monitor = monitor;
	s->inherited = inherited;
	s->self = getpid();
	s->namespace_init = s->self == 1;
	s->sigfd = signal_fd;
	s->execfd = -1;
	s->notify.fd = -1;
	s->last_status = -1;
	if (setup_loop(s) != 0) {
		log_error("loop", "cannot set up the event loop");
		free(s);
		return 2;
	}
	/* From here on nothing may bail out. */
	spawn_instance(s);
	run_loop(s);

	publish_state(s);
	status = s->exit_status;
	notify_close(&s->notify);
	close(s->timerfd);
	close(s->epfd);
	free(s);
	return status;
}
