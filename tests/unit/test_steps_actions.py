"""The host-preparation actions' plans: (arguments, facts, what the check printed) -> what to do.

Pure functions, so each case is a recorded check output; the lab test
(tests/lab/test_host_preparation.py) runs the same actions against real hosts.
"""
import hashlib
import http.server
import socketserver
import subprocess
import sys
import threading

import pytest

from provision import bundle
from provision.actions import ActionError, Change, Command, Observed, Ok, Upload
from provision.actions import (daemon_json, engine_bundle, firewalld, htpasswd, kernel_module, move_aside,
                               selinux, sysctl, wait_http)

FACTS = {"os_family": "el", "os_version": 9, "python": "/usr/bin/python3"}


def commands(change):
    return [op.cmd for op in change.ops if isinstance(op, Command)]


# --- move_aside -------------------------------------------------------------------------------

def test_move_aside_keeps_a_first_backup_and_never_overwrites_one():
    args = {"dir": "/etc/yum.repos.d", "names": ["rocky.repo", "rocky-extras.repo"], "marker": "Managed by Dockyard"}
    change = move_aside.plan(args, FACTS, Observed(0, "no /etc/yum.repos.d/rocky.repo\nyes /etc/yum.repos.d/rocky-extras.repo\n"))
    assert commands(change) == [
        "mv -- /etc/yum.repos.d/rocky.repo /etc/yum.repos.d/rocky.repo.dockyard-bak",
        "mv -- /etc/yum.repos.d/rocky-extras.repo /etc/yum.repos.d/rocky-extras.repo.dockyard-bak"
        '"$(date +.%Y%m%d%H%M%S)"',
    ]
    assert move_aside.plan(args, FACTS, Observed(0, "")) == Ok("nothing to move aside")


def test_move_aside_checks_skip_files_dockyard_wrote():
    snippet = move_aside.check({"dir": "/etc/apt", "names": ["sources.list"], "marker": "Managed by Dockyard"}, FACTS)
    assert "grep -qF 'Managed by Dockyard' /etc/apt/sources.list" in snippet


# --- kernel_module ----------------------------------------------------------------------------

def test_kernel_module_loads_only_what_is_missing():
    args = {"names": ["br_netfilter", "overlay"]}
    assert isinstance(kernel_module.plan(args, FACTS, Observed(0, "present br_netfilter\npresent overlay\n")), Ok)
    change = kernel_module.plan(args, FACTS, Observed(0, "present br_netfilter\nmissing overlay\n"))
    assert commands(change) == ["modprobe overlay"]


def test_kernel_module_counts_a_built_in_module_as_present():
    snippet = kernel_module.check({"names": ["br_netfilter"]}, FACTS)
    assert "modules.builtin" in snippet and "[ -d /proc/sys/net/bridge ]" in snippet


# --- sysctl -----------------------------------------------------------------------------------

CONTENT = "# comment\nnet.ipv4.ip_forward = 1\nnet.ipv4.ip_local_port_range = 32768\t60999\n"


def sysctl_args():
    return {"src": "s.j2", "dest": "/etc/sysctl.d/99-yard.conf", "mode": "0644", "owner": None,
            "group": None, "backup": False, "content": CONTENT, "values": sysctl.parse(CONTENT, "s.j2")}


def file_observed(content):
    import base64
    data = content.encode()
    return "644 root root %d\n%s\n" % (len(data), base64.b64encode(data).decode())


def test_sysctl_parse_normalises_values_and_names_bad_lines():
    assert sysctl.parse(CONTENT, "s.j2") == {"net.ipv4.ip_forward": "1", "net.ipv4.ip_local_port_range": "32768 60999"}
    with pytest.raises(ActionError, match="s.j2 line 2"):
        sysctl.parse("# ok\nnot a setting\n", "s.j2")


def test_sysctl_is_ok_only_when_file_and_live_values_agree():
    live = "@@live\n/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/ipv4/ip_local_port_range:32768\t60999\n"
    assert isinstance(sysctl.plan(sysctl_args(), FACTS, Observed(0, file_observed(CONTENT) + live)), Ok)


