"""Fault injection (issue 7): what memwarden reads or writes goes away or
fills up while it runs — it logs once, degrades, and carries on; it exits
only by design (here: the SIGTERM at the end)."""

import json
import shutil
import os
import signal
import subprocess
import sys
import time

from lib import needs_root, read_file, timeout, wait_for
from test_memory import MB, V1_ROOT, V1Cgroup


def _warnings(r, event):
    return [e for e in r.events(event) if e.get("level") in ("warn", "error")]


@needs_root
def test_state_directory_full(t):
    """The state file's file system is full: one warning, the service runs,
    memwarden shuts down cleanly."""
    d = t.path("full")
    os.mkdir(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", d], check=True)
    t.defer(lambda: subprocess.run(["umount", "-l", d]))
    with open(os.path.join(d, "filler"), "wb") as f:
        try:
            f.write(b"x" * 65536)
        except OSError:
            pass
    r = t.mw("-s", "status.state_file=%s/mw.json" % d, "-s", "log.memory_interval=0", "--",
             t.workload("memhog"), "--grow", "1")
    r.wait_event("spawn")
    time.sleep(1.5)
    t.check(r.running(), "memwarden ended:\n%s" % r.stderr_tail())
    warns = _warnings(r, "state")
    t.check(len(warns) == 1, "state warnings: %r", warns)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_cgroup_removed_while_running(t):
    """The memory cgroup memwarden samples disappears (its processes moved
    out, the directory removed): reads fail, one warning, the service and
    memwarden carry on."""
    cg = V1Cgroup(t, 256 * MB)
    r = t.mw("-s", "memory.interval=100ms", "--", t.workload("memhog"), "--grow", "4",
             preexec_fn=cg.enter)
    r.wait_event("memory")
    # Every process of the cgroup to the root cgroup, then remove it.
    for pid in read_file(os.path.join(cg.dir, "cgroup.procs"), "").split():
        try:
            with open(os.path.join(V1_ROOT, "cgroup.procs"), "w") as f:
                f.write(pid)
        except OSError:
            pass
    wait_for(lambda: not read_file(os.path.join(cg.dir, "cgroup.procs"), "").strip(), 10, "the cgroup to empty")
    os.rmdir(cg.dir)
    time.sleep(1.5)
    t.check(r.running(), "memwarden ended when its cgroup went away:\n%s" % r.stderr_tail())
    warns = _warnings(r, "memory")
    t.check(1 <= len([w for w in warns if "cannot read" in w.get("msg", "")]) <= 2,
            "warnings for the vanished cgroup: %r", warns)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_agent_report_that_never_comes(t):
    """A process whose agent cannot answer (a program that never waits: the
    release is deferred to its next wait, which never comes): the round
    ends after its wait with a warning, memwarden carries on, and the
    client says none answered."""
    busy = t.write("busy.py", "import signal, sys\n"
                   "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                   "open(sys.argv[1], 'w').close()\n"
                   "while True:\n    pass\n")
    ready = t.path("ready")
    r = t.mw("--", sys.executable, busy, ready)
    wait_for(lambda: os.path.exists(ready), 20, "the busy service")
    state = t.path("state0.json")
    wait_for(lambda: json.loads(read_file(state, "{}")).get("socket"), 20, "the socket in the state file")
    rc, out, err = t.run_plain(["release", "--state", state], timeout_s=40)
    t.check(rc == 1, "release exited %d:\n%s%s", rc, out, err)
    done = r.wait_event("release.done", 20)
    t.check(done["signalled"] == 1 and done["reports"] == 0 and done["level"] == "warn",
            "release.done: %r", done)
    t.check(r.running(), "memwarden ended:\n%s" % r.stderr_tail())
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


# The syscalls memwarden retries after EINTR (its loop, signalfd, timerfd,
# cgroup and /proc files, the log, the state file, the notify socket, the
# reaper). strace's inject turns every second call of each into -1 EINTR
# without running it, as a signal arriving at the wrong moment would.
RETRIED = "read,pread64,write,writev,epoll_wait,epoll_pwait,wait4,waitid,recvmsg,recvfrom,sendmsg,sendto"
# Where EAGAIN is real: reads and sends on memwarden's non-blocking fds
# (signalfd, timerfd, the exec-error pipe, the notify socket).
NONBLOCKING = "read,recvmsg,recvfrom,sendmsg,sendto"


def _strace_counts(path):
    """{syscall: (calls, errors)} from strace -c's table."""
    out = {}
    for line in read_file(path, "").splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1].isidentifier() and f[3].isdigit():
            errors = int(f[4]) if len(f) == 6 and f[4].isdigit() else 0
            out[f[-1]] = (int(f[3]), errors)
    return out


