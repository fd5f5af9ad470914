"""A host's connection settings from its inventory variables, as Ansible reads them."""
import pytest

from provision.hosts import HostVarError, as_bool, host_from_vars, ssh_options_from


def test_a_host_with_no_variables_gets_ansibles_defaults():
    host = host_from_vars("web1", {})
    assert (host.name, host.address, host.port, host.user, host.password, host.key_file) == \
        ("web1", "web1", 22, None, None, None)
    assert (host.become, host.become_user, host.become_password) == (False, "root", None)
    assert (host.proxy_jump, host.ssh_options, host.python) == (None, {}, "/usr/bin/python3")


def test_every_connection_variable():
    variables = {
        "ansible_host": "192.0.2.7", "ansible_port": 2222, "ansible_user": "deploy",
        "ansible_password": "s3cret", "ansible_ssh_private_key_file": "~/.ssh/lab",
        "ansible_become": True, "ansible_become_user": "admin", "ansible_become_password": "sudo-pw",
        "ansible_python_interpreter": "/usr/libexec/platform-python", "role": "engine",
    }
    host = host_from_vars("web1", variables)
    assert (host.address, host.port, host.user, host.password, host.key_file) == \
        ("192.0.2.7", 2222, "deploy", "s3cret", "~/.ssh/lab")
    assert (host.become, host.become_user, host.become_password) == (True, "admin", "sudo-pw")
    assert host.python == "/usr/libexec/platform-python"
    assert host.vars == variables


def test_passwords_stay_out_of_the_hosts_repr():
    host = host_from_vars("web1", {"ansible_password": "s3cret", "ansible_become_password": "sudo-pw"})
    assert "s3cret" not in repr(host) and "sudo-pw" not in repr(host)


@pytest.mark.parametrize("variables, field, value", [
    # Where a setting has several names, the one Ansible's plugins list last wins...
    ({"ansible_host": "a", "ansible_ssh_host": "b"}, "address", "b"),
    ({"ansible_port": 2201, "ansible_ssh_port": 2202}, "port", 2202),
    ({"ansible_user": "a", "ansible_ssh_user": "b"}, "user", "b"),
    ({"ansible_password": "a", "ansible_ssh_pass": "b"}, "password", "b"),
    ({"ansible_ssh_pass": "a", "ansible_ssh_password": "b"}, "password", "b"),
    ({"ansible_private_key_file": "a", "ansible_ssh_private_key_file": "b"}, "key_file", "b"),
    ({"ansible_become_user": "a", "ansible_sudo_user": "b"}, "become_user", "b"),
    ({"ansible_become_password": "a", "ansible_become_pass": "b"}, "become_password", "b"),
    ({"ansible_become_pass": "a", "ansible_sudo_pass": "b"}, "become_password", "b"),
    # ...unless it is None, which counts as unset.
    ({"ansible_host": "a", "ansible_ssh_host": None}, "address", "a"),
    ({"ansible_user": "a", "ansible_ssh_user": None}, "user", "a"),
    ({"ansible_private_key_file": "~/.ssh/k"}, "key_file", "~/.ssh/k"),
])
def test_ansible_aliases_of_a_setting(variables, field, value):
    assert getattr(host_from_vars("web1", variables), field) == value


def test_numbers_read_from_the_inventory_become_text():
    # `ansible_password=1234` in an INI file is the integer 1234; Ansible wants a string.
    host = host_from_vars("web1", {"ansible_password": 1234, "ansible_user": 1000,
                                   "ansible_become_password": 0})
    assert (host.password, host.user, host.become_password) == ("1234", "1000", "0")


@pytest.mark.parametrize("common_args, options", [
    ("-o ProxyJump=jump@bastion:2200", {"proxyjump": "jump@bastion:2200"}),
    ("-o 'ProxyJump jump'", {"proxyjump": "jump"}),
    ("-oProxyJump=jump", {"proxyjump": "jump"}),
    ("-o ProxyJump = jump", {}),   # `-o ProxyJump` alone, which ssh refuses too
    ("-J jump@bastion", {"proxyjump": "jump@bastion"}),
    ("-Jjump", {"proxyjump": "jump"}),
    ("-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes",
     {"userknownhostsfile": "/tmp/kh", "stricthostkeychecking": "yes"}),
    ("-o ProxyJump=first -J second -o proxyjump=third", {"proxyjump": "first"}),
    ("-o 'ProxyCommand=ssh -W %h:%p jump'", {"proxycommand": "ssh -W %h:%p jump"}),
    ("-C -v -o Compression=yes", {"compression": "yes"}),
    ("-o", {}),
    ("", {}),
])
def test_ssh_options_from_common_args(common_args, options):
    assert ssh_options_from(common_args) == options


def test_proxy_jump_and_known_hosts_from_common_args():
    host = host_from_vars("web1", {"ansible_ssh_common_args":
                                   "-o ProxyJump=jump@bastion:2200 -o UserKnownHostsFile=/lab/known_hosts"})
    assert host.proxy_jump == "jump@bastion:2200"
    assert host.ssh_options["userknownhostsfile"] == "/lab/known_hosts"


def test_unbalanced_quotes_in_common_args_name_host_and_variable():
    with pytest.raises(HostVarError, match="host web1: ansible_ssh_common_args: No closing quotation"):
        host_from_vars("web1", {"ansible_ssh_common_args": "-o 'ProxyJump=jump"})


@pytest.mark.parametrize("value", [True, "yes", "Yes ", "on", "1", "y", "t", "TRUE", 1, 1.0])
def test_true_booleans(value):
    assert as_bool("web1", "ansible_become", value) is True
    assert host_from_vars("web1", {"ansible_become": value}).become is True


@pytest.mark.parametrize("value", [False, "no", "NO", "off", "0", "n", "f", "false", 0, 0.0])
def test_false_booleans(value):
    assert as_bool("web1", "ansible_become", value) is False
    assert host_from_vars("web1", {"ansible_become": value}).become is False


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, [True], "yes please"])
def test_a_bad_boolean_names_host_and_variable(value):
    with pytest.raises(HostVarError, match="host web1: ansible_become must be a boolean"):
        host_from_vars("web1", {"ansible_become": value})


@pytest.mark.parametrize("value, port", [("2222", 2222), (2222, 2222), (2222.0, 2222), (65535, 65535), (1, 1)])
def test_ports(value, port):
    assert host_from_vars("web1", {"ansible_port": value}).port == port


@pytest.mark.parametrize("variables, message", [
    ({"ansible_port": "ssh"}, "ansible_port must be a port number, not 'ssh'"),
    ({"ansible_port": 22.5}, "ansible_port must be a port number"),
    ({"ansible_port": True}, "ansible_port must be a port number"),
    ({"ansible_port": [22]}, "ansible_port must be a port number"),
    ({"ansible_port": float("inf")}, "ansible_port must be a port number"),
    ({"ansible_port": 0}, "ansible_port must be between 1 and 65535, not 0"),
    ({"ansible_port": 65536}, "ansible_port must be between 1 and 65535, not 65536"),
    ({"ansible_port": 22, "ansible_ssh_port": "x"}, "ansible_ssh_port must be a port number"),
])
def test_a_bad_port_names_host_and_variable(variables, message):
    with pytest.raises(HostVarError, match="host web1: " + message):
        host_from_vars("web1", variables)
