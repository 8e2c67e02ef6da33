"""What the service inherits (SPEC §3) and how memwarden writes (SPEC §7):
signal mask and ignored signals, process group and terminal, stdin/stdout/
stderr untouched, whole JSON lines."""

import json
import os
import re
import signal
import subprocess
import time

from lib import clean_env, needs_root, parse_kv, read_file, wait_for

BLOCKED = [signal.SIGUSR2, signal.SIGRTMIN + 5]
IGNORED = [signal.SIGHUP, signal.SIGUSR1]
NO_PRELOAD = ("-s", "allocator.preload=none")


def _mask_bits(signos):
    m = 0
    for s in signos:
        m |= 1 << (int(s) - 1)
    return m


def _preexec():
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)


@needs_root
def test_signal_mask_and_ignored_inherited(t):
    # What a program started the same way sees without memwarden...
    base = t.path("base")
    subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", t.workload("showproc"), base],
                   preexec_fn=_preexec, env=clean_env(), timeout=30, check=True)
    b = parse_kv(base)
    t.check(int(b["SigBlk"], 16) & _mask_bits(BLOCKED) == _mask_bits(BLOCKED), "test set-up: baseline SigBlk %s", b["SigBlk"])
    t.check(int(b["SigIgn"], 16) & _mask_bits(IGNORED) == _mask_bits(IGNORED), "test set-up: baseline SigIgn %s", b["SigIgn"])
    # ... is what the service sees under memwarden.
    out = t.path("svc")
    # No preload: jemalloc's background thread makes glibc take over signal
    # 33 (SIGSETXID) in the service itself, which is not memwarden's doing.
    r = t.mw(*NO_PRELOAD, "--", t.workload("showproc"), out, preexec_fn=_preexec)
    r.expect_exit(0, 60)
    s = parse_kv(out)
    t.check(s.get("SigBlk") == b["SigBlk"], "service SigBlk %s, memwarden was started with %s", s.get("SigBlk"), b["SigBlk"])
    t.check(s.get("SigIgn") == b["SigIgn"], "service SigIgn %s, memwarden was started with %s", s.get("SigIgn"), b["SigIgn"])


@needs_root
def test_unblocked_start_gives_empty_mask(t):
    # memwarden blocks every signal for its signalfd: none of that may leak.
    # What is ignored depends on who started the test run (make, a job
    # control shell, CI...): the service must see exactly that, no more.
    base = t.path("base")
    subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", t.workload("showproc"), base],
                   env=clean_env(), timeout=30, check=True)
    b = parse_kv(base)
    out = t.path("svc")
    r = t.mw(*NO_PRELOAD, "--", t.workload("showproc"), out)
    r.expect_exit(0, 60)
    s = parse_kv(out)
    t.check(int(s["SigBlk"], 16) == 0, "service SigBlk %s: memwarden leaked its own blocked set", s["SigBlk"])
    t.check(s["SigIgn"] == b["SigIgn"], "service SigIgn %s, a process started without memwarden has %s",
            s["SigIgn"], b["SigIgn"])


@needs_root
def test_stdin_reaches_service(t):
    r = t.mw("--", "cat", stdin=subprocess.PIPE)
    r.proc.stdin.write(b"x\nsecond line\n")
    r.proc.stdin.close()
    r.expect_exit(0, 60)
    t.check(r.stdout() == "x\nsecond line\n", "cat printed %r, expected the input", r.stdout())


@needs_root
def test_stdout_stderr_are_memwardens_own_files(t):
    rfd, wfd = os.pipe()
    errfile = t.path("stderr.log")
    out = t.path("svc")
    try:
        r = t.mw("--", t.workload("showproc"), out, stdout=wfd, stderr=errfile)
        os.close(wfd)
        wfd = -1
        r.expect_exit(0, 60)
        pipe = os.fstat(rfd)
        err = os.stat(errfile)
        s = parse_kv(out)
        fd1 = s["fd1"].split()
        fd2 = s["fd2"].split()
        t.check(fd1 == ["pipe", str(pipe.st_dev), str(pipe.st_ino)],
                "service's stdout is %r, memwarden's is the test's pipe (dev %d ino %d)", fd1, pipe.st_dev, pipe.st_ino)
        t.check(fd2 == ["reg", str(err.st_dev), str(err.st_ino)],
                "service's stderr is %r, memwarden's is the file dev %d ino %d", fd2, err.st_dev, err.st_ino)
        t.check(s["fd0"].split()[0] == "chr", "service's stdin is %r, memwarden's is /dev/null", s["fd0"])
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)


@needs_root
def test_service_has_own_process_group(t):
    out = t.path("svc")
    r = t.mw("--", t.workload("showproc"), out)
    r.expect_exit(0, 60)
    s = parse_kv(out)
    t.check(s["pgid"] == s["pid"], "service pid %s is in process group %s, expected its own", s["pid"], s["pgid"])


