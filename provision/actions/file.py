"""file: a directory that exists, a path that does not, or an existing file's mode and owner.

    - name: Engine state directory
      action: file
      args: {path: /var/lib/yard, state: directory, mode: "0711"}

state: directory (created with parents), absent (removed, recursively), file (must exist;
only its mode/owner/group are set). Symbolic links are followed.
"""
from provision import checks
from provision.actions import ActionError, Arg, Change, Command, Ok, Snippet, attributes, file_state, quote

ARGS = {
    "path": Arg("path", required=True),
    "state": Arg("str", default="file", choices=("directory", "absent", "file")),
    "mode": Arg("mode"),
    "owner": Arg("str"),
    "group": Arg("str"),
}


def check(args, facts):
    """The kind of path, then `mode owner group` (from the batch's one stat for every path)."""
    path = quote(args["path"])
    return Snippet((
        "if [ -d {p} ]; then echo directory; elif [ -f {p} ]; then echo file;"
        " elif [ -e {p} ] || [ -L {p} ]; then echo other; else echo absent; fi;"
        " if [ -e {p} ]; then if {attrs}; then set -- $dy_attrs; echo \"$1 $2 $3\"; else stat -L -c '%a %U %G' {p}; fi; fi"
    ).format(p=path, attrs=checks.stat_lookup(args["path"])), stats=[args["path"]])


def plan(args, facts, observed):
    path, wanted = args["path"], args["state"]
    lines = observed.out.splitlines()
    kind = lines[0] if lines else "absent"
    if wanted == "absent":
        if kind == "absent":
            return Ok("%s is absent" % path)
        return Change("%s exists (%s)" % (path, kind), (Command("rm -rf -- %s" % quote(path)),))
    if kind == "absent":
        if wanted == "file":
            raise ActionError("%s does not exist (state: file only sets an existing file's mode and owner)" % path)
        _, commands = attributes(path, args, (None, None, None))
        return Change("%s is absent" % path, (Command("mkdir -p -- %s" % quote(path)),) + tuple(commands))
    if kind != wanted:
        raise ActionError("%s is a %s, not a %s" % (path, kind if kind != "other" else "special file", wanted))
    reasons, commands = attributes(path, args, file_state(lines[1]))
    if not commands:
        return Ok("%s is a %s as wanted" % (path, wanted))
    return Change("; ".join(reasons), tuple(commands))
