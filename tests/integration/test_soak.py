"""Soak (issue 7): memwarden's own resources stay flat over many restart
cycles; ten thousand orphans are reaped; a storm of forwarded signals does
not keep a SIGTERM from shutting the service down within its grace.

The series (cycle, RSS, fds, children) of the long run are printed on the
test's output, so a run leaves the figures behind (tests/README.md)."""

import os
import signal
import time

from lib import needs_root, proc_children, read_file, timeout, wait_for

SANITIZED = os.environ.get("MEMWARDEN_SANITIZED") == "1"


def _resources(pid):
    rss = 0
    for line in read_file("/proc/%d/status" % pid, "").splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds, len(proc_children(pid))


@needs_root
@timeout(600)
def test_soak_1000_restart_cycles_keep_memwarden_flat(t):
    """1000 exits of the service, each followed by a restart: memwarden's
    RSS, open fds and children are the same at the 1000th cycle as at the
    10th (RSS within a page or two: a log line's buffer may touch one)."""
    cycles = 200 if SANITIZED else 1000
    log, hold = t.path("runs"), t.path("hold")
    r = t.mw("-q", "-s", "service.restart=always", "-s", "service.restart_backoff=1ms",
             "-s", "service.restart_backoff_max=1ms", "-s", "service.max_restarts=100000",
             "--", t.workload("exitwith"), "--log", log, "--hold", hold, "1")
    mw = r.host_pid()
    series = []

    def runs():
        return len(read_file(log, "").splitlines())

    for mark in (10, cycles // 10, cycles // 2, cycles):
        wait_for(lambda: runs() >= mark, 300, "%d runs of the service" % mark, interval=0.002)
        # Hold the next run of the service: memwarden is then at rest (a
        # spawn's exec-error pipe is closed once the exec succeeded), and
        # what it holds is its resting count, not a moment of a restart.
        open(hold, "w").close()

        def at_rest():
            # Same single child before and after the look: a held run.
            before = proc_children(mw)
            time.sleep(0.2)
            res = _resources(mw)
            return res if len(before) == 1 and proc_children(mw) == before else None

        rss, fds, kids = wait_for(at_rest, 60, "memwarden at rest with the service held")
        child = proc_children(mw)
        series.append((runs(), rss, fds, kids))
        os.unlink(hold)
        for pid in child:
            os.kill(pid, signal.SIGKILL)
    print("soak series (runs, rss, fds, children): %r" % series)
    first, last = series[0], series[-1]
    t.check(last[2] == first[2], "memwarden's fds went from %d to %d: %r", first[2], last[2], series)
    t.check(last[3] == 1, "memwarden has %d children with the service held: %r", last[3], series)
    # AddressSanitizer's quarantine keeps freed memory by design: RSS says
    # nothing there (its leak checker and the valgrind tier do).
    if not SANITIZED:
        t.check(last[1] <= first[1] + 8192, "memwarden's RSS grew from %d to %d over %d cycles: %r",
                first[1], last[1], cycles, series)
    r.signal(signal.SIGTERM)
    r.wait(30)


@needs_root
@timeout(900)
def test_soak_memory_restart_cycles_keep_memwarden_flat(t):
    """Memory restarts in a row (a leaker in a real 96 MiB cgroup: release
    round, drain, SIGTERM, reap, back-off, spawn each time, 200 of them;
    100 under ASan): memwarden's RSS, fds and children the same at the last
    as at the 10th."""
    from test_memory import MB, V1Cgroup
    cycles = 100 if SANITIZED else 200
    cg = V1Cgroup(t, 96 * MB)
    r = t.mw("-q", "-s", "service.max_restarts=100000", "-s", "service.restart_backoff=10ms",
             "-s", "service.restart_backoff_max=10ms", "-s", "memory.interval=50ms",
             "--", t.workload("leaker"), "--rate", "60", "--base-mb", "60", "--work-ms", "1",
             "--max-mb", "200", preexec_fn=cg.enter)
    mw = r.host_pid()
    series = []
    for mark in (10, cycles // 10, cycles // 2, cycles):
        r.wait_event("restart", 600, pred=lambda e: len(r.events("restart")) >= mark)
        # A look between a fork and its exec sees the exec-error pipe; the
        # service runs ~0.4 s of each cycle: the fewest fds of looks spread
        # over that is the resting count.
        looks = []
        for _ in range(20):
            looks.append(_resources(mw))
            time.sleep(0.01)
        series.append((len(r.events("restart")), max(l[0] for l in looks), min(l[1] for l in looks),
                       min(l[2] for l in looks)))
    print("memory soak series (restarts, rss, fds, children): %r" % series)
    first, last = series[0], series[-1]
    reasons = {e.get("reason") for e in r.events("restart")}
    t.check(reasons == {"memory"}, "restart reasons: %r", reasons)
    t.check(last[2] == first[2], "memwarden's fds went from %d to %d: %r", first[2], last[2], series)
    t.check(last[3] <= 1, "memwarden has %d children: %r", last[3], series)
    if not SANITIZED:
        t.check(last[1] <= first[1] + 8192, "memwarden's RSS grew from %d to %d over %d memory restarts: %r",
                first[1], last[1], cycles, series)
    t.check(cg.oom_kill() == 0, "the kernel OOM-killed %r times", cg.oom_kill())
    r.signal(signal.SIGTERM)
    r.wait(30)


@needs_root
@timeout(300)
def test_ten_thousand_orphans_reaped(t):
    d = t.path("orph")
    os.mkdir(d)
    n = 2000 if SANITIZED else 10000
    r = t.mw("-q", "--", t.workload("orphans"), d, str(n), "0", "600000")
    wait_for(lambda: os.path.exists(os.path.join(d, "spawned")), 240, "the orphans to be made")
    mw = r.host_pid()

    def no_zombies():
        kids = proc_children(mw)
        zombies = [k for k in kids if (read_file("/proc/%d/stat" % k, "x (x) Z").rsplit(")", 1)[1].split() or ["?"])[0] == "Z"]
        return not zombies and len(kids) <= 1
    wait_for(no_zombies, 120, "every orphan to be reaped")
    pids = read_file(os.path.join(d, "pids"), "").split()
    t.check(len(pids) == n, "%d orphans recorded, %d expected", len(pids), n)
    open(os.path.join(d, "stop"), "w").close()
    r.expect_exit(0, 60)


@needs_root
@timeout(120)
def test_signal_storm_does_not_delay_shutdown(t):
    """Thousands of forwarded signals while SIGTERM arrives: the shutdown
    still happens, within stop_timeout (here 5 s)."""
    out, ready = t.path("signals"), t.path("ready")
    r = t.mw("-q", "-s", "service.stop_timeout=5s", "--", t.workload("sigrecord"), out, ready,
             "--exit-on", "15")
    wait_for(lambda: os.path.exists(ready), 20, "the service to be ready")
    mw = r.host_pid()
    stop = time.monotonic() + 2
    sent = 0
    while time.monotonic() < stop:
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
            try:
                os.kill(mw, sig)
            except ProcessLookupError:
                break
            sent += 1
        if sent >= 4000 and sent % 4000 == 0:
            os.kill(mw, signal.SIGTERM)
            term_at = time.monotonic()
            break
    else:
        os.kill(mw, signal.SIGTERM)
        term_at = time.monotonic()
    # Keep storming while the shutdown runs.
    end = time.monotonic() + 1
    while time.monotonic() < end and r.running():
        try:
            os.kill(mw, signal.SIGHUP)
        except ProcessLookupError:
            break
    r.expect_exit(0, 30)
    took = r.ended - term_at
    t.check(took < 5.5, "the shutdown took %.2f s after SIGTERM under a storm of %d signals", took, sent)
    recorded = read_file(out, "").split()
    t.check(str(int(signal.SIGTERM)) in recorded[1::2], "the service never got SIGTERM")
