"""Each generic action's plan(), from (args, facts, observed) to the commands it would run.

Where the observed state comes from a check snippet, the snippet runs in this machine's sh
against a temporary directory, so the pair check -> plan is exercised on a real filesystem.
"""
import hashlib
import grp
import os
import pwd
import subprocess

import pytest

from provision import actions, checks
from provision.actions import ActionError, Change, Command, Observed, Ok, Upload

DEBIAN = {"os_family": "debian", "pkg_mgr": "apt", "init": "systemd"}
EL9 = {"os_family": "el", "pkg_mgr": "dnf", "init": "systemd"}


def observe(action, args, facts=DEBIAN):
    """Run the action's check here alone, as a host would without the batch's shared queries."""
    snippet = action.check(args, facts)
    done = subprocess.run(["sh", "-c", snippet], capture_output=True, text=True)
    return Observed(done.returncode, done.stdout, done.stderr)


def observe_batched(action, args, facts=DEBIAN):
    """Run the action's check here as the runner runs it on a host: in a batch, after the
    queries the checks share (provision/checks.py)."""
    marker = "@@dockyard-test"
    done = subprocess.run(["sh", "-c", checks.batch_script({0: action.check(args, facts)}, marker)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return checks.split_checks(done.stdout, done.stderr, marker)[0]


def plan_both_ways(action, args, facts=DEBIAN):
    """The plan from the check run alone and from the check run in a batch: they must agree,
    so each test below holds for both."""
    outcomes = []
    for observed in (observe(action, args, facts), observe_batched(action, args, facts)):
        try:
            outcomes.append(action.plan(args, facts, observed))
        except ActionError as error:
            outcomes.append(error)
    alone, batched = outcomes
    assert (type(batched), str(batched)) == (type(alone), str(alone))
    if isinstance(alone, ActionError):
        raise alone
    return alone


def me():
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


# --- template --------------------------------------------------------------------------------

def template_plan(dest, content, **args):
    action = actions.load("template")
    args = dict(actions.validate(action.args, {"src": "x.j2", "dest": str(dest), **args}), content=content)
    return plan_both_ways(action, args, {})


def test_template_absent_file_is_uploaded_with_a_diff(tmp_path):
    dest = tmp_path / "a.conf"
    change = template_plan(dest, "one\ntwo\n", mode="0600")
    assert isinstance(change, Change)
    assert change.ops == (Upload(b"one\ntwo\n", str(dest), mode="0600"),)
    assert "+one\n+two\n" in change.diff
    assert "is absent" in change.reason


def test_template_same_content_and_mode_is_ok(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("same\n")
    dest.chmod(0o640)
    assert isinstance(template_plan(dest, "same\n", mode="0640"), Ok)


def test_template_same_content_other_mode_only_chmods(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("same\n")
    dest.chmod(0o600)
    change = template_plan(dest, "same\n", mode="0644")
    assert change.ops == (Command("chmod 0644 %s" % dest),)
    assert change.reason == "mode is 0600, wanted 0644"


def test_template_changed_content_keeps_mode_owner_and_diffs(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("a\nb\n")
    dest.chmod(0o640)
    change = template_plan(dest, "a\nc\n")
    owner, group = me()
    sha = hashlib.sha256(b"a\nb\n").hexdigest()
    assert change.ops == (Upload(b"a\nc\n", str(dest), mode="0640", owner=owner, group=group,
                                 remote_sha256=sha),)
    assert "-b\n+c\n" in change.diff


def test_template_backup_copies_before_upload(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("old\n")
    change = template_plan(dest, "new\n", backup=True)
    assert change.ops[0].cmd.startswith("cp -p %s " % dest)
    assert isinstance(change.ops[1], Upload)


def test_template_diff_of_empty_file_and_missing_newline(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("")
    change = template_plan(dest, "no newline")
    assert change.diff.endswith("+no newline\n\\ No newline at end of file\n")


def test_template_on_a_directory_fails(tmp_path):
    with pytest.raises(ActionError, match="not a regular file"):
        template_plan(tmp_path, "x")


def test_template_large_file_is_compared_by_checksum(tmp_path):
    dest = tmp_path / "big"
    dest.write_bytes(b"y" * (70 * 1024))
    change = template_plan(dest, "x" * (70 * 1024))
    assert "too large to show" in change.diff
    assert change.ops[-1].remote_sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert isinstance(template_plan(dest, dest.read_text()), Ok)


# --- file ------------------------------------------------------------------------------------

def file_plan(**args):
    action = actions.load("file")
    args = actions.validate(action.args, args)
    return plan_both_ways(action, args, {})


def test_file_directory_created_with_mode(tmp_path):
    path = tmp_path / "d"
    change = file_plan(path=str(path), state="directory", mode="0750")
    assert change.ops == (Command("mkdir -p -- %s" % path), Command("chmod 0750 %s" % path))


def test_file_existing_directory_is_ok(tmp_path):
    (tmp_path / "d").mkdir(mode=0o755)
    os.chmod(tmp_path / "d", 0o755)
    assert isinstance(file_plan(path=str(tmp_path / "d"), state="directory", mode="0755"), Ok)


def test_file_absent_removes_what_is_there(tmp_path):
    (tmp_path / "f").write_text("x")
    change = file_plan(path=str(tmp_path / "f"), state="absent")
    assert change.ops == (Command("rm -rf -- %s" % (tmp_path / "f")),)
    assert isinstance(file_plan(path=str(tmp_path / "none"), state="absent"), Ok)


def test_file_mode_of_existing_file(tmp_path):
    (tmp_path / "f").write_text("x")
    os.chmod(tmp_path / "f", 0o644)
    change = file_plan(path=str(tmp_path / "f"), mode="0600")
    assert change.ops == (Command("chmod 0600 %s" % (tmp_path / "f")),)


def test_file_state_file_must_exist_and_kinds_must_match(tmp_path):
    with pytest.raises(ActionError, match="does not exist"):
        file_plan(path=str(tmp_path / "none"))
    (tmp_path / "f").write_text("x")
    with pytest.raises(ActionError, match="is a file, not a directory"):
        file_plan(path=str(tmp_path / "f"), state="directory")


# --- command ---------------------------------------------------------------------------------

def command_plan(**args):
    action = actions.load("command")
    args = actions.validate(action.args, args)
    snippet = action.check(args, {})
    observed = observe(action, args) if snippet else None
    return action.plan(args, {}, observed)


def test_command_without_guard_always_runs():
    change = command_plan(cmd="sysctl --system")
    assert change.ops == (Command("sysctl --system"),)
    assert actions.load("command").check({"cmd": "x", "creates": None, "unless": None}, {}) is None


def test_command_creates(tmp_path):
    assert isinstance(command_plan(cmd="touch x", creates=str(tmp_path)), Ok)
    change = command_plan(cmd="touch x", creates=str(tmp_path / "none"))
    assert change.reason == "%s does not exist" % (tmp_path / "none")


def test_command_unless():
    assert isinstance(command_plan(cmd="false", unless="true"), Ok)
    change = command_plan(cmd="echo hi", unless="exit 1")
    assert change.ops == (Command("echo hi"),) and "failed" in change.reason


# --- package ---------------------------------------------------------------------------------

def package_plan(facts, out, **args):
    action = actions.load("package")
    args = actions.validate(action.args, args)
    return action.plan(args, facts, Observed(0, out))


def test_package_apt_installs_only_missing_after_update():
    change = package_plan(DEBIAN, "tar\n", name=["tar", "iptables"], update_cache=True)
    assert change.ops == (
        Command("apt-get update -q"),
        Command("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables"),
    )
    assert change.reason == "not installed: iptables"


def test_package_dnf_all_installed_is_ok():
    assert isinstance(package_plan(EL9, "iptables\ntar\n", name=["tar", "iptables"]), Ok)
    assert isinstance(package_plan(EL9, "", name="tar", state="absent"), Ok)


def test_package_absent_removes_installed():
    change = package_plan(EL9, "firewalld\n", name="firewalld", state="absent")
    assert change.ops == (Command("dnf remove -y -q firewalld"),)


def test_package_check_reads_dpkg_on_this_machine():
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    action = actions.load("package")
    args = actions.validate(action.args, {"name": ["dpkg", "no-such-package-dockyard", "libc6:" + arch]})
    assert observe(action, args).out.split() == ["dpkg", "libc6:" + arch]
    assert action.plan(args, DEBIAN, observe(action, args)).reason == "not installed: no-such-package-dockyard"


def test_package_counts_a_debian_virtual_name_its_provider_installed():
    # awk is virtual on Debian: mawk (required, always installed) provides it.
    action = actions.load("package")
    args = actions.validate(action.args, {"name": ["awk", "dpkg"]})
    observed = observe(action, args)
    assert observed.out.splitlines() == ["awk virtual", "dpkg"]
    assert isinstance(action.plan(args, DEBIAN, observed), Ok)
    absent = actions.validate(action.args, {"name": ["awk", "dpkg"], "state": "absent"})
    assert action.plan(absent, DEBIAN, observed).ops == (
        Command("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q dpkg"),)   # never the virtual name


def test_package_without_a_manager_fails():
    with pytest.raises(ActionError, match="no supported package manager"):
        package_plan({"pkg_mgr": None}, "", name="tar")


# --- service ---------------------------------------------------------------------------------

def service_plan(out, facts=DEBIAN, **args):
    action = actions.load("service")
    args = actions.validate(action.args, args)
    return action.plan(args, facts, Observed(0, out))


def test_service_enable_and_start():
    change = service_plan("enabled=disabled\nactive=inactive\n", name="yard", enabled=True, state="started")
    assert change.ops == (Command("systemctl enable yard"), Command("systemctl start yard"))


def test_service_already_running_is_ok():
    assert isinstance(service_plan("enabled=enabled\nactive=active\n", name="yard",
                                   enabled="yes", state="started"), Ok)


def test_service_restarted_always_acts_and_reloaded_starts_a_stopped_unit():
    assert service_plan("enabled=enabled\nactive=active\n", name="y", state="restarted").ops == (
        Command("systemctl restart y"),)
    assert service_plan("enabled=enabled\nactive=inactive\n", name="y", state="reloaded").ops == (
        Command("systemctl start y"),)


def test_service_stopped_and_disabled():
    change = service_plan("enabled=enabled\nactive=active\n", name="firewalld", enabled=False, state="stopped")
    assert change.ops == (Command("systemctl disable firewalld"), Command("systemctl stop firewalld"))


def test_service_needs_systemd_and_something_to_do():
    with pytest.raises(ActionError, match="not systemd"):
        service_plan("", facts={"init": "sysvinit"}, name="y", state="started")
    with pytest.raises(ActionError, match="give enabled, state"):
        service_plan("", name="y")


# --- argument validation ---------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ({"path": "relative"}, "args.path: 'relative' is not an absolute path"),
    ({"path": "/x", "state": "link"}, "args.state: 'link' is not one of directory, absent, file"),
    ({"path": "/x", "mode": "rwx"}, "args.mode: 'rwx' is not an octal mode"),
    ({"path": "/x", "colour": "red"}, "args.colour: unknown argument"),
    ({}, "args.path: required"),
])
def test_bad_arguments_name_the_field(args, message):
    with pytest.raises(actions.ArgError, match=message.replace("(", r"\(")):
        actions.validate(actions.load("file").args, args)


def test_modes_written_as_yaml_numbers_or_strings_agree():
    spec = actions.load("file").args
    assert actions.validate(spec, {"path": "/x", "mode": 0o644})["mode"] == "0644"   # YAML's 0644
    assert actions.validate(spec, {"path": "/x", "mode": "644"})["mode"] == "0644"


def test_unknown_action():
    with pytest.raises(LookupError, match="no action 'teleport'"):
        actions.load("teleport")
