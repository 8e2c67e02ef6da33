"""The allocator preload (SPEC §5): jemalloc found and preloaded, LD_PRELOAD
and MALLOC_CONF composed without clobbering, glibc's arena_max with
`preload = none`, one honest warning when LD_PRELOAD cannot apply; the
agent (SPEC §6) found the same way and preloaded with jemalloc or alone,
once, with its signal in MEMWARDEN_RELEASE_SIGNAL."""

import os
import shutil

from lib import Failure, Skip, needs_root

DISTRO = [
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
]
DEFAULT_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"

# The service prints what the allocator plan gave it: what a program it
# starts (grep) has mapped (JE: jemalloc's mappings, AG: how many agents,
# by path) and which signals it catches, and the variables.
SHOW = ('echo "JE=$(grep -c libjemalloc.so /proc/self/maps)"; '
        'echo "AG=$(grep memwarden-agent.so /proc/self/maps | tr -s " " | cut -d" " -f6 | sort -u | wc -l)"; '
        'echo "CGT=$(grep SigCgt: /proc/self/status | cut -f2)"; '
        'echo "LD=$LD_PRELOAD"; echo "MC=$MALLOC_CONF"; echo "GT=$GLIBC_TUNABLES"; '
        'echo "SIG=$MEMWARDEN_RELEASE_SIGNAL"')
AGENT_NAME = "memwarden-agent.so"


def system_jemalloc():
    for p in DISTRO:
        if os.path.isfile(p):
            return p
    return None


def need_jemalloc():
    from lib import Skip
    p = system_jemalloc()
    if p is None:
        raise Skip("libjemalloc.so.2 not installed (tests/deps.sh)")
    return p


def agent_beside(bin_):
    """The agent memwarden at bin_ finds in the build tree."""
    d = os.path.dirname(os.path.abspath(bin_))
    for cand in (d, os.path.dirname(d)):
        if os.path.basename(cand) == "build" and os.path.isfile(os.path.join(cand, AGENT_NAME)):
            return os.path.join(cand, AGENT_NAME)
    return None


def need_agent(t):
    p = agent_beside(t.bin)
    if p is None:
        raise Failure("no %s in the build tree beside %s (make build/%s)" % (AGENT_NAME, t.bin, AGENT_NAME))
    return p


def parse_show(r, lines):
    out = {}
    for l in lines:
        k, _, v = l.partition("=")
        out[k] = v
    if len(out) < 7:
        raise Failure("service printed %r; stderr:\n%s" % (lines, r.stderr_tail()))
    out["maps"] = int(out["JE"])
    out["agent_maps"] = int(out["AG"])
    out["caught"] = int(out["CGT"] or "0", 16)
    return out


def show(t, *args, env=None):
    """Runs SHOW under memwarden; returns (run, dict of its lines)."""
    r = t.mw(*args, "--", "sh", "-c", SHOW, env=env)
    r.expect_exit(0, 60)
    return r, parse_show(r, r.stdout().splitlines())


def catches(out, signo):
    return bool(out["caught"] & (1 << (signo - 1)))


def allocator_event(t, r):
    evs = r.events("allocator")
    infos = [e for e in evs if e.get("level") == "info"]
    t.check(len(infos) == 1, "expected one allocator info event, got %r", evs)
    return infos[0]


def warnings(r):
    return [e for e in r.events("allocator") if e.get("level") == "warn"]


@needs_root
def test_jemalloc_preloaded_by_default(t):
    je = need_jemalloc()
    ag = need_agent(t)
    r, out = show(t)
    t.check(out["maps"] > 0, "libjemalloc.so.2 not mapped in the service: %r", out)
    t.check(out["LD"] == je + ":" + ag, "LD_PRELOAD is %r, expected %r", out["LD"], je + ":" + ag)
    t.check(out["agent_maps"] > 0 and catches(out, 40), "the agent is not at work in the service: %r", out)
    t.check(out["SIG"] == "40", "MEMWARDEN_RELEASE_SIGNAL is %r", out["SIG"])
    t.check(out["MC"].startswith(DEFAULT_CONF + ",narenas:"), "MALLOC_CONF is %r", out["MC"])
    t.check(out["GT"] == "", "GLIBC_TUNABLES set with jemalloc: %r", out["GT"])
    ev = allocator_event(t, r)
    t.check(ev.get("preload") == je and ev.get("narenas", 0) >= 1 and ev.get("arena_max") == 0,
            "allocator event %r", ev)
    t.check(ev.get("agent") == ag and ev.get("agent_reason") == "build", "allocator event %r", ev)
    t.check(out["MC"].endswith("narenas:%d" % ev["narenas"]), "narenas %r vs %r", out["MC"], ev)
    t.check(not warnings(r), "warnings: %r", warnings(r))


