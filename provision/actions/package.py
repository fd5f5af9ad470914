"""package: packages installed (or removed) with the host's package manager.

    - name: What the engine needs
      action: package
      args: {name: [iptables, iproute2, tar], update_cache: true}

The manager is the `pkg_mgr` fact (apt, dnf or yum). Which packages are installed is read
with `rpm -q --whatprovides` (so EL capability names such as python3 work) or dpkg-query,
whose Provides fields count too: a Debian virtual name (awk) is present when an installed
package (mawk) provides it, as apt-get sees it. Removing only ever names real packages.
update_cache refreshes the package lists first, only when something is installed.
"""
from provision.actions import ActionError, Arg, Change, Command, Ok, quote

ARGS = {
    "name": Arg("list", required=True),
    "state": Arg("str", default="present", choices=("present", "absent")),
    "update_cache": Arg("bool", default=False),
}

# sh printing which of its arguments ("$@") are installed, one a line; a Debian name only
# provided by another package as "<name> virtual". One dpkg-query for them all (each process
# costs a small host ~7 ms); a multi-arch package answers to both iptables and libc6:amd64.
_RPM_INSTALLED = 'for p; do if rpm -q --whatprovides "$p" >/dev/null 2>&1; then echo "$p"; fi; done'
_DPKG_INSTALLED = (
    "dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${binary:Package}|${Provides}\\n' 2>/dev/null | "
    "awk -F'|' -v names=\"$*\" '"
    "$1 ~ /^.i/ { real[$2] = 1; real[$3] = 1; n = split($4, provides, \", *\");"
    " for (i = 1; i <= n; i++) { split(provides[i], word, \" \"); provided[word[1]] = 1 } }"
    " END { n = split(names, wanted, \" \"); for (i = 1; i <= n; i++)"
    " if (wanted[i] in real) print wanted[i]; else if (wanted[i] in provided) print wanted[i], \"virtual\" }'")
_INSTALLED = {"apt": _DPKG_INSTALLED, "dnf": _RPM_INSTALLED, "yum": _RPM_INSTALLED}
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
    return "set -- %s\n%s" % (names, _INSTALLED[_manager(facts)])


def plan(args, facts, observed):
    manager = _manager(facts)
    names = [str(name) for name in args["name"]]
    lines = [line.split() for line in observed.out.splitlines() if line.strip()]
    provided = {fields[0] for fields in lines}
    installed = {fields[0] for fields in lines if fields[1:] != ["virtual"]}
    if args["state"] == "present":
        missing = [name for name in names if name not in provided]
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
