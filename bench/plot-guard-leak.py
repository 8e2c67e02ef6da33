#!/usr/bin/env python3
"""bench/plot-guard-leak.py: the guard against a leak (issue 6's second
picture) from the RAW JSON lines of bench/guard-leak.py: per leak rate,
memwarden's graceful restarts against the OOM kills, with memwarden and
without it (clustered bars), and how close each cycle came to the limit
(the median and the highest cycle peak, memory.max_usage_in_bytes, as % of
the limit; a second panel). No measurement of its own.

Records of the same rate are pooled (RAW files are appended to): counts
added, cycle peaks put together. The graceful restarts are the `restart`
events' graceful field; the OOM kills are the cgroup's oom_kill counter.

Knobs (environment): RAW=bench/data/guard-leak.jsonl, MD=bench/data/guard-leak.md
(guard-leak.py's markdown: its date, machine and load line go into the header),
LIMIT=256 (MiB: guard-leak.py's LIMIT, which RAW does not hold),
DATA=bench/data/guard-leak.dat, IMG=bench/img/guard-leak.png.
Output: DATA (one line per rate, a header), IMG (by bench/plot-guard-leak.gp).
See bench/README.md ("Pictures").
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

RAW = os.environ.get("RAW", os.path.join(B.REPO, "bench/data/guard-leak.jsonl"))
MD = os.environ.get("MD", os.path.join(B.REPO, "bench/data/guard-leak.md"))
LIMIT = float(os.environ.get("LIMIT", "256")) * B.MIB
DATA = os.environ.get("DATA", os.path.join(B.REPO, "bench/data/guard-leak.dat"))
IMG = os.environ.get("IMG", os.path.join(B.REPO, "bench/img/guard-leak.png"))
GP = os.path.join(B.REPO, "bench/plot-guard-leak.gp")


def read_raw():
    """{rate: {"mw": [records], "plain": [records]}}, rates ascending."""
    by = {}
    with open(RAW) as f:
        for l in f:
            if l.strip():
                r = json.loads(l)
                by.setdefault(r["rate"], {"mw": [], "plain": []})["plain" if r.get("plain") else "mw"].append(r)
    return dict(sorted(by.items()))


def pct(x):
    return 100.0 * x / LIMIT


def row(rate, recs):
    """The figures of one rate, pooled over its records."""
    mw, plain = recs["mw"], recs["plain"]
    peaks = [p for r in mw for p in r["cycle_peaks"]]
    percent = [p for r in mw for p in r["percent"] if p is not None]
    restart_ms = [p for r in mw for p in r["restart_ms"] if p is not None]
    for q in plain:  # an OOM-killed leaker alone peaks at the limit: LIMIT is the one guard-leak.py used
        if q["oom_kill"] and abs(q["peak"] - LIMIT) > 0.02 * LIMIT:
            B.log("warning: rate %g: a run without memwarden peaked at %.1f MiB, LIMIT is %.1f MiB"
                  % (rate, q["peak"] / B.MIB, LIMIT / B.MIB))
    return {
        "rate": rate, "runs": len(mw),
        "memory_restarts": sum(r["memory_restarts"] for r in mw),
        "graceful": sum(r["graceful"] for r in mw),
        "markers": sum(max(0, r["markers"] - 1) for r in mw),  # each run's last marker is its final shutdown
        "mw_oom": sum(r["oom_kill"] for r in mw),
        "plain_runs": len(plain), "plain_oom": sum(q["oom_kill"] for q in plain),
        "plain_sigkill": sum(1 for q in plain if q["rc"] == -9),
        "plain_s": B.median([q["elapsed_s"] for q in plain]),
        "peak_med": pct(B.median(peaks)) if peaks else None, "peak_max": pct(max(peaks)) if peaks else None,
        "percent_med": B.median(percent), "restart_ms": B.median(restart_ms),
    }


def md_lines():
    """guard-leak.py's "### Results (…)" and "Machine: …" lines, if its markdown is there."""
    if not os.path.exists(MD):
        return []
    return [l.strip() for l in open(MD) if l.startswith("### Results") or l.startswith("Machine:")]


def write_data(rows):
    cols = ["idx", "rate", "runs", "memory_restarts", "graceful", "markers", "mw_oom", "plain_runs", "plain_oom",
            "plain_sigkill", "plain_s", "peak_med", "peak_max", "percent_med", "restart_ms"]
    os.makedirs(os.path.dirname(DATA), exist_ok=True)
    md = md_lines()
    when = md[0][len("### Results ("):].split(",")[0] if md else time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(RAW)))
    with open(DATA, "w") as f:
        f.write("# bench/plot-guard-leak.py from %s (RAW of bench/guard-leak.py), written %s, git HEAD now: %s\n"
                % (os.path.relpath(RAW, B.REPO), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), B.git_head()))
        for l in md:
            f.write("# %s\n" % l)
        f.write("# limit %.0f MiB; per rate, pooled over its records: memwarden runs, memory restarts, graceful "
                "(events), graceful (leaker's marker lines), OOM kills with memwarden (oom_control); runs without "
                "memwarden, their OOM kills, SIGKILLs, median time to the end (s); cycle peak median and max "
                "(%% of limit), restart percent median, restart ms median\n" % (LIMIT / B.MIB))
        m = re.search(r"Load average at the start: (\S+) .*at the end: (\S+) ", " ".join(md))
        f.write("# limit_mib=%g\n# subtitle=%s; %s%s\n" % (LIMIT / B.MIB, when, B.machine().split(",")[0],
                                                           "; load %s → %s" % m.groups() if m else ""))
        f.write("# " + " ".join(cols) + "\n")
        for i, r in enumerate(rows):
            r = dict(r, idx=i)
            f.write(" ".join("NaN" if r[c] is None else ("%g" % r[c] if isinstance(r[c], (int, float)) else r[c])
                             for c in cols) + "\n")


def header_values():
    vals = {}
    for l in open(DATA):
        for k in ("limit_mib", "subtitle"):
            if l.startswith("# %s=" % k):
                vals[k] = l.rstrip("\n").split("=", 1)[1]
    return vals


def gp_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def plot(rows):
    os.makedirs(os.path.dirname(IMG), exist_ok=True)
    v = header_values()
    xt = "(%s)" % ", ".join('"%g MB/s" %d' % (r["rate"], i) for i, r in enumerate(rows))
    ymax = max([r["memory_restarts"] for r in rows] + [r["plain_runs"] for r in rows] + [1]) * 1.35
    e = "dat=%s; out=%s; limit=%s; n=%d; xt=%s; ymax=%g; sub=%s" % (
        gp_str(DATA), gp_str(IMG), v["limit_mib"], len(rows), gp_str(xt), ymax, gp_str(v.get("subtitle", "")))
    subprocess.run(["gnuplot", "-e", e, GP], check=True)
    B.log("wrote %s" % IMG)


def main():
    rows = [row(rate, recs) for rate, recs in read_raw().items()]
    write_data(rows)
    B.log("wrote %s" % DATA)
    plot(rows)


if __name__ == "__main__":
    main()
