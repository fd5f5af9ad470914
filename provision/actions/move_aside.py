"""move_aside: files that Dockyard replaces (repository files) renamed to <file>.dockyard-bak.

    - name: Keep the distribution's repository files aside
      action: move_aside
      args: {dir: /etc/yum.repos.d, names: [CentOS-Base.repo]}

A file that is absent, or that Dockyard wrote itself (it holds `marker`), is left alone, so a
second run changes nothing. A backup is never overwritten: when <file>.dockyard-bak exists
already (the package manager brought the file back), the new one gets a timestamp after it.
Package managers ignore these names (apt warns about them and reads on).
"""
from provision.actions import Arg, Change, Command, Ok, quote

ARGS = {
    "dir": Arg("path", required=True),
    "names": Arg("list", required=True),   # file names (or relative paths) under dir
    "marker": Arg("str", default="Managed by Dockyard"),
}

SUFFIX = ".dockyard-bak"


def check(args, facts):
    # One line per file to move: "<yes or no: its backup exists already> <path>".
    lines = []
    for path in paths(args):
        p = quote(path)
        lines.append("if [ -f {p} ] && ! grep -qF {m} {p}; then"
                     " if [ -e {b} ]; then echo yes {p}; else echo no {p}; fi; fi"
                     .format(p=p, m=quote(args["marker"]), b=quote(path + SUFFIX)))
    return "\n".join(lines) or None


def paths(args):
    return ["%s/%s" % (args["dir"].rstrip("/"), name) for name in args["names"]]


def plan(args, facts, observed):
    found = [line.split(" ", 1) for line in observed.out.splitlines() if " " in line]
    if not found:
        return Ok("nothing to move aside")
    commands = []
    for backup_exists, path in found:
        if backup_exists == "yes":
            target = quote(path + SUFFIX) + '"$(date +.%Y%m%d%H%M%S)"'
        else:
            target = quote(path + SUFFIX)
        commands.append(Command("mv -- %s %s" % (quote(path), target)))
    return Change("moved aside: %s" % ", ".join(path for _, path in found), tuple(commands))
