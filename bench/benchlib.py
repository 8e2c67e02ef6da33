"""Helpers shared by the bench/*.py scripts: a private copy of the binaries, the agent's report
socket, memory cgroups, processes that are always cleaned up, the machine's
description, statistics and markdown tables.

Every script stops the processes it started, removes its cgroups
(/sys/fs/cgroup/memory/mwbench-*-PID*) and its temporary directory
(/tmp/mwbench.*) on exit, on error and on SIGINT/SIGTERM.
"""
import atexit
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
RELEASE_SIGNAL = 40  # SIGRTMIN+6 with glibc: the agent's default
CGROOT = "/sys/fs/cgroup/memory"
MIB = 1024 * 1024

_procs = []
_cgroups = []
_tmp = None


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def tmpdir():
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="mwbench.", dir="/tmp")
    return _tmp


def _cleanup():
    for p in list(_procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.kill()
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    for cg in list(_cgroups):
        remove_cgroup(cg)
    if _tmp and os.path.isdir(_tmp):
        shutil.rmtree(_tmp, ignore_errors=True)


def _on_signal(signo, frame):
    log("signal %d: cleaning up" % signo)
    _cleanup()
    os._exit(128 + signo)


atexit.register(_cleanup)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)


def compile_workload(name):
    """tests/workloads/NAME.c built as the Makefile builds it, into the temporary directory."""
    out = os.path.join(tmpdir(), name)
    src = os.environ.get("WORKLOAD_DIR", os.path.join(REPO, "tests/workloads"))
    subprocess.run(["cc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
                    "-pthread", "-o", out, os.path.join(src, "%s.c" % name)], check=True)
    return out


def copy_memwarden():
    """A private copy of build/memwarden and its agent, so that a rebuild during the run cannot
    mix two versions: TMP/mw/bin/memwarden and TMP/mw/lib/memwarden-agent.so, the /opt/memwarden
    image layout, where `agent = auto` finds the agent (a copy anywhere else runs without it)."""
    d = os.path.join(tmpdir(), "mw")
    os.makedirs(os.path.join(d, "bin"), exist_ok=True)
    os.makedirs(os.path.join(d, "lib"), exist_ok=True)
    shutil.copy2(os.path.join(REPO, "build", "memwarden"), os.path.join(d, "bin", "memwarden"))
    shutil.copy2(os.path.join(REPO, "build", "memwarden-agent.so"), os.path.join(d, "lib", "memwarden-agent.so"))
    return os.path.join(d, "bin", "memwarden"), os.path.join(d, "lib", "memwarden-agent.so")


def check_allocator_event(events, want_agent=True):
    """memwarden's `allocator` event must show the agent preloaded: a bench of releases
    without it would measure nothing."""
    for e in events:
        if e.get("event") == "allocator":
            if want_agent and (e.get("agent") in (None, "none") or e.get("agent_reason") == "not found"):
                raise SystemExit("memwarden runs its service without the agent: %r" % e)
            return e
    return None



