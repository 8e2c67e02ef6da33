"""Helpers for memwarden's integration tests (stdlib only).

Every test function takes one argument, a `T` (the test's context): its
temporary directory, paths of the binary and the workloads, ways to run
memwarden (as PID 1 of a new PID namespace, or plainly for verbs that
start nothing), and the checks. Whatever a test starts through `T` is
killed and reaped, and its directory removed, when the test ends.

Facts about `unshare --pid --fork --mount-proc` (util-linux 2.38.1) that
the helpers account for, measured on this machine:
- its child (our memwarden, PID 1 of the namespace) exiting with code N:
  unshare exits N;
- its child killed by signal S: unshare resets S to the default action and
  kills itself with S (Python sees returncode -S); for SIGKILL that reset
  fails and unshare prints "unshare: sigprocmask unblock failed: Invalid
  argument" and exits 1;
- unshare itself ignores SIGTERM and SIGINT while it waits, so signals for
  memwarden go to memwarden's host pid (unshare's child);
- when the namespace's PID 1 exits the kernel SIGKILLs every other process
  of the namespace, so "nothing survived" after the exit proves nothing by
  itself: tests look while memwarden still runs, or outside a namespace.
- --kill-child (used here) SIGKILLs the namespace's init when unshare
  dies; it does not change the exit status pass-through above.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# What the sanitizer build (build/san/memwarden) prints when it finds a bug.
SANITIZER_RE = re.compile(r"(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|runtime error:)")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Failure(AssertionError):
    pass


class Skip(Exception):
    pass


def timeout(seconds):
    """Decorator: this test's own time limit (the default is 120 s)."""

    def deco(fn):
        fn.timeout = seconds
        return fn

    return deco


def needs_root(fn):
    fn.needs_root = True
    return fn


def memwarden_bin():
    return os.path.abspath(os.path.join(REPO, os.environ.get("MEMWARDEN_BIN", "build/memwarden")))


def workloads_dir():
    return os.path.abspath(os.path.join(REPO, os.environ.get("MEMWARDEN_WORKLOADS", "build/workloads")))


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig=signal.SIGKILL):
    """Asks the kernel to send sig to this process when its parent dies:
    nothing a test starts outlives the test's process, even if that is
    killed without a chance to clean up."""
    _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def clean_env(extra=None):
    """The environment memwarden runs with: ours without MEMWARDEN_*
    (MEMWARDEN_BIN would otherwise read as a configuration override),
    NOTIFY_SOCKET and LD_PRELOAD."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEMWARDEN_") and k not in ("NOTIFY_SOCKET", "LD_PRELOAD", "MALLOC_CONF")
    }
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------- /proc


def proc_children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def proc_descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in proc_children(p):
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


def proc_status(pid):
    """/proc/PID/status as a dict, or None when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            d = {}
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
            return d
    except (OSError, ProcessLookupError):
        return None


def proc_state(pid):
    """One letter (R, S, Z, ...) or None when gone."""
    st = proc_status(pid)
    return st["State"][0] if st else None


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def host_pid_of(ns_root_host_pid, nspid):
    """The host pid of the process whose pid in the namespace is nspid,
    among the descendants of the namespace's init (given by host pid)."""
    for p in [ns_root_host_pid] + proc_descendants(ns_root_host_pid):
        st = proc_status(p)
        if st and "NSpid" in st and int(st["NSpid"].split()[-1]) == nspid:
            return p
    return None


def alive(pid):
    """True while pid exists and is not a zombie."""
    s = proc_state(pid)
    return s is not None and s != "Z"


# ---------------------------------------------------------------- waiting


