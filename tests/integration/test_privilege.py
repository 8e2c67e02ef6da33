"""Privilege and preload safety (issue 7, item 5).

- [service] user/group: setgroups, setgid, setuid in that order; the running
  service's /proc/PID/status shows the target ids everywhere (real,
  effective, saved, fs), exactly the user's groups from /etc/group, no
  capability left (inheritable, permitted, effective, ambient; the bounding
  set and no_new_privs are the container's and stay as they were), the
  signal mask and ignored signals memwarden was started with, and no fd of
  memwarden's: only 0, 1, 2 and what memwarden itself was given.
- [allocator] jemalloc/agent: a library that is not a regular file, or that
  someone other than root (or memwarden's user) could change, is refused
  before anything starts (exit 2, the key, the path, the reason); one that
  auto finds is skipped with a warning.
- [status] state_file: when the service runs as another user, a state file
  that user could change is refused (exit 2); the default falls back from
  /run/memwarden to /tmp/memwarden, with a warning.

Accounts of the test's own are bind-mounted over /etc/passwd and /etc/group
in memwarden's mount namespace, so that a user with supplementary groups
exists whatever the host has."""

import os
import shutil
import signal
import stat
import time

from lib import Failure, needs_root, proc_children, proc_cmdline, proc_status, wait_for

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
          "mwtest:x:4321:4321:mwtest:/home/mwtest:/bin/sh\n")
GROUP = ("root:x:0:\n"
         "mwtest:x:4321:\n"
         "mwa:x:4401:mwtest\n"
         "mwb:x:4402:someone,mwtest\n"
         "mwc:x:4403:someone\n"
         "nogroup:x:65534:\n")
USER_GROUPS = {4321, 4401, 4402}
BLOCKED = [signal.SIGUSR2]
IGNORED = [signal.SIGHUP]


def _bits(signos):
    m = 0
    for s in signos:
        m |= 1 << (int(s) - 1)
    return m


def _preexec():
    # memwarden starts as root with supplementary groups, a blocked and an
    # ignored signal: the service must keep the signals, not the groups.
    os.setgroups([0, 4242])
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)


def _wrap(t, script=""):
    """A mount namespace of memwarden's own, with the test's accounts and
    whatever script sets up, then memwarden."""
    pw = t.write("passwd", PASSWD, 0o644)
    gr = t.write("group", GROUP, 0o644)
    body = "set -e; mount --bind %s /etc/passwd; mount --bind %s /etc/group; %s exec \"$@\"" % (pw, gr, script)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", body, "sh"]


def _need_mount():
    if not shutil.which("mount"):
        from lib import Skip
        raise Skip("mount not installed")


def _service(r, name="sleep", old=None):
    """The host pid of memwarden's child running `name` (not old)."""
    mw = r.host_pid()

    def find():
        for c in proc_children(mw):
            if c != old and proc_cmdline(c).startswith(name):
                return c
        if not r.running():
            raise AssertionError("memwarden exited:\n" + r.stderr_tail())
        return None

    return wait_for(find, 30, "the service %s" % name)


def _ids(v):
    return [int(x) for x in v.split()]


def _fds(pid):
    return sorted(int(x) for x in os.listdir("/proc/%d/fd" % pid))


