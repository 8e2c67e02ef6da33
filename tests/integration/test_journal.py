"""The build with libsystemd (SPEC §7, §10): `[log] target = journal` sends
every event to the systemd journal with its fields as journal fields, and
memwarden run as a systemd Type=notify service tells its manager READY=1,
STATUS= and STOPPING=1. A build without libsystemd refuses target = journal.

systemd-journald runs here on its own (TESTING.md §4): in a private mount
namespace of the test's process, a tmpfs on /run (and on /var/log/journal,
so that the host's journal is never touched), journald started in the
background, entries read back with journalctl -D /run/log/journal -o json.
The journal tests use build/systemd/memwarden (make SYSTEMD=1; test-build
makes it when libsystemd-dev is installed), whatever MEMWARDEN_BIN says."""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from lib import REPO, Failure, Skip, die_with_parent, needs_root, timeout, wait_for

SYSTEMD_BIN = os.path.join(REPO, "build", "systemd", "memwarden")
JOURNALD = "/lib/systemd/systemd-journald"
JOURNAL_SOCKET = "/run/systemd/journal/socket"
JOURNAL_DIR = "/run/log/journal"
CLONE_NEWNS = 0x00020000
PRIORITY = {"debug": "7", "info": "6", "warn": "4", "error": "3"}


def _links_libsystemd(path):
    """Whether the ELF file at path names libsystemd among its libraries."""
    try:
        with open(path, "rb") as f:
            return b"libsystemd.so" in f.read()
    except OSError:
        return False


def _use_systemd_build(t):
    if not os.access(SYSTEMD_BIN, os.X_OK):
        raise Skip("no build/systemd/memwarden (make SYSTEMD=1, which needs libsystemd-dev)")
    t.bin = SYSTEMD_BIN


def _private_run(t):
    """Makes this test's process a mount namespace of its own with empty
    tmpfs on /run and /var/log/journal (inherited by what it starts)."""
    for tool in ("mount", "journalctl"):
        if not shutil.which(tool):
            raise Skip("%s not installed" % tool)
    if not os.access(JOURNALD, os.X_OK):
        raise Skip("%s not installed (Debian's systemd package)" % JOURNALD)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise Skip("unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    if os.path.isdir("/var/log/journal"):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/var/log/journal"], check=True)


