"""Release end to end (SPEC §2 `release`, §4 "Release", §6): memwarden as
PID 1 preloads the agent into a real service; `memwarden release` asks it
to give memory back and prints what each process reports; processes that
would die of the signal, or whose program handles it itself, are never
sent it."""

import json
import os
import shutil
import signal
import subprocess
import time

from lib import Skip, needs_root, read_file, wait_for


def _state(t):
    return t.path("state0.json")


def _wait_socket(t):
    wait_for(lambda: os.path.exists(_state(t)) and json.loads(read_file(_state(t))).get("socket"), 20,
             "the state file with the notify socket")


def _fragment(t, *extra):
    out = t.path("fragment.out")
    return out, ["/bin/sh", "-c", 'exec "$0" "$@" > %s' % out, t.workload("fragment"), "--threads", "4",
                 "--seconds", "2", "--hold", *extra]


def _live(out):
    for line in read_file(out, "").splitlines():
        if line.startswith("LIVE "):
            return int(line.split()[1])
    return None


def _release(t, *args):
    return t.run_plain(["release", "--state", _state(t), *args], timeout_s=40)


@needs_root
def test_release_prints_glibc_fragmentation(t):
    """The incident's diagnosis in one command: a glibc service's in-use
    and held bytes, and the fragmentation they imply."""
    out, cmd = _fragment(t)
    r = t.mw("-s", "allocator.preload=none", "--", *cmd)
    wait_for(lambda: "READY" in read_file(out, ""), 30, "fragment to hold its blocks")
    _wait_socket(t)
    rc, stdout, stderr = _release(t, "--json")
    t.check(rc == 0, "release exited %d: %s %s", rc, stdout, stderr)
    lines = [json.loads(l) for l in stdout.splitlines() if l.strip()]
    reports = [l for l in lines if "pid" in l]
    done = [l for l in lines if l.get("done")]
    t.check(len(reports) == 1 and done and done[0]["signalled"] == 1 and done[0]["reports"] == 1,
            "release output: %r", lines)
    rep = reports[0]
    live = _live(out)
    t.check(rep["allocator"] == "glibc", "allocator %r", rep["allocator"])
    # glibc counts whole chunks: in use is the live bytes plus at most
    # 16 bytes a block and a little of its own (test_agent.py measures it).
    t.check(live <= rep["in_use"] <= live * 1.01 + (1 << 20), "in use %d for %d live bytes", rep["in_use"], live)
    t.check(rep["held_before"] > rep["in_use"] and rep["fragmentation_before"] > 0.2,
            "a fragmenting glibc workload shows no fragmentation: %r", rep)
    t.check(rep["rss_after"] < rep["rss_before"], "malloc_trim gave nothing back: %r", rep)
    ev = r.wait_event("release", 10)
    t.check(ev.get("pid") and ev.get("allocator") == "glibc" and ev.get("fragmentation", 0) > 0.2,
            "release event: %r", ev)
    t.check(r.events("release.done")[-1].get("reason") == "request", "release.done: %r", r.events("release.done"))
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_release_under_jemalloc(t):
    out, cmd = _fragment(t)
    r = t.mw("--", *cmd)
    wait_for(lambda: "READY" in read_file(out, ""), 30, "fragment to hold its blocks")
    _wait_socket(t)
    rc, stdout, _ = _release(t)
    t.check(rc == 0 and "jemalloc" in stdout and "done: 1 signalled, 1 reports" in stdout,
            "release (text) exited %d:\n%s", rc, stdout)
    ev = r.wait_event("release", 10)
    live = _live(out)
    t.check(ev.get("allocator") == "jemalloc" and live <= ev["in_use"] <= live * 1.25 + (1 << 20),
            "jemalloc in use %r for %d live bytes", ev.get("in_use"), live)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_release_never_signals_a_process_that_would_die(t):
    """A static binary (no agent) and a dynamic one started without
    LD_PRELOAD have no handler for the signal: SigCgt says so and they are
    never sent it; the release says no process could be asked."""
    busybox = shutil.which("busybox")
    if not busybox or b"statically linked" not in subprocess.run(["file", busybox], capture_output=True).stdout:
        raise Skip("no statically linked busybox (apt-get install busybox-static)")
    script = 'env -u LD_PRELOAD sleep 300 & exec %s sleep 300' % busybox
    r = t.mw("--", "/bin/sh", "-c", script)
    _wait_socket(t)
    time.sleep(0.5)
    rc, stdout, stderr = _release(t)
    t.check(rc == 1, "release exited %d (want 1: nobody to ask):\n%s%s", rc, stdout, stderr)
    t.check("2 skipped" in stdout or "0 signalled" in stdout, "release output:\n%s%s", stdout, stderr)
    done = r.wait_event("release.done", 10)
    t.check(done["signalled"] == 0 and done["skipped"] == 2, "release.done: %r", done)
    state = json.loads(read_file(_state(t)))
    t.check(state.get("state") == "running", "the service died of the release signal: %r", state)
    t.check(not [e for e in r.events("exit")], "a process exited: %r", r.events("exit"))
    r.signal(signal.SIGTERM)
    r.expect_exit(143, 30)


