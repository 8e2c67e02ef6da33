"""The SIGTERM shutdown sequence (SPEC §3), memwarden as PID 1."""

import os
import signal
import time

from lib import alive, host_pid_of, needs_root, read_file, timeout, wait_for


def _start_ignoreterm(t, *mw_args):
    pidfile = t.path("pids")
    r = t.mw(*mw_args, "--", t.workload("ignoreterm"), pidfile)
    mw = r.host_pid()
    wait_for(lambda: read_file(pidfile), 30, "the service to write its pids")
    ns_main, ns_child = (int(x) for x in read_file(pidfile).split())
    main = wait_for(lambda: host_pid_of(mw, ns_main), 10, "the service's host pid")
    child = wait_for(lambda: host_pid_of(mw, ns_child), 10, "the setsid child's host pid")
    t.check(os.getsid(child) != os.getsid(main), "the child did not call setsid()")
    return r, main, child


@needs_root
@timeout(120)
def test_term_ignored_waits_stop_timeout_then_kills_all(t):
    r, main, child = _start_ignoreterm(t, "-s", "service.stop_timeout=1s")
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    # During the grace period both still run (they ignore TERM).
    time.sleep(0.4)
    t.check(r.running(), "memwarden exited before stop_timeout:\n%s", r.stderr_tail())
    t.check(alive(main) and alive(child), "the service or its child died before stop_timeout")
    # After the grace: both are SIGKILLed by memwarden. Watch them die
    # while memwarden still runs, as far as the moment allows.
    rc = r.wait(60)
    took = time.monotonic() - t0
    t.check(rc == 137, "memwarden exited %d, expected 137 (service SIGKILLed); stderr:\n%s", rc, r.stderr_tail())
    t.check(took >= 0.9, "memwarden killed after %.2fs, before stop_timeout=1s", took)
    t.check(took < 20, "memwarden took %.1fs to stop with stop_timeout=1s", took)
    t.check(not alive(main) and not alive(child), "service processes survive: main %s, child %s",
            alive(main), alive(child))
    phases = [e.get("phase") for e in r.events("shutdown")]
    for p in ("begin", "stop", "kill"):
        t.check(p in phases, "no shutdown event with phase %r (phases: %r)", p, phases)


@needs_root
@timeout(120)
def test_second_term_kills_at_once(t):
    r, main, child = _start_ignoreterm(t, "-s", "service.stop_timeout=30s")
    r.signal(signal.SIGTERM)
    r.wait_event("shutdown", 20)
    time.sleep(0.5)
    t.check(r.running(), "memwarden exited after one TERM with stop_timeout=30s:\n%s", r.stderr_tail())
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(25)  # well before the 30 s grace
    took = time.monotonic() - t0
    t.check(rc == 137, "memwarden exited %d, expected 137; stderr:\n%s", rc, r.stderr_tail())
    t.check(took < 15, "the second TERM took %.1fs to end it", took)
    t.check(not alive(main) and not alive(child), "service processes survive")


@needs_root
def test_term_graceful_stop_exits_with_service_status(t):
    marker = t.path("drained")
    r = t.mw("-s", "service.stop_timeout=30s", "--", t.workload("drainer"), marker, "0")
    r.host_pid()
    wait_for(lambda: os.path.exists(marker + ".ready"), 30, "the service to be ready")
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(25)
    t.check(rc == 0, "memwarden exited %d, expected the service's 0; stderr:\n%s", rc, r.stderr_tail())
    t.check(time.monotonic() - t0 < 15, "a service that stops at once took long to stop")
    got = read_file(marker, "").split()
    t.check(got and int(got[0]) == signal.SIGTERM, "the service got %r, expected TERM", got[:1])
    phases = [e.get("phase") for e in r.events("shutdown")]
    t.check("begin" in phases and "done" in phases, "shutdown phases %r lack begin/done", phases)


@needs_root
def test_graceful_stop_status_passes_through(t):
    marker = t.path("drained")
    r = t.mw("--", t.workload("drainer"), marker, "3")
    r.host_pid()
    wait_for(lambda: os.path.exists(marker + ".ready"), 30, "the service to be ready")
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    t.check(rc == 3, "memwarden exited %d, expected the service's status 3", rc)


@needs_root
def test_stop_signal_and_drain_delay(t):
    marker = t.path("drained")
    r = t.mw("-s", "service.stop_signal=INT", "-s", "service.drain_delay=1s",
             "--", t.workload("drainer"), marker)
    r.host_pid()
    wait_for(lambda: os.path.exists(marker + ".ready"), 30, "the service to be ready")
    t0 = time.monotonic_ns()
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    t.check(rc == 0, "memwarden exited %d, expected 0; stderr:\n%s", rc, r.stderr_tail())
    got = read_file(marker, "").split()
    t.check(got, "the service never got its stop signal")
    t.check(int(got[0]) == signal.SIGINT, "the service got signal %s, expected INT (stop_signal)", got[0])
    waited = (int(got[1]) - t0) / 1e9
    t.check(waited >= 0.9, "the stop signal came %.2fs after TERM, before drain_delay=1s", waited)
    phases = [e.get("phase") for e in r.events("shutdown")]
    t.check("drain" in phases, "no shutdown drain phase logged: %r", phases)


@needs_root
@timeout(120)
def test_shutdown_leftovers_get_stop_signal_when_main_exits(t):
    """Without signal_group the stop signal goes to the main process only.
    When it exits (here after waiting 2 s for its child), what remains of
    the service should get stop_signal too, as when the service exits by
    itself, not sit out the whole stop_timeout until SIGKILL."""
    out, ready = t.path("signals"), t.path("ready")
    r = t.mw("-s", "service.stop_timeout=30s", "--", t.workload("sigrecord"), out, ready, "--fork",
             "--exit-on", str(int(signal.SIGTERM)))
    r.host_pid()
    wait_for(lambda: os.path.exists(ready), 30, "the recorder to be ready")
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(45)
    took = time.monotonic() - t0
    recs = [tuple(int(x) for x in l.split()) for l in read_file(out, "").splitlines()]
    pids = sorted({p for p, _ in recs})
    t.check(rc == 0, "memwarden exited %d, expected 0; stderr:\n%s", rc, r.stderr_tail())
    t.check(len(pids) == 2 and all((p, signal.SIGTERM) in recs for p in pids),
            "stop signal records %r: the child should get TERM once the main process is gone", recs)
    t.check(took < 20, "shutdown took %.1fs: the child was left to the 30 s stop_timeout; stderr:\n%s",
            took, r.stderr_tail())
