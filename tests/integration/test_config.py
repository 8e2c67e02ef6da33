"""Configuration (SPEC §2, §9): bad configurations exit 2 naming where and
which key, and start nothing; `check` prints each key's origin; precedence
default < file < environment < -s."""

import os
import re
import shutil

from lib import needs_root, parse_json_lines

# Each bad configuration: (name, file content or None, -s overrides,
# environment, places (one of them must be in the message; FILE stands for
# the file's path), keys (all must be in the message), give the command on
# the command line?).
F = "FILE"
BAD = [
    ("unknown_key", "[service]\nbogus_key = 1\n", [], {}, [F + ":2"], ["bogus_key"]),
    ("unknown_section", "[nosuch]\nkey = 1\n", [], {}, [F + ":1", F + ":2"], ["nosuch"]),
    ("key_outside_section", "stop_timeout = 1s\n", [], {}, [F + ":1"], ["stop_timeout"]),
    ("bad_size", "[memory]\nlimit = 12Q\n", [], {}, [F + ":2"], ["limit"]),
    ("negative_size", "[memory]\nlimit = -1G\n", [], {}, [F + ":2"], ["limit"]),
    ("percent_over_100", "[memory]\nsoft = 150%\n", [], {}, [F + ":2"], ["soft"]),
    ("percent_zero", "[memory]\nhard = 0%\n", [], {}, [F + ":2"], ["hard"]),
    ("soft_ge_hard", "[memory]\nsoft = 95%\nhard = 90%\n", [], {}, [F + ":2", F + ":3"], ["soft", "hard"]),
    ("soft_eq_hard_sizes", "[memory]\nlimit = 1G\nsoft = 512M\nhard = 512M\n", [], {}, [F + ":3", F + ":4"],
     ["soft", "hard"]),
    ("bad_signal_name", "[service]\nstop_signal = SIGFOO\n", [], {}, [F + ":2"], ["stop_signal"]),
    ("bad_signal_number", "[service]\nstop_signal = 99\n", [], {}, [F + ":2"], ["stop_signal"]),
    ("bad_signal_rt", "[memory]\naction_signal = RTMIN+99\n", [], {}, [F + ":2"], ["action_signal"]),
    ("bad_duration", "[service]\nstop_timeout = 10 parsecs\n", [], {}, [F + ":2"], ["stop_timeout"]),
    ("negative_duration", "[service]\nstop_timeout = -5s\n", [], {}, [F + ":2"], ["stop_timeout"]),
    ("negative_count", "[service]\nmax_restarts = -1\n", [], {}, [F + ":2"], ["max_restarts"]),
    ("overflowing_count", "[service]\nmax_restarts = 99999999999999999999999\n", [], {}, [F + ":2"], ["max_restarts"]),
    ("bad_boolean", "[service]\nsignal_group = maybe\n", [], {}, [F + ":2"], ["signal_group"]),
    ("bad_restart_policy", "[service]\nrestart = sometimes\n", [], {}, [F + ":2"], ["restart"]),
    ("bad_umask", "[service]\numask = 999\n", [], {}, [F + ":2"], ["umask"]),
    ("bad_exit_code", "[service]\nsuccess_exit_codes = 300\n", [], {}, [F + ":2"], ["success_exit_codes"]),
    ("bad_metric", "[memory]\nmetric = vibes\n", [], {}, [F + ":2"], ["metric"]),
    ("bad_log_level", "[log]\nlevel = loud\n", [], {}, [F + ":2"], ["level"]),
    ("bad_ready", "[service]\nready = whenever\n", [], {}, [F + ":2"], ["ready"]),
    ("duplicate_key", "[service]\nstop_timeout = 1s\nstop_timeout = 2s\n", [], {}, [F + ":3"], ["stop_timeout"]),
    ("long_line", "[service]\nname = " + "a" * 300 + "\n", [], {}, [F + ":2"], []),
    ("long_line_later", "[service]\nstop_timeout = 1s\n\n[environment]\nX = " + "y" * 250 + "\n", [], {}, [F + ":5"], []),
    ("garbage_line", b"[service]\n\xff\xfe\x01\x02 junk without equals\n", [], {}, [F + ":2"], []),
    ("garbage_with_nul", b"[service]\nstop_timeout = 1s\x00\xff\xfe\n", [], {}, [F + ":2"], []),
    ("unterminated_section", "[service\nstop_timeout = 1s\n", [], {}, [F + ":1"], []),
    ("empty_command", "[service]\ncommand =\n", [], {}, [F + ":2"], ["command"], False),
    ("unbalanced_quote_command", "[service]\ncommand = /bin/echo \"unterminated\n", [], {}, [F + ":2"], ["command"],
     False),
    ("unknown_user", "[service]\nuser = no_such_user_xyz\n", [], {}, [F + ":2"], ["user", "no_such_user_xyz"]),
    ("unknown_group", "[service]\ngroup = no_such_group_xyz\n", [], {}, [F + ":2"], ["group", "no_such_group_xyz"]),
    ("relative_state_file", "[status]\nstate_file = relative/x.json\n", [], {}, [F + ":2"], ["state_file"]),
    ("relative_jemalloc_path", "[allocator]\njemalloc = lib/libjemalloc.so.2\n", [], {}, [F + ":2"], ["jemalloc"]),
    ("s_without_equals", None, ["service.stop_timeout"], {}, ["-s", "option"], ["service.stop_timeout"]),
    ("s_without_section", None, ["stop_timeout=1s"], {}, ["-s", "option"], ["stop_timeout"]),
    ("s_unknown_section", None, ["nosuch.key=1"], {}, ["-s", "option"], ["nosuch"]),
    ("s_unknown_key", None, ["service.bogus=1"], {}, ["-s", "option"], ["bogus"]),
    ("s_bad_value", None, ["memory.hard=abc"], {}, ["-s", "option"], ["hard"]),
    ("s_soft_ge_hard", None, ["memory.soft=90%", "memory.hard=80%"], {}, ["-s", "option"], ["soft", "hard"]),
    ("env_bad_percent", None, [], {"MEMWARDEN_MEMORY_SOFT": "lots"}, ["MEMWARDEN_MEMORY_SOFT"], ["soft"]),
    ("env_bad_duration", None, [], {"MEMWARDEN_SERVICE_STOP_TIMEOUT": "forever"}, ["MEMWARDEN_SERVICE_STOP_TIMEOUT"],
     ["stop_timeout"]),
    ("env_bad_boolean", None, [], {"MEMWARDEN_SERVICE_SIGNAL_GROUP": "perhaps"}, ["MEMWARDEN_SERVICE_SIGNAL_GROUP"],
     ["signal_group"]),
    ("file_soft_env_hard_conflict", "[memory]\nsoft = 85%\n", [], {"MEMWARDEN_MEMORY_HARD": "80%"},
     [F + ":2", "MEMWARDEN_MEMORY_HARD"], ["soft", "hard"]),
    ("config_file_missing", None, [], {}, [], []),  # -c names a missing file: handled below
]