def test_sysctl_applies_and_verifies_a_drifted_live_value():
    live = "@@live\n/proc/sys/net/ipv4/ip_forward:0\n/proc/sys/net/ipv4/ip_local_port_range:32768\t60999\n"
    change = sysctl.plan(sysctl_args(), FACTS, Observed(0, file_observed(CONTENT) + live))
    assert change.reason == "live: net.ipv4.ip_forward is 0"
    assert commands(change)[0] == "sysctl -q -p /etc/sysctl.d/99-yard.conf || true"
    assert "wanted 1" in commands(change)[1]


def test_sysctl_writes_an_absent_file_and_says_which_keys_the_kernel_lacks():
    change = sysctl.plan(sysctl_args(), FACTS, Observed(0, "absent\n@@live\nnet.ipv4.ip_forward\n"
                                                          "/proc/sys/net/ipv4/ip_local_port_range:1 2\n"))
    assert isinstance(change.ops[0], Upload)
    assert "net.ipv4.ip_forward is absent" in change.reason


# --- selinux ----------------------------------------------------------------------------------

def selinux_plan(state, live, config):
    return selinux.plan({"state": state, "config": "/etc/selinux/config"}, FACTS,
                        Observed(0, "live=%s\nconfig=%s\n" % (live, config)))


def test_selinux_absent_is_left_alone():
    assert selinux.plan({"state": "disabled", "config": "/etc/selinux/config"}, FACTS,
                        Observed(0, "absent\n")) == Ok("SELinux is not on this host")


def test_selinux_switches_between_enforcing_and_permissive_now():
    change = selinux_plan("permissive", "enforcing", "enforcing")
    assert commands(change) == ["sed -i 's/^SELINUX=.*/SELINUX=permissive/' /etc/selinux/config", "setenforce 0"]
    assert selinux_plan("permissive", "permissive", "permissive") == Ok("SELinux is permissive")


def test_selinux_says_when_a_reboot_is_needed_and_does_not_reboot():
    change = selinux_plan("disabled", "enforcing", "enforcing")
    assert "disabled after a reboot (running permissive until then)" in change.reason
    assert not any("reboot" in command for command in commands(change))
    assert selinux_plan("disabled", "permissive", "disabled") == Ok(
        "SELinux is permissive; disabled after a reboot (running permissive until then)")
    assert "enforcing after a reboot" in selinux_plan("enforcing", "disabled", "disabled").reason


# --- firewalld --------------------------------------------------------------------------------

def test_firewall_disabled_stops_and_disables_it():
    change = firewalld.plan({"state": "disabled", "ports": []}, FACTS,
                            Observed(0, "enabled=enabled\nactive=active\nruntime=\npermanent=\n"))
    assert commands(change) == ["systemctl stop firewalld", "systemctl disable firewalld"]
    assert isinstance(firewalld.plan({"state": "disabled", "ports": []}, FACTS, Observed(0, "absent\n")), Ok)


def test_firewall_kept_opens_the_registry_port_now_and_permanently():
    change = firewalld.plan({"state": "keep", "ports": ["5000/tcp"]}, FACTS,
                            Observed(0, "enabled=enabled\nactive=active\nruntime=22/tcp\npermanent=5000/tcp\n"))
    assert commands(change) == ["firewall-cmd --add-port=5000/tcp"]
    assert isinstance(firewalld.plan({"state": "keep", "ports": ["5000/tcp"]}, FACTS,
                                     Observed(0, "enabled=enabled\nactive=active\nruntime=5000/tcp\n"
                                                 "permanent=5000/tcp\n")), Ok)


# --- daemon_json ------------------------------------------------------------------------------

GOOD = {"registry_mirrors": ["https://mirror.example.com"], "insecure_registries": ["10.0.0.5:5000", "10.0.0.0/24", "reg.lan"],
        "bip": "172.18.0.1/16", "data_root": "/srv/yard", "cgroup_parent": "lab-1", "log_driver": "json-file",
        "log_opts": {"max-size": "10m", "max-file": "3"}, "live_restore": "true", "iptables": True,
        "ip_forward": "yes", "debug": False, "daemon_extra": {"default-shm-size": "64M"}}


def test_daemon_settings_with_docker_meanings_pass():
    daemon_json.check_settings(GOOD)


