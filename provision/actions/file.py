"""file: a directory that exists, a path that does not, or an existing file's mode and owner.

    - name: Engine state directory
      action: file
      args: {path: /var/lib/yard, state: directory, mode: "0711"}

state: directory (created with parents), absent (removed, recursively), file (must exist;
only its mode/owner/group are set). Symbolic links are followed.
"""
from provision.actions import ActionError, Arg, Change, Command, Ok, attributes, file_state, quote

ARGS = {
    "path": Arg("path", required=True),
    "state": Arg("str", default="file", choices=("directory", "absent", "file")),
    "mode": Arg("mode"),
    "owner": Arg("str"),
    "group": Arg("str"),
}


def check(args, facts):
    path = quote(args["path"])
    return (
        "if [ -d {p} ]; then echo directory; elif [ -f {p} ]; then echo file;"
        " elif [ -e {p} ] || [ -L {p} ]; then echo other; else echo absent; fi;"
        " if [ -e {p} ]; then stat -L -c '%a %U %G' {p}; fi"
    ).format(p=path)


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
