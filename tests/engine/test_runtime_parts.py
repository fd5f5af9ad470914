"""The runtime's pure parts on real files (no root, no container): user lookup, capability
sets, path resolution inside a root, command lookup, the json-file log."""
import errno
import json
import os

import pytest

from engine.runtime import capabilities, logs, process, rootfs, users


# --- users -------------------------------------------------------------------------------

@pytest.fixture
def etc(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "# a comment\n"
                                     "app:x:1000:1001:app:/home/app:/bin/sh\n"
                                     "nohome:x:1002:1002:::/bin/sh\n")
    (tmp_path / "group").write_text("root:x:0:\nstaff:x:1001:\nwheel:x:10:app,other\n"
                                    "extra:x:2000:app\n")
    return {"passwd": str(tmp_path / "passwd"), "group": str(tmp_path / "group")}


@pytest.mark.parametrize("spec_user, expected", [
    ("", (0, 0, [0], "/root")),
    ("app", (1000, 1001, [10, 1001, 2000], "/home/app")),
    ("1000", (1000, 1001, [10, 1001, 2000], "/home/app")),
    ("app:staff", (1000, 1001, [10, 1001, 2000], "/home/app")),
    ("app:0", (1000, 0, [0, 10, 2000], "/home/app")),
    ("4242", (4242, 0, [0], "/")),                   # a number need not exist (docker)
    ("4242:4343", (4242, 4343, [4343], "/")),
    ("nohome", (1002, 1002, [1002], "/")),
])
def test_users_resolve_like_docker(etc, spec_user, expected):
    assert tuple(users.resolve(spec_user, **etc)) == expected


def test_unknown_user_and_group_names_are_errors(etc):
    with pytest.raises(LookupError, match="^unable to find user ghost: no matching entries in passwd file$"):
        users.resolve("ghost", **etc)
    with pytest.raises(LookupError, match="^unable to find group ghosts: no matching entries in group file$"):
        users.resolve("app:ghosts", **etc)


def test_an_image_without_passwd_still_runs_numeric_users(tmp_path):
    missing = {"passwd": str(tmp_path / "none"), "group": str(tmp_path / "none")}
    assert tuple(users.resolve("", **missing)) == (0, 0, [0], "/")
    assert tuple(users.resolve("7:8", **missing)) == (7, 8, [8], "/")


# --- capabilities ------------------------------------------------------------------------

def test_capability_sets_follow_docker():
    assert capabilities.resolve() == set(capabilities.DEFAULT)
    assert capabilities.resolve(["net_admin", "CAP_SYS_TIME"], ["chown"]) == \
        set(capabilities.DEFAULT) - {"CHOWN"} | {"NET_ADMIN", "SYS_TIME"}
    assert capabilities.resolve(["ALL"], ["SYS_ADMIN"]) == set(capabilities.NAMES) - {"SYS_ADMIN"}
    assert capabilities.resolve(["KILL"], ["all"]) == {"KILL"}
    assert capabilities.resolve(privileged=True, available={"KILL", "CHOWN"}) == {"KILL", "CHOWN"}


def test_bad_capabilities_are_errors():
    with pytest.raises(ValueError, match='^unknown capability: "CAP_NOPE"$'):
        capabilities.resolve(["CAP_NOPE"])
    with pytest.raises(ValueError, match="^capability CAP_SYS_RESOURCE is not available to the engine$"):
        capabilities.resolve(["SYS_RESOURCE"], available=set(capabilities.NAMES) - {"SYS_RESOURCE"})


def test_the_mask_is_what_proc_status_prints():
    assert capabilities.mask(capabilities.DEFAULT, 40) == 0xa80425fb
    assert capabilities.mask(["CHECKPOINT_RESTORE"], 39) == 0        # unknown to an older kernel


# --- paths inside a root -----------------------------------------------------------------

def test_secure_join_keeps_symlinks_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    os.symlink("/etc", str(root / "abs"))               # absolute: the root's /etc
    os.symlink("../../../../..", str(root / "data" / "up"))
    os.symlink("loop", str(root / "loop"))
    assert rootfs.secure_join(str(root), "/abs/hosts") == str(root / "etc" / "hosts")
    assert rootfs.secure_join(str(root), "/data/up/etc") == str(root / "etc")
    assert rootfs.secure_join(str(root), "../../x") == str(root / "x")
    with pytest.raises(OSError) as looped:
        rootfs.secure_join(str(root), "/loop/x")
    assert looped.value.errno == errno.ELOOP


# --- the command -------------------------------------------------------------------------

def test_lookup_searches_path_and_words_errors_as_docker(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tool").write_text("#!/bin/sh\n")
    (bin_dir / "tool").chmod(0o755)
    (bin_dir / "data").write_text("")
    env = ["PATH=/nonexistent:%s" % bin_dir]
    assert process.lookup("tool", env) == str(bin_dir / "tool")
    assert process.lookup(str(bin_dir / "tool"), env) == str(bin_dir / "tool")
    cases = [("nosuch", 127, 'exec: "nosuch": executable file not found in $PATH'),
             ("data", 127, 'exec: "data": executable file not found in $PATH'),
             (str(bin_dir / "data"), 126, 'exec: "%s": permission denied' % (bin_dir / "data")),
             ("/nosuch", 127, 'exec: "/nosuch": stat /nosuch: no such file or directory')]
    for name, code, message in cases:
        with pytest.raises(process.ExecError) as failed:
            process.lookup(name, env)
        assert (failed.value.code, str(failed.value)) == (code, message)


def test_home_comes_from_passwd_unless_the_image_set_it():
    assert process.environment(["A=1"], "/home/app") == ["A=1", "HOME=/home/app"]
    assert process.environment(["HOME=/x"], "/home/app") == ["HOME=/x"]


# --- the json-file log -------------------------------------------------------------------

def entries(path):
    with open(path) as handle:
        return [(e["log"], e["stream"]) for e in map(json.loads, handle)]


def test_the_log_writes_one_entry_per_line_and_splits_long_ones(tmp_path):
    path = str(tmp_path / "c-json.log")
    log = logs.JsonLog(path)
    log.write("stdout", b"one\ntw")
    log.write("stderr", b"oops\n")
    log.write("stdout", b"o\n" + b"x" * (logs.MAX_LINE + 5))
    log.write("stdout", b"\xff\n")
    log.close()
    assert entries(path) == [("one\n", "stdout"), ("oops\n", "stderr"), ("two\n", "stdout"),
                             ("x" * logs.MAX_LINE, "stdout"), ("xxxxx\ufffd\n", "stdout")]


def test_the_log_rotates_and_keeps_max_file_files(tmp_path):
    path = str(tmp_path / "c-json.log")
    log = logs.JsonLog(path, max_size=300, max_file=2)
    for number in range(20):
        log.write("stdout", b"line %d\n" % number)
    log.close()
    assert sorted(os.listdir(str(tmp_path))) == ["c-json.log", "c-json.log.1"]
    assert entries(path)[-1] == ("line 19\n", "stdout")
    assert all(os.path.getsize(p) <= 300 for p in (path, path + ".1"))
    single = logs.JsonLog(str(tmp_path / "one.log"), max_size=300, max_file=1)
    for number in range(20):
        single.write("stdout", b"line %d\n" % number)
    single.close()
    assert not os.path.exists(str(tmp_path / "one.log.1"))
    assert entries(str(tmp_path / "one.log"))[-1] == ("line 19\n", "stdout")
