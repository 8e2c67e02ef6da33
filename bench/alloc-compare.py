#!/usr/bin/env python3
"""bench/alloc-compare.py: RSS / live bytes and throughput of the fragmenting
workload (tests/workloads/fragment.c, 16 threads, 12 s) under glibc, glibc
with arena_max=2, jemalloc default, jemalloc with memwarden's MALLOC_CONF,
each alone and with a release signal every 1 s and every 10 s (the agent
preloaded, its reports read on a socket of this script), and jemalloc
MALLOC_CONF candidates for memwarden's default. All configurations run one
after the other in each repetition, the order rotating from repetition to
repetition; medians over the repetitions. Markdown on stdout.

Knobs (environment): REPS=5, SECONDS=12, THREADS=16, ONLY=substring,...
(run only the configurations whose name holds one of them; =NAME: that name exactly), RAW=FILE (every
run's figures as JSON lines), SKIP_CANDIDATES=1, CANDIDATES="conf;conf;..."
(other MALLOC_CONF candidates than the built-in list), REPORT=raw.jsonl,...
(no run: the tables from RAW files, pooled; pairs within each file's repetitions).
See bench/README.md ("Allocators on the fragmenting workload").
"""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

REPS = int(os.environ.get("REPS", "5"))
SECONDS = float(os.environ.get("SECONDS", "12"))
THREADS = int(os.environ.get("THREADS", "16"))
STATS_MS = 100
WARM_S = 2.0  # samples before this (the queues and rings filling) are left out



def configs(mwconf, agent):
    je = B.JEMALLOC
    base = [
        ("glibc", {}),
        ("glibc arena_max=2", {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}),
        ("jemalloc default", {"LD_PRELOAD": je}),
        ("jemalloc memwarden", {"LD_PRELOAD": je, "MALLOC_CONF": mwconf}),
    ]
    out = []
    for period in (0, 1, 10):
        for name, env in base:
            e = dict(env)
            if period:
                e["LD_PRELOAD"] = ":".join(x for x in (e.get("LD_PRELOAD"), agent) if x)
            out.append({"name": name + ("" if not period else ", release every %d s" % period), "alloc": name,
                        "env": e, "period": period, "main": True})
    if os.environ.get("SKIP_CANDIDATES") != "1":
        narenas = os.cpu_count()
        cands = [
            "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:false,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:false,dirty_decay_ms:500,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:false,dirty_decay_ms:250,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:false,dirty_decay_ms:100,muzzy_decay_ms:0,narenas:%d" % narenas,
            "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0",
            "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0",
        ]
        if os.environ.get("CANDIDATES"):
            cands = os.environ["CANDIDATES"].split(";")
        for c in cands:
            if c == mwconf:
                continue
            out.append({"name": "jemalloc " + c, "alloc": "candidate", "env": {"LD_PRELOAD": je, "MALLOC_CONF": c},
                        "period": 0, "main": False, "conf": c})
    only = os.environ.get("ONLY")
    if only:
        keys = only.split(",")
        out = [c for c in out if any(c["name"] == k[1:] if k.startswith("=") else k in c["name"] for k in keys)]
    return out


def run_one(frag, cfg, rx):
    env = B.base_env()
    env.update(cfg["env"])
    if cfg["period"]:
        env.update(rx.env())
        rx.take()
    la0 = B.loadavg()
    p = B.Proc([frag, "--threads", str(THREADS), "--seconds", str(SECONDS), "--stats", str(STATS_MS)], env=env)
    t0 = p.t0
    sent = 0
    if cfg["period"]:
        k = 1
        while True:
            at = t0 + k * cfg["period"]
            if at > t0 + SECONDS - 0.2:
                break
            time.sleep(max(0, at - time.monotonic()))
            if p.p.poll() is not None:
                break
            p.signal(B.RELEASE_SIGNAL)
            sent += 1
            k += 1
    if p.wait_line(lambda l: l == "READY", SECONDS + 120) is None:
        raise SystemExit("%s: no READY:\n%s" % (cfg["name"], "\n".join(p.text()[-20:])))
    cpu = B.cpu_seconds(p.pid)  # the churn has stopped: the threads' CPU time, all of it
    rc = p.finish()
    v = p.values()
    if rc != 0 or v.get("ERRORS") != 0:
        raise SystemExit("%s: exit %s, ERRORS %r" % (cfg["name"], rc, v.get("ERRORS")))
    st = p.stats()
    first = st[0]["ms"] - STATS_MS
    steady = [s for s in st if s["ms"] - first >= WARM_S * 1000 and s["live"] > 0]
    ratios = [s["rss"] / s["live"] for s in steady]
    reps = []
    if cfg["period"]:
        time.sleep(0.3)
        reps = [d for _, d in rx.take() if "MEMWARDEN_RELEASE" in d]
    return {
        "name": cfg["name"], "ops": v["OPS"], "live": v["LIVE"], "rss_end": v.get("RSS"),
        "end_ratio": v["RSS"] / v["LIVE"] if v.get("RSS") else None,
        "mean_ratio": sum(ratios) / len(ratios), "peak_ratio": max(ratios),
        "mean_rss": sum(s["rss"] for s in steady) / len(steady),
        "mean_live": sum(s["live"] for s in steady) / len(steady),
        "peak_rss": max(s["rss"] for s in steady),
        "signals": sent, "reports": len(reps), "cpu_s": cpu, "ops_per_cpu_s": v["OPS"] / cpu,
        "release_usec": [d.get("USEC") for d in reps],
        "load": la0, "load_end": B.loadavg(),
    }


