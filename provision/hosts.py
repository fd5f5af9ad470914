"""Hosts: what the controller needs to reach and drive one inventory host.

The inventory gives variables; this turns a host's merged variables into a `Host`,
reading Ansible's connection variables the way Ansible does: where a setting has several
names, the one listed last by Ansible's ssh connection and sudo become plugins wins
(`ansible_ssh_host` over `ansible_host`), and values are read as those plugins type them.
"""
import re
import shlex
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Host:
    name: str                       # the inventory name
    address: str                    # ansible_host, or the name
    port: int = 22                  # ansible_port
    user: Optional[str] = None      # ansible_user (None: the controller's user)
    password: Optional[str] = field(default=None, repr=False)          # ansible_password
    key_file: Optional[str] = None  # ansible_ssh_private_key_file
    become: bool = False            # ansible_become
    become_user: str = "root"       # ansible_become_user
    become_password: Optional[str] = field(default=None, repr=False)   # ansible_become_password
    proxy_jump: Optional[str] = None  # from ansible_ssh_common_args: -o ProxyJump=[user@]host[:port]
    ssh_options: dict = field(default_factory=dict)  # every -o Key=Value of ansible_ssh_common_args,
                                                     # keys lower-cased (userknownhostsfile, stricthostkeychecking...)
    python: str = "/usr/bin/python3"  # ansible_python_interpreter
    vars: dict = field(default_factory=dict, repr=False)  # every merged variable


class HostVarError(ValueError):
    """A connection variable that cannot be used; the message names host and variable."""


# Ansible's BOOLEANS_TRUE and BOOLEANS_FALSE (module_utils/parsing/convert_bool.py), read strictly.
_TRUE = {"y", "yes", "on", "1", "true", "t"}
_FALSE = {"n", "no", "off", "0", "false", "f"}


def as_bool(host, name, value):
    """Ansible's strict boolean reading of a variable: true/yes/on/y/t/1, false/no/off/n/f/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise HostVarError("host %s: %s must be a boolean, not %r" % (host, name, value))


def _setting(hostvars, *names):
    """(name, value) of the last of `names` that is set and not None, as Ansible picks
    a plugin option from its variables; (None, None) when none is."""
    found = (None, None)
    for name in names:
        if hostvars.get(name) is not None:
            found = (name, hostvars[name])
    return found


def _text(hostvars, *names):
    """A string setting; Ansible turns `ansible_password=1234` (read as a number) into text."""
    value = _setting(hostvars, *names)[1]
    return None if value is None else str(value)


def _port(host, hostvars):
    name, value = _setting(hostvars, "ansible_port", "ansible_ssh_port")
    if value is None:
        return 22
    try:
        port = int(value)
        whole = not isinstance(value, bool) and port == float(value)   # not True, not 22.5
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise HostVarError("host %s: %s must be a port number, not %r" % (host, name, value))
    if not 1 <= port <= 65535:
        raise HostVarError("host %s: %s must be between 1 and 65535, not %d" % (host, name, port))
    return port


def ssh_options_from(common_args):
    """The `-o Key=Value` options of ansible_ssh_common_args, keys lower-cased.

    Accepts `-o Key=Value`, `-o "Key Value"`, `-oKey=Value`, and `-J x` / `-Jx` as ProxyJump.
    As ssh does, the first value given for an option is the one used. Raises ValueError
    for unbalanced quotes.
    """
    options = {}
    words = iter(shlex.split(str(common_args or "")))
    for word in words:
        if word in ("-o", "-J"):
            flag, value = word, next(words, "")
        elif word[:2] in ("-o", "-J"):
            flag, value = word[:2], word[2:]
        else:
            continue
        if flag == "-J":
            options.setdefault("proxyjump", value)
            continue
        match = re.match(r"(\w+)(?:\s*=\s*|\s+)(.+)$", value.strip())
        if match:
            options.setdefault(match.group(1).lower(), match.group(2).strip())
    return options


def host_from_vars(name, hostvars):
    """Build a Host from one host's merged inventory variables."""
    try:
        ssh_options = ssh_options_from(hostvars.get("ansible_ssh_common_args"))
    except ValueError as e:
        raise HostVarError("host %s: ansible_ssh_common_args: %s" % (name, e))
    become = hostvars.get("ansible_become")
    return Host(
        name=name,
        address=_text(hostvars, "ansible_host", "ansible_ssh_host") or name,
        port=_port(name, hostvars),
        user=_text(hostvars, "ansible_user", "ansible_ssh_user"),
        password=_text(hostvars, "ansible_password", "ansible_ssh_pass", "ansible_ssh_password"),
        key_file=_text(hostvars, "ansible_private_key_file", "ansible_ssh_private_key_file"),
        become=False if become is None else as_bool(name, "ansible_become", become),
        become_user=_text(hostvars, "ansible_become_user", "ansible_sudo_user") or "root",
        become_password=_text(hostvars, "ansible_become_password", "ansible_become_pass",
                              "ansible_sudo_pass"),
        proxy_jump=ssh_options.get("proxyjump"),
        ssh_options=ssh_options,
        python=_text(hostvars, "ansible_python_interpreter") or "/usr/bin/python3",
        vars=dict(hostvars),
    )
