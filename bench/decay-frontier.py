#!/usr/bin/env python3
"""bench/decay-frontier.py: what jemalloc itself trades between memory and
throughput on the fragmenting workload (issue 5's Measure), with no memwarden
and no limit that bites. Each MALLOC_CONF runs `fragment --threads 16
--forever` for THRU_S (30) s in a v1 cgroup of 3 x live, REPS (3) rounds, the
order rotating, each round also running jemalloc with no MALLOC_CONF (the
reference the throughput is paired with). Reported per configuration (medians
over the rounds): RSS / live (mean after 2 s), the cgroup's peak / live
(memory.max_usage_in_bytes, start-up included: about the least limit it could
live under with nothing to help it), ops/s, and ops/s over the paired
reference's. Markdown on stdout.

Why: the lowest limit memwarden sustains is bounded by what the allocator
must hold at the workload's peaks; holding less means purging pages the
workload will touch again, and each is faulted back in. This measures that
price for the allocator alone, so guard-frag.py's figures can be read
against it.

Knobs: THRU_S=30, REPS=3, LIVE=bytes (else calibrated as guard-frag.py
does: glibc alone, no limit, CAL_S=20 s), CONFS="name|conf;..." (instead of
the built-in list), RAW=FILE.
"""
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "guard_frag", os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard-frag.py"))
GF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(GF)

THRU_S = float(os.environ.get("THRU_S", "30"))
REPS = int(os.environ.get("REPS", "3"))
MULT = 3.0
REF = "jemalloc, no MALLOC_CONF"
CONFS = [
    (REF, None),
    ("memwarden's default (narenas from 2 CPUs)", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2"),
    ("the same, per-CPU arenas", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,percpu_arena:percpu"),
    ("dirty_decay_ms:250", "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0,narenas:2"),
    ("no background thread, dirty_decay_ms:100", "background_thread:false,dirty_decay_ms:100,muzzy_decay_ms:0,narenas:2"),
    ("no background thread, dirty_decay_ms:75", "background_thread:false,dirty_decay_ms:75,muzzy_decay_ms:0,narenas:2"),
    ("no background thread, dirty_decay_ms:50", "background_thread:false,dirty_decay_ms:50,muzzy_decay_ms:0,narenas:2"),
    ("dirty_decay_ms:0", "background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0,narenas:2"),
]


def confs():
    if not os.environ.get("CONFS"):
        return CONFS
    out = [(REF, None)]
    for v in os.environ["CONFS"].split(";"):
        name, _, conf = v.partition("|")
        out.append((name.strip(), conf.strip()))
    return out


def main():
    run = B.Run("fragment")
    mw, frag = run.mw, run.workload
    live = float(os.environ["LIVE"]) if os.environ.get("LIVE") else GF.calibrate(frag)[0]
    B.log("live bytes: %.1f MiB" % (live / B.MIB))
    cs = confs()
    runs = {c[0]: [] for c in cs}
    for rep in range(REPS):
        for name, conf in cs[rep % len(cs):] + cs[:rep % len(cs)]:
            env = {"LD_PRELOAD": B.JEMALLOC}
            if conf:
                env["MALLOC_CONF"] = conf
            r = GF.probe(frag, mw, (name, "plain", env), MULT, live, THRU_S)
            r["rep"], r["malloc_conf"] = rep, conf
            runs[name].append(r)
            run.raw(r)
            B.log("%d %-45s %s ops/s %s  RSS/live %s  peak/live %.2f" % (
                rep, name, "ok" if r["ok"] else "FAIL (%s)" % r["why"], B.fmt(r["ops_per_s"], "%.0f"),
                B.fmt(r["mean_rss"] / r["mean_live"] if r["mean_rss"] else None), r["peak"] / live))
    ref = {r["rep"]: r["ops_per_s"] for r in runs[REF] if r["ops_per_s"]}
    run.header(more=" Live bytes: %.1f MiB; cgroup limit %.1f × live (never reached)." % (live / B.MIB, MULT))
    head = ["configuration", "MALLOC_CONF", "RSS / live", "peak / live", "ops/s", "vs no MALLOC_CONF (paired)"]
    rows = []
    for name, conf in cs:
        rs = runs[name]
        rows.append([name, "`%s`" % conf if conf else "(none)",
                     B.fmt(B.median([r["mean_rss"] / r["mean_live"] for r in rs if r["mean_rss"]])),
                     B.fmt(B.median([r["peak"] / live for r in rs])),
                     B.fmt(B.median([r["ops_per_s"] for r in rs if r["ops_per_s"]]), "%.0f"),
                     B.fmt(B.median([r["ops_per_s"] / ref[r["rep"]] for r in rs
                                     if r["ops_per_s"] and r["rep"] in ref]))])
    print(B.table(head, rows))


if __name__ == "__main__":
    main()
