"""Reaping (SPEC §3): orphans abandoned by the service never stay zombies."""

import os
import time

from lib import Failure, needs_root, proc_children, proc_state, read_file, timeout, wait_for


def _zombies_under(host_pid):
    """Zombie children of memwarden (orphans are reparented to it)."""
    return [p for p in proc_children(host_pid) if proc_state(p) == "Z"]


@needs_root
@timeout(180)
def test_hundred_orphans_reaped(t):
    n = 100
    d = t.path("orph")
    os.mkdir(d)
    # Grandchildren live 300 ms after being orphaned, then exit; the
    # service stays until we create d/stop.
    r = t.mw("--", t.workload("orphans"), d, str(n), "300", "120000")
    mw = r.host_pid()
    wait_for(lambda: os.path.exists(os.path.join(d, "spawned")), 60, "the service to spawn its orphans")
    # Each orphan writes its own pid, perhaps after the service said spawned.
    wait_for(lambda: len(read_file(os.path.join(d, "pids"), "").split()) >= n, 30, "%d orphans to report" % n)

    # While memwarden runs: a zombie may exist for an instant between an
    # orphan's exit and the reap, but never for long. Watch for 3 s plus
    # until every orphan is gone; a zombie seen must be gone within 2 s.
    seen = {}
    deadline = time.monotonic() + 60
    start = time.monotonic()
    while True:
        now = time.monotonic()
        zs = _zombies_under(mw)
        for z in zs:
            seen.setdefault(z, now)
            if now - seen[z] > 2.0:
                raise Failure("zombie %d (an orphan, child of memwarden) not reaped after 2 s" % z)
        kids = [p for p in proc_children(mw) if proc_state(p) not in (None, "Z")]
        # Only the service itself should remain.
        if not zs and len(kids) <= 1 and now - start > 3:
            break
        if now > deadline:
            raise Failure("after 60 s, memwarden still has %d live children and %d zombies" % (len(kids), len(zs)))
        time.sleep(0.01)
    t.check(r.running(), "memwarden exited while the service should still run:\n%s", r.stderr_tail())
    # Settled: none now, with the service still running.
    time.sleep(0.5)
    zs = _zombies_under(mw)
    t.check(not zs, "zombies remain under memwarden while the service runs: %r", zs)
    with open(os.path.join(d, "stop"), "w"):
        pass
    r.expect_exit(0, 60)
    # The service's own exit event, not 100 exit events of orphans as the
    # service's status.
    ex = r.events("exit")
    t.check(ex and ex[-1].get("status") == 0, "last exit event %r, expected the service's status 0", ex[-1:] or None)


@needs_root
@timeout(120)
def test_service_exit_with_live_orphans_exits_promptly(t):
    """The service exits by itself and leaves orphans that would live on:
    memwarden stops them (stop_signal, they die of TERM) and exits with the
    service's status, without waiting for the stop_timeout."""
    d = t.path("orph")
    os.mkdir(d)
    r = t.mw("-s", "service.stop_timeout=30s", "--", t.workload("orphans"), d, "3", "-1", "0")
    rc = r.wait(60)
    t.check(rc == 0, "memwarden exited %d, expected the service's 0; stderr:\n%s", rc, r.stderr_tail())
    t.check(r.elapsed() < 20, "took %.1fs: the orphans were left to the 30 s stop_timeout", r.elapsed())
