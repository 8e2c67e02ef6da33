"""`memwarden release` (SPEC section 2) against a fake memwarden: a socket
in this test process that answers as memwarden does (agent_proto.h), and a
state file that names it. No namespace and no root needed: abstract sockets
need no files. The end-to-end test with a real memwarden and its agent is
elsewhere."""

import json
import os
import socket
import struct
import threading

from lib import timeout

MIB = 1 << 20


def report(pid, allocator="jemalloc", in_use=270, held=(580, 276), rss=(600, 300), usec=12345):
    return ("PID=%d\nMEMWARDEN_RELEASE=1\nALLOCATOR=%s\nIN_USE=%d\nHELD_BEFORE=%d\nHELD_AFTER=%d\n"
            "RSS_BEFORE=%d\nRSS_AFTER=%d\nUSEC=%d\nDEFERRED_USEC=40\n"
            % (pid, allocator, in_use * MIB, held[0] * MIB, held[1] * MIB, rss[0] * MIB, rss[1] * MIB,
               usec)).encode()


def done(signalled, reports, skipped):
    return ("MEMWARDEN_RELEASE_DONE=1\nSIGNALLED=%d\nREPORTS=%d\nSKIPPED=%d\n"
            % (signalled, reports, skipped)).encode()


class FakeMemwarden:
    """Binds @memwarden-<pid>-<hex> with SO_PASSCRED, writes a state file
    naming it (pid: this live process), and in a thread answers the first
    request with the datagrams `answers` returns for it."""

    def __init__(self, t, answers, state="running", with_socket=True, bind=True):
        self.t = t
        self.answers = answers
        self.name = "memwarden-%d-%s" % (os.getpid(), os.urandom(8).hex())
        self.request = None
        self.sender_pid = None
        self.spoof_refused = None
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        t.defer(self.sock.close)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if bind:
            self.sock.bind("\0" + self.name)
        self.state = t.path("state.json")
        st = {"service": "fake", "pid": os.getpid(), "service_pid": os.getpid()}
        if with_socket:
            st["socket"] = "@" + self.name
        st.update({"state": state, "ready": True, "restarts": 0, "last_restart_reason": None,
                   "last_exit_status": None, "last_sample": None, "updated": "2026-01-01T00:00:00.000Z"})
        with open(self.state, "w") as f:
            f.write(json.dumps(st, separators=(",", ":")) + "\n")
        self.thread = None
        if bind:
            self.thread = threading.Thread(target=self._serve, daemon=True)
            self.thread.start()

    def _serve(self):
        try:
            self.sock.settimeout(30)
            data, anc, _, addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            self.request = data
            for level, typ, payload in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    self.sender_pid = struct.unpack("iII", payload[:12])[0]
            # The client's socket is connected to ours: a datagram from any
            # other socket must not reach it (the kernel refuses it).
            other = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                other.sendto(done(9, 9, 9), addr)
                self.spoof_refused = False
            except PermissionError:
                self.spoof_refused = True
            finally:
                other.close()
            for d in self.answers(self):
                self.sock.sendto(d, addr)
        except Exception as e:  # reported by check()
            self.errors.append(repr(e))

    def check(self):
        if self.thread:
            self.thread.join(30)
        t = self.t
        t.check(not self.errors, "the fake memwarden failed: %s", self.errors)
        t.check(self.request == b"MEMWARDEN_RELEASE_REQUEST=1\n", "request %r", self.request)
        t.check(self.sender_pid and self.sender_pid != os.getpid(), "request sent by pid %r", self.sender_pid)
        t.check(self.spoof_refused, "a datagram from a socket other than memwarden's reached the client")

    def release(self, *args):
        return self.t.run_plain(["release", "--state", self.state] + list(args), timeout_s=40)


def test_release_cli_prints_each_report(t):
    fake = FakeMemwarden(t, lambda f: [report(101), b"STATUS=not a report\n",
                                       report(102, "glibc", 100, (300, 100), (320, 120), 2800000),
                                       done(2, 2, 1)])
    rc, out, err = fake.release()
    fake.check()
    t.check(rc == 0, "release exited %d, expected 0; stderr %r", rc, err)
    lines = out.splitlines()
    t.check(len(lines) == 3, "expected 2 reports and the summary, got %r", out)
    want = ("pid 101: jemalloc, in use 270.0 MiB, held 580.0 MiB -> 276.0 MiB, "
            "RSS 600.0 MiB -> 300.0 MiB, fragmentation 53.4% before, 12.3 ms")
    t.check(lines[0] == want, "first line %r, expected %r", lines[0], want)
    t.check(lines[1].startswith("pid 102: glibc,") and "2800.0 ms" in lines[1], "second line %r", lines[1])
    t.check(lines[2] == "done: 2 signalled, 2 reports, 1 skipped", "summary %r", lines[2])
    t.check("9 signalled" not in out, "the spoofed summary was printed: %r", out)


