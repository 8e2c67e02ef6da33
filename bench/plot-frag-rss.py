#!/usr/bin/env python3
"""bench/plot-frag-rss.py: the fragmenting workload's memory over time per
allocator strategy, with and without memwarden (issue 6), as a PNG.

tests/workloads/fragment (16 threads, --forever, --stats 250) runs DURATION
s in a fresh v1 memory cgroup limited to MULT x its live bytes, four times:
(a) glibc alone, (b) jemalloc alone (LD_PRELOAD), (c) memwarden as PID 1
(unshare --pid --fork --mount-proc --kill-child) with `-s
allocator.preload=none` (the agent alone preloaded: releases are
malloc_trim), (d) memwarden with its defaults (jemalloc and the agent).
Every INTERVAL s: the cgroup's memory.usage_in_bytes and oom_kill
(memory.oom_control); the workload's own VmRSS and live bytes from its STAT
lines; memwarden's `release.done` and `restart` events as they come. A
workload alone ends at its OOM kill; under memwarden the run goes on to
DURATION whatever happens (restarts and OOM kills are marked), unless
memwarden itself exits (it gives up after service.max_restarts, 10 by
default). memwarden with preload=none sets glibc's arena_max to 2 x CPUs.

The live bytes: a calibration run of the workload alone (glibc, no limit,
CAL_S s), the mean of its STAT `live` after 3 s, as bench/guard-frag.py
does; LIVE=bytes skips it.

Knobs (environment): DURATION=60, MULT=1.6, LIVE=bytes, CAL_S=20,
INTERVAL=0.25, MW_ARGS (more -s options for both memwarden runs),
DATA=bench/data/frag-rss.dat, IMG=bench/img/frag-rss.png,
PLOT_ONLY=1 (no run: the PNG again from DATA).
Output: DATA (gnuplot index blocks, a header saying machine, date, git HEAD,
load, LIVE and limit), IMG (by bench/plot-frag-rss.gp), a markdown summary
on stdout. See bench/README.md ("Pictures").
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

DURATION = float(os.environ.get("DURATION", "60"))
MULT = float(os.environ.get("MULT", "1.6"))
CAL_S = float(os.environ.get("CAL_S", "20"))
INTERVAL = float(os.environ.get("INTERVAL", "0.25"))
DATA = os.environ.get("DATA", os.path.join(B.REPO, "bench/data/frag-rss.dat"))
IMG = os.environ.get("IMG", os.path.join(B.REPO, "bench/img/frag-rss.png"))
GP = os.path.join(B.REPO, "bench/plot-frag-rss.gp")
MW_ARGS = os.environ.get("MW_ARGS", "").split()
STATS_MS = 250

# (name, kind, environment for "plain" or memwarden options for "mw"); the .gp file
# draws them in this order, in these colours.
CONFIGS = [
    ("glibc alone", "plain", {}),
    ("jemalloc alone", "plain", {"LD_PRELOAD": B.JEMALLOC}),
    ("memwarden, glibc (preload=none)", "mw", ["-s", "allocator.preload=none"]),
    ("memwarden defaults (jemalloc)", "mw", []),
]
KINDS = {"release.done": 1, "restart": 2, "oom": 3}



def calibrate(frag):
    """Mean live bytes of the workload alone (glibc, no limit), after 3 s."""
    p = B.Proc([frag, "--threads", "16", "--forever", "--stats", "500"], env=B.base_env())
    time.sleep(CAL_S)
    p.finish()
    st = p.stats()
    s = [x for x in st if x["ms"] - st[0]["ms"] >= 3000]
    return sum(x["live"] for x in s) / len(s)


class Run:
    """One configuration in its cgroup: the samples, the STAT lines and memwarden's events,
    all timed in seconds from the start."""

    def __init__(self, cfg, limit):
        self.name, self.kind, self.arg = cfg
        self.cg = B.make_cgroup("rss", limit)
        self.oom0 = B.cg_oom_kills(self.cg)
        self.samples = []  # (t, usage, oom_kill count)
        self.stat = []  # (t, live, rss, ops)
        self.events = []  # (t, event dict, usage then)
        self.t0 = time.monotonic()
        self.end = None  # (t, how) when the process ended before DURATION
        self.errors = []

    def usage(self):
        try:
            return B.cg_int(self.cg, "memory.usage_in_bytes")
        except OSError:
            return None

    def on_line(self, l):
        t = time.monotonic() - self.t0
        f = l.split()
        if len(f) >= 6 and f[0] == "STAT":
            self.stat.append((t, int(f[2]), int(f[4]), int(f[5])))
        elif len(f) == 2 and f[0] == "ERRORS" and f[1].isdigit():  # blocks found damaged, at each exit
            self.errors.append(int(f[1]))
        elif l.startswith("{"):
            try:
                e = json.loads(l)
            except ValueError:
                return
            self.events.append((t, e, self.usage()))


def start(run, frag, mw):
    fcmd = [frag, "--threads", "16", "--forever", "--stats", str(STATS_MS)]
    env = B.base_env()
    if run.kind == "plain":
        env.update(run.arg)
        p = B.Proc(fcmd, env=env, on_line=run.on_line, preexec=B.in_cgroup(run.cg))
        return p, p.pid
    state = os.path.join(B.tmpdir(), "state.json")
    argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", mw,
            "-s", "status.state_file=" + state] + run.arg + MW_ARGS + ["--"] + fcmd
    p = B.Proc(argv, env=env, stderr=subprocess.STDOUT, on_line=run.on_line, preexec=B.in_cgroup(run.cg))
    return p, B.namespace_init(p.pid)


def sample(run, p):
    """Every INTERVAL s until DURATION, or until the process ends."""
    k = 0
    while True:
        k += 1
        wake = run.t0 + k * INTERVAL
        if wake - run.t0 > DURATION + 1e-6:
            return
        time.sleep(max(0.0, wake - time.monotonic()))
        t = time.monotonic() - run.t0
        u, n = run.usage(), B.cg_oom_kills(run.cg) - run.oom0
        if p.p.poll() is not None:  # gone: its OOM kill is counted, its memory no longer drawn
            run.samples.append((t, None, n))
            run.end = (t, "exited %s" % p.p.returncode)
            return
        run.samples.append((t, u, n))


def stop(run, p, init):
    B.stop_run(p, init)
    run.peak = B.cg_int(run.cg, "memory.max_usage_in_bytes")
    run.oom_total = B.cg_oom_kills(run.cg) - run.oom0
    run.rc = p.p.returncode
    B.remove_cgroup(run.cg)
    if run.kind == "mw":
        run.alloc = B.check_allocator_event([e for _, e, _ in run.events])


def measure(frag, mw, cfg, limit):
    run = Run(cfg, limit)
    p, init = start(run, frag, mw)
    sample(run, p)
    stop(run, p, init)
    return run


# ---------------------------------------------------------------- derived figures


def oom_kills(run):
    """(t, count) for each sample where the cgroup's oom_kill counter rose."""
    out, prev = [], 0
    for t, _, n in run.samples:
        if n > prev:
            out.append((t, n - prev))
        prev = n
    return out


