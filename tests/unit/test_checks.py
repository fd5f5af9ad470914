"""The check round trip's shared queries (provision/checks.py): one systemctl, one stat and one
sha256sum for every step of a host, read by the snippets with lookups that fall back to asking
the host themselves when the shared answer is not there.

Snippets run in this machine's sh against real files. This machine's PID 1 is not systemd, so
`systemctl` here is a stand-in on PATH that prints what a lab host's systemd 252 printed for the
same command (recorded below), and counts its calls.
"""
import grp
import os
import pwd
import shutil
import subprocess
import textwrap

from provision import actions, checks
from provision.actions import Ok, Snippet, sysctl

MARKER = "@@dockyard-test"

# `systemctl show -p Id,LoadState,ActiveState,UnitFileState,NeedDaemonReload -- yard.service
# docker-registry.service` on a lab host (Debian 12, systemd 252), yard running, no registry.
SYSTEMCTL_SHOW = """\
Id=yard.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled
NeedDaemonReload=no

Id=docker-registry.service
LoadState=not-found
ActiveState=inactive
UnitFileState=
NeedDaemonReload=no
"""


def run_batch(snippets, path=None):
    """{index: Observed} of snippets run as the runner runs them; path replaces PATH."""
    env = dict(os.environ, PATH=path or os.environ["PATH"])
    done = subprocess.run(["/bin/sh", "-c", checks.batch_script(snippets, MARKER)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env)
    return checks.split_checks(done.stdout, done.stderr, MARKER)


def fake_systemctl(tmp_path):
    """A bin directory whose systemctl answers `show` as recorded and logs every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "show.txt").write_text(SYSTEMCTL_SHOW)
    script = bin_dir / "systemctl"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        echo "$*" >> {log}
        case $1 in
            show) cat {show};;
            is-enabled) echo disabled;;
            is-active) echo inactive;;
        esac
        """).format(log=tmp_path / "calls.txt", show=tmp_path / "show.txt"))
    script.chmod(0o755)
    return bin_dir


def calls(tmp_path):
    log = tmp_path / "calls.txt"
    return log.read_text().splitlines() if log.exists() else []


def test_lookups_read_the_shared_stat_and_sha256sum(tmp_path):
    plain, other = tmp_path / "a.conf", tmp_path / "b.conf"
    plain.write_text("hello\n")
    plain.chmod(0o640)
    other.write_text("x")
    digest = actions.template._sha(b"hello\n")
    snippet = Snippet("{s} && echo \"$dy_attrs\"; {same} && echo same; {other} || echo differs; {missing} || echo missing".format(
        s=checks.stat_lookup(str(plain)), same=checks.sum_is(str(plain), digest),
        other=checks.sum_is(str(other), digest), missing=checks.stat_lookup(str(tmp_path / "none"))),
        stats=[str(plain), str(tmp_path / "none")], sums=[str(plain), str(other)])
    out = run_batch({0: snippet})[0].out.split("\n")
    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    assert out[:4] == ["640 %s %s 6" % (owner, group), "same", "differs", "missing"]


def test_a_path_the_shared_queries_cannot_name_is_never_looked_up():
    assert checks.stat_lookup("/etc/new\nline") == "false" and checks.sum_is("/a\\b", "0" * 64) == "false"
    assert checks.prelude([Snippet("true", stats=["/etc/new\nline"], sums=["/a\\b"])]) == ""


def test_an_up_to_date_file_costs_no_process_of_its_own(tmp_path):
    """Batched, the template check of a file already as wanted runs neither stat nor base64
    itself: with only the shared queries' programs on PATH, it still finds the file up to date."""
    dest = tmp_path / "a.conf"
    dest.write_text("same\n")
    dest.chmod(0o644)
    action = actions.load("template")
    args = dict(actions.validate(action.args, {"src": "x.j2", "dest": str(dest), "mode": "0644"}), content="same\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("stat", "sha256sum"):
        (bin_dir / program).symlink_to(shutil.which(program))
    observed = run_batch({0: action.check(args, {})}, path=str(bin_dir))[0]
    assert observed.err == ""
    assert observed.out.splitlines()[1] == "sha256 " + actions.template._sha(b"same\n")
    assert action.plan(args, {}, observed) == Ok("%s is up to date" % dest)


def test_units_of_every_step_are_asked_in_one_systemctl(tmp_path):
    bin_dir = fake_systemctl(tmp_path)
    service, wait_http = actions.load("service"), actions.load("wait_http")
    running = actions.validate(service.args, {"name": "yard", "enabled": True, "state": "started", "daemon_reload": True})
    answers = actions.validate(wait_http.args, {"url": "unix:///nowhere/yard.sock/_ping", "unit": "yard"})
    registry = actions.validate(service.args, {"name": "docker-registry", "enabled": True})
    facts = {"init": "systemd", "python": "python3"}
    observed = run_batch({0: service.check(running, facts), 1: wait_http.check(answers, facts),
                          2: service.check(registry, facts)}, path="%s:%s" % (bin_dir, os.environ["PATH"]))
    assert observed[0].out == "enabled=enabled\nactive=active\nNeedDaemonReload=no\n"
    assert service.plan(running, facts, observed[0]) == Ok("yard is enabled, active")
    assert observed[1].out.startswith("silent ")        # yard is active: the probe ran (and found no socket)
    # The registry is not loaded: what is-enabled says may differ from UnitFileState, so it asks.
    assert observed[2].out == "enabled=disabled\nactive=inactive\n"
    assert calls(tmp_path) == [
        "show -p Id,LoadState,ActiveState,UnitFileState,NeedDaemonReload -- yard.service docker-registry.service",
        "is-enabled docker-registry", "is-active docker-registry"]


def test_a_unit_file_changed_on_disk_is_reloaded_before_the_unit_is_used(tmp_path):
    service = actions.load("service")
    args = actions.validate(service.args, {"name": "yard", "daemon_reload": True})
    facts = {"init": "systemd"}
    change = service.plan(args, facts, actions.Observed(0, "enabled=enabled\nactive=active\nNeedDaemonReload=yes\n"))
    assert [op.cmd for op in change.ops] == ["systemctl daemon-reload"]
    assert change.reason == "yard.service changed on disk since systemd loaded it"
    assert service.plan(args, facts, actions.Observed(0, "enabled=enabled\nactive=active\nNeedDaemonReload=no\n")) == \
        Ok("systemd needs no daemon-reload for yard.service")
    # Run alone, the check asks systemctl itself, NeedDaemonReload included.
    bin_dir = fake_systemctl(tmp_path)
    (tmp_path / "show.txt").write_text("NeedDaemonReload=yes\n")
    done = subprocess.run(["sh", "-c", service.check(args, facts)], capture_output=True, text=True,
                          env=dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"])))
    assert "NeedDaemonReload=yes" in done.stdout.splitlines()


def test_sysctl_reads_every_live_value_in_one_process():
    keys = {"net.ipv4.ip_forward": "", "net.ipv4.ip_local_port_range": "", "kernel.no_such_key_dockyard": ""}
    done = subprocess.run(["sh", "-c", sysctl.read_live(keys)], capture_output=True, text=True)
    live = sysctl.live_values(done.stdout, keys)
    for key in ("net.ipv4.ip_forward", "net.ipv4.ip_local_port_range"):
        path = "/proc/sys/" + key.replace(".", "/")
        assert live[key] == " ".join(open(path).read().split())   # the range's tab is a space
    assert live["kernel.no_such_key_dockyard"] is None
