"""PID 1 of a throw-away PID namespace in which memwarden is NOT PID 1.

    unshare --pid --fork --mount-proc python3 nshelper.py RESULT -- MEMWARDEN ARGS...

Runs as the namespace's init: starts a bystander process that memwarden has
nothing to do with, then memwarden as its child (so memwarden is not PID 1
and must make itself a child subreaper), waits for memwarden, and writes
RESULT (JSON):

  status       memwarden's exit status (128+N when it died of signal N)
  bystander    true if the bystander survived memwarden
  leftovers    [[pid, cmdline], ...] processes still alive after memwarden
               exited, besides the bystander (memwarden's service or its
               descendants, reparented to us: they should not exist)

then kills everything left and exits. Should memwarden wrongly kill(-1),
only this namespace suffers, and the dead bystander says so.
"""

import json
import os
import signal
import subprocess
import sys
import time


def children():
    out = []
    for tid in os.listdir("/proc/self/task"):
        with open("/proc/self/task/%s/children" % tid) as f:
            out += [int(x) for x in f.read().split()]
    return out


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def main():
    result_path = sys.argv[1]
    assert sys.argv[2] == "--"
    argv = sys.argv[3:]
    # As init we ignore what we have no handler for anyway; make sure a
    # TERM meant for memwarden is not taken by us.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    mw = subprocess.Popen(argv)
    with open(result_path + ".pid", "w") as f:
        f.write("%d\n" % mw.pid)
    mw.wait()
    st = mw.returncode if mw.returncode >= 0 else 128 - mw.returncode
    # Let SIGKILLed leftovers finish dying, and reap zombies reparented to us.
    time.sleep(0.3)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    by_alive = bystander.poll() is None
    left = [[p, cmdline(p)] for p in children() if p != bystander.pid and state(p) not in (None, "Z")]
    with open(result_path + ".tmp", "w") as f:
        json.dump({"status": st, "bystander": by_alive, "leftovers": left}, f)
    os.rename(result_path + ".tmp", result_path)
    for p in children():
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()
