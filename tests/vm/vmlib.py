"""The VM tier's machinery: workloads, initramfs archives, booting qemu and
reading what the test printed on the serial console.

A test boots a VM whose initramfs is the base archive that setup.sh built
(busybox and /init) followed by a small archive of the test's own:

    /test/run.sh        lib.sh followed by the test's script
    /test/memwarden     the binary under test (static)
    /test/bin/NAME      the workloads, linked statically

/init runs /test/run.sh and prints "MWVM-STATUS: <exit status>". The
other lines the script prints are described in lib.sh.
"""

import gzip
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VMDIR = os.path.join(ROOT, "build", "vm")
WLDIR = os.path.join(VMDIR, "wl")
LOGDIR = os.path.join(VMDIR, "logs")
VMLINUZ = os.path.join(VMDIR, "vmlinuz")
BASE = os.path.join(VMDIR, "base.gz")

# Workloads: the VM tier's own, and those of tests/workloads it uses.
WORKLOADS = {
    "nsrun": os.path.join(HERE, "workloads", "nsrun.c"),
    "memhog": os.path.join(HERE, "workloads", "memhog.c"),
    "drainer": os.path.join(ROOT, "tests", "workloads", "drainer.c"),
    "leaker": os.path.join(ROOT, "tests", "workloads", "leaker.c"),
}

MB = 1024 * 1024

# The qemu processes running now and the temporary directories in use, so
# that an interrupted run can end and remove them.
_running = set()
_tmpdirs = set()
_running_lock = threading.Lock()


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, reason):
    if not cond:
        raise Fail(reason)


# --- preparation ------------------------------------------------------------