def _settled(t, check, *args, **kw):
    """check(t, ...) until it passes, for a few seconds: what the service's
    own start-up does for a moment (jemalloc blocks every signal while it
    creates its background thread, and opens a /proc file) must not be
    taken for what memwarden gave it."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return check(t, *args, **kw)
        except Failure:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _check_fds(t, svc, want, what="the service"):
    t.check(_fds(svc) == sorted(want), "%s has fds %r: expected %r", what, _fds(svc), sorted(want))


def _check_unprivileged(t, mw, svc, uid, gid, groups, signals=False):
    s = proc_status(svc)
    m = proc_status(mw)
    t.check(s is not None and m is not None, "the service or memwarden is gone")
    t.check(_ids(s["Uid"]) == [uid] * 4, "Uid %s, expected %d for real, effective, saved and fs", s["Uid"], uid)
    t.check(_ids(s["Gid"]) == [gid] * 4, "Gid %s, expected %d for real, effective, saved and fs", s["Gid"], gid)
    t.check(set(_ids(s["Groups"])) == groups and len(_ids(s["Groups"])) == len(groups),
            "Groups %r, expected exactly %s", s["Groups"], sorted(groups))
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        t.check(int(s[cap], 16) == 0, "%s %s: a capability of memwarden's reached the service", cap, s[cap])
    # The container's to decide, and left as memwarden found it.
    t.check(s["CapBnd"] == m["CapBnd"], "CapBnd %s, memwarden's is %s", s["CapBnd"], m["CapBnd"])
    t.check(s["NoNewPrivs"] == m["NoNewPrivs"], "NoNewPrivs %s, memwarden's %s", s["NoNewPrivs"], m["NoNewPrivs"])
    if signals:
        # (Not through _wrap's shell, which starts memwarden with a mask
        # of its own.)
        t.check(int(s["SigBlk"], 16) == _bits(BLOCKED), "SigBlk %s, memwarden was started with %x blocked",
                s["SigBlk"], _bits(BLOCKED))
        t.check(int(s["SigIgn"], 16) & _bits(IGNORED) == _bits(IGNORED), "SigIgn %s: SIGHUP not ignored",
                s["SigIgn"])
    return s


@needs_root
def test_user_drops_groups_ids_capabilities_and_fds(t):
    _need_mount()
    keep_r, keep_w = os.pipe()  # an fd memwarden is given: the service gets it too
    t.defer(lambda: (os.close(keep_r), os.close(keep_w)))
    r = t.mw("-s", "service.user=mwtest", "-s", "service.restart=always", "-s", "service.restart_backoff=100ms",
             "--", "sleep", "600", wrap=_wrap(t), preexec_fn=_preexec, pass_fds=(keep_r,))
    mw = r.host_pid()
    svc = _service(r)
    _settled(t, _check_unprivileged, mw, svc, 4321, 4321, USER_GROUPS)
    # memwarden's own descriptors (signalfd, epoll, timerfd, the notify
    # socket, cgroup files, the exec-error pipe) are all close-on-exec.
    mine = _fds(mw)
    t.check(len(mine) > 4, "memwarden has only %r open: the test sees nothing", mine)
    _settled(t, _check_fds, svc, [0, 1, 2, keep_r])
    # The same for a later instance, started with more of memwarden open.
    os.kill(svc, signal.SIGKILL)
    svc2 = _service(r, old=svc)
    _settled(t, _check_unprivileged, mw, svc2, 4321, 4321, USER_GROUPS)
    _settled(t, _check_fds, svc2, [0, 1, 2, keep_r], "the restarted service")
    r.signal(signal.SIGTERM)
    r.wait(30)


@needs_root
def test_user_and_group_take_the_group(t):
    _need_mount()
    r = t.mw("-s", "service.user=mwtest", "-s", "service.group=mwc", "--", "sleep", "600",
             wrap=_wrap(t), preexec_fn=_preexec)
    # The group's gid, and the user's memberships (as initgroups(user, gid)).
    _settled(t, _check_unprivileged, r.host_pid(), _service(r), 4321, 4403, {4403, 4401, 4402})
    r.signal(signal.SIGTERM)
    r.wait(30)


@needs_root
def test_host_user_without_memberships(t):
    # daemon, from the host's own files: its primary group alone.
    r = t.mw("-s", "service.user=daemon", "--", "sleep", "600", preexec_fn=_preexec)
    _settled(t, _check_unprivileged, r.host_pid(), _service(r), 1, 1, {1}, signals=True)
    r.signal(signal.SIGTERM)
    r.wait(30)


@needs_root
def test_group_only_stays_root_without_groups(t):
    _need_mount()
    r = t.mw("-s", "service.group=mwb", "--", "sleep", "600", wrap=_wrap(t), preexec_fn=_preexec)
    s = proc_status(_service(r))
    t.check(_ids(s["Uid"]) == [0] * 4 and _ids(s["Gid"]) == [4402] * 4, "Uid %s Gid %s", s["Uid"], s["Gid"])
    t.check(_ids(s["Groups"]) == [], "Groups %r: memwarden's supplementary groups kept", s["Groups"])
    r.signal(signal.SIGTERM)
    r.wait(30)


# ------------------------------------------------------------ preload paths

def _refused(t, key, path, reason, *extra):
    rc, out, err = t.run_plain(["-s", "status.state_file=" + t.path("s.json"), "-s",
                                "allocator.%s=%s" % (key, path)] + list(extra) + ["--", "true"])
    t.check(rc == 2, "exit %d with [allocator] %s = %s, expected 2; stderr %r", rc, key, path, err)
    t.check("[allocator] %s = %s" % (key, path) in err and reason in err,
            "the message does not name the key, the path and %r: %r", reason, err)
    t.check('"event":"spawn"' not in err, "a service was started: %r", err)
    return err


def _lib_copy(t, *parts, mode=0o644):
    src = "/bin/true"  # any regular file: the refusal comes before anything reads it
    p = t.path(*parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    shutil.copy(src, p)
    os.chmod(p, mode)
    return p


def test_preload_paths_refused_clearly(t):
    # Relative: the configuration says so (an absolute path).
    rc, out, err = t.run_plain(["-s", "allocator.jemalloc=lib/libjemalloc.so.2", "--", "true"])
    t.check(rc == 2 and "allocator.jemalloc" in err and "absolute path" in err, "exit %d; %r", rc, err)
    _refused(t, "jemalloc", "/nonexistent/libjemalloc.so.2", "No such file or directory")
    _refused(t, "agent", "/dev/null", "not a regular file")
    # Writable by group or others.
    lib = _lib_copy(t, "w", "libjemalloc.so.2", mode=0o664)
    _refused(t, "jemalloc", lib, "not safe to preload: writable by group or others (mode 0664)")
    lib = _lib_copy(t, "w", "memwarden-agent.so", mode=0o646)
    _refused(t, "agent", lib, "not safe to preload: writable by group or others (mode 0646)")
    # In a directory anyone may write, without the sticky bit.
    d = t.path("open")
    lib = _lib_copy(t, "open", "libjemalloc.so.2")
    os.chmod(d, 0o777)
    _refused(t, "jemalloc", lib, "not safe to preload: the directory %s is writable by group or others "
             "without the sticky bit (mode 0777)" % d)
    # A link in it to a safe file: the link could be replaced.
    safe = _lib_copy(t, "safe", "memwarden-agent.so")
    os.symlink(safe, os.path.join(d, "memwarden-agent.so"))
    _refused(t, "agent", os.path.join(d, "memwarden-agent.so"), "the directory %s is writable" % d)


@needs_root
def test_preload_owned_by_another_user_refused(t):
    lib = _lib_copy(t, "theirs", "libjemalloc.so.2")
    os.chown(lib, 65534, 65534)
    _refused(t, "jemalloc", lib, "not safe to preload: owned by uid 65534, not by root")
    os.chown(lib, 0, 0)
    os.chown(os.path.dirname(lib), 65534, 65534)
    _refused(t, "jemalloc", lib, "the directory %s is owned by uid 65534, not by root" % os.path.dirname(lib))


@needs_root
def test_preload_sticky_directory_and_link_accepted(t):
    # Under a sticky directory (like /tmp itself), and through a link: the
    # service gets the resolved path, the one that was checked.
    from test_preload import need_jemalloc, SHOW, parse_show
    je = need_jemalloc()
    os.makedirs(t.path("sticky"))
    os.chmod(t.path("sticky"), 0o1777)
    os.makedirs(t.path("sticky", "mine"))
    real = t.path("sticky", "mine", "libjemalloc.so.2")
    shutil.copy(je, real)
    link = t.path("libjemalloc.so.2")
    os.symlink(real, link)
    r = t.mw("-s", "allocator.jemalloc=" + link, "--", "sh", "-c", SHOW)
    r.expect_exit(0, 60)
    out = parse_show(r, r.stdout().splitlines())
    t.check(out["LD"].split(":")[0] == real and out["maps"] > 0, "service saw %r", out)


@needs_root
def test_preload_auto_skips_unsafe_bundled_copy(t):
    from test_preload import need_jemalloc, need_agent, system_jemalloc, SHOW, parse_show, warnings
    je = need_jemalloc()
    os.makedirs(t.path("opt", "bin"))
    os.makedirs(t.path("opt", "lib"))
    shutil.copy(t.bin, t.path("opt", "bin", "memwarden"))
    os.chmod(t.path("opt", "bin", "memwarden"), 0o755)
    shutil.copy(je, t.path("opt", "lib", "libjemalloc.so.2"))
    shutil.copy(need_agent(t), t.path("opt", "lib", "memwarden-agent.so"))
    os.chmod(t.path("opt", "lib"), 0o777)  # anyone could swap them
    t.bin = t.path("opt", "bin", "memwarden")
    r = t.mw("--", "sh", "-c", SHOW)
    r.expect_exit(0, 60)
    out = parse_show(r, r.stdout().splitlines())
    w = [e.get("msg", "") for e in warnings(r)]
    for name in ("libjemalloc.so.2", "memwarden-agent.so"):
        p = t.path("opt", "lib", name)
        t.check(p not in out["LD"], "the unsafe %s was preloaded: %r", p, out["LD"])
        t.check(any(p in m and "not safe to preload" in m and "without the sticky bit" in m for m in w),
                "no warning names %s: %r", p, w)
    # jemalloc from the distribution instead; the service ran.
    t.check(out["LD"].split(":")[0] == system_jemalloc() and out["maps"] > 0, "service saw %r", out)


# ------------------------------------------------------------ state file

def _statefile_refused(t, path, reason, *extra):
    args = ["-s", "service.user=nobody", "-s", "status.state_file=" + path] + list(extra)
    rc, out, err = t.run_plain(args + ["--", "true"])
    t.check(rc == 2, "exit %d with the state file %s, expected 2; stderr %r", rc, path, err)
    t.check("[status] state_file = %s" % path in err and reason in err and "uid 65534" in err,
            "the message does not say %r: %r", reason, err)
    t.check('"event":"spawn"' not in err, "a service was started: %r", err)
    # `memwarden check` says the same.
    rc, out, err2 = t.run_plain(["check"] + args)
    t.check(rc == 2 and reason in err2, "check: exit %d, %r", rc, err2)


@needs_root
def test_state_file_the_service_user_could_change_refused(t):
    d = t.path("open")
    os.mkdir(d)
    os.chmod(d, 0o777)
    _statefile_refused(t, os.path.join(d, "svc.json"), "its directory %s is writable by group or others (mode 0777)" % d)
    os.chmod(d, 0o1777)
    _statefile_refused(t, os.path.join(d, "svc.json"), "(mode 1777)")
    os.chmod(d, 0o755)
    os.chown(d, 65534, 65534)
    _statefile_refused(t, os.path.join(d, "svc.json"), "owned by uid 65534, not by root")
    # To be created in a directory it could write.
    os.chown(d, 0, 0)
    os.chmod(d, 0o777)
    _statefile_refused(t, os.path.join(d, "new", "svc.json"), "where memwarden would create")
    # Without [service] user nothing changes: the service is memwarden's own user.
    rc, out, err = t.run_plain(["-s", "status.state_file=" + os.path.join(d, "svc.json"), "--", "true"])
    t.check(rc == 0, "exit %d without user; %r", rc, err)


@needs_root
def test_state_file_created_private_and_kept_from_the_service(t):
    d = t.path("state")
    f = os.path.join(d, "svc.json")
    # As nobody, the service tries to change the state file and its directory.
    script = ("touch %s/planted 2>/dev/null && echo PLANTED; "
              "mv %s %s.moved 2>/dev/null && echo MOVED; "
              "echo x >> %s 2>/dev/null && echo APPENDED; "
              "cat %s >/dev/null && echo READ; echo id=$(id -u)") % (d, f, f, f, f)
    r = t.mw("-s", "service.user=nobody", "-s", "status.state_file=" + f,
             "-s", "log.memory_interval=0", "--", "sh", "-c", "sleep 0.3; " + script)
    r.expect_exit(0, 60)
    out = r.stdout()
    t.check("id=65534" in out and "READ" in out, "the service did not run as nobody: %r", out)
    for bad in ("PLANTED", "MOVED", "APPENDED"):
        t.check(bad not in out, "the service (nobody) %s the state file: %r", bad.lower(), out)
    sd, sf = os.stat(d), os.stat(f)
    t.check(sd.st_uid == 0 and stat.S_IMODE(sd.st_mode) == 0o755, "state directory uid %d mode %o",
            sd.st_uid, stat.S_IMODE(sd.st_mode))
    t.check(sf.st_uid == 0 and stat.S_IMODE(sf.st_mode) == 0o644, "state file uid %d mode %o",
            sf.st_uid, stat.S_IMODE(sf.st_mode))


def _default_state(t, script, *args):
    """memwarden with the default state file, /run and /tmp being fresh
    tmpfs mounts of its own namespace that script sets up."""
    setup = "mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; " + script + ";"
    # The fresh /tmp hides a checkout that lives under /tmp: run a copy of
    # memwarden from /dev/shm, which stays.
    copy = "/dev/shm/memwarden-test-%d-%d" % (os.getpid(), len(t.runs))
    shutil.copy2(t.bin, copy)
    t.defer(lambda: os.path.exists(copy) and os.unlink(copy))
    saved, t.bin = t.bin, copy
    try:
        return t._start(list(args) + ["--", "sleep", "600"], ns=True, state_file=False,
                        wrap=_wrap(t, setup))
    finally:
        t.bin = saved


@needs_root
def test_state_default_falls_back_from_open_run(t):
    _need_mount()
    r = _default_state(t, "mkdir -m 0777 /run/memwarden", "-s", "service.user=nobody")
    svc = _service(r)
    root = "/proc/%d/root" % r.host_pid()
    w = [e for e in r.events("state") if e.get("level") == "warn"]
    t.check(len(w) == 1 and "/run/memwarden" in w[0].get("msg", "") and "/tmp/memwarden" in w[0]["msg"]
            and "writable by group or others (mode 0777)" in w[0]["msg"], "warnings: %r", w)
    f = root + "/tmp/memwarden/sleep.json"
    wait_for(lambda: os.path.exists(f), 10, f)
    sd = os.stat(root + "/tmp/memwarden")
    t.check(sd.st_uid == 0 and stat.S_IMODE(sd.st_mode) == 0o755, "mode %o", stat.S_IMODE(sd.st_mode))
    t.check(not os.path.exists(root + "/run/memwarden/sleep.json"), "a state file in the open /run/memwarden")
    start = r.events("start")
    t.check(start and start[0].get("state_file") == "/tmp/memwarden/sleep.json", "start event %r", start)
    t.check(proc_status(svc)["Uid"].split()[0] == "65534", "not nobody")
    r.signal(signal.SIGTERM)
    r.wait(30)


@needs_root
def test_state_default_without_a_safe_directory_exits_2(t):
    _need_mount()
    r = _default_state(t, "mkdir -m 0777 /run/memwarden; mkdir /tmp/memwarden; chown 65534 /tmp/memwarden",
                       "-s", "service.user=nobody")
    r.expect_exit(2, 30)
    err = r.stderr()
    t.check("no safe directory" in err and "/run/memwarden: " in err and "/tmp/memwarden: " in err
            and "owned by uid 65534" in err and "set [status] state_file" in err, "stderr %r", err)
    # Without [service] user the open /run/memwarden is used as it is.
    r = _default_state(t, "mkdir -m 0777 /run/memwarden")
    _service(r)
    f = "/proc/%d/root/run/memwarden/sleep.json" % r.host_pid()
    wait_for(lambda: os.path.exists(f), 10, f)
    t.check(not [e for e in r.events("state") if e.get("level") == "warn"], "a warning without user")
    r.signal(signal.SIGTERM)
    r.wait(30)
