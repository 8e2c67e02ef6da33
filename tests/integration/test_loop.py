"""Event driven (SPEC §3): an idle memwarden does not wake up."""

import os
import time

from lib import Skip, needs_root, proc_status, wait_for


def _cpu_and_wakeups(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    st = proc_status(pid)
    return ticks, int(st["voluntary_ctxt_switches"])


@needs_root
def test_idle_memwarden_sleeps(t):
    marker = t.path("drained")
    r = t.mw("--", t.workload("drainer"), marker)
    mw = r.host_pid()
    wait_for(lambda: os.path.exists(marker + ".ready"), 30, "the service to be ready")
    start = r.wait_event("start", 10)
    if start.get("guard") not in (None, "off"):
        raise Skip("the memory guard is on here (a cgroup limit?): it samples, so memwarden wakes up")
    time.sleep(0.5)
    ticks0, wake0 = _cpu_and_wakeups(mw)
    time.sleep(3.0)
    ticks1, wake1 = _cpu_and_wakeups(mw)
    hz = os.sysconf("SC_CLK_TCK")
    t.check(ticks1 - ticks0 <= max(2, hz // 50), "idle memwarden used %d clock ticks in 3 s", ticks1 - ticks0)
    t.check(wake1 - wake0 <= 1, "idle memwarden woke up %d times in 3 s (a timer or a poll?)", wake1 - wake0)
    r.signal(15)
    r.expect_exit(0, 60)