def _make_bad(case):
    name, content, overrides, env, places, keys = case[:6]
    with_command = case[6] if len(case) > 6 else True

    def test(t):
        marker = t.path("started")
        args = []
        path = t.path("bad.ini")
        where = [p.replace(F, path) for p in places]
        if name == "config_file_missing":
            path = t.path("no-such-dir", "memwarden.ini")
            args += ["-c", path]
            where = [path]
        elif content is not None:
            t.write("bad.ini", content)
            args += ["-c", path]
        for o in overrides:
            args += ["-s", o]
        if with_command:
            args += ["--", "touch", marker]
        rc, out, err = t.run_plain(args, env=env)
        t.check(rc == 2, "exit %d, expected 2; stderr:\n%s", rc, err)
        t.check(not os.path.exists(marker), "the service was started")
        t.check(not any(e.get("event") == "spawn" for e in parse_json_lines(err)), "a spawn was logged:\n%s", err)
        if where:
            t.check(any(w in err for w in where), "the message names none of %r:\n%s", where, err)
        for k in keys:
            t.check(k in err, "the message does not name %r:\n%s", k, err)
        t.check(err.count("\n") <= 30, "a config error should be a short message, got %d lines", err.count("\n"))

    test.__name__ = "test_bad_config_" + name
    return test


for _case in BAD:
    globals()["test_bad_config_" + _case[0]] = _make_bad(_case)


def test_bad_config_binary_file(t):
    """A binary (an ELF executable) given as the configuration file."""
    path = t.path("bin.ini")
    shutil.copy("/bin/true", path)
    marker = t.path("started")
    rc, out, err = t.run_plain(["-c", path, "--", "touch", marker])
    t.check(rc == 2, "exit %d, expected 2; stderr:\n%s", rc, err)
    t.check(not os.path.exists(marker), "the service was started")
    t.check(re.search(re.escape(path) + r":\d+", err), "the message does not name %s:LINE:\n%s", path, err)


def test_bad_config_in_check_exits_2(t):
    path = t.write("bad.ini", "[memory]\nsoft = 150%\n")
    rc, out, err = t.run_plain(["check", "-c", path])
    t.check(rc == 2, "check exited %d on a bad file, expected 2", rc)
    t.check(path + ":2" in err and "soft" in err, "check's message lacks %s:2 and soft:\n%s", path, err)