def namespace_init(unshare_pid):
    """The host pid of the namespace's PID 1 (memwarden): the child of
    `unshare --pid --fork`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            for tid in os.listdir("/proc/%d/task" % unshare_pid):
                kids = open("/proc/%d/task/%s/children" % (unshare_pid, tid)).read().split()
                if kids:
                    return int(kids[0])
        except OSError:
            pass
        time.sleep(0.05)
    return None


def stop_run(p, init):
    """Ends a run: SIGTERM to memwarden (init, its host pid) when it is
    still there, 60 s for it to shut down, then the process group."""
    if p.p.poll() is None:
        if init:
            try:
                os.kill(init, signal.SIGTERM)
            except OSError:
                pass
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.finish(timeout=5)
    else:
        p.wait()


def memwarden_malloc_conf(mw):
    """The MALLOC_CONF memwarden gives its service on this machine (its default, narenas added)."""
    r = subprocess.run([mw, "-q", "--", "sh", "-c", 'echo "$MALLOC_CONF"'], capture_output=True, text=True,
                       env=base_env())
    return r.stdout.strip()

def git_head():
    r = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    s = r.stdout.strip()
    return s[:70] + ("…" if len(s) > 70 else "")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def others_running():
    """Other heavy work on the machine: memwarden's test suite, or another bench."""
    r = subprocess.run(["pgrep", "-af", "run-all.sh|/run.py|run-unit.sh|pytest|qemu-system|podman (run|build)"
                        "|bench/"], capture_output=True, text=True)
    mine = {str(os.getpid()), str(os.getppid())}
    return [l[:120] for l in r.stdout.splitlines() if l.split()[0] not in mine]


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                model = l.split(":", 1)[1].strip()
                break
    deb = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    glibc = platform.libc_ver()[1]
    je = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libjemalloc2"], capture_output=True,
                        text=True).stdout
    return ("%d CPUs (%s), kernel %s, Debian %s, glibc %s, jemalloc %s (libjemalloc2)"
            % (os.cpu_count(), model, platform.release(), deb, glibc, je))


class Run:
    """What a bench sets up first and says at the end: a private copy of memwarden and its
    agent (mw, agent), the workload tests/workloads/WORKLOAD.c built (workload), when it
    started, the load and the other work running then. raw() appends a record to RAW (one
    JSON line, when RAW= is set); header() prints the results' title and machine line."""

    def __init__(self, workload):
        self.mw, self.agent = copy_memwarden()
        self.workload = compile_workload(workload)
        self._raw = open(os.environ["RAW"], "a") if os.environ.get("RAW") else None
        self.started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        self.others, self.load0 = others_running(), loadavg()

    def raw(self, record):
        if self._raw:
            self._raw.write(json.dumps(record) + "\n")
            self._raw.flush()

    def header(self, what="", more=""):
        """### Results (STARTED WHAT, memwarden at HEAD), then the machine, the load at the
        start and now, the other work, and MORE (sentences) on the same line."""
        print("### Results (%s%s, memwarden at %s)\n" % (self.started, what, git_head()))
        print("Machine: %s. Load average at the start: %s, at the end: %s. Other work running at the start: %s.%s\n"
              % (machine(), self.load0, loadavg(), "; ".join(self.others) or "none", more))


# ---------------------------------------------------------------- processes


class Proc:
    """A child in its own process group, its stdout read line by line by a thread,
    each line kept with the time it came (time.monotonic())."""

    def __init__(self, argv, env=None, stderr=subprocess.DEVNULL, on_line=None, preexec=None):
        self.lines = []
        self.on_line = on_line
        self.cv = threading.Condition()
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=stderr, start_new_session=True, preexec_fn=preexec)
        _procs.append(self.p)
        self.pid = self.p.pid
        self.t0 = time.monotonic()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.p.stdout:
            l = raw.decode(errors="replace").rstrip("\n")
            with self.cv:
                self.lines.append((time.monotonic(), l))
                self.cv.notify_all()
            if self.on_line:
                self.on_line(l)
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for _, l in self.lines:
                    if pred(l):
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.reader.is_alive()):
                    return None
                self.cv.wait(min(left, 0.5))

    def signal(self, signo):
        try:
            os.kill(self.pid, signo)
        except ProcessLookupError:
            pass

    def finish(self, timeout=60):
        """SIGTERM, wait; SIGKILL the group if it does not end."""
        self.signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            rc = self.p.wait()
        self.reader.join(10)
        _procs.remove(self.p)
        return rc

    def wait(self, timeout=None):
        rc = self.p.wait(timeout=timeout)
        self.reader.join(10)
        if self.p in _procs:
            _procs.remove(self.p)
        return rc

    def text(self):
        with self.cv:
            return [l for _, l in self.lines]

    def values(self):
        """The "KEY <number>" lines."""
        d = {}
        for l in self.text():
            f = l.split()
            if len(f) == 2 and f[1].isdigit():
                d[f[0]] = int(f[1])
        return d

    def stats(self):
        """fragment --stats lines: dicts of ms, live, building, rss, ops, gap_max_us, gap_med_us
        and gaps (each thread's longest gap in the interval, with --latency)."""
        keys = ("ms", "live", "building", "rss", "ops", "gap_max_us", "gap_med_us")
        out = []
        for l in self.text():
            f = l.split()
            if len(f) >= 8 and f[0] == "STAT":
                d = dict(zip(keys, map(int, f[1:8])))
                d["gaps"] = [int(x) for x in f[8:]]
                out.append(d)
        return out