@needs_root
def test_existing_ld_preload_kept_without_duplicates(t):
    if os.environ.get("MEMWARDEN_SANITIZED"):
        # The LD_PRELOAD is memwarden's own environment too, and an ASan
        # binary refuses to start with a library preloaded before it.
        raise Skip("LD_PRELOAD in its environment stops the ASan build of memwarden itself")
    je = need_jemalloc()
    ag = need_agent(t)
    libm = "libm.so.6"
    # Spaces and colons; memwarden's entries in front; each entry once.
    r, out = show(t, env={"LD_PRELOAD": " %s  %s:%s" % (libm, "libdl.so.2", libm)})
    t.check(out["LD"] == "%s:%s:%s:%s" % (je, ag, libm, "libdl.so.2"), "LD_PRELOAD is %r", out["LD"])
    t.check(out["maps"] > 0, "jemalloc not mapped: %r", out)
    # The same jemalloc already there: kept where it is, the agent added.
    r, out = show(t, env={"LD_PRELOAD": "%s:%s" % (libm, je)})
    t.check(out["LD"] == "%s:%s:%s" % (ag, libm, je), "LD_PRELOAD is %r", out["LD"])
    # Both already there: the variable is left as it is.
    r, out = show(t, env={"LD_PRELOAD": "%s %s" % (je, ag)})
    t.check(out["LD"] == "%s %s" % (je, ag), "LD_PRELOAD is %r, expected it untouched", out["LD"])
    # A jemalloc from another path: kept, no second copy.
    other = t.path("other", "libjemalloc.so.2")
    os.makedirs(os.path.dirname(other))
    shutil.copy(je, other)
    r, out = show(t, env={"LD_PRELOAD": other + " " + libm})
    t.check(out["LD"] == "%s:%s:%s" % (ag, other, libm), "LD_PRELOAD is %r", out["LD"])
    t.check(je not in r.stdout(), "the system's jemalloc added beside %s: %r", other, r.stdout())
    ev = allocator_event(t, r)
    t.check(ev.get("reason") == "already preloaded", "allocator event %r", ev)
    # An entry in front: memwarden's go first.
    r, out = show(t, env={"LD_PRELOAD": libm})
    t.check(out["LD"] == je + ":" + ag + ":" + libm, "LD_PRELOAD is %r", out["LD"])


@needs_root
def test_malloc_conf_from_environment_kept_unless_override(t):
    need_jemalloc()
    r, out = show(t, env={"MALLOC_CONF": "narenas:1"})
    t.check(out["MC"] == "narenas:1", "MALLOC_CONF is %r, expected the environment's", out["MC"])
    r, out = show(t, "-s", "allocator.malloc_conf_override=yes", env={"MALLOC_CONF": "narenas:1"})
    t.check(out["MC"].startswith(DEFAULT_CONF), "MALLOC_CONF is %r, expected the config's", out["MC"])
    r, out = show(t, "-s", "allocator.malloc_conf=dirty_decay_ms:0,narenas:3")
    t.check(out["MC"] == "dirty_decay_ms:0,narenas:3", "MALLOC_CONF is %r", out["MC"])
    r, out = show(t, "-s", "allocator.malloc_conf=")
    t.check(out["MC"] == "", "MALLOC_CONF is %r with an empty malloc_conf", out["MC"])


@needs_root
def test_preload_none_sets_glibc_arena_max(t):
    ag = need_agent(t)
    r, out = show(t, "-s", "allocator.preload=none")
    t.check(out["maps"] == 0 and out["MC"] == "", "jemalloc with preload = none: %r", out)
    # A service on glibc's malloc needs the agent most.
    t.check(out["LD"] == ag and out["agent_maps"] > 0, "the agent with preload = none: %r", out)
    ev = allocator_event(t, r)
    t.check(ev.get("preload") == "none" and ev.get("arena_max", 0) >= 1, "allocator event %r", ev)
    t.check(out["GT"] == "glibc.malloc.arena_max=%d" % ev["arena_max"], "GLIBC_TUNABLES is %r", out["GT"])
    r, out = show(t, "-s", "allocator.preload=none", "-s", "allocator.arena_max=3",
                  env={"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"})
    t.check(out["GT"] == "glibc.malloc.trim_threshold=131072:glibc.malloc.arena_max=3",
            "GLIBC_TUNABLES is %r", out["GT"])


