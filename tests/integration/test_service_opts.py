"""[service] user, group, directory, umask and [environment] (issue 2,
Deliver 4) reach the service."""

import os

from lib import needs_root, parse_kv


def _extra_groups():
    # memwarden starts with supplementary groups the service must not keep.
    os.setgroups([0, 4242])


def _show(t, *mw_args, env=None, names=()):
    """Runs showproc under memwarden (started with supplementary groups 0
    and 4242); returns what it saw."""
    d = t.path("out")
    if not os.path.isdir(d):
        os.mkdir(d)
        os.chmod(d, 0o777)  # writable for nobody too
    out = os.path.join(d, "show%d" % len(t.runs))
    r = t.mw(*mw_args, "--", t.workload("showproc"), out, *names, env=env, preexec_fn=_extra_groups)
    rc = r.wait(60)
    t.check(rc == 0, "memwarden exited %d; stderr:\n%s", rc, r.stderr_tail())
    t.check(os.path.exists(out), "the service wrote nothing")
    return parse_kv(out)


def _ids(s):
    return [int(x) for x in s.split()]


@needs_root
def test_user_by_name(t):
    s = _show(t, "-s", "service.user=nobody")
    t.check(_ids(s["Uid"]) == [65534] * 4, "Uid %s, expected nobody (65534) everywhere", s["Uid"])
    t.check(_ids(s["Gid"]) == [65534] * 4, "Gid %s, expected nobody's primary group 65534", s["Gid"])
    t.check(not {0, 4242} & set(_ids(s.get("Groups", ""))), "memwarden's supplementary groups kept: Groups %r",
            s.get("Groups"))


@needs_root
def test_user_and_group_by_name(t):
    s = _show(t, "-s", "service.user=nobody", "-s", "service.group=nogroup")
    t.check(_ids(s["Uid"]) == [65534] * 4 and _ids(s["Gid"]) == [65534] * 4, "Uid %s Gid %s", s["Uid"], s["Gid"])
    t.check(not {0, 4242} & set(_ids(s.get("Groups", ""))), "memwarden's supplementary groups kept: Groups %r",
            s.get("Groups"))


@needs_root
def test_user_and_group_by_number(t):
    s = _show(t, "-s", "service.user=65534", "-s", "service.group=65534")
    t.check(_ids(s["Uid"]) == [65534] * 4 and _ids(s["Gid"]) == [65534] * 4, "Uid %s Gid %s", s["Uid"], s["Gid"])
    t.check(not {0, 4242} & set(_ids(s.get("Groups", ""))), "memwarden's supplementary groups kept: Groups %r",
            s.get("Groups"))


@needs_root
def test_group_only(t):
    s = _show(t, "-s", "service.group=nogroup")
    t.check(_ids(s["Gid"]) == [65534] * 4, "Gid %s, expected 65534", s["Gid"])
    t.check(_ids(s["Uid"]) == [0] * 4, "Uid %s, expected to stay root", s["Uid"])


@needs_root
def test_directory(t):
    d = t.path("work dir")
    os.mkdir(d)
    s = _show(t, "-s", "service.directory=" + d)
    t.check(s["cwd"] == d, "the service runs in %r, expected %r", s["cwd"], d)


@needs_root
def test_directory_missing_fails_clearly(t):
    d = t.path("no-such-dir")
    r = t.mw("-s", "service.directory=" + d, "--", t.workload("exitwith"), "0")
    rc = r.wait(60)
    t.check(rc != 0, "a missing directory was accepted (exit 0)")
    t.check(d in r.stderr(), "the message does not name %s:\n%s", d, r.stderr_tail())


@needs_root
def test_umask(t):
    s = _show(t, "-s", "service.umask=027")
    t.check(s.get("Umask") == "0027", "Umask %r, expected 0027", s.get("Umask"))
    s = _show(t, "-s", "service.umask=0")
    t.check(s.get("Umask") == "0000", "Umask %r, expected 0000", s.get("Umask"))


@needs_root
def test_environment_section(t):
    cfg = t.write("mw.ini", "[environment]\nMW_TEST_FOO = bar baz\nMW_TEST_NEW = 1\n")
    s = _show(t, "-c", cfg, env={"MW_TEST_FOO": "inherited", "MW_TEST_KEPT": "kept"},
              names=("MW_TEST_FOO", "MW_TEST_NEW", "MW_TEST_KEPT"))
    t.check(s.get("env.MW_TEST_FOO") == "bar baz", "MW_TEST_FOO=%r, expected [environment]'s 'bar baz'",
            s.get("env.MW_TEST_FOO"))
    t.check(s.get("env.MW_TEST_NEW") == "1", "MW_TEST_NEW=%r", s.get("env.MW_TEST_NEW"))
    t.check(s.get("env.MW_TEST_KEPT") == "kept", "the inherited MW_TEST_KEPT=%r", s.get("env.MW_TEST_KEPT"))

