#!/usr/bin/env python3
"""bench/guard-frag.py: the memory guard against fragmentation (issue 5).
The lowest v1 cgroup limit, as a multiple of the fragmenting workload's live
bytes (tests/workloads/fragment.c, 16 threads, --forever), that each
configuration sustains for DURATION (60) s: for memwarden (as PID 1, unshare
--pid --fork --mount-proc --kill-child) no `restart` and no OOM kill
(`oom.kill` events, memory.oom_control); for the workload alone under
glibc or jemalloc, no OOM kill. The multiple is searched in steps of 0.05
by bisection between LO and HI, the configurations' probes interleaved
round by round; the minimum found is then confirmed by one more run (and
raised by 0.05 until a run passes). Throughput (ops/s) is that of the
passing runs at the minimum. Markdown on stdout.

The live bytes: a calibration run of the workload alone (glibc, no limit,
CAL_S s): the mean of its --stats `live` after 3 s; LIVE=bytes skips it.

Then, THRU_REPS (3) rounds of THRU_S (30) s runs of every configuration at
its minimum, the order rotating, each paired with the round's "jemalloc
alone" run: the throughput at that limit (a run there may also fail).

Knobs (environment): DURATION=60, LO=1.0, HI=3.0, CAL_S=20, CONFIRM=1,
THRU_REPS=3, THRU_S=30, MINIMA="name=mult;..." (no search: the throughput
phase at these multiples; with LIVE=bytes),
ONLY=substring,..., VARIANTS="name|-s a=b -s c=d;name2|..." (memwarden
variants instead of the built-in list), PLAIN="name|MALLOC_CONF;..." (jemalloc
alone with that MALLOC_CONF, added to the list), RAW=FILE.
See bench/README.md ("The guard against fragmentation").
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

DURATION = float(os.environ.get("DURATION", "60"))
LO = float(os.environ.get("LO", "1.0"))
HI = float(os.environ.get("HI", "3.0"))
CAL_S = float(os.environ.get("CAL_S", "20"))
CONFIRM = os.environ.get("CONFIRM", "1") == "1"
THRU_REPS = int(os.environ.get("THRU_REPS", "3"))
THRU_S = float(os.environ.get("THRU_S", "30"))
STEP = 0.05
WARM_S = 5.0  # throughput counted after this

C250 = "allocator.malloc_conf=background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0"
C100F = "allocator.malloc_conf=background_thread:false,dirty_decay_ms:100,muzzy_decay_ms:0"
C0 = "allocator.malloc_conf=background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0"
HIGH = ["-s", "memory.soft=90%", "-s", "memory.hard=97%", "-s", "memory.release_interval=1s"]
MW_VARIANTS = [
    ("memwarden defaults", []),
    ("memwarden release_interval=1s", ["-s", "memory.release_interval=1s"]),
    ("memwarden soft=90% hard=97% release_interval=1s", HIGH),
    ("memwarden dirty_decay_ms:250, soft=90% hard=97% release_interval=1s", ["-s", C250] + HIGH),
    ("memwarden background_thread:false dirty_decay_ms:100, soft=90% hard=97% release_interval=1s",
     ["-s", C100F] + HIGH),
    ("memwarden dirty_decay_ms:0, soft=90% hard=97% release_interval=1s", ["-s", C0] + HIGH),
]


def configs():
    out = [("glibc alone", "plain", {}), ("jemalloc alone", "plain", {"LD_PRELOAD": B.JEMALLOC})]
    variants = MW_VARIANTS
    if os.environ.get("VARIANTS"):
        variants = []
        for v in os.environ["VARIANTS"].split(";"):
            name, _, args = v.partition("|")
            variants.append((name.strip(), args.split()))
    out += [(n, "mw", a) for n, a in variants]
    for v in filter(None, os.environ.get("PLAIN", "").split(";")):  # the allocator alone, tuned
        name, _, conf = v.partition("|")
        out.append((name.strip(), "plain", {"LD_PRELOAD": B.JEMALLOC, "MALLOC_CONF": conf.strip()}))
    only = os.environ.get("ONLY")
    if only:
        out = [c for c in out if any(c[0] == k[1:] if k.startswith("=") else k in c[0] for k in only.split(","))]
    return out



def calibrate(frag):
    p = B.Proc([frag, "--threads", "16", "--forever", "--stats", "500"], env=B.base_env())
    time.sleep(CAL_S)
    p.finish()
    st = p.stats()
    t0 = st[0]["ms"]
    s = [x for x in st if x["ms"] - t0 >= 3000]
    live = sum(x["live"] for x in s) / len(s)
    return live, max(x["live"] for x in s), sum(x["building"] for x in s) / len(s), \
        sum(x["rss"] for x in s) / len(s)


def probe(frag, mw, cfg, mult, live, duration=None):
    duration = duration or DURATION
    name, kind, arg = cfg
    limit = int(mult * live) // 4096 * 4096
    cg = B.make_cgroup("frag", limit)
    oom0 = B.cg_oom_kills(cg)
    events = []
    fail = []

    def on_line(l):
        if not l.startswith("{"):
            return
        try:
            e = json.loads(l)
        except ValueError:
            return
        e["_t"] = time.monotonic()
        events.append(e)
        if e.get("event") in ("restart", "oom.kill", "memory.hard"):
            fail.append(e)

    fcmd = [frag, "--threads", "16", "--forever", "--stats", "1000"]
    if kind == "plain":
        env = B.base_env()
        env.update(arg)
        p = B.Proc(fcmd, env=env, preexec=B.in_cgroup(cg))
        init = p.pid
    else:
        state = os.path.join(B.tmpdir(), "state.json")
        argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", mw, "-s",
                "status.state_file=" + state] + arg + ["--"] + fcmd
        p = B.Proc(argv, env=B.base_env(), stderr=subprocess.STDOUT, on_line=on_line,
                   preexec=B.in_cgroup(cg))
        init = B.namespace_init(p.pid)
    t0 = time.monotonic()
    why = None
    while time.monotonic() - t0 < duration:
        if p.p.poll() is not None:
            why = "exited %s" % p.p.returncode
            break
        if B.cg_oom_kills(cg) > oom0:
            why = "OOM kill"
            break
        if any(e["event"] in ("restart", "oom.kill") for e in fail):
            why = "restart"
            break
        time.sleep(0.1)
    t_end = time.monotonic() - t0
    peak = B.cg_int(cg, "memory.max_usage_in_bytes")
    oom = B.cg_oom_kills(cg) - oom0
    B.stop_run(p, init)
    B.remove_cgroup(cg)
    st = p.stats()
    rate = None
    if st:
        a = [x for x in st if x["ms"] - st[0]["ms"] >= WARM_S * 1000 - 1000]
        if len(a) >= 2:
            rate = (a[-1]["ops"] - a[0]["ops"]) / ((a[-1]["ms"] - a[0]["ms"]) / 1000.0)
    steady = [x for x in st if x["ms"] - st[0]["ms"] >= 2000] if st else []
    if kind == "mw":
        B.check_allocator_event(events)
    hard = [e for e in events if e.get("event") == "memory.hard"]
    rel = [e for e in events if e.get("event") == "release.done"]
    ok = why is None and oom == 0 and not any(e["event"] in ("restart", "oom.kill") for e in events)
    if why is None and not ok:
        why = "OOM kill" if oom else "restart"
    return {
        "name": name, "mult": mult, "limit": limit, "ok": ok, "why": why, "t_end": t_end,
        "ops_per_s": rate, "peak": peak, "oom_kill": oom,
        "mean_live": sum(x["live"] for x in steady) / len(steady) if steady else None,
        "mean_rss": sum(x["rss"] for x in steady) / len(steady) if steady else None,
        "hard_why": [e.get("why") for e in hard],
        "hard_percent": [e.get("percent") for e in hard],
        "releases": len(rel),
        "release_ms": [e.get("ms") for e in rel],
        "freed_rss": [e.get("freed_rss") for e in rel],
        "release_reports": [e.get("reports") for e in rel],
        "agent_ms": [e.get("duration_ms") for e in events if e.get("event") == "release"],
        "malloc_conf": next((e.get("malloc_conf") for e in events if e.get("event") == "allocator"), None),
        "load": B.loadavg(),
    }


class Search:
    """The lowest k (mult = k * STEP) that passes, by bisection, then confirmed."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lo = int(round(LO / STEP))  # assumed to fail
        self.hi = int(round(HI / STEP))  # assumed to pass until probed
        self.runs = []
        self.hi_probed = False
        self.confirm_left = 1 if CONFIRM else 0
        self.done = False

    def next_k(self):
        if self.hi - self.lo > 1:
            return (self.lo + self.hi) // 2
        if not self.hi_probed:
            return self.hi
        if self.confirm_left:
            return self.hi
        return None

    def record(self, k, r):
        self.runs.append(r)
        if self.hi - self.lo > 1:
            if r["ok"]:
                self.hi, self.hi_probed = k, True
            else:
                self.lo = k
        elif not self.hi_probed:
            if r["ok"]:
                self.hi_probed = True
            else:
                self.lo, self.hi = k, k + 1
                if k + 1 > int(round(HI / STEP)) + 20:
                    self.done = True
        else:  # confirming the minimum
            if r["ok"]:
                self.confirm_left = 0
            else:  # not reproducible: one step up
                self.lo, self.hi, self.hi_probed = k, k + 1, False
        if self.next_k() is None:
            self.done = True

    def minimum(self):
        return self.hi * STEP if self.hi_probed else None


