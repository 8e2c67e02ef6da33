"""Memory sensing on the host's real cgroup v1 memory controller (SPEC §4,
§7, §8): discovery of a real limit, samples that match the kernel's files,
the working set without page cache, OOM kills, kernel notifications and the
adaptive interval. Each test makes its own memory cgroup and removes it."""

import json
import os
import time

from lib import Skip, needs_root, read_file, wait_for

V1_ROOT = "/sys/fs/cgroup/memory"
MB = 1024 * 1024


class V1Cgroup:
    """A real memory cgroup with a limit; memwarden is started inside it."""

    def __init__(self, t, limit):
        if not os.path.exists(os.path.join(V1_ROOT, "memory.limit_in_bytes")):
            raise Skip("no cgroup v1 memory controller at %s" % V1_ROOT)
        self.dir = os.path.join(V1_ROOT, "mw-it-%s-%d" % (t.name[:40], os.getpid()))
        os.mkdir(self.dir)
        t.defer(self.remove)
        self.write("memory.limit_in_bytes", str(limit))

    def write(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(value)

    def read(self, name):
        return read_file(os.path.join(self.dir, name))

    def stat(self):
        return {k: int(v) for k, v in (line.split() for line in self.read("memory.stat").splitlines())}

    def oom_kill(self):
        for line in self.read("memory.oom_control").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return None

    def enter(self):
        """preexec_fn: the child (unshare, then memwarden) joins the cgroup."""
        self.write("cgroup.procs", "0")

    def remove(self):
        def gone():
            if self.read("cgroup.procs").strip():
                return None
            os.rmdir(self.dir)
            return True
        if os.path.isdir(self.dir):
            wait_for(gone, 20, "the cgroup %s to empty" % self.dir)


def _memhog(t, *args):
    return [t.workload("memhog")] + [str(a) for a in args]


@needs_root
def test_v1_limit_and_usage_match_the_kernel(t):
    cg = V1Cgroup(t, 256 * MB)
    ready = t.path("ready")
    r = t.mw("-s", "log.memory_interval=1s", "--", *_memhog(t, "--grow", 40, "--ready", ready),
             preexec_fn=cg.enter)
    start = r.wait_event("start")
    t.check(start.get("cgroup") == "v1", "start says cgroup %r, expected v1", start.get("cgroup"))
    t.check(start.get("cgroup_path") == cg.dir, "start says cgroup_path %r, expected %s",
            start.get("cgroup_path"), cg.dir)
    t.check(start.get("limit") == 256 * MB, "start says limit %r, the cgroup has %d",
            start.get("limit"), 256 * MB)
    t.check(start.get("guard") == "on", "guard %r: %s", start.get("guard"), start.get("guard_reason"))
    t.check(start.get("writable") is True, "the test's cgroup is writable, start says %r", start.get("writable"))
    wait_for(lambda: os.path.exists(ready), 30, "the service to allocate 40 MB")
    since = time.time()
    ev = r.wait_event("memory", 30, pred=lambda e: _after(e, since))
    kernel = int(cg.read("memory.usage_in_bytes"))
    t.check(ev["current"] >= 40 * MB, "memory event current %d, the service holds 40 MB", ev["current"])
    t.check(abs(ev["current"] - kernel) < 8 * MB, "memory event current %d, the kernel says %d",
            ev["current"], kernel)
    t.check(ev["limit"] == 256 * MB, "memory event limit %r", ev["limit"])
    t.check(abs(ev["percent"] - ev["value"] * 100.0 / (256 * MB)) < 0.2, "percent %r for value %d",
            ev["percent"], ev["value"])
    procs = ev.get("processes") or []
    t.check(any(p.get("name") == "memhog" and p.get("rss", 0) >= 40 * MB for p in procs),
            "processes %r: memhog with >= 40 MB RSS expected", procs)
    state = json.loads(read_file(t.path("state0.json")))
    sample = state.get("last_sample") or {}
    t.check(sample.get("limit") == 256 * MB and sample.get("value", 0) > 0,
            "state file last_sample %r", sample)
    r.signal(15)
    r.expect_exit(0, 30)


@needs_root
def test_v1_workingset_leaves_out_page_cache(t):
    cg = V1Cgroup(t, 512 * MB)
    ready = t.path("ready")
    # The file is created inside the cgroup, so its cache is charged here.
    r = t.mw("-s", "log.memory_interval=1s", "--",
             *_memhog(t, "--cache", t.path("cachefile"), 96, "--grow", 8, "--ready", ready),
             preexec_fn=cg.enter)
    wait_for(lambda: os.path.exists(ready), 60, "the service to write its file")
    since = time.time()
    ev = r.wait_event("memory", 30, pred=lambda e: _after(e, since))
    t.check(ev["file"] >= 80 * MB, "memory event file %d: the service wrote 96 MB", ev["file"])
    t.check(ev["inactive_file"] >= 48 * MB, "inactive_file %d", ev["inactive_file"])
    t.check(ev["workingset"] == max(0, ev["current"] - ev["inactive_file"]),
            "workingset %d is not current %d - inactive_file %d", ev["workingset"], ev["current"],
            ev["inactive_file"])
    t.check(ev["metric"] == "workingset" and ev["value"] == ev["workingset"],
            "the default measure is the working set: %r", ev)
    t.check(ev["workingset"] < ev["current"] - 48 * MB, "workingset %d vs current %d: the cache is in it",
            ev["workingset"], ev["current"])
    stat = cg.stat()
    t.check(abs(ev["inactive_file"] - stat["total_inactive_file"]) < 16 * MB,
            "inactive_file %d, the kernel says %d", ev["inactive_file"], stat["total_inactive_file"])
    r.signal(15)
    r.expect_exit(0, 30)


@needs_root
def test_v1_oom_kill_reported_with_the_counter(t):
    cg = V1Cgroup(t, 64 * MB)
    before = cg.oom_kill()
    if before is None:
        raise Skip("this kernel's memory.oom_control has no oom_kill counter")
    # The guard compares with a limit far above the cgroup's (it must not
    # restart first: this test is about the kernel's kill), and
    # max_restarts = 0 makes the OOM restart a give-up with the 137.
    r = t.mw("-s", "memory.limit=1G", "-s", "service.max_restarts=0", "--",
             *_memhog(t, "--grow", 200), preexec_fn=cg.enter)
    r.expect_exit(137, 60)
    after = cg.oom_kill()
    t.check(after is not None and after > before, "the kernel's oom_kill counter did not rise (%r)", after)
    ooms = r.events("oom.kill")
    t.check(len(ooms) >= 1, "no oom.kill event; stderr:\n%s", r.stderr_tail())
    t.check(ooms[0].get("oom_kill") == after, "oom.kill says oom_kill %r, the kernel %r",
            ooms[0].get("oom_kill"), after)
    t.check(ooms[0].get("limit") == 1024 * MB, "oom.kill limit %r (the configured one)", ooms[0].get("limit"))
    t.check(isinstance(ooms[0].get("last_samples"), list) and ooms[0]["last_samples"],
            "oom.kill without its last samples: %r", ooms[0])
    exits = r.events("exit")
    t.check(exits and exits[-1].get("signal") == "KILL", "exit event %r", exits[-1:] if exits else None)


@needs_root
def test_v1_threshold_wakes_before_the_interval(t):
    cg = V1Cgroup(t, 256 * MB)
    ready = t.path("ready")
    # interval 60 s: only a notification can bring a sample in time.
    r = t.mw("-v", "-s", "memory.interval=60s", "-s", "memory.soft=40%", "-s", "log.memory_interval=0",
             "--", *_memhog(t, "--grow", 150, "--rate", 100, "--ready", ready), preexec_fn=cg.enter)
    start = r.wait_event("start")
    t.check("threshold" in (start.get("notify") or []), "threshold notification not armed: %r",
            start.get("notify"))
    wait_for(lambda: os.path.exists(ready), 30, "the service to allocate 150 MB")
    ev = r.wait_event("memory.notify", 10, pred=lambda e: e.get("source") == "threshold")
    t.check(ev is not None, "no memory.notify from the threshold")
    state = wait_for(lambda: _state_over(t.path("state0.json"), 100 * MB), 15,
                     "the state file to show the sample taken on the notification")
    t.check(state, "no sample above the threshold")
    r.signal(15)
    r.expect_exit(0, 30)


@needs_root
def test_v1_interval_shrinks_toward_hard(t):
    cg = V1Cgroup(t, 256 * MB)
    ready = t.path("ready")
    r = t.mw("-s", "log.memory_interval=10ms", "-s", "memory.hard=90%", "-s", "memory.soft=85%",
             "--", *_memhog(t, "--grow", 200, "--rate", 40, "--ready", ready), preexec_fn=cg.enter)
    wait_for(lambda: os.path.exists(ready), 30, "the service to allocate 200 MB")
    time.sleep(0.5)
    evs = r.events("memory")
    far = [e["interval_ms"] for e in evs if e["percent"] < 40]
    near = [e["interval_ms"] for e in evs if e["percent"] > 70]
    t.check(far and max(far) == 1000, "intervals far from hard: %r (expected the full 1000 ms)", far)
    t.check(near and min(near) < 300, "intervals near hard: %r (expected far shorter)", near)
    r.signal(15)
    r.expect_exit(0, 30)


def _after(event, since):
    """True when a JSON log event is stamped at or after the time since."""
    stamp = event.get("time", "")
    try:
        t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        return t + float("0" + stamp[19:-1]) >= since - 0.001
    except ValueError:
        return False


def _state_over(path, value):
    try:
        sample = json.loads(read_file(path) or "{}").get("last_sample") or {}
    except ValueError:
        return None
    return sample if sample.get("value", 0) >= value else None