def usage_at(run, t):
    """The cgroup's usage in the last sample at or before t."""
    u = None
    for ts, us, _ in run.samples:
        if ts > t:
            break
        u = us if us is not None else u
    return u


def restart_marks(run):
    """Each restart where memwarden began it: its `memory.hard` event (the usage read when it
    came), or, for one that has none (reason oom), the `restart` event's time less restart_ms
    (the event comes once the new instance runs). A `memory.hard` the run ended after, before
    its `restart` event: marked too."""
    out, used = [], set()
    hard = [(t, u) for t, e, u in run.events if e.get("event") == "memory.hard"]
    for t, e, u in run.events:
        if e.get("event") != "restart" or e.get("reason") == "exit":
            continue
        tb = max(0.0, t - (e.get("restart_ms") or 0) / 1000.0)
        h = [x for x in hard if tb - 0.5 <= x[0] <= t and x not in used]
        tb, ub = (h[-1][0], h[-1][1]) if h else (tb, usage_at(run, tb))
        used.update(h[-1:])
        out.append((tb, ub, KINDS["restart"], "reason=%s,graceful=%s,oom_killed=%s,percent=%.1f,restart_ms=%s" % (
            e.get("reason"), e.get("graceful"), e.get("oom_killed"), e.get("percent") or 0, e.get("restart_ms"))))
    out += [(t, u, KINDS["restart"], "memory.hard,the_run_ended_first") for t, u in hard if (t, u) not in used]
    return out


def marks(run):
    """Events to draw: (t, bytes, kind code, detail). A release where it ended, at the usage
    then; a restart where it began; an OOM kill at the limit."""
    out = restart_marks(run)
    for t, e, u in run.events:
        if e.get("event") == "release.done":
            out.append((t, u, KINDS["release.done"], "ms=%s,freed_rss=%s" % (e.get("ms"), e.get("freed_rss"))))
    for t, n in oom_kills(run):
        out.append((t, run.limit, KINDS["oom"], "oom_kill+%d" % n))
    return sorted(out, key=lambda m: m[0])


