"""The memory guard on the host's real cgroup v1 memory controller (SPEC §4,
§6, §7, §8): graceful restarts of a leaking service before its limit, with
the kernel's oom_kill counter unchanged; a restart after an OOM kill the
guard could not prevent; `action = signal` and `action = largest` on a
prefork server while a client loop runs; readiness through notify, tcp and
file, followed through a memory restart. Each test makes its own memory
cgroup (256 MB, as the issue asks) and removes it."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

from lib import needs_root, read_file, timeout, wait_for
from test_memory import MB, V1Cgroup

LIMIT = 256 * MB
SANITIZED = os.environ.get("MEMWARDEN_SANITIZED") == "1"
# The issue asks for 20 restarts in a row; the sanitizer tier, which runs
# the same code slower, checks fewer.
RESTARTS = 5 if SANITIZED else 20


def _restart_opts():
    # Memory restarts back off like exit restarts; the test wants many in
    # a row, so the back-off stays short and the give-up far away.
    return ["-s", "service.max_restarts=1000", "-s", "service.restart_backoff=100ms",
            "-s", "service.restart_backoff_max=200ms", "-s", "service.stop_timeout=5s"]


def _leak(t, rate, base_mb):
    cg = V1Cgroup(t, LIMIT)
    marker = t.path("marker")
    r = t.mw(*_restart_opts(), "--", t.workload("leaker"), "--rate", str(rate), "--base-mb",
             str(base_mb), "--marker", marker, "--work-ms", "100", "--max-mb", "1024",
             preexec_fn=cg.enter)
    r.wait_event("start")
    per_restart = (0.9 * 256 - base_mb) / rate + 1.5
    restarts = r.wait_event("restart", per_restart * RESTARTS + 30,
                            pred=lambda e: len(r.events("restart")) >= RESTARTS)
    del restarts
    evs = r.events("restart")[:RESTARTS]
    t.check(all(e.get("reason") == "memory" for e in evs), "restart reasons: %r",
            [e.get("reason") for e in evs])
    t.check(all(e.get("graceful") is True for e in evs), "not every restart was graceful: %r",
            [(e.get("graceful"), e.get("percent")) for e in evs])
    t.check(len(r.events("memory.hard")) >= RESTARTS, "memory.hard events: %d", len(r.events("memory.hard")))
    t.check(cg.oom_kill() == 0, "the kernel OOM-killed %r times", cg.oom_kill())
    t.check(not r.events("oom.kill"), "oom.kill logged: %r", r.events("oom.kill"))
    t.check(r.running(), "memwarden is not running:\n%s" % r.stderr_tail())
    # The instance just started must have installed its TERM handler.
    time.sleep(0.5)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)
    lines = read_file(marker, "").splitlines()
    # Every instance stopped by a memory restart, and the last one by the
    # shutdown, finished its work and wrote its line.
    t.check(len(lines) >= RESTARTS + 1 and all(l.startswith("graceful ") for l in lines),
            "marker has %d lines for %d restarts + shutdown: %r", len(lines), RESTARTS, lines[:5])
    peak = int(cg.read("memory.max_usage_in_bytes"))
    t.check(peak < LIMIT, "peak usage %d reached the limit; memory.hard: %r", peak,
            [(e.get("percent"), e.get("growth_per_s"), e.get("why")) for e in r.events("memory.hard")])
    t.check(max(e["percent"] for e in evs) < 100, "a restart decided at or above the limit: %r",
            [e["percent"] for e in evs])


@needs_root
@timeout(300)
def test_leak_200mb_per_s_restarts_gracefully(t):
    _leak(t, 200, 0)


@needs_root
@timeout(300)
def test_leak_50mb_per_s_restarts_gracefully(t):
    _leak(t, 50, 100)


@needs_root
@timeout(400)
def test_leak_10mb_per_s_restarts_gracefully(t):
    # From 170 MB, so that each cycle takes 6 s rather than 23.
    _leak(t, 10, 170)


@needs_root
def test_oom_kill_is_reported_then_restarted(t):
    """A spike faster than any sample: the kernel kills; memwarden logs
    oom.kill with its figures, restarts the service, and stays alive."""
    cg = V1Cgroup(t, LIMIT)
    once = t.path("spiked")
    ready = t.path("ready")
    hog = t.workload("memhog")
    # The first instance ignores SIGTERM and fills 400 MB in one memset
    # (about 0.1 s): even if memwarden sees it coming, only the kernel can
    # stop it. The next instance holds 10 MB.
    spike = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); b = b'x' * (400 << 20)"
    script = ('if [ -e %s ]; then exec %s --grow 10 --ready %s; fi; : > %s; exec %s -c "%s"'
              % (once, hog, ready, once, sys.executable, spike))
    r = t.mw("-s", "service.restart_backoff=100ms", "--", "/bin/sh", "-c", script, preexec_fn=cg.enter)
    ev = r.wait_event("oom.kill", 30)
    t.check(ev.get("oom_kill", 0) >= 1 and ev.get("limit") == LIMIT, "oom.kill figures: %r", ev)
    t.check(isinstance(ev.get("last_samples"), list), "oom.kill without last_samples: %r", ev)
    # memwarden may have seen the spike coming and begun a restart the
    # kernel then overtook: the restart says so either way.
    rs = r.wait_event("restart", 30)
    t.check(rs.get("reason") == "oom" or rs.get("oom_killed") is True, "restart after an OOM kill: %r", rs)
    t.check(rs.get("graceful") is False and rs.get("limit") == LIMIT, "restart figures: %r", rs)
    wait_for(lambda: os.path.exists(ready), 30, "the restarted service to run")
    t.check(r.running(), "memwarden died:\n%s" % r.stderr_tail())
    state = json.loads(read_file(t.path("state0.json")))
    t.check(state.get("restarts") == 1 and state.get("last_restart_reason") in ("oom", "memory"),
            "state file after the OOM restart: %r", state)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


def _port():
    # Below the ephemeral range (32768+), where nothing else binds.
    return random.randint(20000, 30000)


def _prefork_under_guard(t, action):
    # 128 MB: the workers reach hard within seconds even on a busy machine.
    cg = V1Cgroup(t, 128 * MB)
    port = _port()
    out = t.path("connloop.json")
    # Each request makes a worker 32 KB larger; the client pauses 1 ms
    # between requests, so growth stays below 32 MB/s however fast the
    # machine: within what the guard can follow through its cool-down
    # (release_interval, 2 s here) after each action.
    r = t.mw("-s", "memory.action=" + action, "-s", "memory.release_interval=2s",
             "-s", "service.stop_timeout=2s", "--",
             t.workload("prefork"), "--port", str(port), "--workers", "2", "--grow-kb", "32",
             preexec_fn=cg.enter)
    wait_for(lambda: _listening(port), 20, "prefork to listen")
    loop = subprocess.Popen([sys.executable, _connloop(), "--port", str(port), "--seconds", "40",
                             "--pause-ms", "1", "--out", out])
    t.defer(lambda: loop.poll() is None and loop.kill())
    # The client loop runs on after the action: no refusal while the
    # workers are recycled either.
    r.wait_event("action", 35)
    loop.wait(timeout=60)
    res = json.loads(read_file(out))
    t.check(res["refused"] == 0 and res["errors"] == 0 and res["ok"] > 100,
            "client loop during action = %s: %r", action, res)
    t.check(all(e.get("action") == action for e in r.events("action")), "actions: %r", r.events("action"))
    t.check(not r.events("restart"), "restarted with action = %s: %r", action, r.events("restart"))
    t.check(cg.oom_kill() == 0, "OOM kills: %r", cg.oom_kill())
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


def _connloop():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "workloads", "connloop.py")


def _listening(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@needs_root
def test_action_signal_recycles_prefork_workers_without_refusing(t):
    _prefork_under_guard(t, "signal")


@needs_root
def test_action_largest_recycles_a_worker_without_refusing(t):
    _prefork_under_guard(t, "largest")


def _ready_status(t, state):
    rc, out, _ = t.run_plain(["status", "--state", state, "--ready"])
    return rc


class StateWatcher:
    """Reads the state file every 10 ms and keeps each distinct
    (state, ready) pair in order, to see readiness through a restart."""

    def __init__(self, path):
        self.path = path
        self.seen = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                with open(self.path) as f:
                    st = json.load(f)
                pair = (st.get("state"), st.get("ready"), st.get("restarts"))
                if not self.seen or self.seen[-1] != pair:
                    self.seen.append(pair)
            except (OSError, ValueError):
                pass
            time.sleep(0.01)

    def done(self):
        self.stop = True
        self.thread.join(5)
        return self.seen


def _ready_through_restart(t, ready, extra_args, rate=40):
    cg = V1Cgroup(t, LIMIT)
    state = t.path("state0.json")
    r = t.mw(*_restart_opts(), "-s", "service.ready=" + ready, "-s", "service.drain_delay=500ms",
             "--", t.workload("leaker"), "--rate", str(rate), "--base-mb", "120", "--ready-after-ms", "700",
             "--max-mb", "1024", *extra_args, preexec_fn=cg.enter)
    wait_for(lambda: os.path.exists(state), 20, "the state file")
    t.check(_ready_status(t, state) == 1, "status --ready said ready before the service was")
    w = StateWatcher(state)
    r.wait_event("ready", 20)
    t.check(_ready_status(t, state) == 0 or r.events("restart"), "status --ready is not 0 once ready")
    r.wait_event("restart", 60, pred=lambda e: e.get("reason") == "memory")
    wait_for(lambda: len(r.events("ready")) >= 2, 30, "the new instance to be ready")
    time.sleep(0.1)
    seen = w.done()
    # Never ready while draining or restarting; ready again after.
    t.check(not any(ready_ and st in ("draining", "restarting", "starting") for st, ready_, _ in seen),
            "ready during the restart: %r", seen)
    t.check(any(st == "draining" for st, _, _ in seen), "no draining state seen: %r", seen)
    t.check(seen[-1][1] is True and seen[-1][2] >= 1, "not ready after the restart: %r", seen)
    t.check(_ready_status(t, state) == 0, "status --ready not 0 after the restart")
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_ready_tcp_through_a_memory_restart(t):
    port = _port()
    _ready_through_restart(t, "tcp:%d" % port, ["--listen", str(port)])


@needs_root
def test_ready_file_through_a_memory_restart(t):
    f = t.path("ready-file")
    _ready_through_restart(t, "file:" + f, ["--ready-file", f])


@needs_root
def test_ready_notify(t):
    """READY=1 on NOTIFY_SOCKET from the service: not ready before, ready
    after, STATUS= logged; the same protocol systemd speaks."""
    state = t.path("state0.json")
    svc = t.write("notifysvc.py", NOTIFY_SERVICE)
    go = t.path("go")
    r = t.mw("-s", "service.ready=notify", "--", sys.executable, svc, go)
    wait_for(lambda: os.path.exists(state) and json.loads(read_file(state)).get("state") == "running",
             20, "the service to run")
    time.sleep(0.3)
    t.check(_ready_status(t, state) == 1, "ready before READY=1")
    with open(go, "w"):
        pass
    ev = r.wait_event("ready", 20)
    t.check(ev.get("how") == "notify", "ready event: %r", ev)
    st = r.wait_event("status", 20)
    t.check(st.get("status") == "serving", "status event: %r", st)
    t.check(_ready_status(t, state) == 0, "not ready after READY=1")
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_notify_from_outside_the_service_is_ignored(t):
    """A READY=1 sent by a process that is not memwarden's descendant does
    not make the service ready."""
    state = t.path("state0.json")
    r = t.mw("-s", "service.ready=notify", "--", t.workload("memhog"), "--grow", "1")
    wait_for(lambda: os.path.exists(state) and json.loads(read_file(state)).get("socket"), 20,
             "the state file with the socket")
    name = json.loads(read_file(state))["socket"]
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1\n", "\0" + name[1:])
    s.close()
    time.sleep(0.5)
    t.check(_ready_status(t, state) == 1, "a stranger's READY=1 made the service ready")
    t.check(not r.events("ready"), "ready event from a stranger: %r", r.events("ready"))
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


NOTIFY_SERVICE = r'''
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.02)
name = os.environ["NOTIFY_SOCKET"]
addr = "\0" + name[1:] if name.startswith("@") else name
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=serving\n", addr)
while True:
    time.sleep(1)
'''


def _live_bytes(t, threads):
    """The fragmenting workload's live bytes with this many threads: a
    short --hold run outside any limit."""
    proc = subprocess.Popen([t.workload("fragment"), "--threads", str(threads), "--seconds", "3", "--hold"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    live = None
    try:
        for line in proc.stdout:
            if line.startswith("LIVE "):
                live = int(line.split()[1])
            if line.startswith("READY"):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return live


@needs_root
@timeout(180)
def test_fragmentation_held_down_by_releases_alone(t):
    """The fragmenting workload (16 threads) in a cgroup limited to 1.95x
    its live bytes (as a --hold run counts them; while it churns, in-flight
    buffers add about 17%): between its plain jemalloc footprint (about
    1.7x) and its glibc one (about 2x). memwarden's default MALLOC_CONF
    alone keeps it near 1.5x, below the default soft (80%): soft = 70%
    makes the releases work. For 60 s they keep it below hard: releases
    happen, no restart, no OOM kill. (bench/README.md measures the lowest
    limit each setting sustains.)"""
    live = _live_bytes(t, 16)
    t.check(live and live > 50 * MB, "fragment's live bytes: %r", live)
    limit = int(live * 1.95) // 4096 * 4096
    cg = V1Cgroup(t, limit)
    r = t.mw("-s", "memory.soft=70%", "--", t.workload("fragment"), "--threads", "16", "--forever",
             preexec_fn=cg.enter)
    r.wait_event("spawn")
    time.sleep(60)
    t.check(r.running(), "memwarden ended:\n%s" % r.stderr_tail())
    reports = r.events("release")
    t.check(reports, "no release in 60 s (memory.soft events: %d):\n%s", len(r.events("memory.soft")),
            r.stderr_tail())
    t.check(all(e.get("allocator") == "jemalloc" for e in reports), "allocators: %r",
            [e.get("allocator") for e in reports])
    t.check(not r.events("restart"), "restarted: %r", r.events("restart"))
    t.check(not r.events("memory.hard"), "reached hard: %r", r.events("memory.hard"))
    t.check(cg.oom_kill() == 0, "OOM kills: %r", cg.oom_kill())
    peak = int(cg.read("memory.max_usage_in_bytes"))
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)
    t.check(peak < limit, "peak %d reached the limit %d", peak, limit)


# A service that swings: it maps 1 MB blocks, fast up to BULK then at
# 20 MB/s up to BASE (above soft, below hard), and from there maps SWING
# bytes, touches them, and unmaps them again every 50 ms for good: what
# workers churning request buffers do to the working set.
_SWINGER = r"""
import mmap, sys, time
cg, bulk, base, swing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def workingset():
    usage = int(open(cg + "/memory.usage_in_bytes").read())
    stat = dict(l.split() for l in open(cg + "/memory.stat"))
    return usage - int(stat["total_inactive_file"])
