"""yardd's configuration: daemon.json with Docker's keys, flags over the file, and a refusal
to start that names the key at fault (checked with the real daemon program, --validate)."""
import json
import subprocess
import sys

import pytest

from yardd import REPO


def validate(tmp_path, config, *flags):
    path = tmp_path / "daemon.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return subprocess.run([sys.executable, "-m", "engine.daemon", "--config-file", str(path), "--validate"]
                          + list(flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=REPO, timeout=60)


def test_a_good_file_with_dockers_keys_validates(tmp_path):
    result = validate(tmp_path, {"bip": "172.30.0.1/16", "data-root": "/srv/yard", "cgroup-parent": "yard",
                                 "iptables": True, "ip-forward": True, "live-restore": True, "debug": False,
                                 "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
                                 "registry-mirrors": ["http://mirror.lab:5000"],
                                 "insecure-registries": ["registry.lab:5000"], "exec-opts": [],
                                 "storage-driver": "overlay2", "default-cgroupns-mode": "private"})
    assert (result.returncode, result.stdout) == (0, "configuration OK\n")


@pytest.mark.parametrize("config, named", [
    ({"no-such-option": 1}, "no-such-option"),
    ({"iptables": "yes"}, '"iptables"'),
    ({"bip": "172.17.0.0/16"}, '"bip"'),
    ({"bip": "not-an-address"}, '"bip"'),
    ({"data-root": "relative/path"}, '"data-root"'),
    ({"log-opts": {"max-size": "ten"}}, '"log-opts"'),
    ({"log-opts": {"max-file": "0"}}, '"log-opts"'),
    ({"log-opts": {"colour": "blue"}}, "colour"),
    ({"log-driver": "syslog"}, '"log-driver"'),
    ({"registry-mirrors": ["mirror.lab"]}, '"registry-mirrors"'),
    ({"hosts": ["tcp://0.0.0.0:2375"]}, '"hosts"'),
    ({"default-cgroupns-mode": "shared"}, '"default-cgroupns-mode"'),
])
def test_a_bad_key_or_value_refuses_to_start_and_names_it(tmp_path, config, named):
    result = validate(tmp_path, config)
    assert result.returncode == 1
    assert named in result.stderr and str(tmp_path / "daemon.json") in result.stderr
    assert result.stdout == ""


def test_broken_json_names_the_file_and_the_place(tmp_path):
    result = validate(tmp_path, '{\n  "debug": true,\n  "bip" "x"\n}\n')
    assert result.returncode == 1
    assert "daemon.json" in result.stderr and "line 3" in result.stderr


def test_a_bad_flag_is_refused_too(tmp_path):
    assert validate(tmp_path, {}, "--iptables=maybe").returncode == 1
    result = validate(tmp_path, {}, "--bip", "300.1.1.1/24")
    assert result.returncode == 1 and "--bip" in result.stderr
    assert validate(tmp_path, {}, "--no-such-flag").returncode == 1
    result = validate(tmp_path, {}, "--default-cgroupns-mode", "shared")
    assert result.returncode == 1 and "--default-cgroupns-mode" in result.stderr


def test_a_named_file_must_exist(tmp_path):
    result = subprocess.run([sys.executable, "-m", "engine.daemon", "--config-file", str(tmp_path / "missing.json"),
                             "--validate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, cwd=REPO, timeout=60)
    assert result.returncode == 1 and "missing.json" in result.stderr
