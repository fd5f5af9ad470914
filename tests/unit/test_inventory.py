"""The INI inventory reader: every feature and every error, on small inventories written here.

What ansible-core itself says about the same inventories is in test_inventory_parity.py.
"""
import json
import re
import textwrap
from pathlib import Path

import pytest

from provision.cli import build_parser
from provision.inventory import InventoryError, hosts_for, load, main_inventory

BAD = sorted((Path(__file__).parent / "inventories" / "bad").glob("*.ini"))


def write(tmp_path, text, name="hosts.ini"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def read(tmp_path, text):
    return load(write(tmp_path, text))


def group_entry(inventory, group):
    return inventory.to_list_json().get(group, {})


# --- groups and hosts ------------------------------------------------------------------------

def test_hosts_before_any_section_are_ungrouped(tmp_path):
    inventory = read(tmp_path, """\
        alone
        [web]
        web1
    """)
    assert inventory.hosts == ["alone", "web1"]
    assert group_entry(inventory, "ungrouped") == {"hosts": ["alone"]}
    assert inventory.to_list_json()["all"] == {"children": ["ungrouped", "web"]}


def test_a_group_declared_twice_adds_up(tmp_path):
    inventory = read(tmp_path, """\
        [web]
        web1
        [web:vars]
        a=1
        [db]
        db1
        [web]
        web2
        [web:vars]
        b=2
    """)
    assert group_entry(inventory, "web") == {"hosts": ["web1", "web2"]}
    assert inventory.hostvars("web2") == {"a": 1, "b": 2}


def test_a_host_in_several_groups_gets_all_their_variables(tmp_path):
    inventory = read(tmp_path, """\
        [web]
        both
        [db]
        both
        [web:vars]
        from_web=1
        [db:vars]
        from_db=1
    """)
    assert inventory.hosts == ["both"]
    assert inventory.groups_of("both") == ["db", "web"]
    assert inventory.hostvars("both") == {"from_web": 1, "from_db": 1}


def test_children_may_be_declared_before_or_after_their_parent(tmp_path):
    inventory = read(tmp_path, """\
        [early]
        e1
        [parent:children]
        early
        late
        [late]
        l1
        [grandparent:children]
        parent
    """)
    assert group_entry(inventory, "parent") == {"children": ["early", "late"]}
    assert inventory.to_list_json()["all"] == {"children": ["ungrouped", "grandparent"]}
    assert inventory.groups_of("l1") == ["grandparent", "late", "parent"]
    assert inventory.select("grandparent") == ["e1", "l1"]


def test_group_names_are_kept_as_written(tmp_path):
    inventory = read(tmp_path, """\
        [web-servers]
        web1
        [all-dc:children]
        web-servers
    """)
    assert inventory.groups_of("web1") == ["all-dc", "web-servers"]


def test_a_host_named_in_a_group_leaves_ungrouped(tmp_path):
    inventory = read(tmp_path, """\
        first
        [all]
        only_in_all
        [web]
        first
    """)
    assert group_entry(inventory, "ungrouped") == {"hosts": ["only_in_all"]}
    assert inventory.groups_of("first") == ["web"]
    assert inventory.groups_of("only_in_all") == ["ungrouped"]


def test_empty_groups_are_listed_only_as_children(tmp_path):
    inventory = read(tmp_path, """\
        [empty]
        [hollow:children]
        empty
    """)
    assert inventory.to_list_json() == {
        "all": {"children": ["ungrouped", "hollow"]},
        "hollow": {"children": ["empty"]},
        "_meta": {"hostvars": {}, "profile": "inventory_legacy"},
    }


def test_an_empty_file_is_an_empty_inventory(tmp_path):
    inventory = read(tmp_path, "# nothing here\n")
    assert inventory.hosts == []
    assert inventory.select() == []


# --- comments --------------------------------------------------------------------------------

def test_hash_and_semicolon_lines_are_comments_and_hash_ends_a_host_line(tmp_path):
    inventory = read(tmp_path, """\
        # a comment
        ; another
          ; indented
        [web]  # after a section
        web1 a=1 # b=2
        web2 a=x#y
    """)
    assert inventory.hosts == ["web1", "web2"]
    assert inventory.hostvars("web1") == {"a": 1}
    assert inventory.hostvars("web2") == {"a": "x"}


def test_a_utf8_error_is_allowed_only_in_a_comment(tmp_path):
    path = tmp_path / "latin1.ini"
    path.write_bytes(b"# caf\xe9\n[web]\nweb1\n")
    assert load(str(path)).hosts == ["web1"]
    path.write_bytes(b"[web]\nweb1\nweb\xe9\n")
    with pytest.raises(InventoryError, match=r"latin1\.ini:3: not UTF-8"):
        load(str(path))


# --- host names: ranges, ports, addresses ----------------------------------------------------

@pytest.mark.parametrize("line, hosts", [
    ("web[01:03].lab", ["web01.lab", "web02.lab", "web03.lab"]),
    ("web[8:10]", ["web8", "web9", "web10"]),
    ("db-[a:c]", ["db-a", "db-b", "db-c"]),
    ("x[y:B]", ["xy", "xz", "xA", "xB"]),
    ("n[20:30:5]", ["n20", "n25", "n30"]),
    ("n[a:e:2]", ["na", "nc", "ne"]),
    ("n[:2]", ["n0", "n1", "n2"]),
    ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
    ("n[5:1]", []),
    ("10.0.0.[1:3]", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
    ("2001:db8::[a:c]", ["2001:db8::a", "2001:db8::b", "2001:db8::c"]),
])
def test_host_ranges_expand(tmp_path, line, hosts):
    assert read(tmp_path, "[g]\n%s\n" % line).hosts == hosts


@pytest.mark.parametrize("line, host, port", [
    ("web1:2222", "web1", 2222),
    ("web[1:2].lab:2222", "web1.lab", 2222),
    ("192.0.2.1:2022", "192.0.2.1", 2022),
    ("[2001:db8::1]:2200", "2001:db8::1", 2200),
    ("2001:db8::1", "2001:db8::1", None),
    ("fe80::1", "fe80::1", None),
    ("[web1]:2201", "web1", 2201),
    ("web_:22", "web_:22", None),     # not a valid host name, so the whole word is the name
])
def test_ports_and_addresses(tmp_path, line, host, port):
    inventory = read(tmp_path, "[g]\n%s\n" % line)
    assert inventory.hosts[0] == host
    assert inventory.hostvars(host).get("ansible_port") == port


def test_a_port_counts_only_where_the_host_is_first_defined(tmp_path):
    inventory = read(tmp_path, """\
        [a]
        web1:2201
        [b]
        web1:2202
        web2:2203 ansible_port=2204
    """)
    assert inventory.hostvars("web1") == {"ansible_port": 2201}
    assert inventory.hostvars("web2") == {"ansible_port": 2204}


# --- values ----------------------------------------------------------------------------------

def test_inline_values_are_python_literals_after_shell_splitting(tmp_path):
    inventory = read(tmp_path, """\
        h n=42 f=1.5 t=True none=None yes=yes s='a b' q="'42'" l="[1, 'x']" d="{'k': (1, 2)}"
        h shell_dict={'a':1} c=1j e=... eq=a=b empty= hexa=0x10
    """)
    assert inventory.hostvars("h") == {
        "n": 42, "f": 1.5, "t": True, "none": None, "yes": "yes", "s": "a b", "q": "42",
        "l": [1, "x"], "d": {"k": [1, 2]}, "shell_dict": "{a:1}", "c": "1j", "e": "...",
        "eq": "a=b", "empty": "", "hexa": 16,
    }


def test_group_vars_are_literals_too_and_keep_everything_after_the_first_equals(tmp_path):
    inventory = read(tmp_path, """\
        [g]
        h
        [g:vars]
        n=42
        quoted='42'
        b = False
        spaced =  a b  
        url=http://x/?a=b#c
        word=hello # stays
        number=1 # goes: a Python comment
        items=['a', 'b']
    """)
    assert inventory.hostvars("h") == {
        "n": 42, "quoted": "42", "b": False, "spaced": "a b", "url": "http://x/?a=b#c",
        "word": "hello # stays", "number": 1, "items": ["a", "b"],
    }


# --- precedence ------------------------------------------------------------------------------

def test_precedence_all_then_parent_then_child_then_host(tmp_path):
    inventory = read(tmp_path, """\
        [all:vars]
        v=all
        a=all
        [parent:children]
        child
        [parent:vars]
        v=parent
        p=parent
        [child]
        h1
        h2 v=host
        [child:vars]
        v=child
    """)
    assert inventory.hostvars("h1") == {"v": "child", "a": "all", "p": "parent"}
    assert inventory.hostvars("h2")["v"] == "host"


def test_same_depth_groups_go_by_priority_then_name(tmp_path):
    inventory = read(tmp_path, """\
        [b]
        h1
        h2
        [a]
        h1
        h2
        [a:vars]
        v=a
        [b:vars]
        v=b
        [prio]
        h2
        [prio:vars]
        v=prio
        ansible_group_priority=5
    """)
    assert inventory.hostvars("h1") == {"v": "b"}
    assert inventory.hostvars("h2") == {"v": "prio"}


def test_depth_is_the_longest_path_from_all(tmp_path):
    inventory = read(tmp_path, """\
        [top:children]
        mid
        both
        [mid:children]
        low
        both_peer
        [low:children]
        both
        [both]
        h
        [both:vars]
        v=both
        [both_peer]
        h
        [both_peer:vars]
        v=both_peer
        [mid]
        [low]
    """)
    # both: under top (depth 2) and under low (depth 4); both_peer: depth 3.
    assert inventory.hostvars("h") == {"v": "both"}


def test_values_replace_and_never_merge(tmp_path):
    inventory = read(tmp_path, """\
        [g]
        h d="{'b': 2}"
        [g:vars]
        d={'a': 1}
    """)
    assert inventory.hostvars("h") == {"d": {"b": 2}}


def test_hostvars_is_a_copy(tmp_path):
    inventory = read(tmp_path, "[g]\nh l=\"[1]\"\n")
    inventory.hostvars("h")["l"].append(2)
    assert inventory.hostvars("h") == {"l": [1]}


def test_an_unknown_host_is_an_error_naming_the_file(tmp_path):
    inventory = read(tmp_path, "[g]\nh\n")
    with pytest.raises(InventoryError, match=r"hosts\.ini: no host named 'nope'"):
        inventory.hostvars("nope")
    with pytest.raises(InventoryError, match="nope"):
        inventory.groups_of("nope")


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_every_bad_inventory_is_refused_naming_file_and_line(path):
    # Each file's first line says where and what: `# expect: LINE: words of the message`.
    line, words = re.match(r"# expect: (\d+): (.*)", path.read_text().splitlines()[0]).groups()
    with pytest.raises(InventoryError) as error:
        load(str(path))
    assert str(error.value).startswith("%s:%s: " % (path, line))
    assert words in str(error.value)


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(InventoryError, match=r"nope\.ini: cannot read the inventory"):
        load(str(tmp_path / "nope.ini"))


# --- --limit patterns ------------------------------------------------------------------------

LIMITS = """\
    lone
    [web]
    web1
    web2
    [db]
    db1
    web2
    [dc:children]
    web
    [edge]
    2001:db8::1
"""


# Ansible's host order: the hosts of all's children (ungrouped, db, dc, edge: web is under
# dc), then of their children (web).
ALL = ["lone", "db1", "web2", "2001:db8::1", "web1"]


@pytest.mark.parametrize("limit, hosts", [
    (None, ALL),
    ("", ALL),
    ("all", ALL),
    ("*", ALL),
    ("db1", ["db1"]),
    ("web1,lone", ["lone", "web1"]),            # inventory order, not the limit's
    ("web:db", ["db1", "web2", "web1"]),
    ("dc", ["web2", "web1"]),
    ("web*", ["web2", "web1"]),
    ("web:&db", ["web2"]),
    ("all:!dc", ["lone", "db1", "2001:db8::1"]),
    ("!web", ["lone", "db1", "2001:db8::1"]),
    ("&db", ["db1", "web2"]),
    ("~(web|db)1", ["db1", "web1"]),
    ("2001:db8::1", ["2001:db8::1"]),
    ("ungrouped", ["lone"]),
    ("web[0]", ["web1"]),
    ("web[-1]", ["web2"]),
    ("web[0:1],lone", ["lone", "web2", "web1"]),
    ("db1 , web1", ["db1", "web1"]),
])
def test_select_follows_ansible_limit_patterns(tmp_path, limit, hosts):
    assert read(tmp_path, LIMITS).select(limit) == hosts


@pytest.mark.parametrize("limit, named", [
    ("nope", "'nope'"),
    ("web,nope", "'nope'"),
    ("web:&nope", "'nope'"),
    ("web:!nope", "'nope'"),
    ("~^x", "'~^x'"),
])
def test_a_pattern_matching_nothing_is_an_error_naming_it(tmp_path, limit, named):
    with pytest.raises(InventoryError, match=r"hosts\.ini: --limit .*pattern %s matches no host" % re.escape(named)):
        read(tmp_path, LIMITS).select(limit)


@pytest.mark.parametrize("limit, message", [
    ("web:&edge", "selects no host"),
    ("web[5]", "no host at 'web\\[5\\]'"),
    ("~(", "invalid pattern"),
])
def test_a_limit_that_cannot_select_is_an_error(tmp_path, limit, message):
    with pytest.raises(InventoryError, match=message):
        read(tmp_path, LIMITS).select(limit)


def test_to_list_json_with_a_limit_drops_the_other_hosts(tmp_path):
    listed = read(tmp_path, LIMITS).to_list_json("db")
    assert listed["db"] == {"hosts": ["db1", "web2"]}
    assert listed["web"] == {"hosts": ["web2"]}
    assert "edge" not in listed and "ungrouped" not in listed


# --- what the rest of the controller uses ----------------------------------------------------

def test_hosts_for_builds_hosts_with_group_and_host_connection_variables(tmp_path):
    inventory = read(tmp_path, """\
        [engines]
        e1 ansible_host=192.0.2.10 ansible_port=2201
        e2 ansible_become=no
        [engines:vars]
        ansible_user=deploy
        ansible_become=yes
        ansible_ssh_common_args='-o ProxyJump=jump@bastion:2200 -o UserKnownHostsFile=/tmp/kh'
    """)
    e1, = hosts_for(inventory, "e1")
    assert (e1.name, e1.address, e1.port, e1.user, e1.become) == ("e1", "192.0.2.10", 2201, "deploy", True)
    assert e1.proxy_jump == "jump@bastion:2200"
    assert e1.ssh_options["userknownhostsfile"] == "/tmp/kh"
    assert [h.name for h in hosts_for(inventory)] == ["e1", "e2"]
    assert hosts_for(inventory)[1].become is False


def test_hosts_for_names_file_host_and_variable_of_a_bad_connection_variable(tmp_path):
    inventory = read(tmp_path, "[g]\nh1 ansible_port=ssh\n")
    with pytest.raises(InventoryError, match=r"hosts\.ini: host h1: ansible_port"):
        hosts_for(inventory)


def run_cli(argv, capsys):
    code = main_inventory(build_parser().parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_list_and_one_hosts_vars(tmp_path, capsys):
    path = write(tmp_path, "[g]\nh1 a=1\n[g:vars]\nb=x\n")
    code, out, err = run_cli(["inventory", path], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out)["_meta"]["hostvars"] == {"h1": {"a": 1, "b": "x"}}
    assert out == json.dumps(json.loads(out), sort_keys=True, indent=4) + "\n"
    code, out, err = run_cli(["inventory", path, "--host", "h1"], capsys)
    assert (code, json.loads(out)) == (0, {"a": 1, "b": "x"})


@pytest.mark.parametrize("text, extra, message", [
    ("[g]\nh1 a\n", [], r"hosts\.ini:2: expected key=value"),
    ("[g]\nh1\n", ["--host", "h2"], r"hosts\.ini: no host named 'h2'"),
    ("[g]\nh1\n", ["--list", "--host", "h1"], r"--list or --host"),
])
def test_cli_errors_go_to_stderr_with_exit_1(tmp_path, capsys, text, extra, message):
    code, out, err = run_cli(["inventory", write(tmp_path, text)] + extra, capsys)
    assert (code, out) == (1, "")
    assert re.search(message, err)