@needs_root
def test_tty_foreground_given_to_service(t):
    """As under `docker run -t`: memwarden is PID 1 and the session leader
    of its namespace, with the terminal as its controlling terminal
    (`setsid -c` inside the namespace sets that up)."""
    master, slave = os.openpty()
    out = t.path("svc")
    try:
        r = t.mw("--", t.workload("showproc"), out, stdin=slave, stdout=slave, stderr=slave,
                 wrap=["setsid", "-c"])
        os.close(slave)
        slave = -1
        os.set_blocking(master, False)
        got = b""
        deadline = time.monotonic() + 60
        while r.running() and time.monotonic() < deadline:
            try:
                got += os.read(master, 65536)
            except (BlockingIOError, OSError):
                time.sleep(0.02)
        rc = r.wait(10)
        t.check(rc == 0, "memwarden exited %d; output:\n%s", rc, got.decode(errors="replace"))
        s = parse_kv(out)
        t.check(s["pgid"] != "1" and s["pgid"] == s["pid"], "test set-up: service pgid %s pid %s", s["pgid"], s["pid"])
        t.check(s["tcpgrp"] == s["pgid"], "terminal's foreground group %s, service's group %s", s["tcpgrp"], s["pgid"])
        text = got.decode(errors="replace")
        t.check(not any(l.lstrip().startswith("{") for l in text.splitlines()),
                "JSON log lines on a terminal, expected text:\n%s", text)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@needs_root
def test_every_line_is_a_whole_json_object(t):
    stop = t.path("stop")
    r = t.mw("--", t.workload("chatter"), stop)
    r.host_pid()
    wait_for(lambda: "chatter stderr" in r.stderr(), 30, "the service to chatter")
    # Make memwarden log while the service writes to the same stderr.
    for i in range(60):
        r.signal((signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)[i % 3])
        time.sleep(0.01)
    time.sleep(0.3)
    with open(stop, "w"):
        pass
    r.expect_exit(0, 60)
    text = r.stderr()
    t.check(text.endswith("\n"), "stderr does not end with a newline")
    bad = []
    objs = []
    for line in text.splitlines():
        if re.fullmatch(r"chatter stderr \d+", line):
            continue
        try:
            o = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(o, dict):
            bad.append(line)
            continue
        objs.append(o)
        missing = [k for k in ("time", "level", "event", "msg", "service") if k not in o]
        if missing:
            bad.append("missing %s: %s" % (missing, line))
        elif not TIME_RE.match(str(o["time"])) or o["level"] not in ("debug", "info", "warn", "error"):
            bad.append("bad time or level: " + line)
    t.check(not bad, "%d bad lines, e.g.:\n    %s", len(bad), "\n    ".join(bad[:5]))
    events = [o["event"] for o in objs]
    for ev in ("start", "spawn", "exit"):
        t.check(ev in events, "no %r event among %r", ev, sorted(set(events)))
    t.check(events.count("signal") >= 30, "only %d signal events for 60 signals", events.count("signal"))
    t.check(objs[0]["event"] == "start", "the first event is %r, expected start", objs[0]["event"])
    st = objs[0]
    t.check(st.get("pid1") is True and isinstance(st.get("version"), str) and st.get("pid") == 1,
            "start event lacks version/pid=1/pid1=true: %r", st)
    sp = [o for o in objs if o["event"] == "spawn"][0]
    t.check(isinstance(sp.get("pid"), int) and "chatter" in json.dumps(sp.get("command")),
            "spawn event lacks pid/command: %r", sp)
    t.check(st["service"] == "chatter", "service name %r, expected the command's basename", st["service"])


@needs_root
def test_json_lines_with_awkward_command_name(t):
    """Quotes, a backslash, a newline, a control byte and invalid UTF-8 in
    the command's name: every line stays one whole JSON object."""
    name = b'we"ird\\na\nme\x01\xff'
    link = os.path.join(t.tmp.encode(), name)
    os.symlink(t.workload("exitwith").encode(), link)
    r = t.mw("--", link.decode(errors="surrogateescape"), "3")
    rc = r.wait(60)
    t.check(rc == 3, "memwarden exited %d, expected 3; stderr:\n%s", rc, r.stderr_tail())
    lines = r.stderr().splitlines()
    bad = []
    for l in lines:
        try:
            json.loads(l)
        except ValueError:
            bad.append(l)
    t.check(not bad, "lines that are not JSON objects:\n    %s", "\n    ".join(bad[:5]))
    t.check(any(e.get("event") == "spawn" for e in r.events()), "no spawn event:\n%s", r.stderr_tail())


@needs_root
def test_closed_stderr_does_not_stop_memwarden(t):
    # The log reader went away (a closed pipe): every log line now raises
    # SIGPIPE in memwarden. It must neither die of it nor loop on it, and
    # must still pass the service's signals and status through.
    rfd, wfd = os.pipe()
    os.close(rfd)
    rec, ready = t.path("signals"), t.path("ready")
    try:
        r = t.mw("-s", "service.stop_timeout=5s", "--", t.workload("sigrecord"), rec, ready,
                 "--exit-on", str(int(signal.SIGTERM)), stderr=wfd, stdout=subprocess.DEVNULL)
    finally:
        os.close(wfd)
    wait_for(lambda: os.path.exists(ready), 30, "the service to set its handlers")
    pid = r.host_pid()
    cpu0 = _cpu_ticks(pid)
    r.signal(signal.SIGUSR1)
    wait_for(lambda: " %d\n" % signal.SIGUSR1 in (read_file(rec, "") or ""),
             30, "SIGUSR1 to reach the service")
    time.sleep(1.0)
    spent = _cpu_ticks(pid) - cpu0
    t.check(spent < 50, "memwarden used %d clock ticks in about a second with a closed stderr", spent)
    r.signal(signal.SIGTERM)
    r.expect_exit(0, 60)


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