def _start_journald(t):
    log = open(t.path("journald.log"), "wb")
    jd = subprocess.Popen([JOURNALD], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                          preexec_fn=die_with_parent)
    log.close()

    def stop():
        if jd.poll() is None:
            jd.send_signal(signal.SIGCONT)
            jd.terminate()
            try:
                jd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                jd.kill()
                jd.wait(timeout=10)

    t.defer(stop)

    def accepting():
        if jd.poll() is not None:
            raise Failure("systemd-journald exited (%s):\n%s" % (jd.returncode, open(t.path("journald.log")).read()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.connect(JOURNAL_SOCKET)
            return True
        except OSError:
            return False
        finally:
            s.close()

    wait_for(accepting, 10, "systemd-journald to accept entries on " + JOURNAL_SOCKET, interval=0.05)
    return jd


def _journal_entries():
    p = subprocess.run(["journalctl", "-D", JOURNAL_DIR, "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=memwarden"],
                       capture_output=True, text=True, timeout=30)
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _wait_entries(t, want_event, timeout_s=10):
    """The entries, once one with MEMWARDEN_EVENT=want_event is there."""
    def have():
        es = _journal_entries()
        return es if any(e.get("MEMWARDEN_EVENT") == want_event for e in es) else None

    try:
        return wait_for(have, timeout_s, "a %r entry in the journal" % want_event, interval=0.1)
    except Failure as e:
        es = _journal_entries()
        raise Failure("%s; the journal has: %s" % (e, [x.get("MEMWARDEN_EVENT") for x in es]))


def _one(t, entries, event):
    es = [e for e in entries if e.get("MEMWARDEN_EVENT") == event]
    t.check(es, "no %r entry in the journal; it has %s", event, [e.get("MEMWARDEN_EVENT") for e in entries])
    return es[0]


@needs_root
@timeout(90)
def test_journal_target_sends_events_with_fields(t):
    _use_systemd_build(t)
    _private_run(t)
    _start_journald(t)
    # A service that fails twice: spawn and exit (info), restart (warn),
    # then giveup (error) with max_restarts = 1.
    r = t.mw("-s", "log.target=journal", "-s", "log.format=json", "-s", "service.name=jtest",
             "-s", "service.restart=on-failure", "-s", "service.restart_backoff=100ms",
             "-s", "service.max_restarts=1",
             "--", "sh", "-c", "echo service-output; exit 3")
    rc = r.wait(30)
    t.check(rc == 3, "memwarden exited %d, expected 3; stderr:\n%s", rc, r.stderr_tail())
    entries = _wait_entries(t, "giveup")
    # Nothing of memwarden's own went to stderr: every event took the journal.
    t.check(not r.events(), "events on stderr with target = journal:\n%s", r.stderr_tail())
    t.check("service-output" in r.stdout(), "the service's stdout is not memwarden's: %r", r.stdout()[:200])

    for e in entries:
        for k in ("MESSAGE", "PRIORITY", "MEMWARDEN_EVENT"):
            t.check(e.get(k), "entry without %s: %r", k, e)
        t.check(e.get("MEMWARDEN_SERVICE") == "jtest", "MEMWARDEN_SERVICE=%r", e.get("MEMWARDEN_SERVICE"))
        t.check(e.get("SYSLOG_IDENTIFIER") == "memwarden", "SYSLOG_IDENTIFIER=%r", e.get("SYSLOG_IDENTIFIER"))

    start = _one(t, entries, "start")
    t.check(start["PRIORITY"] == PRIORITY["info"], "start PRIORITY=%r", start["PRIORITY"])
    t.check(start.get("MEMWARDEN_VERSION"), "start has no MEMWARDEN_VERSION: %r", start)
    # A raw JSON field comes as its JSON text.
    raw = start.get("MEMWARDEN_LIMIT")
    t.check(raw is not None, "start has no MEMWARDEN_LIMIT: %r", start)
    json.loads(raw)

    spawns = [e for e in entries if e.get("MEMWARDEN_EVENT") == "spawn"]
    exits = [e for e in entries if e.get("MEMWARDEN_EVENT") == "exit"]
    t.check(len(spawns) == 2 and len(exits) == 2, "%d spawn and %d exit entries, expected 2 and 2",
            len(spawns), len(exits))
    for sp, ex in zip(spawns, exits):
        t.check(sp["MEMWARDEN_PID"].isdigit() and int(sp["MEMWARDEN_PID"]) > 1, "spawn MEMWARDEN_PID=%r",
                sp["MEMWARDEN_PID"])
        t.check(ex["MEMWARDEN_PID"] == sp["MEMWARDEN_PID"], "exit pid %r, spawn pid %r", ex["MEMWARDEN_PID"],
                sp["MEMWARDEN_PID"])
        t.check(ex["MEMWARDEN_STATUS"] == "3", "exit MEMWARDEN_STATUS=%r", ex["MEMWARDEN_STATUS"])
        t.check(ex.get("MEMWARDEN_STARTED") == "true", "exit MEMWARDEN_STARTED=%r", ex.get("MEMWARDEN_STARTED"))
        t.check(ex["PRIORITY"] == PRIORITY["info"], "exit PRIORITY=%r", ex["PRIORITY"])
        t.check("code 3" in ex["MESSAGE"], "exit MESSAGE=%r", ex["MESSAGE"])
    restart = _one(t, entries, "restart")
    t.check(restart["PRIORITY"] == PRIORITY["warn"], "restart PRIORITY=%r", restart["PRIORITY"])
    t.check(restart.get("MEMWARDEN_REASON") == "exit", "restart MEMWARDEN_REASON=%r", restart.get("MEMWARDEN_REASON"))
    t.check(restart.get("MEMWARDEN_BACKOFF_MS", "").isdigit(), "restart MEMWARDEN_BACKOFF_MS=%r",
            restart.get("MEMWARDEN_BACKOFF_MS"))
    giveup = _one(t, entries, "giveup")
    t.check(giveup["PRIORITY"] == PRIORITY["error"], "giveup PRIORITY=%r", giveup["PRIORITY"])
    # One entry per event, in order.
    order = [e["MEMWARDEN_EVENT"] for e in entries]
    t.check(order.index("start") < order.index("spawn") < order.index("exit") < order.index("restart")
            < order.index("giveup"), "events out of order: %s", order)


@needs_root
@timeout(60)
def test_journal_unreachable_falls_back_to_stderr(t):
    # An empty /run: no journald socket at all.
    _use_systemd_build(t)
    _private_run(t)
    r = t.mw("-s", "log.target=journal", "-s", "log.format=json", "--", "sh", "-c", "exit 0")
    rc = r.wait(30)
    t.check(rc == 0, "memwarden exited %d; stderr:\n%s", rc, r.stderr_tail())
    warns = [e for e in r.events("log") if e.get("level") == "warn"]
    t.check(len(warns) == 1, "expected one warning about the journal, got %d; stderr:\n%s", len(warns),
            r.stderr_tail())
    t.check("journal" in warns[0]["msg"], "warning: %r", warns[0]["msg"])
    names = [e["event"] for e in r.events()]
    for ev in ("start", "spawn", "exit"):
        t.check(ev in names, "event %r not on stderr; got %s", ev, names)
    t.check(names[0] == "log", "the warning is not first: %s", names)


@needs_root
@timeout(90)
def test_journal_stalled_never_blocks(t):
    # journald stopped: its socket's queue (net.unix.max_dgram_qlen) fills
    # after a few entries; memwarden must go on, its lines on stderr, and
    # come back to the journal when journald reads again.
    _use_systemd_build(t)
    _private_run(t)
    jd = _start_journald(t)
    os.kill(jd.pid, signal.SIGSTOP)
    go = t.path("go")
    # A service that exits at once, restarted every 10 ms (3 events each
    # time), until the file go exists: then it stays.
    r = t.mw("-s", "log.target=journal", "-s", "log.format=json", "-s", "service.restart=always",
             "-s", "service.restart_backoff=10ms", "-s", "service.restart_backoff_max=10ms",
             "-s", "service.max_restarts=100000",
             "--", "sh", "-c", "test -e %s && exec sleep 60; exit 0" % go)
    r.wait_event("log", 20)
    # Going on with journald stopped: more restarts after the warning.
    n = len(r.events("spawn"))
    wait_for(lambda: len(r.events("spawn")) >= n + 20, 20, "restarts to go on with journald stopped")
    warns = [e for e in r.events("log") if e.get("level") == "warn"]
    t.check(len(warns) == 1, "expected one warning about the journal, got %d; stderr:\n%s", len(warns),
            r.stderr_tail())
    t.check(warns[0].get("errno") == 11, "the journal failed with errno %r, expected EAGAIN", warns[0].get("errno"))
    # Once journald reads again, the restarts' next events reach it, with
    # a word on what went to stderr meanwhile.
    os.kill(jd.pid, signal.SIGCONT)
    entries = _wait_entries(t, "log", 20)
    with open(go, "w"):
        pass
    back = _one(t, entries, "log")
    t.check(int(back.get("MEMWARDEN_MISSED", "0")) >= 20, "log entry when the journal is back: %r", back)
    t.check(back["PRIORITY"] == PRIORITY["info"], "log entry PRIORITY=%r", back["PRIORITY"])
    r.signal(signal.SIGTERM)
    r.wait(30)
    entries = _wait_entries(t, "shutdown")
    t.check(len(entries) >= 5, "only %d entries reached the journal", len(entries))
    t.check(_one(t, entries, "start"), "no start entry")


@needs_root
@timeout(60)
def test_sd_notify_ready_status_stopping(t):
    _use_systemd_build(t)
    sock_path = t.path("notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    t.defer(sock.close)
    sock.settimeout(0.1)
    ready_file = t.path("ready")
    seen = t.path("service_notify_socket")
    r = t.mw("-s", "service.ready=file:" + ready_file, "-s", "log.format=json",
             "--", "sh", "-c", 'echo "${NOTIFY_SOCKET:-none}" > %s; sleep 1; touch %s; exec sleep 60'
             % (seen, ready_file), env={"NOTIFY_SOCKET": sock_path})
    got = []  # (monotonic time, message)

    def receive():
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return False
        got.append((time.monotonic(), data.decode()))
        return True

    def has(text):
        return [g for g in got if text in g[1].split("\n")]

    wait_for(lambda: receive() and has("READY=1"), 20, "READY=1 on NOTIFY_SOCKET", interval=0)
    ready_at = has("READY=1")[0][0]
    t.check(os.path.exists(ready_file), "READY=1 came before the service was ready")
    t.check(r.events("ready"), "READY=1 came before the ready event; stderr:\n%s", r.stderr_tail())
    t.check(len(has("READY=1")) == 1, "READY=1 sent %d times", len(has("READY=1")))
    statuses = [g[1] for g in got if g[1].startswith("STATUS=")]
    t.check("STATUS=running" in statuses, "no STATUS=running; got %r", [g[1] for g in got])
    t.check(not has("STOPPING=1"), "STOPPING=1 before any SIGTERM")
    # The service has memwarden's own socket, or none: never ours.
    svc = wait_for(lambda: (open(seen).read().strip() if os.path.exists(seen) else None), 10,
                   "the service's NOTIFY_SOCKET")
    t.check(svc != sock_path, "the service got memwarden's own NOTIFY_SOCKET %r", svc)

    term_at = time.monotonic()
    r.signal(signal.SIGTERM)
    wait_for(lambda: receive() and has("STOPPING=1"), 20, "STOPPING=1 on NOTIFY_SOCKET", interval=0)
    r.wait(30)
    while receive():
        pass
    stop_at = has("STOPPING=1")[0][0]
    t.check(ready_at < term_at <= stop_at, "READY=1 at %.2f, SIGTERM at %.2f, STOPPING=1 at %.2f", ready_at, term_at,
            stop_at)
    t.check(len(has("STOPPING=1")) == 1, "STOPPING=1 sent %d times", len(has("STOPPING=1")))
    later = [g[1] for g in got if g[0] >= stop_at and g[1].startswith("STATUS=")]
    t.check(later, "no STATUS= after STOPPING=1; got %r", [g[1] for g in got])


def test_build_without_libsystemd_refuses_journal(t):
    t.require_binary()
    if _links_libsystemd(t.bin):
        raise Skip("%s is the build with libsystemd" % t.bin)
    for args in (["-s", "log.target=journal", "--", "true"], ["check", "-s", "log.target=journal"]):
        rc, out, err = t.run_plain(args)
        t.check(rc == 2, "memwarden %s exited %d, expected 2; stderr:\n%s", " ".join(args), rc, err)
        for word in ("target", "journal", "libsystemd"):
            t.check(word in err, "the error does not say %r:\n%s", word, err)


def test_systemd_build_accepts_journal(t):
    _use_systemd_build(t)
    rc, out, err = t.run_plain(["check", "-s", "log.target=journal"])
    t.check(rc == 0, "check -s log.target=journal exited %d:\n%s", rc, err)
