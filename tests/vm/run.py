#!/usr/bin/env python3
"""memwarden's VM tier: the real binary in a qemu VM with a real cgroup v2
memory controller (memory.max, memory.high, memory.events, oom.group).

    python3 tests/vm/run.py [-k SUBSTRING]... [-j N] [--list] [-v]

First runs tests/vm/setup.sh (qemu, kernel and base initramfs, cached in
build/vm/), builds the workloads statically, then boots one VM per test
(tests in tests/vm/cases.py), N at a time (default 2), and prints

    PASS name / FAIL name: reason / SKIP name: reason
    vm: N passed, N failed, N skipped

Exit status 1 when a test failed, else 0. Everything is skipped, with the
reason, when not run as root or when the VM cannot be prepared (no mirror,
qemu not runnable). Each test's serial console output is kept in
build/vm/logs/NAME.log; -v prints it for failed tests.

Environment: MEMWARDEN_BIN (default build/memwarden, relative to the
repository root); it must be linked statically.
"""

import argparse
import concurrent.futures
import os
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
import vmlib  # noqa: E402
from vmlib import Fail, Skip  # noqa: E402


def run_one(test, memwarden):
    """Returns (verdict, reason, seconds, log, observations)."""
    start = time.monotonic()
    holder = {}

    def boot(script):
        run = vmlib.boot(test.name, script, memwarden, test.timeout)
        holder["log"] = run.log
        return run

    observed = None
    try:
        observed = test.fn(boot)
        verdict, reason = "PASS", ""
    except Skip as e:
        verdict, reason = "SKIP", str(e)
    except Fail as e:
        verdict, reason = "FAIL", str(e)
    except Exception:
        verdict, reason = "FAIL", "error in the test: " + traceback.format_exc().strip()
    return verdict, reason, time.monotonic() - start, holder.get("log"), observed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("-j", type=int, default=2, help="VMs at a time (default 2)")
    ap.add_argument("--list", action="store_true", help="list the tests")
    ap.add_argument("-v", action="store_true", help="timings, and the console of failed tests")
    args = ap.parse_args()

    tests = [t for t in cases.TESTS if not args.k or any(k in t.name for k in args.k)]
    if args.list:
        for t in tests:
            print(t.name)
        return 0

    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def report(verdict, name, reason=""):
        counts[verdict] += 1
        print("%s %s%s" % (verdict, name, ": " + reason if reason else ""), flush=True)

    def finish():
        print("vm: %d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"],
                                                        counts["SKIP"]), flush=True)
        return 1 if counts["FAIL"] else 0

    def on_stop(signo, frame):
        vmlib.kill_all()
        report("FAIL", "vm", "interrupted by signal %d" % signo)
        finish()
        os._exit(128 + signo)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    t0 = time.monotonic()
    if os.geteuid() != 0:
        why = "needs root (apt-get for qemu, busybox-static and the kernel)"
    else:
        why = vmlib.setup() or vmlib.qemu_problem()
    if why:
        for t in tests:
            report("SKIP", t.name, why)
        return finish()
    if args.v:
        print("setup: %.1f s" % (time.monotonic() - t0), flush=True)

    memwarden = os.path.join(vmlib.ROOT, os.environ.get("MEMWARDEN_BIN", "build/memwarden"))
    problem = None
    if not os.path.exists(memwarden):
        problem = "no %s (make build/memwarden)" % memwarden
    elif not vmlib.is_static_elf(memwarden):
        problem = "%s is not linked statically: the VM has no libraries" % memwarden
    else:
        try:
            vmlib.build_workloads()
        except Fail as e:
            problem = str(e)
    if problem:
        for t in tests:
            report("FAIL", t.name, problem)
        return finish()

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futures = [(t, pool.submit(run_one, t, memwarden)) for t in tests]
        for t, fut in futures:
            verdict, reason, secs, log, observed = fut.result()
            if verdict == "FAIL" and log:
                reason += " (console: %s)" % os.path.relpath(log, vmlib.ROOT)
            report(verdict, t.name, reason)
            if args.v:
                print("  %.1f s" % secs)
                if observed:
                    print("  observed: %s" % observed)
                if verdict == "FAIL" and log:
                    with open(log) as f:
                        for line in f:
                            print("  | " + line, end="")
    if args.v:
        print("total: %.1f s" % (time.monotonic() - t0))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
