"""memwarden when it is not PID 1 (SPEC §3): it makes itself a child
subreaper, reaps the orphans, and its shutdown kills what it started and
nothing else (never kill(-1)). Runs inside a throw-away PID namespace whose
init is nshelper.py, so that a wrong kill(-1) could only hurt that
namespace, and a bystander process there shows it."""

import os
import signal
import time

from lib import Failure, host_pid_of, needs_root, proc_children, proc_state, proc_status, read_file, timeout, wait_for


@needs_root
@timeout(120)
def test_not_pid1_subreaper_reaps_orphans(t):
    n = 20
    d = t.path("orph")
    os.mkdir(d)
    r = t.mw_not_pid1("--", t.workload("orphans"), d, str(n), "1500", "120000")
    mw = r.host_pid()
    helper = r.helper_host_pid()
    wait_for(lambda: os.path.exists(os.path.join(d, "spawned")), 30, "the service to spawn its orphans")
    # Each orphan writes its own pid, perhaps after the service said spawned.
    wait_for(lambda: len(read_file(os.path.join(d, "pids"), "").split()) >= n, 30, "%d orphans to report" % n)
    ns_pids = [int(x) for x in read_file(os.path.join(d, "pids"), "").split()]
    # While they linger, their parent is memwarden (not the namespace's init).
    wrong = []
    for nsp in ns_pids:
        hp = host_pid_of(helper, nsp)
        if hp is None:
            continue  # already gone: cannot tell, the others will
        st = proc_status(hp)
        if st and int(st["PPid"]) != mw:
            wrong.append((nsp, int(st["PPid"])))
    t.check(not wrong, "orphans not reparented to memwarden (pid %d), (pid, parent): %r", mw, wrong[:5])
    ev = r.wait_event("start", 10)
    t.check(ev.get("pid1") is False, "start event says pid1=%r", ev.get("pid1"))
    t.check(ev.get("subreaper") is True, "start event says subreaper=%r", ev.get("subreaper"))

    # Once they exit they are reaped: no zombie stays under memwarden.
    def settled():
        kids = proc_children(mw)
        zs = [p for p in kids if proc_state(p) == "Z"]
        live = [p for p in kids if proc_state(p) not in (None, "Z")]
        return not zs and len(live) <= 1

    try:
        wait_for(settled, 30, "the orphans to exit and be reaped")
    except Failure as e:
        kids = proc_children(mw)
        raise Failure("%s; under memwarden now: %d zombies, %d live" % (
            e, sum(proc_state(p) == "Z" for p in kids), sum(proc_state(p) not in (None, "Z") for p in kids)))
    time.sleep(0.5)
    zs = [p for p in proc_children(mw) if proc_state(p) == "Z"]
    t.check(not zs, "zombies under memwarden: %r", zs)
    with open(os.path.join(d, "stop"), "w"):
        pass
    rc = r.wait(60)
    t.check(rc == 0, "memwarden exited %d, expected 0; stderr:\n%s", rc, r.stderr_tail())
    t.check(r.result["bystander"], "a process memwarden did not start was killed: kill(-1) when not PID 1?")
    t.check(not r.result["leftovers"], "left behind: %r", r.result["leftovers"])


@needs_root
@timeout(120)
def test_not_pid1_shutdown_kills_setsid_child_and_nothing_else(t):
    pidfile = t.path("pids")
    r = t.mw_not_pid1("-s", "service.stop_timeout=1s", "--", t.workload("ignoreterm"), pidfile)
    r.host_pid()
    wait_for(lambda: read_file(pidfile), 30, "the service to write its pids")
    r.signal(signal.SIGTERM)
    rc = r.wait(60)
    t.check(rc == 137, "memwarden exited %d, expected 137; stderr:\n%s", rc, r.stderr_tail())
    t.check(r.result["bystander"], "a process memwarden did not start was killed: kill(-1) when not PID 1?")
    t.check(not r.result["leftovers"],
            "the service's setsid() child survived memwarden's shutdown: %r", r.result["leftovers"])


@needs_root
@timeout(120)
def test_not_pid1_shutdown_kills_live_orphans(t):
    d = t.path("orph")
    os.mkdir(d)
    # The orphans stay alive (-1) after the service's children exit.
    r = t.mw_not_pid1("-s", "service.stop_timeout=2s", "--", t.workload("orphans"), d, "5", "-1", "120000")
    r.host_pid()
    wait_for(lambda: os.path.exists(os.path.join(d, "spawned")), 30, "the service to spawn its orphans")
    r.signal(signal.SIGTERM)
    rc = r.wait(60)
    t.check(rc == 143, "memwarden exited %d, expected 143 (the service dies of TERM); stderr:\n%s", rc,
            r.stderr_tail())
    t.check(r.result["bystander"], "a process memwarden did not start was killed: kill(-1) when not PID 1?")
    t.check(not r.result["leftovers"], "orphans of the service survived memwarden: %r", r.result["leftovers"])
