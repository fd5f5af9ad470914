"""`provision apply` against a real sshd on loopback, with steps that only touch temporary dirs.

Two inventory hosts reach the same sshd: `one` as the key user (sudo without a password),
`two` as the password user (sudo asks for the password). Each gets its own `base` directory.
"""
import dataclasses
import json
import select
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest

from provision import cli, transport

STEPS = Path(__file__).parent / "steps"


def closed_port():
    """A loopback port nothing listens on (bound for a moment by us, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(sshd, tmp_path):
    """An inventory of two hosts on the sshd fixture, and helpers to apply to it."""
    return Lab(sshd, tmp_path)


class Lab:
    def __init__(self, sshd, tmp_path):
        self.sshd, self.tmp = sshd, tmp_path
        self.base = {"one": tmp_path / "one", "two": tmp_path / "two"}
        self.inventory = tmp_path / "hosts.ini"
        self.write_inventory()

    def write_inventory(self, extra_hosts=""):
        s = self.sshd
        self.inventory.write_text(
            "[targets]\n"
            "one ansible_user=%s ansible_ssh_private_key_file=%s base=%s\n"
            "two ansible_user=%s ansible_password='%s' ansible_become_password='%s' base=%s\n"
            "%s\n"
            "[all:vars]\nansible_host=127.0.0.1\nansible_port=%d\nansible_become=true\n"
            % (s.key_user, s.key_file, self.base["one"], s.pw_user, s.password, s.password,
               self.base["two"], extra_hosts, s.port))

    @staticmethod
    def with_known_hosts(sshd, path):
        """The sshd fixture as seen through another known_hosts file."""
        return dataclasses.replace(sshd, known_hosts=str(path))

    def apply(self, *flags, steps="tmpdir.yml"):
        """provision apply in this process: (exit code, stdout, JSON report)."""
        report = self.tmp / "report.json"
        if report.exists():
            report.unlink()
        argv = ["apply", str(self.inventory), "--steps", str(STEPS / steps),
                "--known-hosts", self.sshd.known_hosts, "--report", str(report)] + list(flags)
        out, saved = StringIO(), sys.stdout
        sys.stdout = out
        try:
            code = cli.main(argv)
        finally:
            sys.stdout = saved
        return code, out.getvalue(), json.loads(report.read_text())


def results(report, host):
    return [(step["name"], step["result"]) for step in report["hosts"][host]]


def test_first_run_changes_second_run_changes_nothing(lab):
    code, out, report = lab.apply()
    assert code == 0, out
    for host in ("one", "two"):
        assert results(report, host) == [
            ("Work directory", "changed"), ("Config file", "changed"),
            ("Marker written once", "changed"), ("Only on EL hosts", "skipped"),
            ("record reload", "changed")]
        base = lab.base[host]
        assert (base / "app.conf").read_text() == "# %s (targets) on debian 12\ngreeting = hello\n" % host
        assert oct((base / "app.conf").stat().st_mode & 0o7777) == "0o640"
        assert (base / "marker").read_text() == "made\n"
        assert (base / "reloads").read_text() == "reloaded\n"
    assert report["summary"]["one"] == {"ok": 4, "changed": 4, "failed": 0, "unreachable": 0, "skipped": 1}
    assert "PLAY RECAP" in out
    assert "one                        : ok=4    changed=4    unreachable=0    failed=0    skipped=1" in out

    code, out, report = lab.apply()
    assert code == 0, out
    for host in ("one", "two"):
        assert report["summary"][host]["changed"] == 0
        assert results(report, host) == [
            ("Work directory", "ok"), ("Config file", "ok"),
            ("Marker written once", "ok"), ("Only on EL hosts", "skipped")]
        assert (lab.base[host] / "reloads").read_text() == "reloaded\n"   # handler not run again


def test_report_shape(lab):
    code, out, report = lab.apply()
    assert set(report) == {"check", "summary", "hosts", "unreachable"}
    step = report["hosts"]["one"][1]
    assert set(step) == {"name", "action", "result", "reason", "diff", "duration", "handler"}
    assert step["action"] == "template" and step["reason"].endswith("app.conf is absent")
    assert "+greeting = hello" in step["diff"]
    assert isinstance(step["duration"], float)
    assert report["hosts"]["one"][-1]["handler"] is True


def test_check_changes_nothing_and_diff_shows_the_difference(lab):
    code, out, report = lab.apply("--check")
    assert code == 0, out
    assert report["check"] is True
    assert report["summary"]["one"]["changed"] == 4
    assert not lab.base["one"].exists() and not lab.base["two"].exists()
    assert "changed: [one] Work directory: would: %s is absent" % lab.base["one"] in out

    lab.apply()
    conf = lab.base["one"] / "app.conf"
    code, out, report = lab.apply("--check", "--diff", "-e", "greeting=bye")
    assert conf.read_text().endswith("greeting = hello\n")
    assert "-greeting = hello\n+greeting = bye\n" in out
    assert "-greeting = hello\n+greeting = bye\n" in report["hosts"]["one"][1]["diff"]
    assert not list(lab.base["one"].glob("app.conf.*~"))   # no backup either


def test_diff_and_backup_when_a_file_is_replaced(lab):
    lab.apply()
    code, out, report = lab.apply("--diff", "-e", "greeting=bye")
    assert code == 0
    conf = lab.base["one"] / "app.conf"
    assert conf.read_text().endswith("greeting = bye\n")
    assert oct(conf.stat().st_mode & 0o7777) == "0o640"
    backups = list(lab.base["one"].glob("app.conf.*~"))
    assert len(backups) == 1 and backups[0].read_text().endswith("greeting = hello\n")
    assert "+greeting = bye" in out
    assert (lab.base["one"] / "reloads").read_text() == "reloaded\nreloaded\n"   # notified again


def test_unreachable_host_is_reported_while_the_others_finish(lab):
    lab.write_inventory("down ansible_port=%d ansible_user=nobody base=/nonexistent" % closed_port())
    code, out, report = lab.apply()
    assert code == cli.EXIT_UNREACHABLE_HOSTS, out
    assert report["summary"]["down"]["unreachable"] == 1
    assert report["unreachable"]["down"]
    assert "fatal: [down]: UNREACHABLE!" in out
    assert "skipping: [one] Only on EL hosts: when: facts.os_family == \"el\" is false" in out
    assert report["summary"]["one"]["changed"] == 4 and report["summary"]["two"]["changed"] == 4
    assert (lab.base["two"] / "marker").exists()


def test_failing_step_fails_the_host_with_its_stderr(lab):
    code, out, report = lab.apply(steps="failing.yml")
    assert code == cli.EXIT_FAILED_HOSTS, out
    assert results(report, "one") == [("Work directory", "changed"), ("Broken command", "failed"),
                                      ("record reload", "changed")]
    assert report["hosts"]["one"][1]["reason"] == "it broke"
    assert not (lab.base["one"] / "reached").exists()
    assert (lab.base["one"] / "reloads").exists()    # the change before the failure got its handler
    assert report["summary"]["two"]["failed"] == 1


def test_failed_and_unreachable_hosts_both_show_in_the_exit_code(lab):
    lab.write_inventory("down ansible_port=%d base=/nonexistent" % closed_port())
    code, out, report = lab.apply(steps="failing.yml")
    assert code == cli.EXIT_FAILED_HOSTS | cli.EXIT_UNREACHABLE_HOSTS


def test_undefined_variable_fails_the_host_before_anything_changes(lab):
    code, out, report = lab.apply(steps="undefined.yml")
    assert code == cli.EXIT_FAILED_HOSTS
    (step,) = report["hosts"]["one"]
    assert step["name"] == "Uses an undefined variable" and step["result"] == "failed"
    assert "undefined.yml line 6" in step["reason"]
    assert "args: " in step["reason"] and "'no_such_variable' is undefined" in step["reason"]
    assert not lab.base["one"].exists()


def test_limit_and_tags(lab):
    code, out, report = lab.apply("--limit", "two", "--tags", "command,nothing")
    assert code == cli.EXIT_FAILED_HOSTS    # only the command step ran: its directory is missing
    assert list(report["hosts"]) == ["two"]
    assert results(report, "two") == [("Marker written once", "failed")]
    code, out, report = lab.apply("--limit", "two", "--tags", "files")
    assert results(report, "two") == [("Work directory", "changed"), ("Config file", "changed"),
                                      ("record reload", "changed")]
    code, out, report = lab.apply("--limit", "targets:!one", "--skip-tags", "files")
    assert code == 0, out
    assert list(report["hosts"]) == ["two"]
    assert results(report, "two") == [("Marker written once", "changed"), ("Only on EL hosts", "skipped")]
    assert not lab.base["one"].exists()


def test_facts_and_checks_are_one_round_trip_each(lab, monkeypatch):
    lab.apply()
    calls = {}
    real_run = transport.Connection.run

    def counting_run(self, command, *args, **kwargs):
        calls[self.host.name] = calls.get(self.host.name, 0) + 1
        return real_run(self, command, *args, **kwargs)

    monkeypatch.setattr(transport.Connection, "run", counting_run)
    code, out, report = lab.apply()
    assert report["summary"]["one"]["changed"] == 0
    assert calls == {"one": 2, "two": 2}       # facts, then every check at once

    calls.clear()
    code, out, report = lab.apply("-e", "greeting=again")
    assert report["summary"]["one"]["changed"] == 2    # the file, then its handler
    # facts, checks, the backup command, the upload's install, re-check after the change, handler
    assert calls["one"] == 6


def test_no_password_in_output_or_report(lab):
    code, out, report = lab.apply("--diff")
    assert code == 0
    assert lab.sshd.password not in out
    assert lab.sshd.password not in json.dumps(report)


def test_command_line_prints_plain_lines_and_bad_input_exits_1(lab, tmp_path):
    provision = Path(sys.executable).with_name("provision")
    done = subprocess.run([str(provision), "apply", str(lab.inventory), "--steps", str(STEPS / "package.yml"),
                           "--known-hosts", lab.sshd.known_hosts, "--limit", "one"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: [one] dpkg is installed: installed: dpkg\n" in done.stdout
    assert "\x1b[" not in done.stdout   # not a terminal: no escape sequences

    bad = tmp_path / "bad.yml"
    bad.write_text("steps:\n  - name: x\n    action: file\n    args: {path: relative}\n")
    done = subprocess.run([str(provision), "apply", str(lab.inventory), "--steps", str(bad)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == cli.EXIT_ERROR
    assert "%s line 2 (step 'x'): args.path: 'relative' is not an absolute path" % bad in done.stderr

    done = subprocess.run([str(provision), "apply", str(lab.inventory), "--steps", str(STEPS / "package.yml"),
                           "--report", "/nonexistent/report.json"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == cli.EXIT_ERROR
    assert "--report /nonexistent/report.json: no such directory" in done.stderr


def test_steps_are_checked_again_after_an_earlier_change(lab):
    code, out, report = lab.apply("--limit", "one", steps="depends.yml")
    assert code == 0, out
    assert results(report, "one") == [("Work directory", "changed"), ("File made by a command", "changed"),
                                      ("Its mode", "changed")]
    assert oct((lab.base["one"] / "made").stat().st_mode & 0o7777) == "0o600"


def test_wrong_become_password_fails_that_host_only(lab):
    lab.inventory.write_text(lab.inventory.read_text().replace(
        "ansible_become_password='%s'" % lab.sshd.password, "ansible_become_password='not-it'"))
    code, out, report = lab.apply()
    assert code == cli.EXIT_FAILED_HOSTS, out
    (step,) = report["hosts"]["two"]
    assert step["result"] == "failed" and "incorrect sudo password" in step["reason"]
    assert not lab.base["two"].exists()
    assert report["summary"]["one"]["changed"] == 4


def test_unknown_host_key_is_unreachable_unless_new_keys_are_accepted(lab, tmp_path):
    known_hosts = tmp_path / "empty_known_hosts"
    known_hosts.write_text("")
    lab.sshd = Lab.with_known_hosts(lab.sshd, known_hosts)
    code, out, report = lab.apply("--limit", "one")
    assert code == cli.EXIT_UNREACHABLE_HOSTS
    assert "unknown host key" in report["unreachable"]["one"]
    assert not lab.base["one"].exists()

    code, out, report = lab.apply("--limit", "one", "--accept-new-host-keys")
    assert code == 0, out
    assert "[127.0.0.1]:%d" % lab.sshd.port in known_hosts.read_text()


def test_ctrl_c_finishes_the_current_step_then_stops(lab):
    provision = Path(sys.executable).with_name("provision")
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # then never turns it into KeyboardInterrupt: give the run the terminal's default.
    run = subprocess.Popen([str(provision), "apply", str(lab.inventory), "--steps", str(STEPS / "interrupt.yml"),
                            "--known-hosts", lab.sshd.known_hosts, "--limit", "one"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    base = lab.base["one"]
    give_up = time.monotonic() + 120   # a guard against a hang, not a timing assertion
    try:
        while not (base / "started").exists():
            assert run.poll() is None and time.monotonic() < give_up, "the slow step never started"
            time.sleep(0.1)
        run.send_signal(signal.SIGINT)
        ready, _, _ = select.select([run.stderr], [], [], 120)
        assert ready and "interrupted" in run.stderr.readline()   # the runner has taken the interrupt
        (base / "go").touch()
        out, err = run.communicate(timeout=120)
    finally:
        if base.exists():
            (base / "go").touch()   # never leave the remote loop running
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == cli.EXIT_INTERRUPTED, out + err
    assert "changed: [one] Waits for the test" in out
    assert not (base / "after").exists()
    assert (base / "reloads").read_text() == "reloaded\n"   # the change made still got its handler
    assert "PLAY RECAP" in out
