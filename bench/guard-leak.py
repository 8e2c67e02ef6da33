#!/usr/bin/env python3
"""bench/guard-leak.py: the memory guard against a steady leak (issue 5).
For each rate (10, 50, 200 MB/s): memwarden as PID 1 (unshare --pid --fork
--mount-proc --kill-child) over tests/workloads/leaker (--base-mb BASE) in a
v1 memory cgroup of 256 MiB, until RESTARTS memory restarts; counted:
graceful restarts (the `restart` events' graceful field, the leaker's
marker lines) against OOM kills (memory.oom_control oom_kill, `oom.kill`
events), how close each cycle came to the limit (memory.max_usage_in_bytes,
reset after each restart; the `percent` of each restart). Beside it, the
same leaker without memwarden, PLAIN_REPS times: how it ends. Markdown on
stdout.

Knobs (environment): RATES=10,50,200, BASE=100 (MiB at start), LIMIT=256
(MiB), RESTARTS=12, PLAIN_REPS=3, MW_ARGS (more -s options for memwarden),
RAW=FILE.
See bench/README.md ("The guard against a leak").
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

RATES = [float(x) for x in os.environ.get("RATES", "10,50,200").split(",")]
BASE = float(os.environ.get("BASE", "100"))
LIMIT = int(float(os.environ.get("LIMIT", "256")) * B.MIB)
RESTARTS = int(os.environ.get("RESTARTS", "12"))
PLAIN_REPS = int(os.environ.get("PLAIN_REPS", "3"))
MW_ARGS = os.environ.get("MW_ARGS", "").split()



def with_memwarden(mw, leaker, rate):
    cg = B.make_cgroup("leak", LIMIT)
    marker = os.path.join(B.tmpdir(), "marker-%g" % rate)
    state = os.path.join(B.tmpdir(), "state-%g.json" % rate)
    oom0 = B.cg_oom_kills(cg)
    events = []
    cycle_peaks = []

    def on_line(l):
        try:
            e = json.loads(l)
        except ValueError:
            return
        e["_t"] = time.monotonic()
        events.append(e)
        if e.get("event") == "restart":
            # The cycle that just ended: its peak, then a fresh count for the next.
            cycle_peaks.append(B.cg_int(cg, "memory.max_usage_in_bytes"))
            B.cg_reset_peak(cg)

    argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", mw,
            "-s", "service.max_restarts=1000", "-s", "service.restart_backoff=100ms",
            "-s", "service.restart_backoff_max=200ms", "-s", "status.state_file=" + state] + MW_ARGS + \
           ["--", leaker, "--rate", "%g" % rate, "--base-mb", "%g" % BASE, "--marker", marker]
    t0 = time.monotonic()
    p = B.Proc(argv, env=B.base_env(), stderr=__import__("subprocess").STDOUT, on_line=on_line,
               preexec=B.in_cgroup(cg))
    init = B.namespace_init(p.pid)
    cycle_s = (LIMIT * 0.9 / B.MIB - BASE) / rate
    deadline = time.monotonic() + RESTARTS * (cycle_s + 1.5) + 30
    while time.monotonic() < deadline and p.p.poll() is None:
        if sum(1 for e in events if e.get("event") == "restart") >= RESTARTS:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    if init:
        os.kill(init, signal.SIGTERM)
    rc = p.wait(timeout=30)
    B.check_allocator_event(events)
    last_peak = B.cg_int(cg, "memory.max_usage_in_bytes")
    oom = B.cg_oom_kills(cg) - oom0
    B.remove_cgroup(cg)
    markers = open(marker).read().split("\n") if os.path.exists(marker) else []
    markers = [m for m in markers if m.startswith("graceful")]
    restarts = [e for e in events if e.get("event") == "restart"]
    mem = [e for e in restarts if e.get("reason") in ("memory", "oom")]
    hard = [e for e in events if e.get("event") == "memory.hard"]
    return {
        "rate": rate, "rc": rc, "elapsed_s": elapsed, "restarts": len(restarts),
        "memory_restarts": len(mem),
        "graceful": sum(1 for e in mem if e.get("graceful")),
        "oom_killed_restarts": sum(1 for e in mem if e.get("oom_killed")),
        "oom_reason": sum(1 for e in mem if e.get("reason") == "oom"),
        "oom_events": sum(1 for e in events if e.get("event") == "oom.kill"),
        "oom_kill": oom,
        "markers": len(markers),  # the last one is the final shutdown's
        "percent": [e.get("percent") for e in mem],
        "restart_ms": [e.get("restart_ms") for e in mem],
        "drain_ms": [e.get("drain_ms") for e in mem],
        "why": [e.get("why") for e in hard],
        "cycle_peaks": cycle_peaks, "last_peak": last_peak,
        "load": B.loadavg(),
    }


def without(leaker, rate):
    cg = B.make_cgroup("leakplain", LIMIT)
    oom0 = B.cg_oom_kills(cg)
    t0 = time.monotonic()
    p = B.Proc([leaker, "--rate", "%g" % rate, "--base-mb", "%g" % BASE], env=B.base_env(),
               preexec=B.in_cgroup(cg))
    cycle_s = (LIMIT / B.MIB - BASE) / rate
    try:
        rc = p.wait(timeout=cycle_s * 3 + 30)
    except Exception:
        rc = p.finish()
    elapsed = time.monotonic() - t0
    r = {"rate": rate, "rc": rc, "elapsed_s": elapsed, "oom_kill": B.cg_oom_kills(cg) - oom0,
         "peak": B.cg_int(cg, "memory.max_usage_in_bytes")}
    B.remove_cgroup(cg)
    return r


def main():
    run = B.Run("leaker")
    mw, leaker = run.mw, run.workload
    res, plain = {}, {r: [] for r in RATES}
    for rate in RATES:
        B.log("rate %g MB/s with memwarden" % rate)
        r = with_memwarden(mw, leaker, rate)
        res[rate] = r
        run.raw(r)
        B.log("  %s" % {k: r[k] for k in ("memory_restarts", "graceful", "oom_kill", "markers", "percent")})
        for i in range(PLAIN_REPS):
            q = without(leaker, rate)
            plain[rate].append(q)
            run.raw(dict(q, plain=True))
            B.log("  without memwarden: %s" % q)
    run.header()
    print("Limit %d MiB (hard 90%% = %.0f MiB, soft 80%%), leaker from %g MiB; memwarden `-s "
          "service.max_restarts=1000 -s service.restart_backoff=100ms -s service.restart_backoff_max=200ms%s`.\n"
          % (LIMIT / B.MIB, 0.9 * LIMIT / B.MIB, BASE, "".join(" " + a for a in MW_ARGS)))
    head = ["rate MB/s", "memory restarts", "graceful (event)", "graceful (marker lines)", "OOM kills (oom_control)",
            "restart `percent` median", "min–max", "cycle peak MiB (max_usage) median", "max", "max % of limit",
            "restart ms median", "what triggered (memory.hard why)"]
    rows = []
    for rate in RATES:
        r = res[rate]
        peaks = r["cycle_peaks"]  # each the peak of the cycle that a restart ended
        whys = {}
        for w in r["why"]:
            w = "growth rule" if (w or "").startswith("growth") else w
            whys[w] = whys.get(w, 0) + 1
        pc = [x for x in r["percent"] if x is not None]
        rows.append(["%g" % rate, r["memory_restarts"], r["graceful"], max(0, r["markers"] - 1), r["oom_kill"],
                     B.fmt(B.median(pc), "%.1f%%"), "%.1f–%.1f%%" % (min(pc), max(pc)) if pc else "–",
                     B.fmt(B.median(peaks) / B.MIB if peaks else None, "%.1f"),
                     B.fmt(max(peaks) / B.MIB if peaks else None, "%.1f"),
                     B.fmt(100.0 * max(peaks) / LIMIT if peaks else None, "%.1f%%"),
                     B.fmt(B.median(r["restart_ms"]), "%.0f"),
                     "; ".join("%s ×%d" % kv for kv in sorted(whys.items()))])
    print("#### With memwarden\n")
    print(B.table(head, rows))
    print("\n#### The same leaker without memwarden (%d runs per rate)\n" % PLAIN_REPS)
    head = ["rate MB/s", "ended by", "OOM kills", "time to the end s (median)", "peak MiB (max_usage)"]
    rows = []
    for rate in RATES:
        qs = plain[rate]
        ends = {}
        for q in qs:
            k = ("SIGKILL" if q["rc"] == -9 else "exit %s" % q["rc"])
            ends[k] = ends.get(k, 0) + 1
        rows.append(["%g" % rate, ", ".join("%s ×%d" % kv for kv in ends.items()),
                     sum(q["oom_kill"] for q in qs), "%.1f" % B.median([q["elapsed_s"] for q in qs]),
                     "%.1f" % (max(q["peak"] for q in qs) / B.MIB)])
    print(B.table(head, rows))


if __name__ == "__main__":
    main()