@pytest.mark.parametrize("variable,value", [
    ("registry_mirrors", ["mirror.example.com"]),
    ("registry_mirrors", "https://mirror.example.com"),
    ("insecure_registries", ["http://10.0.0.5:5000"]),
    ("insecure_registries", ["10.0.0.0/40"]),
    ("insecure_registries", ["10.0.0.5:99999"]),
    ("bip", "172.18.0.0/33"),
    ("bip", "172.18.0.0/16"),
    ("bip", "fd00::1/64"),
    ("data_root", "var/lib/yard"),
    ("cgroup_parent", "../escape"),
    ("log_driver", "jsonfile"),
    ("log_opts", {"max-file": 3}),
    ("log_opts", {"max-size": "ten"}),
    ("live_restore", "maybe"),
    ("daemon_extra", {"bip": "10.1.0.1/24"}),
])
def test_a_bad_daemon_setting_is_refused_naming_its_variable(variable, value):
    with pytest.raises(daemon_json.SettingError, match="^variable %s: " % variable):
        daemon_json.check_settings(dict(GOOD, **{variable: value}))


# --- engine_bundle ----------------------------------------------------------------------------

ENGINE = {"dest": "/usr/local/lib/yard/yard.pyz", "link": "/usr/local/lib/yard/engine", "python": "/usr/bin/python3",
          "data": b"#!/usr/bin/env python3\nbundle"}
ENGINE["sha256"] = hashlib.sha256(ENGINE["data"]).hexdigest()
INSTALLED = "engine-" + ENGINE["sha256"][:12]


def test_engine_bundle_is_ok_when_the_bundle_and_its_installed_copy_are_current():
    assert isinstance(engine_bundle.plan(ENGINE, FACTS, Observed(0, "%s\n%s\n" % (ENGINE["sha256"], INSTALLED))), Ok)


def test_engine_bundle_uploads_another_build_then_installs_it():
    change = engine_bundle.plan(ENGINE, FACTS, Observed(0, "0" * 64 + "\nengine-000000000000\n"))
    mkdir, upload, install = change.ops
    assert mkdir.cmd == "mkdir -p /usr/local/lib/yard"
    assert (upload.dest, upload.data, upload.mode, upload.remote_sha256) == (ENGINE["dest"], ENGINE["data"], "0755",
                                                                            "0" * 64)
    assert install.cmd == bundle.install_script(ENGINE["dest"], ENGINE["link"], "/usr/bin/python3", ENGINE["sha256"])


def test_engine_bundle_installs_a_current_bundle_not_installed_yet_without_uploading_it():
    change = engine_bundle.plan(ENGINE, FACTS, Observed(0, ENGINE["sha256"] + "\nabsent\n"))
    assert "/usr/local/lib/yard/engine is absent" in change.reason
    assert [op.cmd for op in change.ops] == [bundle.install_script(ENGINE["dest"], ENGINE["link"], "/usr/bin/python3",
                                                                   ENGINE["sha256"])]


# --- wait_http --------------------------------------------------------------------------------

WAIT = {"url": "unix:///run/yard.sock/_ping", "unit": "yard", "timeout": 60, "status": [200]}


def test_wait_http_is_ok_once_answered_and_waits_for_a_unit_not_yet_running():
    assert wait_http.plan(WAIT, FACTS, Observed(0, "answered 200\n")) == Ok("unix:///run/yard.sock/_ping answered (200)")
    change = wait_http.plan(WAIT, FACTS, Observed(0, "inactive inactive\n"))
    assert isinstance(change, Change) and "did not answer within 60 s" in commands(change)[0]
    assert change.reason == "yard is inactive: wait up to 60 s for unix:///run/yard.sock/_ping"


def test_wait_http_checks_once_and_leaves_the_waiting_to_its_apply():
    # A check runs before handlers (a restart) have: it must not wait out the timeout there.
    assert " 0 200" in wait_http.check(WAIT, FACTS) and " 60 " not in wait_http.check(WAIT, FACTS)
    change = wait_http.plan(WAIT, FACTS, Observed(0, "silent status 401\n"))
    assert change.reason.startswith("unix:///run/yard.sock/_ping does not answer yet (status 401)")
    assert "did not answer within 60 s" in commands(change)[0] and " 60 200" in commands(change)[0]