def test_usage_error_without_command(t):
    rc, out, err = t.run_plain([])
    t.check(rc == 2, "memwarden without a command exited %d, expected 2", rc)
    t.check(err.strip(), "no message on stderr")


def test_usage_error_unknown_option(t):
    marker = t.path("started")
    rc, out, err = t.run_plain(["--bogus-option", "--", "touch", marker])
    t.check(rc == 2, "exit %d, expected 2", rc)
    t.check("bogus-option" in err, "the message does not name the option:\n%s", err)
    t.check(not os.path.exists(marker), "the service was started")


# ------------------------------------------------------------------ check

SPEC_KEYS = {
    "service": ["command", "name", "directory", "user", "group", "umask", "stop_signal", "stop_timeout",
                "drain_delay", "signal_group", "success_exit_codes", "restart", "restart_backoff",
                "restart_backoff_max", "max_restarts", "restart_window", "ready"],
    "memory": ["limit", "metric", "soft", "hard", "interval", "fast_interval", "hard_for", "release_interval",
               "action", "action_signal"],
    "allocator": ["preload", "jemalloc", "agent", "malloc_conf", "malloc_conf_override", "arena_max",
                  "release_signal"],
    "log": ["format", "level", "target", "memory_interval"],
    "status": ["state_file"],
}


def parse_check(text):
    """{(section, key): (value, origin)} from `memwarden check` output."""
    out = {}
    section = None
    for line in text.splitlines():
        s = line.strip()
        # A key with no value may be printed commented out (";command =").
        m = re.match(r";\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", s)
        if m and section:
            value, _, origin = s.partition("=")[2].rpartition(";")
            out[(section, m.group(1))] = (None, origin.strip())
            continue
        if not s or s.startswith(";") or s.startswith("#"):
            continue
        m = re.fullmatch(r"\[([^\]]+)\]\s*(;.*)?", s)
        if m:
            section = m.group(1)
            continue
        key, eq, rest = s.partition("=")
        if not eq:
            continue
        value, _, origin = rest.rpartition(";")
        if not _:
            value, origin = rest, ""
        out[(section, key.strip())] = (value.strip(), origin.strip())
    return out


def duration_ms(v):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?", v.strip())
    if not m:
        return None
    mult = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, None: 1000}[m.group(2)]
    return float(m.group(1)) * mult


def test_check_prints_every_key(t):
    rc, out, err = t.run_plain(["check"])
    t.check(rc == 0, "check exited %d; stderr:\n%s", rc, err)
    keys = parse_check(out)
    missing = ["%s.%s" % (s, k) for s, ks in SPEC_KEYS.items() for k in ks if (s, k) not in keys]
    t.check(not missing, "check does not print: %s\noutput:\n%s", ", ".join(missing), out)
    nodefault = ["%s.%s=%s" % (s, k, o) for (s, k), (v, o) in keys.items()
                 if "default" not in o and not (v is None and o == "not set")]
    t.check(not nodefault, "without file, env or -s every origin should be 'default': %s", nodefault[:5])


def test_check_origins(t):
    path = t.write("mw.ini", "; a comment\n[service]\nstop_timeout = 5s\n\n[memory]\nsoft = 70%\n"
                   "[environment]\nMW_FOO = bar\n")
    rc, out, err = t.run_plain(["check", "-c", path, "-s", "service.stop_signal=INT"],
                               env={"MEMWARDEN_SERVICE_DRAIN_DELAY": "2s"})
    t.check(rc == 0, "check exited %d; stderr:\n%s", rc, err)
    keys = parse_check(out)
    want = {
        ("service", "stop_timeout"): path + ":3",
        ("memory", "soft"): path + ":6",
        ("service", "drain_delay"): "MEMWARDEN_SERVICE_DRAIN_DELAY",
        ("service", "stop_signal"): "-s",
        ("service", "max_restarts"): "default",
        ("environment", "MW_FOO"): path + ":8",
    }
    for k, origin in want.items():
        t.check(k in keys, "check does not print %s.%s:\n%s", k[0], k[1], out)
        t.check(origin in keys[k][1], "%s.%s: origin %r, expected %r", k[0], k[1], keys[k][1], origin)
    t.check("env" in keys[("service", "drain_delay")][1], "env origin should say env: %r", keys[("service", "drain_delay")][1])
    t.check("option" in keys[("service", "stop_signal")][1], "option origin should say option -s: %r",
            keys[("service", "stop_signal")][1])
    t.check(duration_ms(keys[("service", "stop_timeout")][0]) == 5000, "stop_timeout printed as %r",
            keys[("service", "stop_timeout")][0])
    t.check(keys[("environment", "MW_FOO")][0] == "bar", "MW_FOO printed as %r", keys[("environment", "MW_FOO")][0])