def total_ops(run):
    """Buffers built over the run, adding up the instances (ops restart from 0)."""
    tot, prev = 0, 0
    for _, _, _, ops in run.stat:
        tot += ops - prev if ops >= prev else ops
        prev = ops
    return tot


def summary(run):
    st = [x for x in run.stat if x[0] >= 3.0]
    us = [u for t, u, _ in run.samples if u is not None and t >= 3.0 and stat_at(run, t)]  # the workload running
    rel = [e for _, e, _ in run.events if e.get("event") == "release.done"]
    rst = [e for _, e, _ in run.events if e.get("event") == "restart"]
    kills = oom_kills(run)
    return {
        "name": run.name, "end": run.end, "peak": run.peak, "oom_kill": run.oom_total,
        "first_oom_s": kills[0][0] if kills else None,
        "releases": len(rel), "release_ms": [e.get("ms") for e in rel],
        "freed_rss": [e.get("freed_rss") for e in rel],
        "restarts": len(rst), "graceful": sum(1 for e in rst if e.get("graceful")),
        "restart_t": [round(t, 2) for t, e, _ in run.events if e.get("event") == "restart"],
        "mean_usage": sum(us) / len(us) if us else None,
        "mean_rss_live": (sum(x[2] / x[1] for x in st if x[1]) / len(st)) if st else None,
        "ops": total_ops(run), "ran_s": run.end[0] if run.end else DURATION,
        "running_s": INTERVAL * sum(1 for t, _, _ in run.samples if stat_at(run, t)),
        "errors": run.errors,
        "allocator": {k: run.alloc.get(k) for k in ("preload", "malloc_conf", "narenas", "arena_max")}
        if getattr(run, "alloc", None) else None,
    }


# ---------------------------------------------------------------- output


def stat_at(run, t):
    """The STAT line that came last within 0.6 s before t, or None."""
    best = None
    for x in run.stat:
        if x[0] > t:
            break
        if x[0] >= t - 0.6:
            best = x
    return best


def mib(x):
    return "NaN" if x is None else "%.2f" % (x / B.MIB)


def end_label(run):
    """(t, text) for a run whose process ended before DURATION: a workload alone at its OOM kill,
    memwarden when it exited (it gives up after service.max_restarts)."""
    k = oom_kills(run)
    if run.kind == "plain" and k:
        return k[0][0], "%s: OOM-killed at %.1f s" % (run.name, k[0][0])
    if run.end:
        gave = [e for _, e, _ in run.events if e.get("event") == "giveup"]
        return run.end[0], "%s: %s at %.1f s" % (run.name, "memwarden gave up" if gave else run.end[1], run.end[0])
    return None


def write_data(runs, head):
    os.makedirs(os.path.dirname(DATA), exist_ok=True)
    with open(DATA, "w") as f:
        for l in head:
            f.write("# %s\n" % l)
        for i, r in enumerate(runs):
            f.write("\n\n# [%d] %s: t_s usage_MiB vmrss_MiB live_MiB\n" % (i, r.name))
            for t, u, _ in r.samples:
                s = stat_at(r, t)
                f.write("%.3f %s %s %s\n" % (t, mib(u), mib(s[2]) if s else "NaN", mib(s[1]) if s else "NaN"))
        f.write("\n\n# [%d] events: config t_s MiB kind detail (kind 1 release.done, 2 restart, "
                "3 OOM kill: oom_kill rose in that sample, drawn at the limit)\n" % len(runs))
        n = 0
        for i, r in enumerate(runs):
            for t, u, k, d in marks(r):
                f.write("%d %.3f %s %d %s\n" % (i, t, mib(u), k, d))
                n += 1
        if not n:
            f.write("-1 NaN NaN 0 none\n")
        f.write("\n\n# [%d] labels: t_s MiB text right (where a run ended before DURATION; right: 1 when the "
                "text goes left of the point)\n" % (len(runs) + 1))
        j = 0
        for r in runs:
            text = end_label(r)
            if text:
                j += 1
                f.write('%.3f %.2f "%s" %d\n' % (text[0], r.limit / B.MIB * (0.98 + 0.045 * j), text[1],
                                                 text[0] > DURATION / 2))
        if not j:
            f.write('NaN NaN "" 0\n')