def test_wait_http_reports_a_probe_that_could_not_run():
    with pytest.raises(ActionError, match="cannot probe .*: python3: not found"):
        wait_http.plan(WAIT, FACTS, Observed(127, "", "python3: not found\n"))


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/_ping" else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    def get_request(self):
        request, _ = super().get_request()
        return request, ("local", 0)   # BaseHTTPRequestHandler wants a (host, port) client


def probe_answer(url, status=(200,), timeout=0):
    args = dict(WAIT, url=url, unit=None, status=list(status), timeout=timeout)
    done = subprocess.run(["sh", "-c", wait_http.check(args, {"python": sys.executable})],
                          capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def test_wait_http_probe_gets_an_answer_over_a_unix_socket_and_tcp(tmp_path):
    servers = [_UnixHTTPServer(str(tmp_path / "api.sock"), _Answer),
               http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port = servers[1].server_address[1]
    try:
        assert probe_answer("unix://%s/api.sock/_ping" % tmp_path) == "answered 200"
        assert probe_answer("http://127.0.0.1:%d/v2/" % port, status=(200, 401)) == "answered 401"
        assert probe_answer("http://127.0.0.1:%d/v2/" % port) == "silent status 401"
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert probe_answer("http://127.0.0.1:%d/v2/" % port).startswith("silent ")


# --- htpasswd ---------------------------------------------------------------------------------

def htpasswd_observed(content):
    import base64
    return Observed(0, "640 root docker-registry\n%s\n" % base64.b64encode(content.encode()).decode())


HTPASSWD = {"path": "/etc/dockyard/registry.htpasswd", "users": {"alice": "secret", "bob": "hunter2"},
            "owner": "root", "group": "docker-registry", "mode": "0640"}


def test_htpasswd_writes_bcrypt_hashes_that_the_next_run_accepts():
    import bcrypt
    change = htpasswd.plan(HTPASSWD, FACTS, Observed(0, "absent\n"))
    upload = change.ops[-1]
    assert "secret" not in change.reason and b"secret" not in upload.data
    entries = htpasswd.parse(upload.data.decode())
    assert sorted(entries) == ["alice", "bob"]
    assert bcrypt.checkpw(b"secret", entries["alice"].encode())
    assert isinstance(htpasswd.plan(HTPASSWD, FACTS, htpasswd_observed(upload.data.decode())), Ok)


def test_htpasswd_rehashes_a_changed_password_and_drops_unknown_users():
    first = htpasswd.plan(HTPASSWD, FACTS, Observed(0, "absent\n")).ops[-1].data.decode()
    alice = htpasswd.parse(first)["alice"]
    changed = dict(HTPASSWD, users={"alice": "secret", "bob": "new password"})
    change = htpasswd.plan(changed, FACTS, htpasswd_observed(first + "mallory:$2b$05$invalid\n"))
    assert change.reason.endswith("users to set or remove: bob, mallory")
    entries = htpasswd.parse(change.ops[-1].data.decode())
    assert entries["alice"] == alice and sorted(entries) == ["alice", "bob"]


def test_yardd_from_the_bundle_validates_the_rendered_file():
    pyz = bundle.bundle_bytes()
    daemon_json.yardd_validate('{"bip": "172.18.0.1/16", "live-restore": false}', pyz)
    with pytest.raises(ActionError, match="yardd refuses the rendered daemon.json: .*no-such-option"):
        daemon_json.yardd_validate('{"no-such-option": true}', pyz)


def test_a_file_yardd_accepted_is_remembered_and_a_refused_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # Unique files: one already checked in this process would not reach the record.
    good = '{"cgroup-parent": "%s"}' % tmp_path.name
    bad = '{"no-such-option": "%s"}' % tmp_path.name
    pyz = bundle.bundle_bytes()
    daemon_json.yardd_validate(good, pyz)
    with pytest.raises(ActionError, match="yardd refuses the rendered daemon.json: .*no-such-option"):
        daemon_json.yardd_validate(bad, pyz)
    record = daemon_json.accepted_record(pyz, good)
    assert list((tmp_path / "dockyard" / "yardd-accepted").iterdir()) == [record]