def main():
    run = B.Run("fragment")
    mw, frag = run.mw, run.workload
    if os.environ.get("LIVE"):
        live, live_peak, building, cal_rss = float(os.environ["LIVE"]), None, None, None
    else:
        live, live_peak, building, cal_rss = calibrate(frag)
    B.log("live bytes: %.1f MiB (peak %s)" % (live / B.MIB, live_peak and "%.1f MiB" % (live_peak / B.MIB)))
    searches = [Search(c) for c in configs()]
    if os.environ.get("MINIMA"):  # "name=mult;name=mult": no search, the throughput phase only
        given = dict(x.rsplit("=", 1) for x in os.environ["MINIMA"].split(";"))
        searches = [s for s in searches if s.cfg[0] in given]
        for s in searches:
            s.hi, s.hi_probed, s.done = int(round(float(given[s.cfg[0]]) / STEP)), True, True
    rnd = 0
    while not all(s.done for s in searches):
        for s in searches[rnd % len(searches):] + searches[:rnd % len(searches)]:
            if s.done:
                continue
            k = s.next_k()
            r = probe(frag, mw, s.cfg, k * STEP, live)
            r["round"] = rnd
            s.record(k, r)
            run.raw(r)
            B.log("round %d %-55s x%.2f %s%s  ops/s %s  peak %.0f MiB  releases %d  hard %s" % (
                rnd, s.cfg[0], k * STEP, "pass" if r["ok"] else "FAIL", "" if r["ok"] else
                " (%s at %.1f s)" % (r["why"], r["t_end"]), B.fmt(r["ops_per_s"], "%.0f"), r["peak"] / B.MIB,
                r["releases"], r["hard_why"][:1]))
        rnd += 1
    # Throughput at each one's minimum: THRU_REPS rounds, every configuration once per round
    # (order rotating), each run paired with the round's "jemalloc alone".
    thru = {s.cfg[0]: [] for s in searches}
    for rep in range(THRU_REPS):
        live_s = [s for s in searches if s.minimum()]
        for s in live_s[rep % len(live_s):] + live_s[:rep % len(live_s)]:
            r = probe(frag, mw, s.cfg, s.minimum(), live, THRU_S)
            r["thru_rep"] = rep
            thru[s.cfg[0]].append(r)
            run.raw(r)
            B.log("throughput %d %-55s x%.2f %s  ops/s %s" % (rep, s.cfg[0], s.minimum(),
                  "pass" if r["ok"] else "FAIL (%s at %.1f s)" % (r["why"], r["t_end"]),
                  B.fmt(r["ops_per_s"], "%.0f")))
    run.header()
    if live_peak:
        print("Live bytes (calibration, glibc alone, no limit, %g s, mean after 3 s): **%.1f MiB** (peak %.1f MiB; "
              "buffers being built beside them %.1f MiB; RSS %.1f MiB). Limit = multiple × %.1f MiB.\n"
              % (CAL_S, live / B.MIB, live_peak / B.MIB, building / B.MIB, cal_rss / B.MIB, live / B.MIB))
    ref = None
    for s in searches:
        if s.cfg[0] == "jemalloc alone" and s.minimum():
            okr = [r for r in s.runs if r["ok"] and abs(r["mult"] - s.minimum()) < 1e-6]
            ref = B.median([r["ops_per_s"] for r in okr])
    jref = {r["thru_rep"]: r for r in thru.get("jemalloc alone", []) if r["ops_per_s"]}
    head = ["configuration", "lowest multiple sustained %g s" % DURATION, "limit MiB",
            "ops/s there (median of passing runs)", "vs jemalloc alone", "RSS/live there", "releases in 60 s",
            "throughput phase: ops/s (runs, failed)", "paired vs jemalloc alone", "probes: multiple → result"]
    rows = []
    for s in searches:
        m = s.minimum()
        okr = [r for r in s.runs if r["ok"] and m and abs(r["mult"] - m) < 1e-6]
        ops = B.median([r["ops_per_s"] for r in okr])
        rr = B.median([r["mean_rss"] / r["mean_live"] for r in okr if r["mean_rss"] and r["mean_live"]])
        probes = ", ".join("%.2f %s" % (r["mult"], "ok" if r["ok"] else
                                          ("OOM" if "OOM" in (r["why"] or "") or r["oom_kill"] else
                                           "restart" if r["why"] == "restart" else r["why"]))
                           for r in s.runs)
        rows.append([s.cfg[0] + ("" if s.cfg[1] == "plain" else " (`%s`)" % " ".join(s.cfg[2]) if s.cfg[2] else ""),
                     B.fmt(m, "%.2f×"), B.fmt(m * live / B.MIB if m else None, "%.0f"), B.fmt(ops, "%.0f"),
                     B.fmt(ops / ref if ops and ref else None, "%.2f"), B.fmt(rr, "%.2f"),
                     B.fmt(B.median([r["releases"] for r in okr]), "%g"),
                     "%s (%d, %d)" % (B.fmt(B.median([r["ops_per_s"] for r in thru[s.cfg[0]]]), "%.0f"),
                                      len(thru[s.cfg[0]]), sum(1 for r in thru[s.cfg[0]] if not r["ok"])),
                     B.fmt(B.median([r["ops_per_s"] / jref[r["thru_rep"]]["ops_per_s"] for r in thru[s.cfg[0]]
                                     if r["ops_per_s"] and r["thru_rep"] in jref]), "%.2f"),
                     probes])
    print(B.table(head, rows))


if __name__ == "__main__":
    main()