def test_release_cli_json_lines(t):
    fake = FakeMemwarden(t, lambda f: [report(7), done(1, 1, 0)])
    rc, out, err = fake.release("--json")
    fake.check()
    t.check(rc == 0, "release --json exited %d; stderr %r", rc, err)
    objs = [json.loads(l) for l in out.splitlines()]
    t.check(len(objs) == 2, "expected 2 JSON lines, got %r", out)
    r = objs[0]
    t.check(r.get("pid") == 7 and r.get("allocator") == "jemalloc", "report %r", r)
    t.check(r.get("in_use") == 270 * MIB and r.get("held_before") == 580 * MIB
            and r.get("held_after") == 276 * MIB and r.get("rss_before") == 600 * MIB
            and r.get("rss_after") == 300 * MIB, "sizes in %r", r)
    t.check(abs(r.get("fragmentation_before", -1) - 310 / 580) < 1e-3, "fragmentation in %r", r)
    t.check(r.get("duration_ms") == 12.345 and r.get("deferred_ms") == 0.04, "durations in %r", r)
    t.check(objs[1] == {"done": True, "signalled": 1, "reports": 1, "skipped": 0}, "summary %r", objs[1])


def test_release_cli_nothing_to_signal(t):
    fake = FakeMemwarden(t, lambda f: [done(0, 0, 3)])
    rc, out, err = fake.release()
    fake.check()
    t.check(rc == 1, "release with no process to signal exited %d, expected 1", rc)
    t.check("done: 0 signalled, 0 reports, 3 skipped" in out, "summary missing: %r", out)
    t.check("handler" in err and "3 skipped" in err, "release does not say why: %r", err)


def test_release_cli_none_answered(t):
    fake = FakeMemwarden(t, lambda f: [done(2, 0, 0)])
    rc, out, err = fake.release("--json")
    fake.check()
    t.check(rc == 1, "release with no answer exited %d, expected 1", rc)
    t.check(json.loads(out.splitlines()[-1]).get("signalled") == 2, "summary %r", out)
    t.check("none answered" in err, "release does not say why: %r", err)


@timeout(60)
def test_release_cli_times_out(t):
    fake = FakeMemwarden(t, lambda f: [])
    rc, out, err = fake.release()
    fake.check()
    t.check(rc == 1, "release without any answer exited %d, expected 1", rc)
    t.check(out == "", "printed %r", out)
    t.check("no answer" in err and "15 s" in err, "release does not say it timed out: %r", err)


@timeout(60)
def test_release_cli_reports_without_summary(t):
    fake = FakeMemwarden(t, lambda f: [report(5)])
    rc, out, err = fake.release()
    fake.check()
    t.check(rc == 0, "release with a report but no summary exited %d, expected 0", rc)
    t.check(out.startswith("pid 5: jemalloc") and len(out.splitlines()) == 1, "printed %r", out)
    t.check("did not say it was done" in err, "stderr %r", err)


def test_release_cli_memwarden_not_listening(t):
    fake = FakeMemwarden(t, None, bind=False)
    rc, out, err = fake.release()
    t.check(rc == 1, "release with nothing on the socket exited %d, expected 1", rc)
    t.check("nothing listens" in err and fake.name in err, "stderr %r", err)


def test_release_cli_state_checks(t):
    fake = FakeMemwarden(t, None, state="stopped", bind=False)
    rc, out, err = fake.release()
    t.check(rc == 1 and "stopped" in err, "release of a stopped memwarden: %d %r", rc, err)
    fake = FakeMemwarden(t, None, with_socket=False, bind=False)
    rc, out, err = fake.release()
    t.check(rc == 1 and "no socket" in err, "release without a socket in the state: %d %r", rc, err)
    missing = t.path("none.json")
    rc, out, err = t.run_plain(["release", "--state", missing, "--json"])
    t.check(rc == 3 and "nothing is running" in err and missing in err,
            "release without a state file: %d %r", rc, err)
    for args in (["--ready"], ["--bogus"], ["extra"], ["--state"]):
        rc, out, err = t.run_plain(["release"] + args)
        t.check(rc == 2, "release %s exited %d, expected 2 (usage)", " ".join(args), rc)