def setup():
    """Runs setup.sh; returns None when ready, else the reason it is not."""
    proc = subprocess.run(
        [os.path.join(HERE, "setup.sh")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        lines = [l for l in proc.stdout.splitlines() if l.strip()]
        return lines[-1] if lines else "tests/vm/setup.sh failed (status %d)" % proc.returncode
    return None


def qemu_problem():
    """None when qemu-system-x86_64 runs here, else why not."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return "qemu-system-x86_64 not found"
    try:
        subprocess.run([qemu, "--version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as e:
        return "qemu-system-x86_64 does not run: %s" % e
    return None


def is_static_elf(path):
    """True when the ELF file has no program interpreter (PT_INTERP)."""
    import struct

    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


def build_workloads():
    """Builds the workloads statically into build/vm/wl (musl when there)."""
    os.makedirs(WLDIR, exist_ok=True)
    cc = shutil.which("musl-gcc") or "gcc"
    for name, src in WORKLOADS.items():
        out = os.path.join(WLDIR, name)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            continue
        cmd = [cc, "-static", "-O1", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
               "-D_GNU_SOURCE", "-pthread", "-o", out + ".tmp", src]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise Fail("cannot build workload %s: %s" % (name, proc.stdout.strip()[-500:]))
        os.rename(out + ".tmp", out)


# --- initramfs --------------------------------------------------------------


def cpio_newc(entries):
    """A newc cpio archive of (path, mode, data) entries, gzip'ed."""
    out = io.BytesIO()

    def pad():
        out.write(b"\0" * (-out.tell() % 4))

    for ino, (path, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        name = path.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0]
        out.write(b"070701" + b"".join(b"%08x" % v for v in fields))
        out.write(name)
        pad()
        out.write(data)
        pad()
    return gzip.compress(out.getvalue(), compresslevel=1)


def test_archive(script, memwarden):
    with open(os.path.join(HERE, "lib.sh"), "rb") as f:
        lib = f.read()
    run_sh = b"#!/bin/sh\n" + lib + b"\n# --- the test\n" + script.encode()
    entries = [
        ("test", stat.S_IFDIR | 0o755, b""),
        ("test/bin", stat.S_IFDIR | 0o755, b""),
        ("test/run.sh", stat.S_IFREG | 0o755, run_sh),
    ]
    with open(memwarden, "rb") as f:
        entries.append(("test/memwarden", stat.S_IFREG | 0o755, f.read()))
    for name in sorted(WORKLOADS):
        with open(os.path.join(WLDIR, name), "rb") as f:
            entries.append(("test/bin/" + name, stat.S_IFREG | 0o755, f.read()))
    return cpio_newc(entries)


# --- booting ----------------------------------------------------------------


def boot(name, script, memwarden, timeout):
    """Boots the VM with the test's script; returns its Run."""
    os.makedirs(LOGDIR, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="%s." % name, dir=VMDIR)
    with _running_lock:
        _tmpdirs.add(tmp)
    try:
        initrd = os.path.join(tmp, "initrd.gz")
        with open(BASE, "rb") as base, open(initrd, "wb") as f:
            shutil.copyfileobj(base, f)
            f.write(test_archive(script, memwarden))
        cmd = [
            "qemu-system-x86_64", "-accel", "tcg", "-m", "512M", "-smp", "1",
            "-display", "none", "-no-reboot", "-nodefaults", "-serial", "stdio",
            "-kernel", VMLINUZ, "-initrd", initrd,
            "-append", "console=ttyS0 quiet loglevel=2 panic=-1",
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        with _running_lock:
            _running.add(proc)
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            with _running_lock:
                _running.discard(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with _running_lock:
            _tmpdirs.discard(tmp)
    text = out.decode("utf-8", "replace").replace("\r", "")
    log = os.path.join(LOGDIR, name + ".log")
    with open(log, "w") as f:
        f.write(text)
        if timed_out:
            f.write("\n[run.py: qemu killed after %d s]\n" % timeout)
    return Run(text, timed_out, timeout, log)


def kill_all():
    """Kills the qemu processes this run started and removes their
    temporary directories (on SIGTERM or SIGINT)."""
    with _running_lock:
        for proc in _running:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for tmp in _tmpdirs:
            shutil.rmtree(tmp, ignore_errors=True)


# --- what the VM printed ----------------------------------------------------


class Phase:
    """One memwarden run (mw_start/mw_run in lib.sh)."""

    def __init__(self, name):
        self.name = name
        self.lines = []  # (uptime, text): memwarden's and the service's output
        self.events = []  # memwarden's JSON lines, each with "_t" (uptime)
        self.pid = None
        self.exit = None  # memwarden's exit code, when it exited
        self.signal = None  # the signal that killed it, when one did

    def named(self, event):
        return [e for e in self.events if e.get("event") == event]

    def first(self, event):
        found = self.named(event)
        return found[0] if found else None

    def line_time(self, pattern):
        """Uptime of the first output line matching the regex, or None."""
        for t, text in self.lines:
            if re.search(pattern, text):
                return t
        return None

    def ended(self):
        if self.signal is not None:
            return "killed by signal %d" % self.signal
        if self.exit is not None:
            return "exited %d" % self.exit
        return "never ended"

    def event_names(self):
        return ",".join(e.get("event", "?") for e in self.events)


class Run:
    STATUS = re.compile(r"MWVM-STATUS: (-?\d+)")
    MWLINE = re.compile(r"^MW\|([0-9.]+)\|(.*)$")

    def __init__(self, text, timed_out, timeout, log):
        self.text = text
        self.timed_out = timed_out
        self.timeout = timeout
        self.log = log
        self.status = None
        self.kv = {}
        self.files = {}
        self.notes = []
        self.phases = {}
        phase = None
        for line in text.split("\n"):
            m = self.MWLINE.match(line)
            if m:
                if phase is None:
                    phase = self.phases.setdefault("", Phase(""))
                t, body = float(m.group(1)), m.group(2)
                phase.lines.append((t, body))
                if body.startswith("{"):
                    try:
                        ev = json.loads(body)
                    except ValueError:
                        ev = {"event": "(unparsable)", "line": body}
                    ev["_t"] = t
                    phase.events.append(ev)
                continue
            m = self.STATUS.search(line)
            if m:
                self.status = int(m.group(1))
            elif line.startswith("MWVM-PHASE: "):
                name = line[len("MWVM-PHASE: "):].strip()
                phase = self.phases[name] = Phase(name)
            elif line.startswith("MWVM-KV: "):
                key, _, value = line[len("MWVM-KV: "):].partition("=")
                self.kv[key.strip()] = value.strip()
            elif line.startswith("MWVM-FILE: "):
                path, _, rest = line[len("MWVM-FILE: "):].partition(": ")
                self.files.setdefault(path, []).append(rest)
            elif line.startswith("MWVM-NOTE: "):
                self.notes.append(line[len("MWVM-NOTE: "):])
            elif line.startswith("MWVM-NSRUN: ") and phase is not None:
                key, _, value = line[len("MWVM-NSRUN: "):].partition("=")
                setattr(phase, {"pid": "pid", "exit": "exit", "signal": "signal"}[key],
                        int(value))

    def require_status(self, want=0):
        """Fails unless the test script ran to its end with status want."""
        if self.status is None:
            if self.timed_out:
                raise Fail("VM killed after %d s, no status line" % self.timeout)
            raise Fail("no status line (VM crashed?)")
        check(self.status == want, "test script exited %d, expected %d%s" %
              (self.status, want, ("; " + "; ".join(self.notes)) if self.notes else ""))

    def phase(self, name):
        if name not in self.phases:
            raise Fail("memwarden run %r never started" % name)
        return self.phases[name]

    def num(self, key):
        if key not in self.kv:
            raise Fail("the test script printed no %s" % key)
        try:
            return int(self.kv[key])
        except ValueError:
            raise Fail("%s is %r, not a number" % (key, self.kv[key]))

    def flat_keyed(self, path):
        """A file of "key value" lines (memory.events, memory.stat) as a dict."""
        out = {}
        for line in self.files.get(path, []):
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
        return out
