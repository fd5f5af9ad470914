"""package: packages installed (or removed) with the host's package manager.

    - name: What the engine needs
      action: package
      args: {name: [iptables, iproute2, tar], update_cache: true}

The manager is the `pkg_mgr` fact (apt, dnf or yum). Which packages are installed is read
with dpkg-query or `rpm -q --whatprovides` (so EL capability names such as python3 work).
On Debian, name real packages, not virtual ones: dpkg-query never shows a virtual package
as installed. update_cache refreshes the package lists first, only when something is installed.
"""
from provision.actions import ActionError, Arg, Change, Command, Ok, quote

ARGS = {
    "name": Arg("list", required=True),
    "state": Arg("str", default="present", choices=("present", "absent")),
    "update_cache": Arg("bool", default=False),
}

_INSTALLED = {
    "apt": "dpkg-query -W -f='${Status}\\n' \"$p\" 2>/dev/null | grep -q ' installed$'",
    "dnf": "rpm -q --whatprovides \"$p\" >/dev/null 2>&1",
    "yum": "rpm -q --whatprovides \"$p\" >/dev/null 2>&1",
}
_INSTALL = {
    "apt": "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends",
    "dnf": "dnf install -y -q",
    "yum": "yum install -y -q",
}
_REMOVE = {
    "apt": "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q",
    "dnf": "dnf remove -y -q",
    "yum": "yum remove -y -q",
}
_UPDATE = {"apt": "apt-get update -q", "dnf": "dnf makecache -q", "yum": "yum makecache -q"}


def _manager(facts):
    manager = facts.get("pkg_mgr")
    if manager not in _INSTALL:
        raise ActionError("no supported package manager on this host (pkg_mgr fact: %s)" % manager)
    return manager


def check(args, facts):
    names = " ".join(quote(str(name)) for name in args["name"])
    return "for p in %s; do if %s; then echo \"$p\"; fi; done" % (names, _INSTALLED[_manager(facts)])


def plan(args, facts, observed):
    manager = _manager(facts)
    names = [str(name) for name in args["name"]]
    installed = set(observed.out.split())
    if args["state"] == "present":
        missing = [name for name in names if name not in installed]
        if not missing:
            return Ok("installed: %s" % ", ".join(names))
        commands = [Command(_UPDATE[manager])] if args["update_cache"] else []
        commands.append(Command("%s %s" % (_INSTALL[manager], " ".join(map(quote, missing)))))
        return Change("not installed: %s" % ", ".join(missing), tuple(commands))
    present = [name for name in names if name in installed]
    if not present:
        return Ok("not installed: %s" % ", ".join(names))
    return Change("installed: %s" % ", ".join(present),
                  (Command("%s %s" % (_REMOVE[manager], " ".join(map(quote, present)))),))