@needs_root
def test_static_service_warned_once_and_runs(t):
    need_jemalloc()
    # The release memwarden is a static binary (the binary under test may
    # be the dynamic sanitizer build).
    release = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "memwarden")
    if not os.access(release, os.X_OK):
        raise Skip("no static build/memwarden to use as a static service")
    static = t.path("static-service")
    shutil.copy(release, static)
    os.chmod(static, 0o755)
    r = t.mw("--", static, "--version")
    r.expect_exit(0, 60)
    w = warnings(r)
    t.check(len(w) == 1 and "statically linked" in w[0].get("msg", ""), "warnings: %r", w)
    t.check("memwarden" in r.stdout(), "the static service did not run: %r", r.stdout())
    t.check("without jemalloc and the agent" in w[0].get("msg", ""), "warning: %r", w)
    ev = allocator_event(t, r)
    t.check(ev.get("preload") == "none" and ev.get("agent") == "none", "allocator event %r", ev)


@needs_root
def test_setuid_service_warned_once(t):
    need_jemalloc()
    suid = t.path("suid-true")
    shutil.copy("/bin/true", suid)
    os.chmod(suid, 0o4755)
    r = t.mw("--", suid)
    r.expect_exit(0, 60)
    w = warnings(r)
    t.check(len(w) == 1 and "setuid" in w[0].get("msg", ""), "warnings: %r", w)


def test_missing_explicit_jemalloc_exits_2(t):
    rc, out, err = t.run_plain(["-s", "status.state_file=" + t.path("s.json"),
                                "-s", "allocator.jemalloc=/nonexistent/libjemalloc.so.2", "--", "true"])
    t.check(rc == 2, "exit %d, expected 2; stderr %r", rc, err)
    t.check("/nonexistent/libjemalloc.so.2" in err and "jemalloc" in err, "message: %r", err)
    t.check("spawn" not in [l.split('"event":"')[1].split('"')[0] for l in err.splitlines() if '"event":"' in l],
            "a service was started: %r", err)
    # A directory is not a library either.
    rc, out, err = t.run_plain(["-s", "status.state_file=" + t.path("s.json"),
                                "-s", "allocator.jemalloc=/tmp", "--", "true"])
    t.check(rc == 2 and "not a regular file" in err, "exit %d; stderr %r", rc, err)


@needs_root
def test_explicit_jemalloc_path_used(t):
    je = need_jemalloc()
    mine = t.path("libjemalloc.so.2")
    shutil.copy(je, mine)
    r, out = show(t, "-s", "allocator.jemalloc=" + mine)
    t.check(out["LD"] == mine + ":" + need_agent(t) and out["maps"] > 0, "service saw %r", out)
    t.check(allocator_event(t, r).get("reason") == "configured", "event %r", allocator_event(t, r))


@needs_root
def test_bundled_copy_found_first(t):
    je = need_jemalloc()
    os.makedirs(t.path("opt", "bin"))
    os.makedirs(t.path("opt", "lib"))
    shutil.copy(t.bin, t.path("opt", "bin", "memwarden"))
    os.chmod(t.path("opt", "bin", "memwarden"), 0o755)
    bundled = t.path("opt", "lib", "libjemalloc.so.2")
    shutil.copy(je, bundled)
    bundled_agent = t.path("opt", "lib", AGENT_NAME)
    shutil.copy(need_agent(t), bundled_agent)
    t.bin = t.path("opt", "bin", "memwarden")
    r, out = show(t)
    t.check(out["LD"] == bundled + ":" + bundled_agent and out["maps"] > 0 and out["agent_maps"] > 0,
            "service saw %r", out)
    ev = allocator_event(t, r)
    t.check(ev.get("reason") == "bundled" and ev.get("preload") == bundled, "event %r", ev)
    t.check(ev.get("agent_reason") == "bundled" and ev.get("agent") == bundled_agent, "event %r", ev)
    t.check(not warnings(r), "warnings: %r", warnings(r))