def test_check_precedence(t):
    path = t.write("mw.ini", "[service]\ndrain_delay = 1s\n")
    env = {"MEMWARDEN_SERVICE_DRAIN_DELAY": "2s"}
    cases = [
        ([], None, "default", 0),
        (["-c", path], None, path + ":2", 1000),
        (["-c", path], env, "MEMWARDEN_SERVICE_DRAIN_DELAY", 2000),
        (["-c", path, "-s", "service.drain_delay=3s"], env, "-s", 3000),
        (["-s", "service.drain_delay=3s"], env, "-s", 3000),
        ([], env, "MEMWARDEN_SERVICE_DRAIN_DELAY", 2000),
    ]
    for args, e, origin, ms in cases:
        rc, out, err = t.run_plain(["check"] + args, env=e)
        t.check(rc == 0, "check %r exited %d: %s", args, rc, err)
        v, o = parse_check(out).get(("service", "drain_delay"), ("?", "?"))
        t.check(origin in o and duration_ms(v) == ms, "check %s (env %s): drain_delay = %s ; %s, expected %d ms from %s",
                " ".join(args), e, v, o, ms, origin)


def test_config_from_memwarden_config_env(t):
    path = t.write("mw.ini", "[service]\nstop_timeout = 7s\n")
    rc, out, err = t.run_plain(["check"], env={"MEMWARDEN_CONFIG": path})
    t.check(rc == 0, "check exited %d: %s", rc, err)
    v, o = parse_check(out).get(("service", "stop_timeout"), ("?", "?"))
    t.check(duration_ms(v) == 7000 and path + ":2" in o, "stop_timeout = %s ; %s, expected 7s from %s:2", v, o, path)


def test_check_template_parses_back(t):
    rc, out, err = t.run_plain(["check", "--template"])
    t.check(rc == 0 and out.strip(), "check --template exited %d", rc)
    path = t.write("template.ini", out)
    rc, out2, err = t.run_plain(["check", "-c", path])
    t.check(rc == 0, "the template does not load back: %s", err)


@needs_root
def test_command_from_config_split_like_a_shell(t):
    log = t.path("run log")  # a space: needs the quotes
    exitwith = t.workload("exitwith")
    path = t.write("mw.ini", '[service]\ncommand = %s --log "%s" 7\n' % (exitwith, log))
    r = t.mw("-c", path)
    rc = r.wait(60)
    t.check(rc == 7, "memwarden exited %d, expected 7; stderr:\n%s", rc, r.stderr_tail())
    t.check(os.path.exists(log), "the quoted argument was not passed as one word")


@needs_root
def test_command_line_beats_config_command(t):
    path = t.write("mw.ini", "[service]\ncommand = %s 9\n" % t.workload("exitwith"))
    r = t.mw("-c", path, "--", t.workload("exitwith"), "4")
    t.check(r.wait(60) == 4, "the command line's COMMAND should win over [service] command")


@needs_root
def test_quiet_logs_no_info(t):
    missing = t.path("no-such-program")
    r = t.mw("-q", "--", missing)
    r.expect_exit(127, 60)
    info = [e for e in r.events() if e.get("level") in ("info", "debug")]
    t.check(not info, "-q still logs info lines: %r", info[:3])
    t.check(r.events("spawn.error"), "-q hid the error too:\n%s", r.stderr_tail())


@needs_root
def test_verbose_logs_debug(t):
    d = t.path("orph")
    os.mkdir(d)
    # An orphan reaped: memwarden has something to say at debug level.
    r = t.mw("-v", "--", t.workload("orphans"), d, "1", "0", "500")
    r.expect_exit(0, 60)
    levels = {e.get("level") for e in r.events()}
    t.check("debug" in levels, "-v logged no debug line (levels %r)", levels)


@needs_root
def test_text_log_format(t):
    r = t.mw("-s", "log.format=text", "--", t.workload("exitwith"), "0")
    r.expect_exit(0, 60)
    lines = [l for l in r.stderr().splitlines() if l.strip()]
    t.check(lines, "no log lines in text format")
    t.check(not any(l.lstrip().startswith("{") for l in lines), "JSON lines with log.format=text:\n%s", r.stderr_tail())
    t.check(any("spawn" in l for l in lines), "no spawn line in text format:\n%s", r.stderr_tail())


def test_version_and_help(t):
    rc, out, err = t.run_plain(["--version"])
    t.check(rc == 0 and re.search(r"\d+\.\d+\.\d+", out), "--version: exit %d, output %r", rc, out)
    for h in ("-h", "--help"):
        rc, out, err = t.run_plain([h])
        t.check(rc == 0 and "usage" in (out + err).lower(), "%s: exit %d, output %r", h, rc, out[:200])
