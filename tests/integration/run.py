#!/usr/bin/env python3
"""memwarden's integration tier: the real binary, as PID 1 of a PID namespace.

    python3 tests/integration/run.py [-k SUBSTRING]... [--list] [-v]

Runs every function named test_* in tests/integration/test_*.py, each in a
forked process of its own with a time limit, and prints one line per test
(PASS name / FAIL name: reason / SKIP name: reason), then

    integration: N passed, N failed, N skipped

Exit status 1 when a test failed, else 0.

Environment: MEMWARDEN_BIN (default build/memwarden) and
MEMWARDEN_WORKLOADS (default build/workloads), relative to the repository
root. With the default workloads directory the runner first builds the
workloads with make.

The runner makes itself a child subreaper: a process that a test (or the
memwarden it ran) leaves behind is reparented to the runner, which kills
it and fails the test that left it.
"""

import argparse
import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lib  # noqa: E402

DEFAULT_TIMEOUT = 120
PR_SET_CHILD_SUBREAPER = 36


class TestTimeout(BaseException):
    pass


class Interrupted(BaseException):
    pass


# The test child running now, and whether we were told to stop (SIGTERM,
# SIGINT): the child is told too, cleans up, and no further test starts.
current_child = None
interrupted = None


def on_stop_signal(signo, frame):
    global interrupted
    interrupted = signo
    if current_child:
        try:
            os.kill(current_child, signo)
        except ProcessLookupError:
            pass


def discover(selectors):
    tests = []
    seen = {}
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        modname = fname[:-3]
        mod = importlib.import_module(modname)
        fns = [v for k, v in vars(mod).items() if k.startswith("test_") and callable(v)]
        fns.sort(key=lambda f: f.__code__.co_firstlineno)
        for fn in fns:
            name = fn.__name__[len("test_"):]
            full = "%s.%s" % (modname, fn.__name__)
            if name in seen:
                raise SystemExit("duplicate test name %s in %s and %s" % (name, seen[name], modname))
            seen[name] = modname
            if selectors and not any(s in full for s in selectors):
                continue
            tests.append((name, fn))
    return tests


def build_workloads():
    src = os.path.join(lib.REPO, "tests", "workloads")
    if os.environ.get("MEMWARDEN_WORKLOADS"):
        return
    targets = ["build/workloads/" + f[:-2] for f in sorted(os.listdir(src)) if f.endswith(".c")]
    if not targets:
        return
    p = subprocess.run(["make", "-s"] + targets, cwd=lib.REPO, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stdout.write("integration: building workloads failed:\n%s%s" % (p.stdout, p.stderr))


def run_in_child(name, fn, wfd):
    """In the forked child: runs the test and writes its result to wfd."""
    limit = getattr(fn, "timeout", DEFAULT_TIMEOUT)

    def on_alarm(signo, frame):
        raise TestTimeout()

    def on_stop(signo, frame):
        raise Interrupted()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    t = None
    result = ("FAIL", "internal error")
    try:
        t = lib.T(name)
        if getattr(fn, "needs_root", False):
            t.require_root()
        signal.alarm(limit)
        fn(t)
        signal.alarm(0)
        result = ("PASS", "")
    except lib.Skip as e:
        result = ("SKIP", str(e))
    except lib.Failure as e:
        result = ("FAIL", str(e))
    except TestTimeout:
        result = ("FAIL", "test timed out after %ss" % limit)
    except Interrupted:
        result = ("FAIL", "interrupted by a signal")
    except Exception:
        result = ("FAIL", "error in test:\n" + traceback.format_exc())
    finally:
        signal.alarm(0)
    if t is not None:
        signal.alarm(60)
        # Cleaning up must not be cut short by a second TERM or INT.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            errors = t.cleanup()
        except TestTimeout:
            errors = ["cleanup timed out"]
        signal.alarm(0)
        if errors and result[0] == "PASS":
            result = ("FAIL", "cleanup: " + "; ".join(errors))
    os.write(wfd, json.dumps(result).encode())
    os.close(wfd)


def reap_strays(grace_s=3.0):
    """Returns descriptions of processes reparented to us (and kills them)."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
        except ChildProcessError:
            pass
        live = [p for p in lib.proc_children(os.getpid()) if lib.alive(p)]
        if not live or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    desc = []
    for p in live:
        desc.append("%d (%s)" % (p, lib.proc_cmdline(p)[:80]))
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _ in range(100):
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not lib.proc_children(os.getpid()):
                break
            time.sleep(0.02)
    return desc


def run_one(name, fn):
    global current_child
    runner_pid = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.close(r)
        # Should the runner die (even of SIGKILL), the test is told to stop
        # and clean up.
        lib.die_with_parent(signal.SIGTERM)
        if os.getppid() != runner_pid:
            os._exit(1)
        code = 0
        try:
            run_in_child(name, fn, w)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    current_child = pid
    if interrupted:
        os.kill(pid, interrupted)
    os.close(w)
    limit = getattr(fn, "timeout", DEFAULT_TIMEOUT) + 90
    deadline = time.monotonic() + limit
    data = b""
    os.set_blocking(r, False)
    status = None
    while True:
        try:
            chunk = os.read(r, 65536)
            if chunk:
                data += chunk
        except BlockingIOError:
            pass
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = st
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.02)
    try:
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    os.close(r)
    current_child = None
    try:
        verdict, reason = json.loads(data.decode())
    except ValueError:
        verdict, reason = "FAIL", "test process ended without a result (status %r)" % (status,)
    strays = reap_strays()
    if strays:
        msg = "left processes behind: " + ", ".join(strays)
        if verdict == "FAIL":
            reason += "; and " + msg
        else:
            verdict, reason = "FAIL", msg
    return verdict, reason


def main():
    ap = argparse.ArgumentParser(description="memwarden integration tests")
    ap.add_argument("-k", action="append", default=[], help="run only tests whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("-v", action="store_true", help="show each passing test's duration")
    args = ap.parse_args()

    tests = discover(args.k)
    if args.list:
        for name, fn in tests:
            print(name)
        return 0

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass
    build_workloads()
    if tests and not os.access(lib.memwarden_bin(), os.X_OK):
        # One clear failure rather than one per test.
        print("FAIL memwarden_binary: not found at %s (make build/memwarden, or set MEMWARDEN_BIN)"
              % lib.memwarden_bin(), flush=True)
        print("integration: 0 passed, 1 failed, 0 skipped", flush=True)
        return 1

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for name, fn in tests:
        if interrupted:
            print("integration: stopped by signal %d; the remaining tests were not run" % interrupted, flush=True)
            counts["FAIL"] += 1
            break
        t0 = time.monotonic()
        verdict, reason = run_one(name, fn)
        counts[verdict] += 1
        took = time.monotonic() - t0
        if verdict == "PASS":
            line = "PASS %s" % name + (" (%.1fs)" % took if args.v else "")
        else:
            # One line per test; details go on indented lines below it.
            line = "%s %s: %s" % (verdict, name, reason.rstrip().replace("\n", "\n    "))
        print(line, flush=True)
    print("integration: %d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]), flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