def wait_for(cond, timeout_s, what, interval=0.02):
    """Polls cond() until it returns a true value, which is returned;
    fails naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %ss waiting for %s" % (timeout_s, what))
        time.sleep(interval)


def read_file(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def parse_kv(path):
    """Reads a showproc output file into a dict."""
    d = {}
    for line in read_file(path, "").splitlines():
        k, _, v = line.partition(" ")
        d[k] = v
    return d


def parse_json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


# ---------------------------------------------------------------- runs


class Run:
    """memwarden started by a test. `ns` runs go through unshare."""

    def __init__(self, t, argv, ns, popen_kw, stderr_path, stdout_path):
        self.t = t
        self.ns = ns
        self.argv = argv
        self.stderr_path = stderr_path
        self.stdout_path = stdout_path
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, **popen_kw)
        self.rc = None
        self.ended = None
        self._host_pid = None if ns else self.proc.pid

    # The memwarden process, as the host sees it.
    def host_pid(self, timeout_s=20):
        if self._host_pid is None:

            def find():
                kids = proc_children(self.proc.pid)
                for k in kids:
                    # The child has exec'd memwarden once its cmdline
                    # is no longer unshare's own.
                    cl = proc_cmdline(k)
                    if cl and not cl.startswith("unshare"):
                        return k
                if self.proc.poll() is not None:
                    raise Failure("memwarden exited before it could be found:\n" + self.stderr_tail())
                return None

            self._host_pid = wait_for(find, timeout_s, "memwarden's host pid (child of unshare)")
        return self._host_pid

    def signal(self, sig):
        os.kill(self.host_pid(), sig)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout_s=60):
        """Waits for memwarden to exit; returns its exit status. Fails
        (and kills it) when it does not exit in time, or when memwarden
        itself died of a signal rather than exiting."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("memwarden did not exit within %ss; stderr:\n%s" % (timeout_s, self.stderr_tail()))
        self.ended = time.monotonic()
        rc = self.proc.returncode
        err = self.stderr()
        if rc < 0:
            raise Failure(
                "%s itself died of signal %d (%s); stderr:\n%s"
                % ("memwarden" if not self.ns else "memwarden (via unshare)", -rc, _signame(-rc), self.stderr_tail())
            )
        if self.ns and rc == 1 and "unshare: sigprocmask unblock failed" in err:
            raise Failure("memwarden was killed by SIGKILL; stderr:\n" + self.stderr_tail())
        check_sanitizer(err)
        self.rc = rc
        return rc

    def elapsed(self):
        return (self.ended or time.monotonic()) - self.started

    def kill(self):
        """SIGKILL: as PID 1 of its namespace this kills the namespace."""
        if self.proc.poll() is None:
            pid = self._host_pid
            if pid is None and self.ns:
                kids = proc_children(self.proc.pid)
                pid = kids[0] if kids else None
            try:
                if pid:
                    os.kill(pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stderr(self):
        return read_file(self.stderr_path, "") if self.stderr_path else ""

    def stdout(self):
        return read_file(self.stdout_path, "") if self.stdout_path else ""

    def stderr_tail(self, n=25):
        lines = self.stderr().splitlines()
        return "\n".join("    " + l for l in lines[-n:]) or "    (empty)"

    def events(self, name=None):
        evs = parse_json_lines(self.stderr())
        return [e for e in evs if name is None or e.get("event") == name]

    def expect_exit(self, want, timeout_s=60):
        rc = self.rc if self.rc is not None else self.wait(timeout_s)
        if rc != want:
            raise Failure("memwarden exited %d, expected %d; stderr:\n%s" % (rc, want, self.stderr_tail()))
        return rc

    def wait_event(self, name, timeout_s=30, pred=None):
        def find():
            for e in self.events(name):
                if pred is None or pred(e):
                    return e
            if not self.running():
                # One last look: the line may have come with the exit.
                for e in self.events(name):
                    if pred is None or pred(e):
                        return e
                raise Failure("memwarden exited (%s) without logging %r; stderr:\n%s" % (self.proc.returncode, name, self.stderr_tail()))
            return None

        return wait_for(find, timeout_s, "event %r" % name)


class NestedRun(Run):
    """memwarden as a child of nshelper.py, the init of a new PID namespace:
    memwarden is not PID 1 there. wait() returns memwarden's status as
    nshelper saw it; self.result holds nshelper's whole report."""

    def __init__(self, t, argv, popen_kw, stderr_path, stdout_path, result_path):
        super().__init__(t, argv, True, popen_kw, stderr_path, stdout_path)
        self.result_path = result_path
        self.result = None

    def host_pid(self, timeout_s=20):
        if self._host_pid is None:
            bin_ = self.t.bin

            def find():
                for helper in proc_children(self.proc.pid):
                    for k in proc_children(helper):
                        if proc_cmdline(k).startswith(bin_):
                            return k
                if self.proc.poll() is not None:
                    raise Failure("nshelper ended before memwarden could be found:\n" + self.stderr_tail())
                return None

            self._host_pid = wait_for(find, timeout_s, "memwarden's host pid (child of nshelper)")
        return self._host_pid

    def helper_host_pid(self):
        kids = proc_children(self.proc.pid)
        return kids[0] if kids else None

    def wait(self, timeout_s=60):
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("memwarden did not exit within %ss; stderr:\n%s" % (timeout_s, self.stderr_tail()))
        self.ended = time.monotonic()
        text = read_file(self.result_path)
        check_sanitizer(self.stderr())
        if self.proc.returncode != 0 or text is None:
            raise Failure("nshelper failed (status %d); stderr:\n%s" % (self.proc.returncode, self.stderr_tail()))
        self.result = json.loads(text)
        self.rc = self.result["status"]
        return self.rc

    def kill(self):
        # SIGKILL the namespace's init (nshelper): that ends everything in it.
        if self.proc.poll() is None:
            h = self.helper_host_pid()
            try:
                if h:
                    os.kill(h, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def check_sanitizer(text):
    m = SANITIZER_RE.search(text or "")
    if m:
        i = max(0, m.start() - 200)
        raise Failure("a sanitizer report in memwarden's stderr:\n" + text[i:i + 3000])


def _signame(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return "signal %d" % n


class T:
    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="mw-it-%s-" % name[:40])
        os.chmod(self.tmp, 0o755)
        self.runs = []
        self.cleanups = []
        self.bin = memwarden_bin()

    # -- environment
    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def workload(self, name):
        p = os.path.join(workloads_dir(), name)
        if not os.access(p, os.X_OK):
            raise Failure("workload %s not built (make build/workloads/%s)" % (p, name))
        return p

    def require_binary(self):
        if not os.access(self.bin, os.X_OK):
            raise Failure("memwarden binary not found at %s (make build/memwarden, or set MEMWARDEN_BIN)" % self.bin)

    def require_root(self):
        if os.geteuid() != 0:
            raise Skip("needs root (PID namespaces)")
        if not shutil.which("unshare"):
            raise Skip("unshare (util-linux) not installed")

    def write(self, name, content, mode=None):
        p = self.path(name)
        data = content if isinstance(content, bytes) else content.encode()
        with open(p, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(p, mode)
        return p

    # -- running memwarden
    def _start(self, args, ns, stdin=subprocess.DEVNULL, stdout=None, stderr=None, env=None,
               preexec_fn=None, state_file=True, pass_fds=(), start_new_session=False, nested=False, wrap=()):
        self.require_binary()
        if ns:
            self.require_root()
        n = len(self.runs)
        stderr_path = stdout_path = None
        opened = []
        if stderr is None:
            stderr_path = self.path("mw%d.stderr" % n)
            stderr = open(stderr_path, "wb")
            opened.append(stderr)
        elif isinstance(stderr, str):
            stderr_path = stderr
            stderr = open(stderr_path, "ab")
            opened.append(stderr)
        if stdout is None:
            stdout_path = self.path("mw%d.stdout" % n)
            stdout = open(stdout_path, "wb")
            opened.append(stdout)
        elif isinstance(stdout, str):
            stdout_path = stdout
            stdout = open(stdout_path, "ab")
            opened.append(stdout)
        pre = []
        if state_file and not any(a.startswith("status.state_file=") for a in args):
            # Never the default /run/memwarden/...: the host keeps nothing.
            pre = ["-s", "status.state_file=" + self.path("state%d.json" % n)]
        argv = list(wrap) + [self.bin] + pre + list(args)
        result_path = None
        if nested:
            result_path = self.path("nshelper%d.json" % n)
            helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nshelper.py")
            argv = [sys.executable, helper, result_path, "--"] + argv
        if ns:
            # --kill-child: unshare's death (by our PDEATHSIG at the
            # latest) SIGKILLs the namespace's init, and so the namespace.
            argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + argv

        def pre():
            die_with_parent()
            if preexec_fn:
                preexec_fn()

        kw = dict(stdin=stdin, stdout=stdout, stderr=stderr, env=clean_env(env), cwd=self.tmp,
                  preexec_fn=pre, pass_fds=pass_fds, start_new_session=start_new_session)
        if nested:
            r = NestedRun(self, argv, kw, stderr_path, stdout_path, result_path)
        else:
            r = Run(self, argv, ns, kw, stderr_path, stdout_path)
        for f in opened:
            f.close()
        self.runs.append(r)
        return r

    def mw(self, *args, **kw):
        """memwarden ARGS... as PID 1 of a new PID namespace (needs root)."""
        return self._start(list(args), ns=True, **kw)

    def mw_not_pid1(self, *args, **kw):
        """memwarden ARGS... NOT as PID 1: as the child of nshelper.py, the
        init of a new PID namespace (so that a wrong kill(-1) stays inside
        it). Needs root."""
        return self._start(list(args), ns=True, nested=True, **kw)

    def mw_plain(self, *args, **kw):
        """memwarden ARGS... as our child, no namespace: only for runs that
        must start nothing (config errors, check, status) or whose service
        exits by itself."""
        return self._start(list(args), ns=False, **kw)

    def run_plain(self, args, timeout_s=30, env=None, stdin=subprocess.DEVNULL, input=None):
        """Runs memwarden to completion without a namespace (verbs, errors).
        Returns (rc, stdout, stderr) as text."""
        self.require_binary()
        kw = {}
        if input is not None:
            kw["input"] = input
        else:
            kw["stdin"] = stdin
        p = subprocess.run([self.bin] + list(args), capture_output=True, env=clean_env(env), cwd=self.tmp,
                           timeout=timeout_s, **kw)
        err = p.stderr.decode(errors="replace")
        check_sanitizer(err)
        return p.returncode, p.stdout.decode(errors="replace"), err

    # -- checks
    def check(self, cond, msg, *fmt):
        if not cond:
            raise Failure(msg % fmt if fmt else msg)

    def fail(self, msg):
        raise Failure(msg)

    def defer(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        errors = []
        for r in self.runs:
            try:
                r.kill()
            except Exception as e:  # keep cleaning
                errors.append("kill: %s" % e)
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                errors.append("cleanup: %s" % e)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return errors


def sig_num(name):
    return int(getattr(signal, name))