def header_values():
    """The figures the .gp needs, read back from DATA's header."""
    vals = {}
    with open(DATA) as f:
        for l in f:
            m = re.match(r"# (limit_mib|live_mib|duration|mult|subtitle)=(.*)", l.rstrip("\n"))
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def plot():
    os.makedirs(os.path.dirname(IMG), exist_ok=True)
    v = header_values()
    sub = v.get("subtitle", "").replace("\\", "\\\\").replace('"', '\\"')
    e = ('dat="%s"; out="%s"; limit=%s; live=%s; dur=%s; mult=%s; sub="%s"'
         % (DATA, IMG, v["limit_mib"], v["live_mib"], v["duration"], v["mult"], sub))
    r = subprocess.run(["gnuplot", "-e", e, GP], stderr=subprocess.PIPE, text=True)
    for l in r.stderr.splitlines():  # a configuration without events of a kind: not worth a warning
        if "Skipping data file with no valid points" not in l:
            print(l, file=sys.stderr)
    if r.returncode:
        raise SystemExit("gnuplot failed")
    B.log("wrote %s" % IMG)


def report(runs):
    print("| configuration | ran s | the workload running s | OOM kills (first at s) | memwarden restarts "
          "(graceful) | releases (median ms) | mean usage MiB (after 3 s, while a workload ran) | peak MiB | "
          "RSS/live mean | ops per running s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        s = summary(r)
        print("| %s | %.1f | %.1f | %d (%s) | %s | %s | %s | %.1f | %s | %s |" % (
            s["name"], s["ran_s"], s["running_s"], s["oom_kill"], B.fmt(s["first_oom_s"], "%.1f"),
            "%d (%d)" % (s["restarts"], s["graceful"]) if r.kind == "mw" else "–",
            "%d (%s)" % (s["releases"], B.fmt(B.median(s["release_ms"]), "%.0f")) if r.kind == "mw" else "–",
            B.fmt(s["mean_usage"] / B.MIB if s["mean_usage"] else None, "%.1f"), s["peak"] / B.MIB,
            B.fmt(s["mean_rss_live"], "%.2f"), B.fmt(s["ops"] / s["running_s"] if s["running_s"] else None, "%.0f")))


def main():
    if os.environ.get("PLOT_ONLY") == "1":
        plot()
        return
    mw, _ = B.copy_memwarden()
    frag = B.compile_workload("fragment")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    others, load0 = B.others_running(), B.loadavg()
    live = float(os.environ["LIVE"]) if os.environ.get("LIVE") else calibrate(frag)
    limit = int(MULT * live) // 4096 * 4096
    B.log("live %.1f MiB, limit %.1f MiB (%.2f x live)" % (live / B.MIB, limit / B.MIB, MULT))
    runs = []
    for cfg in CONFIGS:
        B.log("%s: %g s" % (cfg[0], DURATION))
        r = measure(frag, mw, cfg, limit)
        r.limit = limit
        runs.append(r)
        B.log("  %s" % {k: v for k, v in summary(r).items() if k not in ("freed_rss", "release_ms")})
    head = ["bench/plot-frag-rss.py: fragment --threads 16 --forever --stats %d in a fresh v1 memory cgroup per "
            "configuration, %g s each, sampled every %g s; memwarden's defaults%s" % (
                STATS_MS, DURATION, INTERVAL, "".join(" " + a for a in MW_ARGS)),
            "date: %s; git HEAD: %s" % (started, B.git_head()),
            "machine: %s" % B.machine(),
            "load average at the start: %s, at the end: %s" % (load0, B.loadavg()),
            "other work running at the start: %s" % ("; ".join(others) or "none"),
            "LIVE %d bytes (%.1f MiB, %s); limit %d bytes (%.1f MiB) = %.2f x LIVE" % (
                live, live / B.MIB, "given" if os.environ.get("LIVE") else
                "calibration: glibc alone, no limit, %g s, mean after 3 s" % CAL_S, limit, limit / B.MIB, MULT)]
    for r in runs:
        s = summary(r)
        head.append("%s: %s" % (r.name, json.dumps({k: v for k, v in s.items() if k != "name"})))
    head += ["limit_mib=%.2f" % (limit / B.MIB), "live_mib=%.2f" % (live / B.MIB), "duration=%g" % DURATION,
             "mult=%g" % MULT,
             "subtitle=%s, git %s; %s; load %s → %s" % (started, B.git_head().split()[0], B.machine().split(",")[0],
                                                      load0.split()[0], B.loadavg().split()[0])]
    write_data(runs, head)
    B.log("wrote %s" % DATA)
    report(runs)
    plot()


if __name__ == "__main__":
    main()
