#!/usr/bin/env python3
"""bench/release-cost.py: the cost of one release (the agent's malloc_trim or
jemalloc purge) on the fragmenting workload, 16 threads churning: how long
the release takes (the agent's USEC) and how long the workload's threads
stall meanwhile (fragment --stats 50 --latency: the longest gap between two
consecutive steps of any thread, and of the median thread, in the 50 ms
intervals the release overlaps), and the throughput lost (the ops the
workload did not do during the release, as ms of the whole workload).
Rounds alternate the allocators; markdown on stdout.

Knobs (environment): ROUNDS=2, PER_ROUND=6 (releases per round and
allocator), WARM=3 (s before the first), GAP=2 (s between a report and the
next signal), ONLY=substring,..., RAW=FILE.
See bench/README.md ("The cost of one release").
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "2"))
PER_ROUND = int(os.environ.get("PER_ROUND", "6"))
WARM = float(os.environ.get("WARM", "3"))
GAP = float(os.environ.get("GAP", "2"))
STATS_MS = 50



def configs(mwconf, agent):
    je = B.JEMALLOC
    out = [
        ("glibc", {"LD_PRELOAD": agent}),
        ("glibc arena_max=2", {"LD_PRELOAD": agent, "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}),
        ("jemalloc default", {"LD_PRELOAD": je + ":" + agent}),
        ("jemalloc memwarden", {"LD_PRELOAD": je + ":" + agent, "MALLOC_CONF": mwconf}),
    ]
    only = os.environ.get("ONLY")
    if only:
        out = [c for c in out if any(c[0] == k[1:] if k.startswith("=") else k in c[0] for k in only.split(","))]
    return out


def run_round(frag, name, env_add, rx):
    env = B.base_env()
    env.update(env_add)
    env.update(rx.env())
    rx.take()
    p = B.Proc([frag, "--threads", "16", "--forever", "--stats", str(STATS_MS), "--latency"], env=env)
    p.wait_line(lambda l: l == "READY", 30)
    time.sleep(WARM)
    rels = []
    for i in range(PER_ROUND):
        t = time.monotonic()
        p.signal(B.RELEASE_SIGNAL)
        got = rx.wait_release(i, 60)
        if len(got) <= i:
            raise SystemExit("%s: no report for release %d" % (name, i + 1))
        rels.append((t, got[i][1]))
        # Room before the next signal for its control window (as long as this release).
        time.sleep(max(GAP, 1.3 * got[i][1]["USEC"] / 1e6 + 0.5))
    rc = p.finish()
    v = p.values()
    if rc != 0 or v.get("ERRORS") != 0:
        raise SystemExit("%s: exit %s, ERRORS %r" % (name, rc, v.get("ERRORS")))
    st = p.stats()
    windows = []
    for t, d in rels:
        start = t + d.get("DEFERRED_USEC", 0) / 1e6
        windows.append((t, start + d["USEC"] / 1e6))
    t_first = st[0]["ms"] / 1000.0

    def near(ms):
        x = ms / 1000.0
        return any(a - 0.3 <= x <= b + 0.6 for a, b in windows)

    # ops per ms far from every release, after the warm-up
    rates = []
    for a, b in zip(st, st[1:]):
        if a["ms"] / 1000.0 > t_first + 1.5 and not near(a["ms"]) and not near(b["ms"]) and b["ms"] > a["ms"]:
            rates.append((b["ops"] - a["ops"], b["ms"] - a["ms"]))
    rate = sum(o for o, _ in rates) / sum(m for _, m in rates) if rates else None

    def window_stats(lo, hi):
        """The lines whose interval (ms - STATS_MS, ms] overlaps [lo, hi]; each thread's longest
        gap over them; the longest of all and the median thread's."""
        inw = [x for x in st if x["ms"] > lo and x["ms"] - STATS_MS <= hi]
        if not inw:
            return None, None, inw
        pt = [max(g) for g in zip(*[x["gaps"] for x in inw])]
        return max(pt), B.median(pt), inw

    out = []
    for (t, d), (a, end) in zip(rels, windows):
        # From the signal to the end of the release and one interval more: a gap that began
        # in the release is recorded when it ends.
        lo, hi = a * 1000.0, end * 1000.0 + STATS_MS
        smax, smed, inw = window_stats(lo, hi)
        # The control: a window as long, just before the signal (no release in it).
        cmax, cmed, _ = window_stats(lo - 100 - (hi - lo), lo - 100)
        before = [x for x in st if x["ms"] <= lo]
        lost = None
        if inw and before and rate:
            span = inw[-1]["ms"] - before[-1]["ms"]
            done = inw[-1]["ops"] - before[-1]["ops"]
            lost = span - done / rate  # ms of the whole workload's progress lost
        out.append({
            "name": name, "usec": d["USEC"], "deferred_usec": d.get("DEFERRED_USEC"),
            "stall_max_us": smax, "stall_med_us": smed, "ctl_max_us": cmax, "ctl_med_us": cmed,
            "window_ms": hi - lo, "lost_ms": lost,
            "rss_before": d.get("RSS_BEFORE"), "rss_after": d.get("RSS_AFTER"),
            "held_before": d.get("HELD_BEFORE"), "held_after": d.get("HELD_AFTER"),
            "in_use": d.get("IN_USE"), "signals": d.get("SIGNALS"),
            "ops_per_s": rate * 1000 if rate else None, "load": B.loadavg(),
        })
    return out


