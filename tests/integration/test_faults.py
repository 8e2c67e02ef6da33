"""Fault injection (issue 7): what memwarden reads or writes goes away or
fills up while it runs — it logs once, degrades, and carries on; it exits
only by design (here: the SIGTERM at the end)."""

import json
import os
import signal
import subprocess
import sys
import time

from lib import needs_root, read_file, wait_for
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
