"""The state file and `memwarden status` (SPEC §2, §8)."""

import json
import os
import signal
import subprocess

from lib import Failure, needs_root, read_file, timeout, wait_for


def _status_in_ns(t, r, *args):
    """`memwarden status ARGS` inside memwarden's namespaces, as a
    Kubernetes exec probe runs. Returns (rc, stdout, stderr)."""
    p = subprocess.run(["nsenter", "-t", str(r.host_pid()), "-p", "-m", t.bin, "status"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def _state(path):
    text = read_file(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise Failure("the state file is not whole JSON (not written atomically?): %r" % text[:200])


@needs_root
@timeout(120)
def test_status_ready_running_draining_stopped(t):
    os.mkdir(t.path("st"))
    state = t.path("st", "drainer.json")
    marker = t.path("drained")
    r = t.mw("-s", "status.state_file=" + state, "-s", "service.drain_delay=3s",
             "--", t.workload("drainer"), marker)
    r.host_pid()
    wait_for(lambda: os.path.exists(marker + ".ready"), 30, "the service to be ready")

    # Running and ready: 0, and nothing printed.
    def ready0():
        rc, out, err = _status_in_ns(t, r, "--state", state, "--ready")
        return (rc, out) if rc == 0 else None

    rc, out = wait_for(ready0, 30, "status --ready to answer 0 while the service runs")
    t.check(out == "", "status --ready printed %r", out)
    s = _state(state)
    t.check(s.get("state") == "running" and s.get("ready") is True, "state file while running: %r", s)
    t.check(s.get("pid") == 1, "state file pid %r, memwarden is PID 1 here", s.get("pid"))
    t.check(isinstance(s.get("service_pid"), int) and s["service_pid"] > 1, "service_pid %r", s.get("service_pid"))
    t.check(s.get("restarts") == 0, "restarts %r", s.get("restarts"))
    rc, out, err = _status_in_ns(t, r, "--state", state, "--json")
    t.check(rc == 0, "status --json exited %d: %s", rc, err)
    t.check(json.loads(out).get("state") == "running", "status --json printed %r", out[:200])
    rc, out, err = _status_in_ns(t, r, "--state", state, "--ready", "--json")
    t.check(rc == 0 and json.loads(out).get("ready") is True, "status --ready --json: %d %r", rc, out[:200])

    # Draining (drain_delay 3 s): not ready.
    r.signal(signal.SIGTERM)
    wait_for(lambda: (_state(state) or {}).get("state") != "running", 10, "the state to leave running after TERM")
    s = _state(state)
    t.check(s.get("ready") is False, "ready %r while %r", s.get("ready"), s.get("state"))
    t.check(s.get("state") in ("draining", "stopping"), "state %r during the drain", s.get("state"))
    if r.running():
        rc, out, err = _status_in_ns(t, r, "--state", state, "--ready")
        t.check(rc == 1, "status --ready answered %d during shutdown, expected 1", rc)

    # Stopped: the file stays, says stopped, --ready answers 1.
    r.expect_exit(0, 60)
    s = _state(state)
    t.check(s is not None, "the state file was removed at exit")
    t.check(s.get("state") == "stopped" and s.get("ready") is False, "state file after exit: %r", s)
    rc, out, err = t.run_plain(["status", "--state", state, "--ready"])
    t.check(rc == 1 and out == "", "status --ready after exit: exit %d output %r, expected 1 and nothing", rc, out)
    leftovers = sorted(os.listdir(t.path("st")))
    t.check(leftovers == ["drainer.json"], "files beside the state file (temp files not renamed?): %r", leftovers)


@needs_root
def test_status_after_short_lived_service(t):
    state = t.path("state.json")
    r = t.mw("-s", "status.state_file=" + state, "--", t.workload("exitwith"), "0")
    r.expect_exit(0, 60)
    s = _state(state)
    t.check(s is not None and s.get("state") == "stopped", "state file after exit: %r", s)
    rc, out, err = t.run_plain(["status", "--state", state, "--ready"])
    t.check(rc == 1, "status --ready after the service stopped: %d, expected 1", rc)
    rc, out, err = t.run_plain(["status", "--state", state])
    t.check(rc == 0 and "stopped" in out, "status: exit %d output %r", rc, out)


@needs_root
@timeout(120)
def test_status_counts_restarts(t):
    state = t.path("state.json")
    r = t.mw("-s", "status.state_file=" + state, "-s", "service.restart=on-failure",
             "-s", "service.restart_backoff=50ms", "-s", "service.max_restarts=2",
             "--", t.workload("exitwith"), "3")
    r.expect_exit(3, 60)
    s = _state(state)
    t.check(s is not None and s.get("restarts") == 2, "restarts in the state file %r, expected 2", s and s.get("restarts"))


def test_status_without_state_file(t):
    missing = t.path("none.json")
    rc, out, err = t.run_plain(["status", "--state", missing, "--ready"])
    t.check(rc == 3, "status --ready without a state file exited %d, expected 3", rc)
    t.check(out == "" and err == "", "status --ready printed %r / %r", out, err)
    rc, out, err = t.run_plain(["status", "--state", missing])
    t.check(rc == 3, "status without a state file exited %d, expected 3", rc)
    t.check(missing in err, "status does not say which state file is missing: %r", err)


def test_release_without_state_file(t):
    missing = t.path("none.json")
    rc, out, err = t.run_plain(["release", "--state", missing])
    t.check(rc != 0, "release without a state file exited 0")
    t.check("nothing is running" in err.lower() and missing in err, "release should say nothing is running at %s: %r",
            missing, err)