# ---------------------------------------------------------------- the agent's reports


class Receiver:
    """The abstract datagram socket the agent reports to (MEMWARDEN_SOCKET=@name)."""

    def __init__(self):
        self.name = "mwbench-%d-%s" % (os.getpid(), os.urandom(4).hex())
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind("\0" + self.name)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.reports = []  # (monotonic time, dict)
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def env(self):
        return {"MEMWARDEN_SOCKET": "@" + self.name}

    def _read(self):
        while True:
            data = self.s.recv(65536)
            d = {}
            for l in data.decode(errors="replace").splitlines():
                k, _, v = l.partition("=")
                d[k] = int(v) if v.lstrip("-").isdigit() else v
            with self.cv:
                self.reports.append((time.monotonic(), d))
                self.cv.notify_all()

    def take(self):
        with self.cv:
            r, self.reports = self.reports, []
        return r

    def wait_release(self, after_count, timeout):
        """Waits until more than after_count release reports have come; the list."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                rel = [x for x in self.reports if "MEMWARDEN_RELEASE" in x[1]]
                if len(rel) > after_count or time.monotonic() >= deadline:
                    return rel
                self.cv.wait(min(0.2, max(0.01, deadline - time.monotonic())))


# ---------------------------------------------------------------- cgroups (v1 memory)


def make_cgroup(tag, limit):
    path = os.path.join(CGROOT, "mwbench-%s-%d-%d" % (tag, os.getpid(), len(_cgroups)))
    os.mkdir(path)
    _cgroups.append(path)
    with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
        f.write(str(int(limit)))
    return path


def cg_read(cg, name):
    with open(os.path.join(cg, name)) as f:
        return f.read()


def cg_int(cg, name):
    return int(cg_read(cg, name).split()[0])


def cg_oom_kills(cg):
    for l in cg_read(cg, "memory.oom_control").splitlines():
        k, v = l.split()
        if k == "oom_kill":
            return int(v)
    return 0


def cg_reset_peak(cg):
    with open(os.path.join(cg, "memory.max_usage_in_bytes"), "w") as f:
        f.write("0")


def cg_stat(cg):
    d = {}
    for l in cg_read(cg, "memory.stat").splitlines():
        k, v = l.split()
        d[k] = int(v)
    return d


def in_cgroup(cg):
    """A preexec_fn that moves the child into the cgroup before it execs."""
    def f():
        with open(os.path.join(cg, "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))
    return f


def remove_cgroup(cg):
    deadline = time.monotonic() + 15
    while os.path.isdir(cg):
        try:
            pids = cg_read(cg, "cgroup.procs").split()
        except OSError:
            pids = []
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
        try:
            os.rmdir(cg)
        except OSError:
            if time.monotonic() > deadline:
                log("could not remove %s" % cg)
                break
            time.sleep(0.1)
            continue
    if cg in _cgroups:
        _cgroups.remove(cg)


# ---------------------------------------------------------------- numbers


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.2f"):
    return "–" if x is None else spec % x


def table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def cpu_seconds(pid):
    """utime + stime of a live process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def base_env():
    """The environment without anything that would change the allocator."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "MALLOC_CONF", "GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MEMWARDEN_SOCKET",
              "NOTIFY_SOCKET", "MEMWARDEN_RELEASE_SIGNAL", "MEMWARDEN_CONFIG"):
        env.pop(k, None)
    for k in list(env):
        if k.startswith("MEMWARDEN_"):
            env.pop(k)
    return env
