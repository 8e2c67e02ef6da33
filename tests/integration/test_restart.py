"""restart = on-failure | always (SPEC §4 end, issue 2): back-off doubling
up to restart_backoff_max; giving up after more than max_restarts within
restart_window, with the service's status."""

import signal
import time

import json
import os

from lib import host_pid_of, needs_root, read_file, timeout, wait_for


def _runs(path):
    """Start times (s, monotonic) of the workload's runs."""
    return [int(l.split()[1]) / 1e9 for l in read_file(path, "").splitlines() if l.strip()]


def _restart_opts(restart, backoff, backoff_max, max_restarts, window="10m"):
    return ["-s", "service.restart=" + restart, "-s", "service.restart_backoff=" + backoff,
            "-s", "service.restart_backoff_max=" + backoff_max, "-s", "service.max_restarts=%d" % max_restarts,
            "-s", "service.restart_window=" + window]


@needs_root
@timeout(120)
def test_restart_on_failure_backoff_grows_then_gives_up(t):
    log = t.path("runs")
    r = t.mw(*_restart_opts("on-failure", "200ms", "10s", 3),
             "--", t.workload("exitwith"), "--log", log, "3")
    rc = r.wait(60)
    t.check(rc == 3, "memwarden exited %d, expected the service's status 3; stderr:\n%s", rc, r.stderr_tail())
    runs = _runs(log)
    restarts = r.events("restart")
    t.check(len(runs) == 4, "the service ran %d times, expected 4 (1 + max_restarts=3); stderr:\n%s",
            len(runs), r.stderr_tail())
    t.check(len(restarts) == 3, "%d restart events, expected 3", len(restarts))
    t.check(r.events("giveup"), "no giveup event:\n%s", r.stderr_tail())
    backoffs = [e.get("backoff_ms") for e in restarts]
    t.check(backoffs == [200, 400, 800], "restart back-offs %r ms, expected [200, 400, 800]", backoffs)
    t.check([e.get("restarts") for e in restarts] == [1, 2, 3], "restart counts %r", [e.get("restarts") for e in restarts])
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    for gap, b in zip(gaps, backoffs):
        t.check(gap >= 0.9 * b / 1000, "a restart came %.0f ms after the previous start, before its back-off of %d ms",
                gap * 1000, b)
    t.check(len(r.events("spawn")) == 4, "%d spawn events, expected 4", len(r.events("spawn")))


@needs_root
@timeout(120)
def test_restart_backoff_capped_at_max(t):
    log = t.path("runs")
    r = t.mw(*_restart_opts("on-failure", "100ms", "250ms", 4),
             "--", t.workload("exitwith"), "--log", log, "1")
    rc = r.wait(60)
    t.check(rc == 1, "memwarden exited %d, expected 1; stderr:\n%s", rc, r.stderr_tail())
    backoffs = [e.get("backoff_ms") for e in r.events("restart")]
    t.check(backoffs == [100, 200, 250, 250], "back-offs %r ms, expected [100, 200, 250, 250]", backoffs)


@needs_root
@timeout(120)
def test_restart_on_failure_killed_service(t):
    log = t.path("runs")
    r = t.mw(*_restart_opts("on-failure", "50ms", "1s", 1),
             "--", t.workload("exitwith"), "--log", log, "-k", str(int(signal.SIGKILL)))
    rc = r.wait(60)
    t.check(rc == 137, "memwarden exited %d, expected 137; stderr:\n%s", rc, r.stderr_tail())
    t.check(len(_runs(log)) == 2, "the service ran %d times, expected 2", len(_runs(log)))


@needs_root
def test_restart_on_failure_not_after_success(t):
    log = t.path("runs")
    r = t.mw(*_restart_opts("on-failure", "50ms", "1s", 5), "--", t.workload("exitwith"), "--log", log, "0")
    rc = r.wait(60)
    t.check(rc == 0, "memwarden exited %d, expected 0", rc)
    t.check(len(_runs(log)) == 1, "a service that succeeded ran %d times under on-failure", len(_runs(log)))
    t.check(not r.events("restart"), "restart logged after a success")


@needs_root
@timeout(120)
def test_restart_always_restarts_success(t):
    log = t.path("runs")
    r = t.mw(*_restart_opts("always", "50ms", "1s", 2), "--", t.workload("exitwith"), "--log", log, "0")
    rc = r.wait(60)
    t.check(rc == 0, "memwarden exited %d, expected the service's 0 after giving up; stderr:\n%s", rc, r.stderr_tail())
    t.check(len(_runs(log)) == 3, "the service ran %d times, expected 3 (1 + max_restarts=2)", len(_runs(log)))


@needs_root
def test_restart_no_is_the_default(t):
    log = t.path("runs")
    r = t.mw("--", t.workload("exitwith"), "--log", log, "5")
    rc = r.wait(60)
    t.check(rc == 5, "memwarden exited %d, expected 5", rc)
    t.check(len(_runs(log)) == 1, "ran %d times with the default restart = no", len(_runs(log)))


@needs_root
@timeout(120)
def test_term_during_backoff_exits_promptly(t):
    log = t.path("runs")
    r = t.mw(*_restart_opts("on-failure", "60s", "60s", 5), "--", t.workload("exitwith"), "--log", log, "4")
    r.host_pid()
    wait_for(lambda: _runs(log), 30, "the first run")
    r.wait_event("exit", 30)
    time.sleep(0.3)
    t.check(r.running(), "memwarden exited instead of waiting out its back-off:\n%s", r.stderr_tail())
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    took = time.monotonic() - t0
    t.check(took < 10, "memwarden took %.1fs to exit on TERM during a 60 s back-off", took)
    t.check(len(_runs(log)) == 1, "the service was started again after TERM")
    t.check(rc == 4, "memwarden exited %d on TERM during back-off, expected the service's last status 4", rc)


@needs_root
@timeout(120)
def test_signals_reach_restarted_instance(t):
    out, ready = t.path("signals"), t.path("ready")
    state = t.path("state.json")
    r = t.mw("-s", "status.state_file=" + state, *_restart_opts("on-failure", "100ms", "1s", 3),
             "--", t.workload("sigrecord"), out, ready, "--exit-on", str(int(signal.SIGTERM)))
    mw = r.host_pid()
    wait_for(lambda: os.path.exists(ready), 30, "the first instance to be ready")
    first = json.loads(read_file(state))["service_pid"]
    os.remove(ready)
    os.kill(host_pid_of(mw, first), signal.SIGKILL)  # a crash: on-failure restarts it
    wait_for(lambda: os.path.exists(ready), 30, "the second instance to be ready")
    second = wait_for(lambda: (json.loads(read_file(state) or "{}").get("service_pid") or first) != first
                      and json.loads(read_file(state))["service_pid"], 10, "the state file to show the new pid")
    r.signal(signal.SIGUSR1)
    wait_for(lambda: (second, signal.SIGUSR1) in
             [tuple(int(x) for x in l.split()) for l in read_file(out, "").splitlines()],
             10, "USR1 to reach the restarted instance (pid %d)" % second)
    r.signal(signal.SIGTERM)
    rc = r.wait(60)
    t.check(rc == 0, "memwarden exited %d, expected 0; stderr:\n%s", rc, r.stderr_tail())
    ev = r.events("restart")
    t.check(len(ev) == 1 and ev[0].get("status") == 137, "restart events %r, expected one after status 137", ev)