def block(n):
    m = mmap.mmap(-1, n)
    m[::4096] = b"x" * (n // 4096)
    return m
held = []
while workingset() < bulk:
    held.append(block(1 << 20))
time.sleep(3)
while workingset() < base:
    held.append(block(1 << 20))
    time.sleep(0.05)
while True:
    m = block(swing)
    time.sleep(0.05)
    m.close()
    time.sleep(0.05)
"""


@needs_root
@timeout(60)
def test_swings_above_soft_are_not_growth(t):
    """A service whose working set swings by 16 MB every 50 ms, between
    soft (60%) and hard (90%), with a 2 s drain: the growth rule acts below
    hard only when the limit would come within the drain (here from about
    45 MB/s). Read from the lowest of the last 8 samples, as memwarden did
    before, a swing came out at 45-52 MB/s and restarted the service at
    once (3 runs of 3); read over at least 1 s it is 16 MB/s. So: a
    release round for the memory above soft, and no memory.hard, no
    restart, over 8 s of swings."""
    cg = V1Cgroup(t, LIMIT)
    r = t.mw("-s", "memory.soft=60%", "-s", "memory.hard=90%", "-s", "memory.interval=100ms",
             "-s", "memory.fast_interval=50ms", "-s", "service.drain_delay=2s",
             "--", sys.executable, "-c", _SWINGER, cg.dir, str(140 * MB), str(165 * MB), str(16 * MB),
             preexec_fn=cg.enter)
    r.wait_event("memory.soft", 30)
    wait_for(lambda: r.events("release.done") or r.events("memory.hard"), 10, "a release round")
    time.sleep(8)
    t.check(not r.events("memory.hard") and not r.events("restart"),
            "swings read as growth: %r", r.events("memory.hard"))
    t.check([e for e in r.events("release.done") if e.get("reason") == "soft"],
            "no release round for the memory above soft: %r", r.events("release.done"))
    t.check(cg.oom_kill() == 0, "OOM kills: %r", cg.oom_kill())
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    t.check(rc in (0, 143), "memwarden exited %r after SIGTERM", rc)


# Holds freed memory until a release purges it, and serves its first
# release late: the agent's thread is made at the program's first wait
# (src/agent/agent.c), and this program does not wait until HOLD_S after it
# freed. It grows at 30 MB/s, busy, until the cgroup's working set (usage
# less inactive_file: memwarden's measure) is STOP, just above the hard
# threshold; frees it all (jemalloc keeps it: no decay); computes for
# HOLD_S; then sleeps in a loop. With HOLD_S < 0 it computes for good and
# never serves a release.
_HELD_FREE = r"""
import sys, time
cg, stop, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def workingset():
    usage = int(open(cg + "/memory.usage_in_bytes").read())
    stat = dict(l.split() for l in open(cg + "/memory.stat"))
    return usage - int(stat["total_inactive_file"])
def busy(s):
    end = time.monotonic() + s
    while time.monotonic() < end:
        pass
blocks, t0 = [], time.monotonic()
while workingset() < stop:
    blocks.append(b"x" * (1 << 20))
    busy(max(0.0, t0 + len(blocks) / 30.0 - time.monotonic()))
del blocks
busy(600 if hold < 0 else hold)
while True:
    time.sleep(0.05)
"""


def _held_free(t, hold_s):
    cg = V1Cgroup(t, LIMIT)
    hard = LIMIT // 2
    r = t.mw("-s", "memory.soft=40%", "-s", "memory.hard=50%", "-s", "memory.interval=100ms",
             "-s", "memory.fast_interval=50ms",
             "-s", "allocator.malloc_conf=background_thread:false,dirty_decay_ms:-1,muzzy_decay_ms:-1",
             "--", sys.executable, "-c", _HELD_FREE, cg.dir, str(hard + 4 * MB), str(hold_s),
             preexec_fn=cg.enter)
    return cg, r


@needs_root
@timeout(60)
def test_the_action_waits_for_a_release_that_is_running(t):
    """Release first: the release sent on crossing soft (and asked for
    again on reaching hard) is served about 0.4 s after the measure reached
    hard, at the service's first wait: later than hard_for samples (3 x 50
    ms), when the guard used to restart the service. The count above hard
    now waits for it (at most 1 s, GUARD_RELEASE_WAIT_MS): the release
    returns the memory, and there is no memory.hard, no restart."""
    cg, r = _held_free(t, 0.3)
    def freed():
        return [e for e in r.events("release.done") if e.get("freed_rss", 0) >= 100 * MB]

    wait_for(lambda: freed() or r.events("memory.hard"), 30, "a release of 100 MB or memory.hard")
    time.sleep(2)
    t.check(not r.events("memory.hard") and not r.events("restart"),
            "the guard acted before the release came back: %r", r.events("memory.hard"))
    t.check(freed(), "no release gave back 100 MB: %r", r.events("release.done"))
    t.check(len(r.events("spawn")) == 1, "the service was started %d times", len(r.events("spawn")))
    t.check(cg.oom_kill() == 0, "OOM kills: %r", cg.oom_kill())
    r.signal(signal.SIGTERM)
    r.expect_exit(143, 30)


@needs_root
@timeout(60)
def test_the_action_waits_for_a_release_no_longer_than_a_second(t):
    """A service that never serves its release (it never waits): the
    count above hard waits for the release 1 s, then acts."""
    cg, r = _held_free(t, -1)
    hard = r.wait_event("memory.hard", 30)
    t.check(not r.events("release"), "the release was served: %r", r.events("release"))
    n = int(hard.get("why", "").split("for ")[-1].split()[0]) if "above hard for" in hard.get("why", "") else 0
    t.check(n >= 10, "memory.hard after %d samples above hard, not after the 1 s wait: %r", n, hard)
    r.wait_event("restart", 30)
    t.check(cg.oom_kill() == 0, "OOM kills: %r", cg.oom_kill())
    r.signal(signal.SIGTERM)
    rc = r.wait(30)
    t.check(rc in (0, 143), "memwarden exited %r after SIGTERM", rc)
