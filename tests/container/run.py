#!/usr/bin/env python3
"""memwarden's real-container tier: memwarden as PID 1 of podman containers.

    python3 tests/container/run.py [-k SUBSTRING]... [--list] [-v] [--keep-image]

Prepares podman and a Debian bookworm base image (tests/container/setup.sh,
cached), builds a test image FROM it holding the static build/memwarden at
/opt/memwarden/bin/memwarden as ENTRYPOINT and the test workloads, built
statically, in /opt/memwarden-test/bin; then runs each test_* function
below and prints one line per test (PASS name / FAIL name: reason /
SKIP name: reason), then

    container: N passed, N failed, N skipped

Exit status 1 when a test failed, else 0. Every test is skipped, with the
reason, when not run as root or when podman cannot run a container here
(MEMWARDEN_CONTAINER_REQUIRED=1 turns that into a failure, for CI).

Environment: MEMWARDEN_BIN (default build/memwarden, built with make when
the variable is unset; it must be statically linked).

Nothing is left behind: containers run with --rm (and a label this run
removes and checks for at the end); the test image is removed at the end
unless --keep-image (it is tagged with a hash of its contents, so a kept
image is reused by the next run while nothing changed); temporary
directories are removed. Only the base image, build/container/ and
docker/Dockerfile's two images (localhost/memwarden-docker:memwarden-HASH
and :example-HASH, built by the dockerfile_* tests with podman's layer
cache, reused while the context's hash is the same) stay.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(REPO, "build", "container")
BASE = "localhost/memwarden-test-base:bookworm"
IMAGE_REPO = "localhost/memwarden-test"
MW = "/opt/memwarden/bin/memwarden"
BIN = "/opt/memwarden-test/bin"
LABEL = "memwarden-test-run"

# The start event's `guard` when the guard is off.
GUARD_OFF = (False, None, "off", "no", "none")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = ("debug", "info", "warn", "error")
MIB64 = 64 * 1024 * 1024

verbose = False


class Failure(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def clip(text, n=1500):
    text = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return text if len(text) <= n else "...%s" % text[-n:]


def podman(args, timeout=60, **kw):
    """Runs podman ARGS (CONTAINERS_CONF is in our environment)."""
    return subprocess.run(["podman"] + args, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def parse_events(stderr):
    """memwarden's JSON lines of a stderr text, and the other lines."""
    events, other = [], []
    for line in stderr.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            other.append(line)
            continue
        if isinstance(ev, dict):
            events.append(ev)
        else:
            other.append(line)
    return events, other


class Run:
    """The outcome of one container run."""

    def __init__(self, rc, stdout, stderr, elapsed):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.events, self.other = parse_events(stderr)

    def event(self, name):
        for ev in self.events:
            if ev.get("event") == name:
                return ev
        raise Failure("no %r event in memwarden's log:\n%s" % (name, clip(self.stderr)))

    def names(self):
        return [ev.get("event") for ev in self.events]


