"""Parity with ansible-core: our reader against ansible-inventory and ansible --list-hosts,
run from the same virtualenv as this python, on inventories using every INI feature.

ansible runs hermetically: its own HOME, an empty ansible.cfg, no ANSIBLE_* from outside,
only the ini inventory plugin, and failures to parse or to match a pattern made fatal.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provision.cli import build_parser
from provision.inventory import InventoryError, load, main_inventory

INVENTORIES = Path(__file__).parent / "inventories"
GOOD = sorted(INVENTORIES.glob("*.ini"))
BAD = sorted((INVENTORIES / "bad").glob("*.ini"))
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ansible(tmp_path_factory):
    """Run an ansible command line tool from this python's virtualenv."""
    home = tmp_path_factory.mktemp("ansible-home")
    config = home / "ansible.cfg"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        HOME=str(home),
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_INVENTORY_ENABLED="ini",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
        ANSIBLE_HOST_PATTERN_MISMATCH="error",
    )

    def run(tool, *args):
        executable = BIN / tool
        assert executable.exists(), "%s missing: install the test extras (pip install -e '.[test]')" % executable
        return subprocess.run([str(executable), *args], env=env, cwd=str(home), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)
    return run


def ansible_json(ansible, *args):
    result = ansible("ansible-inventory", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ours(argv, capsys):
    """What `provision inventory ...` prints, read back as JSON."""
    assert main_inventory(build_parser().parse_args(["inventory", *argv])) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_list_is_what_ansible_inventory_lists(ansible, capsys, path):
    assert ours([str(path)], capsys) == ansible_json(ansible, "-i", str(path), "--list")


# Hosts whose --host output shows something the --list above cannot: a host with no
# variables at all, the precedence ties, IPv6 names, a host defined twice.
HOSTS = [
    ("features", "bastion.example.com"), ("features", "2001:db8::10"), ("features", "node02.lab"),
    ("precedence", "tie2"), ("precedence", "deep3"), ("precedence", "twice"),
    ("ungrouped", "early1"), ("ungrouped", "in_all_only"), ("values", "typed"),
]


@pytest.mark.parametrize("name, host", HOSTS, ids=["%s-%s" % pair for pair in HOSTS])
def test_host_is_what_ansible_inventory_shows(ansible, capsys, name, host):
    path = str(INVENTORIES / (name + ".ini"))
    assert ours([path, "--host", host], capsys) == ansible_json(ansible, "-i", path, "--host", host)


# "fe80::*," : a comma keeps an IPv6 pattern whole; without one, ':' splits it (refused below).
LIMITS = [
    "all", "*", "engines", "datacenter", "racks", "ungrouped", "node02.lab,bastion.example.com",
    "engines:&datacenter", "engines:!racks", "all:!engines", "!registry", "&racks", "node*",
    "*.lab", "~node0[13]\\.lab", "rack-1,edge0", "2001:db8::10", "fe80::*,", "engines[0]",
    "engines[1:3]", "engines[-1]", "racks[1:]", "10.0.0.5",
]


def list_hosts(ansible, path, limit):
    result = ansible("ansible", "all", "-i", path, "--list-hosts", "-l", limit)
    assert result.returncode == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines()[1:]]


@pytest.mark.parametrize("limit", LIMITS)
def test_select_is_what_ansible_limits_to(ansible, limit):
    path = str(INVENTORIES / "features.ini")
    assert load(path).select(limit) == list_hosts(ansible, path, limit)


@pytest.mark.parametrize("name", ["precedence", "ungrouped"])
def test_inventory_order_is_ansibles(ansible, name):
    path = str(INVENTORIES / (name + ".ini"))
    assert load(path).hosts == list_hosts(ansible, path, "all")


@pytest.mark.parametrize("limit", ["racks", "engines:!rack-1", "node0*"])
def test_list_with_a_limit_is_what_ansible_inventory_lists(ansible, limit):
    path = str(INVENTORIES / "features.ini")
    assert load(path).to_list_json(limit) == ansible_json(ansible, "-i", path, "--list", "--limit", limit)


@pytest.mark.parametrize("limit", ["nosuch", "engines,nosuch", "engines:&nosuch", "engines:!nosuch",
                                   "engines:&ungrouped", "fe80::*"])
def test_a_limit_ansible_refuses_is_refused(ansible, limit):
    path = str(INVENTORIES / "features.ini")
    with pytest.raises(InventoryError):
        load(path).select(limit)
    assert ansible("ansible", "all", "-i", path, "--list-hosts", "-l", limit).returncode != 0


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_an_inventory_ansible_refuses_is_refused(ansible, path):
    with pytest.raises(InventoryError, match=r"^%s:\d+: " % re.escape(str(path))):
        load(str(path))
    result = ansible("ansible-inventory", "-i", str(path), "--list")
    assert result.returncode != 0 and "[ERROR]" in result.stderr
