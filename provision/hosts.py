"""Hosts: what the controller needs to reach and drive one inventory host.

The inventory gives variables; this turns a host's merged variables into a `Host`,
reading Ansible's connection variables the way Ansible does.
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


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def as_bool(host, name, value):
    """Ansible's boolean reading of a variable (true/yes/on/1, false/no/off/0)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise HostVarError("host %s: %s must be a boolean, not %r" % (host, name, value))


def ssh_options_from(common_args):
    """The `-o Key=Value` options of ansible_ssh_common_args, keys lower-cased.

    Accepts `-o Key=Value`, `-o "Key Value"`, `-oKey=Value`, and `-J x` as ProxyJump.
    """
    options = {}
    words = shlex.split(str(common_args or ""))
    for i, word in enumerate(words):
        option = None
        if word == "-o" and i + 1 < len(words):
            option = words[i + 1]
        elif word.startswith("-o") and len(word) > 2:
            option = word[2:]
        elif word == "-J" and i + 1 < len(words):
            options["proxyjump"] = words[i + 1]
        if option:
            match = re.match(r"(\w+)(?:\s*=\s*|\s+)(.+)$", option.strip())
            if match:
                options[match.group(1).lower()] = match.group(2).strip()
    return options


def host_from_vars(name, hostvars):
    """Build a Host from one host's merged inventory variables."""
    port = hostvars.get("ansible_port", hostvars.get("ansible_ssh_port", 22))
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise HostVarError("host %s: ansible_port must be a number, not %r" % (name, port))
    ssh_options = ssh_options_from(hostvars.get("ansible_ssh_common_args"))
    return Host(
        name=name,
        address=str(hostvars.get("ansible_host", hostvars.get("ansible_ssh_host", name))),
        port=port,
        user=hostvars.get("ansible_user", hostvars.get("ansible_ssh_user")),
        password=hostvars.get("ansible_password", hostvars.get("ansible_ssh_pass")),
        key_file=hostvars.get("ansible_ssh_private_key_file"),
        become=as_bool(name, "ansible_become", hostvars.get("ansible_become", False)),
        become_user=str(hostvars.get("ansible_become_user", "root")),
        become_password=hostvars.get("ansible_become_password", hostvars.get("ansible_become_pass")),
        proxy_jump=ssh_options.get("proxyjump"),
        ssh_options=ssh_options,
        python=str(hostvars.get("ansible_python_interpreter", "/usr/bin/python3")),
        vars=dict(hostvars),
    )