class Ctx:
    """One test's context: unique container names, temp dirs, cleanup."""

    def __init__(self, tier, name):
        self.tier = tier
        self.test = name
        self.names = []
        self.dirs = []
        self.procs = []
        self.notes = []

    def name(self):
        n = "mwt-%d-%s-%d" % (os.getpid(), self.test.replace("_", "-"), len(self.names))
        self.names.append(n)
        return n

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="mwt-")
        os.chmod(d, 0o777)
        self.dirs.append(d)
        return d

    def run_args(self, name, opts, args, entrypoint=None, image=None):
        cmd = ["podman", "run", "--rm", "--name", name, "--network", "none",
               "--label", "%s=%s" % (LABEL, self.tier.run_id)]
        if entrypoint:
            cmd += ["--entrypoint", entrypoint]
        return cmd + list(opts) + [image or self.tier.image] + list(args)

    def run(self, args, opts=(), timeout=20, entrypoint=None, image=None):
        """podman run --rm IMAGE ARGS (ARGS go to memwarden, the
        ENTRYPOINT) in the foreground; returns a Run."""
        cmd = self.run_args(self.name(), opts, args, entrypoint, image)
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise Failure("podman run did not end within %d s: %s\nstderr:\n%s"
                          % (timeout, " ".join(cmd), clip(e.stderr or b"")))
        r = Run(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
        if verbose:
            print("  $ %s\n  -> %d in %.2f s\n%s%s" % (" ".join(cmd), r.rc, r.elapsed, p.stdout, p.stderr))
        return r

    def start(self, args, opts=(), entrypoint=None, image=None):
        """podman run --rm in the background (attached, output to pipes);
        returns (name, Popen). finish() collects it."""
        name = self.name()
        cmd = self.run_args(name, opts, args, entrypoint, image)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        p.t0 = time.monotonic()
        self.procs.append(p)
        return name, p

    def finish(self, p, timeout=30):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise Failure("the container did not end within %d s; stderr:\n%s" % (timeout, clip(err)))
        r = Run(p.returncode, out, err, time.monotonic() - p.t0)
        if verbose:
            print("  -> %d in %.2f s\n%s%s" % (r.rc, r.elapsed, out, err))
        return r

    def exec_(self, name, script, run=None, timeout=30, retry_for=15.0):
        """podman exec NAME sh -c SCRIPT, retried while the container is
        not running yet (and RUN, its podman run, has not ended). Returns
        the CompletedProcess."""
        deadline = time.monotonic() + retry_for
        while True:
            p = podman(["exec", name, "sh", "-c", script], timeout=timeout)
            if p.returncode == 0 or time.monotonic() > deadline or (run and run.poll() is not None):
                return p
            if "no such container" not in p.stderr and "not running" not in p.stderr \
                    and "can only" not in p.stderr:
                return p
            time.sleep(0.1)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        for n in self.names:
            podman(["rm", "-f", "-t", "0", n], timeout=60)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# The tests. Each takes a Ctx, raises Failure or Skip, or returns a note.


def test_pid1_exit_codes(c):
    """memwarden is PID 1 of the container; the service's exit code
    (0, 3, 42) passes through podman run; a service killed by SIGKILL gives
    137, with memwarden alive to log it."""
    notes = []
    for code in (0, 3, 42):
        r = c.run(["%s/exitwith" % BIN, str(code)])
        check(r.rc == code, "exitwith %d: podman run exited %d; stderr:\n%s" % (code, r.rc, clip(r.stderr)))
        if code == 0:
            st = r.event("start")
            check(st.get("pid") == 1 and st.get("pid1") is True,
                  "start event says pid %r, pid1 %r (want 1, true): %s" % (st.get("pid"), st.get("pid1"), st))
        ex = r.event("exit")
        check(ex.get("code") == code, "exit event for code %d says %s" % (code, ex))
        notes.append("%d→%d" % (code, r.rc))
    r = c.run(["%s/exitwith" % BIN, "-k", "9"])
    check(r.rc == 137, "service killed by SIGKILL: podman run exited %d (want 137); stderr:\n%s" % (r.rc, clip(r.stderr)))
    ex = r.event("exit")
    check(ex.get("signal") in (9, "KILL", "SIGKILL"),
          "the exit event does not name SIGKILL (memwarden must have logged the kill itself): %s" % ex)
    notes.append("SIGKILL→137")
    return ", ".join(notes)


def test_json_logs(c):
    """Every line memwarden writes to the container's stderr is JSON with
    time/level/event/msg/service, both on podman run's stderr and in
    podman logs; the service's stdout stays on stdout."""
    script = "echo service-says-hello; exit 0"
    # Foreground: podman run's own stderr.
    r = c.run(["sh", "-c", script])
    check(r.rc == 0, "podman run exited %d; stderr:\n%s" % (r.rc, clip(r.stderr)))
    check("service-says-hello" in r.stdout, "the service's stdout line is not on stdout: %r" % r.stdout)
    _check_json_lines("podman run stderr", r.stderr, "sh")
    # Detached: podman logs.
    name = c.name()
    cmd = c.run_args(name, [], ["sh", "-c", script])
    cmd.remove("--rm")
    p = subprocess.run(cmd[:2] + ["-d"] + cmd[2:], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "podman run -d failed: %s" % p.stderr)
    w = podman(["wait", name])
    check(w.stdout.strip() == "0", "podman wait says %r: %s" % (w.stdout, w.stderr))
    lg = podman(["logs", name])
    check(lg.returncode == 0, "podman logs failed: %s" % lg.stderr)
    check("service-says-hello" in lg.stdout and "service-says-hello" not in lg.stderr,
          "podman logs: the service line is not on stdout only (stdout %r)" % lg.stdout)
    n = _check_json_lines("podman logs stderr", lg.stderr, "sh")
    return "%d JSON lines in podman logs" % n


def _check_json_lines(where, stderr, service, want=("start", "spawn", "exit")):
    lines = [line for line in stderr.splitlines() if line.strip()]
    check(lines, "%s: no lines at all" % where)
    seen = []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            raise Failure("%s: a line is not JSON: %r" % (where, line))
        check(isinstance(ev, dict), "%s: not a JSON object: %r" % (where, line))
        for key in ("time", "level", "event", "msg", "service"):
            check(key in ev, "%s: no %r in %r" % (where, key, line))
        check(TIME_RE.match(str(ev["time"])), "%s: time %r is not RFC 3339 UTC with ms" % (where, ev["time"]))
        check(ev["level"] in LEVELS, "%s: level %r" % (where, ev["level"]))
        check(ev["service"] == service, "%s: service %r, want %r" % (where, ev["service"], service))
        seen.append(ev["event"])
    for w in want:
        check(w in seen, "%s: no %r event among %s" % (where, w, seen))
    return len(lines)


def test_stop_grace(c):
    """podman stop -t 10 on a service that drains for 1 s on SIGTERM:
    memwarden forwards the shutdown, the service finishes its drain, the
    container exits with the service's status 0 well within the grace
    period (not 137)."""
    d = c.tmpdir()
    name, p = c.start(["%s/slowdrain" % BIN, "/out/marker", "1000", "0"], opts=["-v", "%s:/out" % d])
    deadline = time.monotonic() + 15
    while not os.path.exists(os.path.join(d, "marker.ready")):
        if p.poll() is not None or time.monotonic() > deadline:
            r = c.finish(p)
            raise Failure("the service never became ready (rc %s); stderr:\n%s" % (r.rc, clip(r.stderr)))
        time.sleep(0.02)
    t0 = time.monotonic()
    s = podman(["stop", "-t", "10", name], timeout=30)
    t_stop = time.monotonic() - t0
    r = c.finish(p)
    t_exit = time.monotonic() - t0
    check(r.rc == 0, "podman run exited %d (want the service's 0; 137 means killed at the grace "
          "period's end); podman stop: %s; stderr:\n%s" % (r.rc, s.stderr.strip(), clip(r.stderr)))
    check(s.returncode == 0, "podman stop exited %d: %s" % (s.returncode, s.stderr))
    marker = os.path.join(d, "marker")
    check(os.path.exists(marker), "the service wrote no marker: it never finished draining")
    with open(marker) as f:
        signo, drained = (int(x) for x in f.read().split())
    check(signo == signal.SIGTERM, "the service got signal %d, want SIGTERM" % signo)
    check(drained >= 1000, "the service drained for %d ms only" % drained)
    check("slowdrain: drained" in r.stdout, "the service's last line is missing from stdout: %r" % r.stdout)
    check(t_exit < 9.0, "the container took %.1f s to stop (grace period 10 s)" % t_exit)
    check(t_exit >= 1.0, "the container stopped in %.2f s, before the service's 1 s drain" % t_exit)
    names = r.names()
    check("exit" in names, "memwarden logged no exit event: %s" % names)
    return "stopped in %.2f s (podman stop %.2f s), drained %d ms, status 0" % (t_exit, t_stop, drained)


ORPHANS_SCRIPT = r"""
i=0
while [ ! -e /tmp/spawned ]; do
    sleep 0.05; i=$((i + 1)); [ $i -gt 300 ] && { echo "no /tmp/spawned" >&2; exit 3; }
done
sleep 0.7
echo PIDS; cat /tmp/pids
echo STAT
for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done
"""
STAT_RE = re.compile(r"^(\d+) \((.*)\) (\S)")


def _orphans_look(c, name, p):
    """Waits for the orphans workload in container NAME, then returns
    (orphan pids, {pid: (comm, state)}) as seen inside while it runs."""
    e = c.exec_(name, ORPHANS_SCRIPT, run=p)
    if e.returncode != 0:
        r = c.finish(p, timeout=5) if p.poll() is not None else None
        raise Failure("podman exec failed (%d): %s%s" % (e.returncode, e.stderr,
                      "" if r is None else "\ncontainer stderr:\n" + clip(r.stderr)))
    part = e.stdout.split("STAT\n", 1)
    check(len(part) == 2, "podman exec printed no process table: %r" % e.stdout)
    pids = [int(x) for x in part[0].replace("PIDS\n", "").split()]
    procs = {}
    for line in part[1].splitlines():
        m = STAT_RE.match(line)
        if m:
            procs[int(m.group(1))] = (m.group(2), m.group(3))
    podman(["exec", name, "touch", "/tmp/stop"])
    return pids, procs


def test_orphans_reaped(c):
    """A service leaves 5 orphans that exit after 100 ms: inside the running
    container no process is a zombie and the orphans are gone (reaped by
    memwarden, PID 1). Control: with the workload itself as PID 1 (no
    memwarden) the same look finds the zombies."""
    args = ["/tmp", "5", "100", "60000"]
    name, p = c.start(["%s/orphans" % BIN] + args)
    pids, procs = _orphans_look(c, name, p)
    r = c.finish(p)
    check(r.rc == 0, "podman run exited %d; stderr:\n%s" % (r.rc, clip(r.stderr)))
    check(len(pids) == 5, "the workload reported %d orphans, want 5: %s" % (len(pids), pids))
    check(procs.get(1, ("", ""))[0] == "memwarden", "PID 1 is %r, not memwarden" % (procs.get(1),))
    zombies = {pid: v for pid, v in procs.items() if v[1] == "Z"}
    check(not zombies, "zombies in the container while memwarden runs: %s" % zombies)
    left = [pid for pid in pids if pid in procs]
    check(not left, "orphans still in the process table: %s" % {q: procs[q] for q in left})

    # Control: the same workload as PID 1 reaps only its own children.
    # (--entrypoint replaces memwarden; the arguments are then orphans' own)
    name, p = c.start(args[:3] + ["20000"], entrypoint="%s/orphans" % BIN)
    cpids, cprocs = _orphans_look(c, name, p)
    c.finish(p)
    czombies = [q for q in cpids if cprocs.get(q, ("", ""))[1] == "Z"]
    check(czombies, "control without memwarden shows no zombie (the check cannot see them): %s" % cprocs)
    return "%d orphans reaped; control without memwarden: %d zombies" % (len(pids), len(czombies))


def _start_event(c, opts):
    r = c.run(["%s/exitwith" % BIN, "0"], opts=opts)
    check(r.rc == 0, "podman run %s exited %d; stderr:\n%s" % (" ".join(opts), r.rc, clip(r.stderr)))
    return r, r.event("start")


def _fields(st):
    keys = ("cgroup", "cgroup_path", "hybrid", "writable", "limit", "guard", "guard_reason", "notify")
    return ", ".join("%s=%s" % (k, json.dumps(st.get(k))) for k in keys if k in st) or "(none of the sensing fields)"


def test_limit_discovery(c):
    """podman run --memory 64m: memwarden, PID 1, finds its limit through
    the read-only cgroup v1 mount: start event limit 67108864, cgroup "v1",
    writable false, the guard on."""
    r, st = _start_event(c, ["--memory", "64m"])
    f = _fields(st)
    check(st.get("cgroup") == "v1", "start event cgroup %r, want \"v1\" [%s]" % (st.get("cgroup"), f))
    check(st.get("limit") == MIB64, "start event limit %r, want %d [%s]" % (st.get("limit"), MIB64, f))
    check(st.get("writable") is False, "start event writable %r, want false [%s]" % (st.get("writable"), f))
    check(isinstance(st.get("cgroup_path"), str) and st.get("cgroup_path"),
          "start event has no cgroup_path [%s]" % f)
    check(st.get("guard") not in GUARD_OFF, "the guard is off with a 64m limit [%s]" % f)
    return f


def test_limit_discovery_writable(c):
    """Control for writable: with --privileged the cgroup mount is
    read-write inside, and the start event says writable true (so the
    false of the previous test is sensed, not assumed)."""
    r, st = _start_event(c, ["--memory", "64m", "--privileged"])
    f = _fields(st)
    check(st.get("limit") == MIB64, "start event limit %r, want %d [%s]" % (st.get("limit"), MIB64, f))
    check(st.get("writable") is True, "start event writable %r, want true [%s]" % (st.get("writable"), f))
    return f


def test_no_limit_guard_off(c):
    """Without --memory there is no limit: the guard is off, with a reason
    in the start event, and the service runs as before."""
    r, st = _start_event(c, [])
    f = _fields(st)
    check(st.get("guard") in GUARD_OFF, "the guard is %r without a limit [%s]" % (st.get("guard"), f))
    reason = st.get("guard_reason")
    check(isinstance(reason, str) and reason.strip(), "no guard_reason [%s]" % f)
    check("sensing is not in this version" not in reason,
          "guard_reason is still the placeholder of the build without sensing: %r" % reason)
    warns = [ev for ev in r.events if ev.get("level") == "warn"]
    return "guard %s: %s (%d warning line%s)" % (json.dumps(st.get("guard")), reason, len(warns),
                                                   "" if len(warns) == 1 else "s")


def test_oom_kill(c):
    """--memory 64m and a service allocating 200 MB: the kernel OOM-kills
    the service, not memwarden: memwarden logs the service's death by
    SIGKILL and oom.kill (a dead PID 1 could log neither) and, with
    max_restarts 0 (no restart), exits 137."""
    r = c.run(["-s", "service.max_restarts=0", "--", "%s/hog" % BIN, "200"],
              opts=["--memory", "64m"], timeout=30)
    check("hog: done" not in r.stdout, "the service allocated 200 MB under a 64 MB limit: no limit applied")
    names = r.names()
    check("oom.kill" in names, "no oom.kill event (events: %s); rc %d; stderr:\n%s" % (names, r.rc, clip(r.stderr)))
    spawn, ex, ev = r.event("spawn"), r.event("exit"), r.event("oom.kill")
    check(ex.get("pid") == spawn.get("pid") and ex.get("signal") in (9, "KILL", "SIGKILL"),
          "memwarden did not log its service (pid %s) killed by SIGKILL: %s" % (spawn.get("pid"), ex))
    check(r.rc == 137, "podman run exited %d, want 137 (events: %s); stderr:\n%s" % (r.rc, names, clip(r.stderr)))
    extra = {k: v for k, v in ev.items() if k not in ("time", "level", "event", "msg", "service", "last_samples")}
    return "oom.kill %s, %d last samples; events %s" % (json.dumps(extra), len(ev.get("last_samples") or []), names)


class _Follow:
    """Collects the lines of a running podman run's stdout and stderr (a
    thread each), so a test can wait for memwarden's events while the
    container runs."""

    def __init__(self, p):
        import threading
        self.p = p
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(f, into), daemon=True)
                        for f, into in ((p.stdout, self.out), (p.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(f, into):
        for line in f:
            into.append(line)

    def events(self, name):
        return [ev for ev in parse_events("".join(self.err))[0] if ev.get("event") == name]

    def wait_events(self, name, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.events(name)) < n:
            if self.p.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def finish(self, timeout=30):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise Failure("the container did not end within %d s; stderr:\n%s"
                          % (timeout, clip("".join(self.err))))
        for t in self.threads:
            t.join(10)
        r = Run(self.p.returncode, "".join(self.out), "".join(self.err),
                time.monotonic() - self.p.t0)
        if verbose:
            print("  -> %d in %.2f s\n%s%s" % (r.rc, r.elapsed, r.stdout, r.stderr))
        return r


# Memory restarts back off like exit restarts; the test wants several in a
# row, so the back-off stays short and the give-up far away.
RESTART_OPTS = ["-s", "service.max_restarts=100", "-s", "service.restart_backoff=100ms",
                "-s", "service.restart_backoff_max=200ms"]
RESTARTS = 3


def test_leak_restart_in_container(c):
    """--memory 256m (the cgroup read-only inside, as in Kubernetes),
    memwarden as PID 1 running a service that leaks 50 MB/s from 100 MB:
    memwarden restarts it gracefully at the hard threshold (90 %) 3 times
    in a row, the kernel never OOM-kills (no oom.kill, the cgroup's
    oom_kill counter 0, peak usage below the limit), every instance
    finishes its work on SIGTERM (one marker line each), and podman stop
    then ends the container with 0."""
    d = c.tmpdir()
    name, p = c.start(RESTART_OPTS + ["--", "%s/leaker" % BIN, "--rate", "50", "--base-mb", "100",
                                      "--marker", "/out/marker", "--max-mb", "1024"],
                      opts=["--memory", "256m", "-v", "%s:/out" % d])
    f = _Follow(p)
    # About 3 s a cycle natively ((230 - 100) / 50 MB/s, plus the stop).
    got = f.wait_events("restart", RESTARTS, 90)
    look = c.exec_(name, "cat /sys/fs/cgroup/memory/memory.oom_control "
                   "/sys/fs/cgroup/memory/memory.max_usage_in_bytes "
                   "/sys/fs/cgroup/memory/memory.limit_in_bytes", run=p)
    t0 = time.monotonic()
    s = podman(["stop", "-t", "10", name], timeout=30)
    r = f.finish()
    t_stop = time.monotonic() - t0
    restarts = [ev for ev in r.events if ev.get("event") == "restart"]
    check(got and len(restarts) >= RESTARTS, "%d restart events within 90 s, want %d (rc %s; "
          "events %s); stderr:\n%s" % (len(restarts), RESTARTS, r.rc, r.names(), clip(r.stderr)))
    reasons = [ev.get("reason") for ev in restarts]
    check(all(x == "memory" for x in reasons), "restart reasons %s, want all \"memory\"" % reasons)
    figures = [(ev.get("graceful"), ev.get("oom_killed"), ev.get("percent")) for ev in restarts]
    check(all(ev.get("graceful") is True for ev in restarts),
          "not every restart was graceful (graceful, oom_killed, percent): %s" % figures)
    hard = [ev for ev in r.events if ev.get("event") == "memory.hard"]
    check(len(hard) >= len(restarts), "%d memory.hard events for %d restarts" % (len(hard), len(restarts)))
    check("oom.kill" not in r.names(), "oom.kill logged: %s" %
          [ev for ev in r.events if ev.get("event") == "oom.kill"])
    check(look.returncode == 0, "podman exec cat of the cgroup files failed: %s" % look.stderr)
    m = re.search(r"^oom_kill (\d+)$", look.stdout, re.M)
    nums = [int(x) for x in re.findall(r"^(\d+)$", look.stdout, re.M)]
    check(m and len(nums) == 2, "memory.oom_control etc. unreadable: %r" % look.stdout)
    check(int(m.group(1)) == 0, "the kernel OOM-killed in the container: %r" % look.stdout)
    peak, limit = nums
    check(limit == 256 * 1024 * 1024 and peak < limit,
          "peak usage %d is not below the limit %d" % (peak, limit))
    check(s.returncode == 0, "podman stop exited %d: %s" % (s.returncode, s.stderr))
    check(r.rc == 0, "podman run exited %d after podman stop, want 0; stderr:\n%s" % (r.rc, clip(r.stderr)))
    marker = os.path.join(d, "marker")
    lines = open(marker).read().splitlines() if os.path.exists(marker) else []
    check(all(x.startswith("graceful ") for x in lines), "marker: %r" % lines)
    check(len(lines) == len(restarts) + 1, "marker has %d lines for %d restarts + the stop: an "
          "instance did not finish its work: %r" % (len(lines), len(restarts), lines))
    return "%d restarts at %s %%, restart_ms %s; peak %.1f MB; stopped in %.2f s" % (
        len(restarts), [round(ev.get("percent", 0), 1) for ev in restarts],
        [ev.get("restart_ms") for ev in restarts], peak / 1048576.0, t_stop)


# --------------------------------------------------------------------------
# docker/Dockerfile, built unmodified with podman (offline: --pull=never, the
# base image tagged debian:bookworm by setup.sh; RUN steps reach Debian's
# mirror), and its example service run as users would run it.

EXAMPLE_MW = "/opt/memwarden/bin/memwarden"
EXAMPLE_CMD = [EXAMPLE_MW, "--", "python3", "/app/service.py"]
IMAGE_FILES = ["opt/memwarden/bin/memwarden", "opt/memwarden/lib/libjemalloc.so.2",
               "opt/memwarden/lib/memwarden-agent.so"]
MIB = 1024 * 1024


def test_dockerfile_build(c):
    """podman build -f docker/Dockerfile --target memwarden (then
    --target example) from the repository's root, unmodified, offline
    (--pull=never, FROM debian:bookworm being setup.sh's debootstrap base;
    apt-get in RUN reaches Debian's mirror). Both images are kept, tagged
    with a hash of the context, and reused while nothing changed."""
    d = c.tier.docker_images()
    return "%s; %s" % (d["how"], ", ".join("%s %s" % (k, d[k]) for k in ("memwarden", "example")))


def test_dockerfile_image_files(c):
    """The memwarden image (FROM scratch) holds exactly the image layout's
    three files: /opt/memwarden/bin/memwarden (static, runs alone in the
    image: --version), lib/libjemalloc.so.2 and lib/memwarden-agent.so
    (ELF shared objects). A Dockerfile written as docker/README.md says
    (FROM debian:bookworm-slim, COPY --from=the image /opt/memwarden) gets
    a memwarden that preloads both from /opt/memwarden/lib."""
    d = c.tier.docker_images()
    img = d["memwarden"]
    m = podman(["image", "mount", img])
    check(m.returncode == 0, "podman image mount failed: %s" % m.stderr)
    root = m.stdout.strip()
    try:
        files, dirs = [], []
        for top, dnames, fnames in os.walk(root):
            rel = os.path.relpath(top, root)
            dirs += [os.path.normpath(os.path.join(rel, x)) for x in dnames]
            files += [os.path.normpath(os.path.join(rel, x)) for x in fnames]
        check(sorted(files) == sorted(IMAGE_FILES),
              "the memwarden image holds %s, want exactly %s" % (sorted(files), IMAGE_FILES))
        check(sorted(dirs) == ["opt", "opt/memwarden", "opt/memwarden/bin", "opt/memwarden/lib"],
              "the memwarden image's directories: %s" % sorted(dirs))
        mw = os.path.join(root, IMAGE_FILES[0])
        check(os.access(mw, os.X_OK) and is_static(mw), "bin/memwarden is not a static executable")
        for so in IMAGE_FILES[1:]:
            with open(os.path.join(root, so), "rb") as f:
                h = f.read(18)
            check(h[:4] == b"\x7fELF" and h[16] == 3, "%s is not an ELF shared object" % so)
        sizes = {os.path.basename(x): os.path.getsize(os.path.join(root, x)) for x in IMAGE_FILES}
    finally:
        podman(["image", "unmount", img])
    r = c.run(["--version"], image=img)
    check(r.rc == 0 and r.stdout.startswith("memwarden "),
          "podman run IMAGE --version: rc %d, %r %r" % (r.rc, r.stdout, r.stderr))

    # The README's recipe, in a Dockerfile of one's own.
    ctx = c.tmpdir()
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM debian:bookworm-slim\n"
                "COPY --from=%s /opt/memwarden /opt/memwarden\n"
                "ENTRYPOINT [\"/opt/memwarden/bin/memwarden\", \"--\"]\n"
                "CMD [\"sh\", \"-c\", \"grep -o '/opt/memwarden/lib/[^ ]*' /proc/self/maps | sort -u\"]\n"
                % img)
    own = "%s:own-%s" % (DOCKER_REPO, c.tier.run_id)
    b = podman(["build", "--pull=never", "--layers=false", "--network", "none", "-t", own, ctx],
               timeout=120)
    try:
        check(b.returncode == 0, "a Dockerfile with COPY --from=%s did not build:\n%s" % (img, clip(b.stderr)))
        r = c.run([], image=own)
    finally:
        podman(["rmi", "-f", own])
    check(r.rc == 0, "the own image's container exited %d; stderr:\n%s" % (r.rc, clip(r.stderr)))
    mapped = r.stdout.split()
    check(mapped == ["/opt/memwarden/lib/libjemalloc.so.2", "/opt/memwarden/lib/memwarden-agent.so"],
          "in an image of one's own the service maps %s from /opt/memwarden/lib" % mapped)
    return "3 files (%s); COPY --from into debian:bookworm-slim: jemalloc and agent mapped" % ", ".join(
        "%s %d kB" % (k, v // 1024) for k, v in sorted(sizes.items()))


def _send(c, name, *lines):
    """The example's client inside the container: one answer per line."""
    e = podman(["exec", name, "python3", "/app/service.py", "send"] + list(lines), timeout=60)
    check(e.returncode == 0, "service.py send %s: rc %d, %s%s" % (lines, e.returncode, e.stdout, e.stderr))
    answers = e.stdout.splitlines()
    check(len(answers) == len(lines), "service.py send %s answered %r" % (lines, e.stdout))
    return answers


def _cgroup_dir(name):
    """The container's memory cgroup directory, seen from the host (so that
    reading it adds no process to the container's cgroup)."""
    pid = podman(["inspect", "--format", "{{.State.Pid}}", name]).stdout.strip()
    check(pid.isdigit() and pid != "0", "podman inspect gives no pid for %s: %r" % (name, pid))
    with open("/proc/%s/cgroup" % pid) as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if "memory" in parts[1].split(","):
                return "/sys/fs/cgroup/memory" + parts[2]
    raise Failure("no memory cgroup for process %s" % pid)


def _workingset(cg):
    """memory.usage_in_bytes - total_inactive_file of cgroup directory CG,
    what memwarden's default measure compares with its thresholds."""
    with open(os.path.join(cg, "memory.usage_in_bytes")) as f:
        usage = int(f.read())
    with open(os.path.join(cg, "memory.stat")) as f:
        m = re.search(r"^total_inactive_file (\d+)$", f.read(), re.M)
    return max(0, usage - (int(m.group(1)) if m else 0))


def _ready(c, name, p, timeout=20):
    """Waits until `memwarden status --ready` exits 0 in the container;
    returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        e = podman(["exec", name, EXAMPLE_MW, "status", "--ready"])
        if e.returncode == 0:
            return time.monotonic() - t0
        check(p.poll() is None, "the container ended before the service was ready")
        check(time.monotonic() - t0 < timeout, "memwarden status --ready still %d after %d s: %s"
              % (e.returncode, timeout, e.stderr.strip()))
        time.sleep(0.2)


def _grow(c, name, f, cg, target, event, timeout=60):
    """Makes the example hold memory (HOLD) until the working set reaches
    TARGET bytes and memwarden logs EVENT. Returns the MB held.

    Every podman exec adds processes to the container's cgroup for a moment
    (runc's, then the client's: about 15 MB), and the workers' churn moves
    the working set by about 8 MB. So the bulk is held at once up to 40 MB
    below TARGET, and the rest spread over 6 s by the service itself, after
    the client has gone: it is the service's own growth that crosses.

    The growth rule reads the rise over the last 2 s. Right after the bulk
    that rise is the bulk's (50 MB/s and more), and crossing soft with it
    would rightly restart at once, without the release round the test wants
    to see. So the bulk is followed by 9 s, for it to leave that window, and
    the rest comes at no more than 8 MB/s, well under the 30 MB/s that would
    reach the 256 MB limit from soft (192 MB) within the 2 s drain."""
    held = 0
    deadline = time.monotonic() + timeout
    while not f.events(event):
        check(time.monotonic() < deadline, "no %s event within %d s, %d MB held (events %s); stderr:\n%s"
              % (event, timeout, held, [e.get("event") for e in parse_events("".join(f.err))[0]],
                 clip("".join(f.err))))
        need = -(-(target - _workingset(cg)) // MIB)
        if need > 48:
            line, wait = "HOLD %d" % (need - 40), 9.0
        else:
            line, wait = "HOLD %d 6" % max(2, need), 10.0
        e = podman(["exec", name, "python3", "/app/service.py", "send", line], timeout=60)
        # A client inside the container dies with the service when
        # memwarden restarts it (as PID 1 it stops every process).
        check(e.returncode == 0 or f.wait_events(event, 1, 2.0),
              "service.py send %s: rc %d, %s%s" % (line, e.returncode, e.stdout, e.stderr))
        held += int(line.split()[1])
        f.wait_events(event, 1, wait)
    return held


def test_dockerfile_example(c):
    """The example image (docker/example: a Python WebSocket-style service,
    memwarden as ENTRYPOINT, /etc/memwarden.ini) under --memory 256m:
    memwarden is PID 1 (/proc/1/cmdline), the service and its worker
    processes map the bundled jemalloc and agent (/proc/PID/maps), memwarden's
    JSON lines reach podman logs, the start event shows the 256 MB limit
    and the guard on; `memwarden status --ready` becomes 0 (ready =
    tcp:8765); the service answers many connections; `memwarden release`
    prints one jemalloc report per process; made to hold memory, the service
    crosses soft (memory.soft, then a release round) and then hard
    (memory.hard, a graceful restart for memory, no OOM kill), and comes back
    ready with a new pid; `podman stop -t 15` ends the container within the
    grace period with the service's status 0."""
    d = c.tier.docker_images()
    name, p = c.start([], opts=["--memory", "256m"], image=d["example"])
    f = _Follow(p)
    notes = []
    t_ready = _ready(c, name, p)
    notes.append("ready in %.1f s" % t_ready)

    e = podman(["exec", name, "cat", "/proc/1/cmdline"])
    check(e.stdout.split("\0")[:-1] == EXAMPLE_CMD, "PID 1's command line is %r, want %r"
          % (e.stdout.split("\0"), EXAMPLE_CMD))

    stats = json.loads(_send(c, name, "STATS")[0])
    e = podman(["exec", name, EXAMPLE_MW, "status", "--json"])
    check(e.returncode == 0, "memwarden status --json: %d %s" % (e.returncode, e.stderr))
    state = json.loads(e.stdout)
    check(state.get("service_pid") == stats["pid"] and state.get("ready") is True,
          "the state file says service pid %r ready %r; the service says pid %r"
          % (state.get("service_pid"), state.get("ready"), stats["pid"]))
    pids = [stats["pid"]] + stats["workers"]
    check(len(pids) >= 3, "the service has %d processes, want its 2 workers too: %s" % (len(pids), stats))
    for pid in pids:
        e = podman(["exec", name, "cat", "/proc/%d/maps" % pid])
        check(e.returncode == 0, "cat /proc/%d/maps: %s" % (pid, e.stderr))
        for lib in ("/opt/memwarden/lib/libjemalloc.so.2", "/opt/memwarden/lib/memwarden-agent.so"):
            check(lib in e.stdout, "process %d does not map %s" % (pid, lib))
    check(stats.get("allocator") == "jemalloc" and stats.get("agent") is True,
          "the service says allocator %r, agent %r" % (stats.get("allocator"), stats.get("agent")))

    # memwarden's lines in podman logs: JSON, on stderr; the service's on stdout.
    lg = podman(["logs", name])
    check(lg.returncode == 0, "podman logs failed: %s" % lg.stderr)
    n = _check_json_lines("podman logs stderr", lg.stderr, "example", want=("start", "allocator", "spawn", "ready"))
    check("listening on port 8765" in lg.stdout, "the service's line is not on podman logs' stdout: %r" % lg.stdout)
    st = [ev for ev in parse_events(lg.stderr)[0] if ev.get("event") == "start"][0]
    check(st.get("limit") == 256 * MIB and st.get("guard") not in GUARD_OFF and st.get("pid") == 1
          and st.get("config") == "/etc/memwarden.ini",
          "start event: limit %r guard %r pid %r config %r, want 268435456, on, 1, /etc/memwarden.ini"
          % (st.get("limit"), st.get("guard"), st.get("pid"), st.get("config")))
    soft, hard = st.get("soft"), st.get("hard")
    check(isinstance(soft, int) and isinstance(hard, int) and soft < hard < 256 * MIB,
          "start event soft %r hard %r" % (soft, hard))
    notes.append("%d JSON lines in podman logs" % n)

    # Many connections, each keeping frames of varying sizes.
    e = podman(["exec", name, "python3", "/app/service.py", "load", "--connections", "20",
                "--seconds", "1", "--max-frame", "65536"], timeout=60)
    check(e.returncode == 0, "service.py load: rc %d %s%s" % (e.returncode, e.stdout, e.stderr))
    ld = json.loads(e.stdout)
    check(ld["server"]["connections"] >= 20 and ld["requests"] > 0 and ld["errors"] == 0,
          "load: %s" % e.stdout.strip())
    notes.append("%d requests on 20 connections" % ld["requests"])

    # memwarden release: one report per process, from jemalloc.
    e = podman(["exec", name, EXAMPLE_MW, "release"], timeout=30)
    check(e.returncode == 0, "memwarden release exited %d: %s%s" % (e.returncode, e.stdout, e.stderr))
    reports = re.findall(r"^pid (\d+): (\w+), in use", e.stdout, re.M)
    done = re.search(r"^done: (\d+) signalled, (\d+) reports", e.stdout, re.M)
    check(done and sorted(int(x) for x, _ in reports) == sorted(pids)
          and all(a == "jemalloc" for _, a in reports) and int(done.group(2)) == len(pids),
          "memwarden release printed, for processes %s:\n%s" % (pids, e.stdout))

    # The service grows past soft: memory.soft and a release round.
    cg = _cgroup_dir(name)
    held = _grow(c, name, f, cg, soft + 2 * MIB, "memory.soft")
    check(f.wait_events("release.done", 2, 10), "no release round within 10 s of memory.soft; "
          "memwarden's log:\n%s" % clip("".join(f.err), 4000))
    rounds = [ev for ev in f.events("release.done") if ev.get("reason") != "request"]
    check(rounds, "no release round for the memory above soft: %s" % f.events("release.done"))
    rel = [ev for ev in f.events("release") if ev.get("pid") in pids]
    check(all(ev.get("allocator") == "jemalloc" for ev in rel), "release reports: %s" % rel)
    notes.append("soft after HOLD %d MB, release reason %s" % (held, rounds[0].get("reason")))

    # Past hard: a graceful restart for memory, then ready again.
    if not f.events("memory.hard"):
        held += _grow(c, name, f, cg, hard + 2 * MIB, "memory.hard")
    check(f.wait_events("restart", 1, 20), "no restart within 20 s of memory.hard: %s" % f.events("memory.hard"))
    rs = f.events("restart")[0]
    check(f.events("memory.hard") and rs.get("reason") == "memory" and rs.get("graceful") is True
          and not rs.get("oom_killed"), "restart: %s; memory.hard: %s" % (rs, f.events("memory.hard")))
    check(f.wait_events("ready", 2, 20), "the service did not become ready again after the restart")
    _ready(c, name, p)
    pong = _send(c, name, "PING")[0]
    check(pong.startswith("PONG ") and int(pong.split()[1]) != stats["pid"],
          "after the restart the service answers %r (its pid was %d)" % (pong, stats["pid"]))
    with open(os.path.join(cg, "memory.oom_control")) as fo, open(os.path.join(cg, "memory.max_usage_in_bytes")) as fm:
        oom, peak = fo.read(), int(fm.read())
    check(re.search(r"^oom_kill 0$", oom, re.M), "the kernel OOM-killed in the container: %r" % oom)
    notes.append("restart at %.1f %% in %s ms, no OOM kill (peak usage %d MB)"
                 % (rs.get("percent", 0), rs.get("restart_ms"), peak // MIB))

    t0 = time.monotonic()
    s = podman(["stop", "-t", "15", name], timeout=40)
    r = f.finish()
    t_stop = time.monotonic() - t0
    check(s.returncode == 0, "podman stop exited %d: %s" % (s.returncode, s.stderr))
    check(r.rc == 0, "the container exited %d after podman stop -t 15 (want the service's 0); "
          "stderr:\n%s" % (r.rc, clip(r.stderr)))
    check(t_stop < 15, "the container took %.1f s to stop (grace period 15 s)" % t_stop)
    exits = [ev for ev in r.events if ev.get("event") == "exit"]
    check(exits and exits[-1].get("code") == 0, "the service's last exit: %s" % exits[-1:])
    check("oom.kill" not in r.names(), "oom.kill logged: %s" % [ev for ev in r.events if ev.get("event") == "oom.kill"])
    check(r.stdout.rstrip().endswith("stopped"), "the service's last line is not 'stopped': %r" % r.stdout[-300:])
    notes.append("stopped in %.1f s, status 0" % t_stop)
    return "; ".join(notes)


TESTS = [(fn.__name__[len("test_"):], fn) for fn in (
    test_pid1_exit_codes,
    test_json_logs,
    test_stop_grace,
    test_orphans_reaped,
    test_limit_discovery,
    test_limit_discovery_writable,
    test_no_limit_guard_off,
    test_oom_kill,
    test_leak_restart_in_container,
    test_dockerfile_build,
    test_dockerfile_image_files,
    test_dockerfile_example,
)]


# --------------------------------------------------------------------------
# Preparation: setup.sh, memwarden, workloads, the test image.


class Tier:
    def __init__(self, keep_image):
        self.keep_image = keep_image
        self.run_id = "%d-%d" % (os.getpid(), int(time.time()))
        self.image = None
        self.built_image = False
        self._docker = None

    def docker_images(self):
        """docker/Dockerfile's images, built once per run (the first test
        that needs them builds them; a failed build fails that test and
        makes the others skip)."""
        if self._docker is None:
            try:
                self._docker = build_docker_images()
            except (Failure, subprocess.TimeoutExpired) as e:
                self._docker = e
                raise Failure(str(e))
        if isinstance(self._docker, Exception):
            raise Skip("docker/Dockerfile did not build (see the first docker test's failure)")
        return self._docker


def setup_podman():
    """Runs setup.sh; exports CONTAINERS_CONF. Raises Skip or Failure."""
    if os.geteuid() != 0:
        raise Skip("needs root (rootful podman, debootstrap)")
    p = subprocess.run([os.path.join(HERE, "setup.sh")], capture_output=True, text=True,
                       timeout=900, stdin=subprocess.DEVNULL)
    if p.returncode == 77:
        last = (p.stderr.strip().splitlines() or ["setup.sh said nothing"])[-1]
        raise Skip(last.replace("container-setup: ", ""))
    if p.returncode != 0:
        raise Failure("tests/container/setup.sh failed (%d):\n%s" % (p.returncode, clip(p.stderr)))
    os.environ["CONTAINERS_CONF"] = p.stdout.strip().splitlines()[-1]
    r = podman(["run", "--rm", "--network", "none", BASE, "true"])
    if r.returncode != 0:
        raise Skip("podman cannot run a container here: %s" % r.stderr.strip()[-500:])


def is_static(path):
    """True when the ELF file has no PT_INTERP (no dynamic loader)."""
    with open(path, "rb") as f:
        h = f.read(64)
        if h[:4] != b"\x7fELF" or h[4] != 2:
            return False
        phoff = int.from_bytes(h[32:40], "little")
        phentsize = int.from_bytes(h[54:56], "little")
        phnum = int.from_bytes(h[56:58], "little")
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        if int.from_bytes(ph[i * phentsize:i * phentsize + 4], "little") == 3:  # PT_INTERP
            return False
    return True


def memwarden_binary():
    env = os.environ.get("MEMWARDEN_BIN")
    if not env:
        p = subprocess.run(["make", "-s", "build/memwarden"], cwd=REPO, capture_output=True, text=True)
        if p.returncode != 0:
            raise Failure("make build/memwarden failed:\n%s%s" % (p.stdout, clip(p.stderr)))
    path = os.path.abspath(os.path.join(REPO, env or "build/memwarden"))
    if not os.path.exists(path):
        raise Failure("no memwarden binary at %s" % path)
    if not is_static(path):
        raise Failure("%s is dynamically linked; the container test image needs a static binary" % path)
    return path


def build_workloads():
    """Builds every workload statically (gcc -static) into
    build/container/workloads, when its source is newer. Returns the paths."""
    out = os.path.join(BUILD, "workloads")
    os.makedirs(out, exist_ok=True)
    srcs = {}
    for d in (os.path.join(REPO, "tests", "workloads"), os.path.join(HERE, "workloads")):
        if os.path.isdir(d):
            for fn in sorted(os.listdir(d)):
                if fn.endswith(".c"):
                    srcs[fn[:-2]] = os.path.join(d, fn)
    bins = []
    for name, src in sorted(srcs.items()):
        dst = os.path.join(out, name)
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            cmd = ["gcc", "-static", "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror",
                   "-D_GNU_SOURCE", "-pthread", "-o", dst + ".tmp", src]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise Failure("building workload %s failed:\n%s" % (name, clip(p.stderr)))
            os.rename(dst + ".tmp", dst)
        bins.append(dst)
    return bins


CONTAINERFILE = """\
FROM %s
COPY memwarden /opt/memwarden/bin/memwarden
COPY workloads/ /opt/memwarden-test/bin/
ENTRYPOINT ["/opt/memwarden/bin/memwarden"]
"""


def build_image(tier, mw, workloads):
    """Builds the test image, tagged by a hash of its contents; reuses it
    when it exists; removes stale test images of other hashes."""
    h = hashlib.sha256()
    cf = CONTAINERFILE % BASE
    h.update(cf.encode())
    base_id = podman(["image", "inspect", "--format", "{{.Id}}", BASE]).stdout.strip()
    h.update(base_id.encode())
    for path in [mw] + workloads:
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    tag = "%s:%s" % (IMAGE_REPO, h.hexdigest()[:16])
    tier.image = tag
    old = podman(["images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO]).stdout.split()
    for o in old:
        if o != tag:
            podman(["rmi", "-f", o])
    if podman(["image", "exists", tag]).returncode == 0:
        return "reused"
    ctx = tempfile.mkdtemp(prefix="mwt-ctx-")
    try:
        shutil.copy2(mw, os.path.join(ctx, "memwarden"))
        os.mkdir(os.path.join(ctx, "workloads"))
        for w in workloads:
            shutil.copy2(w, os.path.join(ctx, "workloads", os.path.basename(w)))
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write(cf)
        p = podman(["build", "--pull=never", "--layers=false", "--network", "none",
                    "-t", tag, "-f", os.path.join(ctx, "Containerfile"), ctx], timeout=300)
        if p.returncode != 0:
            raise Failure("podman build of the test image failed:\n%s%s" % (clip(p.stdout), clip(p.stderr)))
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    tier.built_image = True
    return "built"


DOCKER_REPO = "localhost/memwarden-docker"
DOCKERFILE = os.path.join(REPO, "docker", "Dockerfile")


def docker_context_hash():
    """A hash of what docker/Dockerfile's build uses: the Dockerfile, its
    ignore file and the paths that file lets into the context (its `!`
    lines), every file's path and content."""
    ignore = DOCKERFILE + ".dockerignore"
    h = hashlib.sha256()
    paths = [DOCKERFILE, ignore]
    with open(ignore) as f:
        allowed = [line.strip()[1:].strip("/") for line in f if line.strip().startswith("!")]
    for a in allowed:
        top = os.path.join(REPO, a)
        if os.path.isfile(top):
            paths.append(top)
        for root, dnames, fnames in os.walk(top):
            dnames[:] = sorted(x for x in dnames if x != "__pycache__")
            paths += [os.path.join(root, x) for x in sorted(fnames) if not x.endswith(".pyc")]
    for path in paths:
        h.update(os.path.relpath(path, REPO).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def build_docker_images():
    """Builds docker/Dockerfile's memwarden and example targets, unmodified,
    as docker/README.md says (from the repository's root, --pull=never),
    tagged localhost/memwarden-docker:memwarden-HASH and :example-HASH
    where HASH covers the context and the base image. Kept between runs
    (with podman's layer cache, so a change of the sources reruns only the
    COPY and make steps); stale tags are removed. Returns a dict."""
    base_id = podman(["image", "inspect", "--format", "{{.Id}}", "docker.io/library/debian:bookworm"]).stdout.strip()
    check(base_id, "no debian:bookworm image (tests/container/setup.sh tags it)")
    h = hashlib.sha256((docker_context_hash() + base_id).encode()).hexdigest()[:16]
    tags = {t: "%s:%s-%s" % (DOCKER_REPO, t, h) for t in ("memwarden", "example")}
    for old in podman(["images", "--format", "{{.Repository}}:{{.Tag}}", DOCKER_REPO]).stdout.split():
        if old not in tags.values() and ":own-" not in old:
            podman(["rmi", "-f", old])
    t0 = time.monotonic()
    how = []
    for target, tag in tags.items():
        if podman(["image", "exists", tag]).returncode == 0:
            how.append("%s reused" % target)
            continue
        t1 = time.monotonic()
        p = subprocess.run(["podman", "build", "--pull=never", "-f", "docker/Dockerfile",
                            "--target", target, "-t", tag, "."], cwd=REPO, capture_output=True,
                           text=True, timeout=1200, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise Failure("podman build -f docker/Dockerfile --target %s failed (%d):\n%s"
                          % (target, p.returncode, clip(p.stdout + p.stderr, 3000)))
        how.append("%s built in %.0f s" % (target, time.monotonic() - t1))
    tags["how"] = ", ".join(how) + " (%.1f s)" % (time.monotonic() - t0)
    return tags


def teardown(tier):
    """Removes this run's containers (there should be none) and, unless
    kept, the test image. Returns a failure message or None."""
    msg = None
    ps = podman(["ps", "-a", "--filter", "label=%s=%s" % (LABEL, tier.run_id), "--format", "{{.Names}}"])
    left = ps.stdout.split()
    if left:
        msg = "containers left behind: %s" % left
        podman(["rm", "-f", "-t", "0"] + left)
    if tier.image and not tier.keep_image:
        podman(["rmi", "-f", tier.image])
    return msg


# --------------------------------------------------------------------------


def main():
    global verbose
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true", help="print every podman run and its output")
    ap.add_argument("--keep-image", action="store_true", help="keep the test image for the next run")
    a = ap.parse_args()
    verbose = a.v
    tests = [(n, fn) for n, fn in TESTS if not a.k or any(k in n for k in a.k)]
    if a.list:
        for n, fn in tests:
            print("%s: %s" % (n, " ".join(fn.__doc__.split())))
        return 0
    sys.stdout.reconfigure(line_buffering=True)
    passed = failed = skipped = 0
    tier = Tier(a.keep_image)
    t_start = time.monotonic()

    def on_term(signo, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    # conmon writes a file named "oom" into podman's working directory when
    # a container's process is OOM-killed (conmon 2.1.6): podman runs in a
    # directory of our own, removed at the end, never in the repository.
    workdir = tempfile.mkdtemp(prefix="mwt-cwd-")
    os.chdir(workdir)
    try:
        try:
            setup_podman()
            mw = memwarden_binary()
            wl = build_workloads()
            how = build_image(tier, mw, wl)
            print("container: image %s (%s), memwarden %s, prepared in %.1f s"
                  % (tier.image, how, os.path.relpath(mw, REPO), time.monotonic() - t_start))
        except Skip as e:
            if os.environ.get("MEMWARDEN_CONTAINER_REQUIRED") == "1":
                print("FAIL setup: %s (MEMWARDEN_CONTAINER_REQUIRED=1)" % e)
                failed += 1
            else:
                for n, _ in tests:
                    print("SKIP %s: %s" % (n, e))
                    skipped += 1
            tests = []
        except (Failure, subprocess.TimeoutExpired) as e:
            print("FAIL setup: %s" % e)
            failed += 1
            for n, _ in tests:
                print("SKIP %s: setup failed" % n)
                skipped += 1
            tests = []
        for n, fn in tests:
            c = Ctx(tier, n)
            t0 = time.monotonic()
            try:
                note = fn(c)
                print("PASS %s (%.1f s)%s" % (n, time.monotonic() - t0, ": " + note if note else ""))
                passed += 1
            except Skip as e:
                print("SKIP %s: %s" % (n, e))
                skipped += 1
            except Failure as e:
                print("FAIL %s: %s" % (n, e))
                failed += 1
            except subprocess.TimeoutExpired as e:
                print("FAIL %s: timed out: %s" % (n, e))
                failed += 1
            except Exception:
                print("FAIL %s: internal error\n%s" % (n, traceback.format_exc()))
                failed += 1
            finally:
                c.cleanup()
    except KeyboardInterrupt:
        print("FAIL interrupted")
        failed += 1
    finally:
        if tier.image:
            msg = teardown(tier)
            if msg:
                print("FAIL cleanup: %s" % msg)
                failed += 1
        os.chdir(REPO)
        shutil.rmtree(workdir, ignore_errors=True)
    print("container: %d passed, %d failed, %d skipped (%.1f s)"
          % (passed, failed, skipped, time.monotonic() - t_start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