@needs_root
def test_program_with_its_own_handler_is_not_signalled(t):
    """The program installs its own handler for the release signal: the
    agent tells memwarden, which never sends it that signal again."""
    out = t.path("probe.out")
    r = t.mw("--", "/bin/sh", "-c", 'exec "$0" "$@" > %s' % out, t.workload("agentprobe"),
             "--install", "sigaction")
    wait_for(lambda: "READY" in read_file(out, ""), 20, "agentprobe to start")
    r.wait_event("release.handler", 10)
    rc, stdout, _ = _release(t)
    t.check(rc == 1, "release exited %d:\n%s", rc, stdout)
    done = r.wait_event("release.done", 10)
    t.check(done["signalled"] == 0 and done["skipped"] == 1, "release.done: %r", done)
    time.sleep(0.3)
    t.check("OWN" not in read_file(out, ""), "the program's own handler was called:\n%s", read_file(out, ""))
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_reports_from_outside_the_service_are_ignored(t):
    """The socket is reachable by every process of the network namespace:
    a forged report or takeover from a process that is not the service's
    is dropped (the kernel's SCM_CREDENTIALS name the sender)."""
    out, cmd = _fragment(t)
    r = t.mw("--", *cmd)
    wait_for(lambda: "READY" in read_file(out, ""), 30, "fragment to hold its blocks")
    _wait_socket(t)
    import socket
    name = json.loads(read_file(_state(t)))["socket"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    forged = (b"MEMWARDEN_RELEASE=1\nALLOCATOR=glibc\nIN_USE=1\nHELD_BEFORE=2\nHELD_AFTER=2\n"
              b"RSS_BEFORE=3\nRSS_AFTER=3\nUSEC=4\n")
    s.sendto(forged, "\0" + name[1:])
    s.sendto(b"MEMWARDEN_HANDLER=program\n", "\0" + name[1:])
    s.close()
    time.sleep(0.5)
    t.check(not r.events("release") and not r.events("release.handler"),
            "a stranger's datagrams were taken: %r", r.events("release") + r.events("release.handler"))
    # The service itself is still asked and answers.
    rc, stdout, _ = _release(t)
    t.check(rc == 0 and "1 reports" in stdout, "release after the forgeries:\n%s", stdout)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_python_on_glibc_is_recognised(t):
    """Debian's python3 is not position-independent and takes malloc's
    address: "malloc" resolves to its PLT stub, not into libc. The agent
    still recognises glibc and trims — the incident's own setup."""
    ready = t.path("ready")
    svc = t.write("svc.py", "import signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                  "b = [bytearray(100000 + i) for i in range(300)]\n"
                  "del b[::2]\n"
                  "open(sys.argv[1], 'w').close()\n"
                  "while True:\n    time.sleep(1)\n")
    r = t.mw("-s", "allocator.preload=none", "--", "python3", svc, ready)
    wait_for(lambda: os.path.exists(ready), 20, "the python service")
    _wait_socket(t)
    rc, stdout, _ = _release(t, "--json")
    reports = [json.loads(l) for l in stdout.splitlines() if '"pid"' in l]
    t.check(rc == 0 and reports and reports[0]["allocator"] == "glibc", "release:\n%s", stdout)
    t.check(reports[0]["rss_after"] < reports[0]["rss_before"], "malloc_trim gave nothing back: %r", reports[0])
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)


@needs_root
def test_a_flood_of_release_requests_is_rate_limited(t):
    """Release requests may come from any process of the network namespace
    (a pod's other containers too): 300 of them in 3 s start one round, then
    at most one a second (RELEASE_REQUEST_GAP_MS) — the service is not kept
    purging — and the newest requester still gets its answer."""
    out, cmd = _fragment(t)
    r = t.mw("--", *cmd)
    wait_for(lambda: "READY" in read_file(out, ""), 30, "fragment to hold its blocks")
    _wait_socket(t)
    import socket
    addr = "\0" + json.loads(read_file(_state(t)))["socket"][1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("")  # autobind: an address memwarden can answer
    s.settimeout(0.01)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        try:
            s.sendto(b"MEMWARDEN_RELEASE_REQUEST=1\n", addr)
        except (BlockingIOError, socket.timeout):
            pass  # memwarden's queue is full: the flood is not slowed by it
        try:
            while s.recv(4096):
                pass
        except (BlockingIOError, socket.timeout):
            pass
    # One more request, sent surely (the flood's last ones may have found
    # memwarden's queue full): the round it joins or waits for answers it.
    s.settimeout(5)
    s.sendto(b"MEMWARDEN_RELEASE_REQUEST=1\n", addr)
    s.settimeout(15)
    answered = False
    try:
        while not answered:
            answered = b"MEMWARDEN_RELEASE_DONE=1" in s.recv(4096)
    except socket.timeout:
        pass
    s.close()
    rounds = [e for e in r.events("release.done") if e.get("reason") == "request"]
    t.check(2 <= len(rounds) <= 5, "%d request rounds in 3 s of flood: %r", len(rounds), rounds)
    t.check(answered, "the newest requester got no summary")
    t.check(r.running(), "memwarden ended:\n%s" % r.stderr_tail())
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 30)