@needs_root
def test_jemalloc_not_found_warns_once_and_runs_on_glibc(t):
    if not shutil.which("mount"):
        from lib import Skip
        raise Skip("mount not installed")
    # Every place auto looks at, hidden by /dev/null (not a regular file)
    # in a mount namespace of memwarden's own.
    hide = DISTRO + ["/usr/local/lib/memwarden/libjemalloc.so.2"]
    script = ('for p in %s; do [ -e "$p" ] && { mount --bind /dev/null "$p" || exit 99; }; done; exec "$@"'
              % " ".join(hide))
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    r = t._start(["--", "sh", "-c", SHOW], ns=True, wrap=wrap)
    r.expect_exit(0, 60)
    w = warnings(r)
    t.check(len(w) == 1 and "not found" in w[0].get("msg", ""), "warnings: %r; stderr:\n%s", w, r.stderr_tail())
    out = parse_show(r, r.stdout().splitlines())
    # The agent alone: it was found, jemalloc was not.
    t.check(out["maps"] == 0 and out["LD"] == need_agent(t), "service saw %r", out)
    ev = allocator_event(t, r)
    t.check(ev.get("preload") == "none" and ev.get("reason") == "not found" and ev.get("arena_max", 0) >= 1,
            "allocator event %r", ev)


@needs_root
def test_agent_preloaded_once_whatever_its_path(t):
    ag = need_agent(t)
    other = t.path("elsewhere", AGENT_NAME)
    os.makedirs(os.path.dirname(other))
    shutil.copy(ag, other)
    # Through [environment], which the plan reads as the service's own
    # (and which the ASan build of memwarden does not mind).
    for extra in ((), ("-s", "allocator.preload=none")):
        r, out = show(t, "-s", "environment.LD_PRELOAD=" + other, *extra)
        t.check(ag not in out["LD"] and out["LD"].endswith(other) and out["agent_maps"] == 1,
                "LD_PRELOAD %r (agent mapped %d times)", out["LD"], out["agent_maps"])
        ev = allocator_event(t, r)
        t.check(ev.get("agent") == "none" and ev.get("agent_reason") == "already preloaded", "event %r", ev)


@needs_root
def test_explicit_agent_path_used(t):
    mine = t.path(AGENT_NAME)
    shutil.copy(need_agent(t), mine)
    r, out = show(t, "-s", "allocator.agent=" + mine, "-s", "allocator.preload=none")
    t.check(out["LD"] == mine and out["agent_maps"] > 0, "service saw %r", out)
    ev = allocator_event(t, r)
    t.check(ev.get("agent") == mine and ev.get("agent_reason") == "configured", "event %r", ev)


def test_missing_explicit_agent_exits_2(t):
    rc, out, err = t.run_plain(["-s", "status.state_file=" + t.path("s.json"),
                                "-s", "allocator.agent=/nonexistent/" + AGENT_NAME, "--", "true"])
    t.check(rc == 2 and "/nonexistent/" + AGENT_NAME in err and "agent" in err, "exit %d; stderr %r", rc, err)


@needs_root
def test_release_signal_passed_to_agent(t):
    need_agent(t)
    # RTMIN+10 is 44 with glibc: the agent handles that one, not 40.
    r, out = show(t, "-s", "allocator.release_signal=RTMIN+10")
    t.check(out["SIG"] == "44", "MEMWARDEN_RELEASE_SIGNAL is %r", out["SIG"])
    t.check(catches(out, 44) and not catches(out, 40), "SigCgt %x: expected 44 caught, 40 not", out["caught"])


@needs_root
def test_agent_not_found_warns_once_and_jemalloc_stays(t):
    je = need_jemalloc()
    # memwarden alone in a bin/ of its own: no lib/ beside it, no build
    # tree; an installed copy in LIBDIR hidden in a mount namespace.
    os.makedirs(t.path("solo", "bin"))
    shutil.copy(t.bin, t.path("solo", "bin", "memwarden"))
    os.chmod(t.path("solo", "bin", "memwarden"), 0o755)
    t.bin = t.path("solo", "bin", "memwarden")
    installed = "/usr/local/lib/memwarden/" + AGENT_NAME
    script = ('[ -e %s ] && { mount --bind /dev/null %s || exit 99; }; exec "$@"' % (installed, installed))
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    r = t._start(["--", "sh", "-c", SHOW], ns=True, wrap=wrap)
    r.expect_exit(0, 60)
    w = warnings(r)
    t.check(len(w) == 1 and AGENT_NAME in w[0].get("msg", "") and "not found" in w[0].get("msg", ""),
            "warnings: %r", w)
    out = parse_show(r, r.stdout().splitlines())
    t.check(out["LD"] == je and out["agent_maps"] == 0, "service saw %r", out)
    ev = allocator_event(t, r)
    t.check(ev.get("agent") == "none" and ev.get("agent_reason") == "not found", "event %r", ev)