def _under_injection(t, inject, expect_no_warnings):
    """memwarden restarting a short-lived service, sampling a real memory
    cgroup every 100 ms, writing its state file and answering `memwarden
    release`, with strace injecting `inject` into its syscalls: it carries
    on, and its SIGTERM shutdown ends in time with status 0."""
    if not shutil.which("strace"):
        t.fail("strace is not installed (tests/deps.sh installs it)")
        return
    cg = V1Cgroup(t, 256 * MB)
    log = t.path("runs")
    r = t.mw("-s", "memory.interval=100ms", "-s", "log.memory_interval=1s",
             "-s", "service.restart=always", "-s", "service.restart_backoff=100ms",
             "-s", "service.restart_backoff_max=100ms", "-s", "service.max_restarts=100000",
             "--", t.workload("exitwith"), "--log", log, "--hold", "/nonexistent", "0",
             preexec_fn=cg.enter)
    r.wait_event("memory")
    counts = t.path("strace.counts")
    strace = subprocess.Popen(["strace", "-qq", "-c", "-o", counts, "-p", str(r.host_pid()),
                               "-e", "trace=" + RETRIED, "-e", "inject=" + inject],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t.defer(lambda: strace.poll() is None and strace.kill())
    time.sleep(0.5)
    runs0 = len(read_file(log, "").splitlines())
    state = t.path("state0.json")
    rc, out, err = t.run_plain(["release", "--state", state], timeout_s=40)
    t.check(rc in (0, 1) and "done:" in out, "memwarden release under injection: %d %r %r", rc, out, err)
    time.sleep(3)
    runs = len(read_file(log, "").splitlines()) - runs0
    t.check(r.running(), "memwarden ended under injection:\n%s" % r.stderr_tail())
    t.check(runs >= 5, "only %d restarts of the service in 3 s under injection", runs)
    # LeakSanitizer ptrace()s memwarden at exit, which a tracer forbids:
    # under ASan, strace lets go first; otherwise the shutdown too runs
    # with its syscalls interrupted.
    if os.environ.get("MEMWARDEN_SANITIZED") == "1":
        strace.send_signal(signal.SIGINT)
        strace.wait(20)
    r.signal(signal.SIGTERM)
    # The SIGTERM may find the service between its start and its exit:
    # its status (0, or 143 when the forwarded SIGTERM killed it) is
    # memwarden's, by design.
    rc = r.wait(30)
    t.check(rc in (0, 143), "memwarden exited %d; stderr:\n%s", rc, r.stderr_tail())
    if strace.poll() is None:
        strace.wait(20)
    injected = _strace_counts(counts)
    # musl's epoll_wait is the epoll_pwait syscall, glibc's (ASan build) not.
    injected["epoll_wait"] = tuple(map(sum, zip(injected.get("epoll_wait", (0, 0)),
                                                injected.get("epoll_pwait", (0, 0)))))
    for call in set(inject.split(":")[0].split(",")) & {"epoll_wait", "read", "pread64", "write", "recvmsg"}:
        t.check(injected.get(call, (0, 0))[1] > 0, "no %s failed under strace (%r): %r", call, inject, injected)
    if expect_no_warnings:
        # (`restart` is a warning by design: the service ended.)
        warns = [e for e in r.events() if e.get("level") in ("warn", "error") and e.get("event") != "restart"]
        t.check(not warns, "warnings under %s: %r", inject, warns[:5])
    # Every line still whole: a write retried after EINTR never splits one.
    for line in r.stderr().splitlines():
        try:
            json.loads(line)
        except ValueError:
            t.fail("a log line is not JSON under injection: %r" % line)
            break


@needs_root
@timeout(120)
def test_eintr_on_every_retried_syscall(t):
    """Every second call of each syscall memwarden retries fails with
    EINTR: no warning at all (each is retried), the service keeps being
    restarted, a release round is answered, the shutdown is clean."""
    _under_injection(t, RETRIED + ":error=EINTR:when=2+2", True)


@needs_root
@timeout(120)
def test_eagain_on_nonblocking_reads_and_sends(t):
    """Every second read, recvmsg and send fails with EAGAIN: memwarden
    treats it as "nothing there yet" and goes back to its loop, which
    wakes it again — it carries on and shuts down cleanly."""
    _under_injection(t, NONBLOCKING + ":error=EAGAIN:when=2+2", False)