def main():
    run = B.Run("fragment")
    mw, agent, frag = run.mw, run.agent, run.workload
    mwconf = B.memwarden_malloc_conf(mw)
    cfgs = configs(mwconf, agent)
    rx = B.Receiver()
    res = {n: [] for n, _ in cfgs}
    for rnd in range(ROUNDS):
        order = cfgs[rnd % len(cfgs):] + cfgs[:rnd % len(cfgs)]
        for name, env in order:
            rs = run_round(frag, name, env, rx)
            res[name] += rs
            for r in rs:
                run.raw(r)
            B.log("round %d %-20s usec %s stall max %s (control %s) median thread %s (control %s) lost ms %s" % (
                rnd, name, [r["usec"] for r in rs], [r["stall_max_us"] for r in rs], [r["ctl_max_us"] for r in rs],
                [r["stall_med_us"] for r in rs], [r["ctl_med_us"] for r in rs],
                ["%.0f" % r["lost_ms"] if r["lost_ms"] is not None else None for r in rs]))
    M = B.median
    run.header(", %d releases per allocator in %d rounds" % (ROUNDS * PER_ROUND, ROUNDS))
    head = ["allocator", "releases", "release ms (USEC) median", "max", "signal→start ms (median)",
            "longest stall of any thread ms, median", "max", "(control)",
            "longest stall of the median thread ms, median", "max", "(control)",
            "throughput lost ms, median", "max", "RSS before → after MiB (median)"]
    rows = []
    for name, _ in cfgs:
        rs = res[name]

        def col(k, f=lambda x: x):
            return [f(r[k]) for r in rs if r[k] is not None]

        def ms(x):
            return x / 1000
        us, sm, sd, lost = col("usec", ms), col("stall_max_us", ms), col("stall_med_us", ms), col("lost_ms")
        rows.append([name, len(rs), B.fmt(M(us), "%.1f"), B.fmt(max(us), "%.1f"),
                     B.fmt(M(col("deferred_usec", ms)), "%.2f"),
                     B.fmt(M(sm), "%.0f"), B.fmt(max(sm), "%.0f"), B.fmt(M(col("ctl_max_us", ms)), "%.0f"),
                     B.fmt(M(sd), "%.0f"), B.fmt(max(sd), "%.0f"), B.fmt(M(col("ctl_med_us", ms)), "%.0f"),
                     B.fmt(M(lost), "%.0f"), B.fmt(max(lost), "%.0f"),
                     "%.0f → %.0f" % (M(col("rss_before")) / B.MIB, M(col("rss_after")) / B.MIB)])
    print(B.table(head, rows))


if __name__ == "__main__":
    main()
