"""Exit status (SPEC §2, §3): pass-through, 128+N, 126/127, remapping."""

import os
import signal

from lib import Failure, needs_root


@needs_root
def test_exit_codes_pass_through(t):
    bad = []
    for code in (0, 1, 2, 42, 127, 255):
        r = t.mw("--", t.workload("exitwith"), str(code))
        rc = r.wait(60)
        if rc != code:
            bad.append("service exited %d, memwarden exited %d" % (code, rc))
            continue
        # Told apart from an exec failure: an exit event, no spawn.error.
        exits = r.events("exit")
        if not exits or exits[-1].get("status") != code or exits[-1].get("code") != code:
            bad.append("exit %d: exit event %r, expected status=code=%d" % (code, exits[-1:] or None, code))
        if r.events("spawn.error"):
            bad.append("exit %d: a spawn.error event was logged for a service that ran" % code)
    if bad:
        raise Failure("; ".join(bad))


@needs_root
def test_killed_by_signal_gives_128_plus_n(t):
    bad = []
    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGKILL):
        r = t.mw("--", t.workload("exitwith"), "-k", str(int(sig)))
        rc = r.wait(60)
        if rc != 128 + sig:
            bad.append("service killed by %s: memwarden exited %d, expected %d" % (sig.name, rc, 128 + sig))
            continue
        ev = r.events("exit")
        name = ev[-1].get("signal") if ev else None
        if name not in (sig.name, sig.name[3:]):
            bad.append("%s: exit event's signal is %r" % (sig.name, name))
    if bad:
        raise Failure("; ".join(bad))


def _expect_exec_failure(t, r, command, code, errno_texts):
    rc = r.wait(60)
    err = r.stderr()
    t.check(rc == code, "command %s: memwarden exited %d, expected %d; stderr:\n%s", command, rc, code, r.stderr_tail())
    t.check(command in err, "the message does not name the command %r:\n%s", command, r.stderr_tail())
    t.check(any(x in err for x in errno_texts), "the message gives none of the errno texts %r:\n%s", errno_texts, r.stderr_tail())
    # Told apart from a service that exits with that code: a spawn.error
    # event, with the errno.
    ev = r.events("spawn.error")
    t.check(ev and ev[-1].get("status") == code, "no spawn.error event with status %d:\n%s", code, r.stderr_tail())


@needs_root
def test_missing_command_gives_127(t):
    missing = t.path("no-such-program")
    r = t.mw("--", missing, "arg")
    _expect_exec_failure(t, r, missing, 127, ["No such file or directory"])


@needs_root
def test_command_not_in_path_gives_127(t):
    r = t.mw("--", "memwarden-no-such-command-xyz")
    _expect_exec_failure(t, r, "memwarden-no-such-command-xyz", 127, ["No such file or directory", "not found"])


@needs_root
def test_directory_gives_126(t):
    d = t.path("adir")
    os.mkdir(d)
    r = t.mw("--", d)
    _expect_exec_failure(t, r, d, 126, ["Permission denied", "Is a directory"])


@needs_root
def test_non_executable_file_gives_126(t):
    f = t.write("notexec.sh", "#!/bin/sh\nexit 0\n", mode=0o644)
    r = t.mw("--", f)
    _expect_exec_failure(t, r, f, 126, ["Permission denied"])


@needs_root
def test_success_exit_codes_remaps(t):
    bad = []
    cases = [
        (["143"], 0, "exit code 143"),
        (["-k", str(int(signal.SIGTERM))], 0, "killed by SIGTERM (status 143)"),
        (["42"], 42, "exit code 42 (not listed)"),
        (["0"], 0, "exit code 0"),
    ]
    for args, want, what in cases:
        r = t.mw("-s", "service.success_exit_codes=143", "--", t.workload("exitwith"), *args)
        rc = r.wait(60)
        if rc != want:
            bad.append("%s with success_exit_codes=143: memwarden exited %d, expected %d" % (what, rc, want))
    if bad:
        raise Failure("; ".join(bad))