def from_raw(files, mwconf, agent):
    """REPORT=raw.jsonl,...: the tables again from RAW files, no run. Repetitions of different
    files stay apart (pairs are made within a repetition of one file)."""
    results, order = {}, []
    for i, f in enumerate(files):
        for l in open(f):
            r = json.loads(l)
            r["rep"] = r["rep"] + 1000 * i
            if r["name"] not in results:
                results[r["name"]] = []
                order.append(r["name"])
            results[r["name"]].append(r)
    known = {c["name"]: c for c in configs(mwconf, agent)}
    cfgs = []
    for n in order:
        c = known.get(n) or {"name": n, "alloc": "candidate", "period": 0, "main": False}
        cfgs.append(c)
    return cfgs, results


def main():
    mw, agent = B.copy_memwarden()
    mwconf = B.memwarden_malloc_conf(mw)
    if "narenas" not in mwconf:
        raise SystemExit("memwarden's MALLOC_CONF is %r: no narenas?" % mwconf)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    others = B.others_running()
    loads = []
    if os.environ.get("REPORT"):
        files = os.environ["REPORT"].split(",")
        cfgs, results = from_raw(files, mwconf, agent)
        loads = [r["load"] for rs in results.values() for r in rs]
        reps = len({r["rep"] for rs in results.values() for r in rs})
        started = "from %s" % ", ".join(os.path.basename(f) for f in files)
        others = ["(see the runs)"]
    else:
        frag = B.compile_workload("fragment")
        cfgs = configs(mwconf, agent)
        rx = B.Receiver()
        raw = open(os.environ["RAW"], "a") if os.environ.get("RAW") else None
        B.log("%d configurations x %d repetitions, ~%.0f min; memwarden's MALLOC_CONF here: %s"
              % (len(cfgs), REPS, len(cfgs) * REPS * (SECONDS + 1.5) / 60, mwconf))
        results = {c["name"]: [] for c in cfgs}
        reps = REPS
        for rep in range(REPS):
            order = cfgs[rep % len(cfgs):] + cfgs[:rep % len(cfgs)]
            for cfg in order:
                r = run_one(frag, cfg, rx)
                r["rep"] = rep
                results[cfg["name"]].append(r)
                loads.append(r["load"])
                if raw:
                    raw.write(json.dumps(r) + "\n")
                    raw.flush()
                B.log("rep %d %-70s ops %6d  ops/cpu-s %5.0f  RSS/live mean %.2f peak %.2f end %.2f  "
                      "releases %d/%d  load %s"
                      % (rep, cfg["name"], r["ops"], r["ops_per_cpu_s"], r["mean_ratio"], r["peak_ratio"],
                         r["end_ratio"] or 0, r["reports"], r["signals"], r["load"]))
    others_end = B.others_running()
    M = B.median

    def row(c):
        rs = results[c["name"]]
        return {
            "ops": M([r["ops"] for r in rs]), "mean": M([r["mean_ratio"] for r in rs]),
            "peak": M([r["peak_ratio"] for r in rs]), "end": M([r["end_ratio"] for r in rs]),
            "rss": M([r["mean_rss"] for r in rs]), "live": M([r["mean_live"] for r in rs]),
            "ops_min": min(r["ops"] for r in rs), "ops_max": max(r["ops"] for r in rs),
            "mean_min": min(r["mean_ratio"] for r in rs), "mean_max": max(r["mean_ratio"] for r in rs),
            "usec": M([u for r in rs for u in r["release_usec"] if u is not None]),
            "opc": M([r["ops_per_cpu_s"] for r in rs]), "cpu": M([r["cpu_s"] for r in rs]),
            "reports": M([r["reports"] for r in rs]), "signals": M([r["signals"] for r in rs]),
        }

    rows = {c["name"]: row(c) for c in cfgs}
    ref = rows.get("jemalloc default")
    # Paired: each run against the jemalloc default run of the same repetition (the
    # machine's speed drifts over minutes), the median of those ratios.
    refrun = {r["rep"]: r for r in results.get("jemalloc default", [])}
    for c in cfgs:
        rs = [r for r in results[c["name"]] if r["rep"] in refrun]
        rows[c["name"]]["pair"] = M([r["ops"] / refrun[r["rep"]]["ops"] for r in rs]) if rs else None
        rows[c["name"]]["pair_c"] = M([r["ops_per_cpu_s"] / refrun[r["rep"]]["ops_per_cpu_s"] for r in rs]) \
            if rs else None
    ref_ops = ref["ops"] if ref else None
    print("### Results (%s, %d repetitions, memwarden at %s)\n" % (started, reps, B.git_head()))
    l1 = [float(l.split()[0]) for l in loads]
    print("Machine: %s. Load average (1 min) at the start of each run: median %.2f, %.2f to %.2f."
          % (B.machine(), B.median(l1), min(l1), max(l1)))
    print("Other work seen running at the start: %s; at the end: %s.\n"
          % ("; ".join(others) or "none", "; ".join(others_end) or "none"))
    print("memwarden's MALLOC_CONF on this machine (`memwarden -- sh -c 'echo $MALLOC_CONF'`): `%s`\n" % mwconf)
    head = ["configuration", "runs", "RSS/live mean", "(reps min–max)", "RSS/live peak", "RSS/live at the end",
            "mean RSS MiB", "mean live MiB", "ops in %g s" % SECONDS, "(reps min–max)",
            "ops vs jemalloc default (medians; paired)", "CPU s used", "ops per CPU s",
            "ops/CPU s vs jemalloc default (medians; paired)",
            "releases served / signals", "release µs (median)"]

    def line(c):
        r = rows[c["name"]]
        return [c["name"], len(results[c["name"]]), B.fmt(r["mean"]), "%.2f–%.2f" % (r["mean_min"], r["mean_max"]), B.fmt(r["peak"]),
                B.fmt(r["end"]), "%.0f" % (r["rss"] / B.MIB), "%.0f" % (r["live"] / B.MIB), "%d" % r["ops"],
                "%d–%d" % (r["ops_min"], r["ops_max"]),
                "%s; %s" % (B.fmt(r["ops"] / ref_ops if ref_ops else None, "%.2f"), B.fmt(r["pair"], "%.2f")),
                "%.1f" % r["cpu"], "%.0f" % r["opc"],
                "%s; %s" % (B.fmt(r["opc"] / ref["opc"] if ref else None, "%.2f"), B.fmt(r["pair_c"], "%.2f")),
                ("%g / %g" % (r["reports"], r["signals"])) if c["period"] else "–",
                B.fmt(r["usec"], "%.0f") if c["period"] else "–"]

    print("#### Allocators, without and with a periodic release (medians over the runs)\n")
    print(B.table(head, [line(c) for c in cfgs if c["main"]]))
    cands = [c for c in cfgs if not c["main"]]
    if cands:
        print("\n#### jemalloc MALLOC_CONF candidates, no release (medians over the runs)\n")
        mwname = "jemalloc memwarden"
        print(B.table(head, [line(c) for c in cfgs if c["name"] in (mwname, "jemalloc default")]
                      + [line(c) for c in cands]))
        if ref_ops:
            for key, what in (("pair", "ops in %g s (paired ratio)" % SECONDS),
                              ("pair_c", "ops per CPU second (paired ratio)")):
                ok = [(rows[c["name"]]["mean"], c["name"]) for c in cfgs
                      if not c["period"] and c["alloc"] in ("candidate", "jemalloc memwarden")
                      and rows[c["name"]][key] is not None and rows[c["name"]][key] >= 0.9]
                if ok:
                    best = min(ok)
                    print("\nLowest mean RSS/live at ≥ 90%% of jemalloc default's %s: **%s** (%.2f)."
                          % (what, best[1], best[0]))


if __name__ == "__main__":
    main()
