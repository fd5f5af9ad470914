"""template: render a file from templates/ and put it on the host.

    - name: Daemon configuration
      action: template
      args: {src: yard/daemon.json.j2, dest: /etc/yard/daemon.json, mode: "0644", backup: true}

src is rendered on the controller with the host's variables and facts. The file is uploaded
only when its checksum differs, then mode/owner/group are set (those not given keep the
replaced file's). backup keeps the replaced file as DEST.YYYYmmddHHMMSS~. --diff shows a
unified diff (files over 64 KiB: only their checksums).
"""
import base64
import difflib
import hashlib

from provision import checks
from provision.actions import (ActionError, Arg, Change, Command, Ok, Snippet, Upload, attributes,
                               file_state, quote)

ARGS = {
    "src": Arg("str", required=True),
    "dest": Arg("path", required=True),
    "mode": Arg("mode"),
    "owner": Arg("str"),
    "group": Arg("str"),
    "backup": Arg("bool", default=False),
}

DIFF_LIMIT = 64 * 1024   # the check sends a file's content back only below this size


def prepare(args, ctx):
    return {**args, "content": ctx.render_template(args["src"])}


def check(args, facts):
    """`mode owner group size`, then `sha256 <digest>` when the file holds the content already,
    else its content in base64, or its sha256 when it is too large. The attributes and the
    digest come from the batch's one stat and one sha256sum for every file, so a file that
    is up to date costs no process of its own."""
    dest, sha = args["dest"], _sha(args["content"].encode())
    return Snippet((
        "if [ -f {d} ]; then"
        " if {attrs}; then set -- $dy_attrs; else set -- $(stat -L -c '%a %U %G %s' {d}); fi; echo \"$*\";"
        " if {same}; then echo sha256 {sha};"
        " elif [ \"$4\" -le {limit} ]; then base64 < {d}; else sha256sum < {d}; fi;"
        " elif [ -e {d} ]; then echo notfile; else echo absent; fi"
    ).format(d=quote(dest), limit=DIFF_LIMIT, sha=sha, attrs=checks.stat_lookup(dest),
             same=checks.sum_is(dest, sha)), stats=[dest], sums=[dest])


def plan(args, facts, observed):
    dest = args["dest"]
    new = args["content"].encode()
    lines = observed.out.splitlines()
    state = lines[0] if lines else "absent"
    if state == "notfile":
        raise ActionError("%s exists and is not a regular file" % dest)
    if state == "absent":
        upload = Upload(new, dest, mode=args["mode"] or "0644", owner=args["owner"], group=args["group"])
        return Change("%s is absent" % dest, (upload,), diff=_diff(dest, b"", new))

    attributes_line, _, size = state.rpartition(" ")
    mode, owner, group = file_state(attributes_line)
    if lines[1:2] and lines[1].startswith("sha256 "):
        old = None   # the same content: nothing to show
        remote_sha = lines[1].split()[1]
    elif int(size) <= DIFF_LIMIT:
        old = base64.b64decode("".join(lines[1:]))
        remote_sha = _sha(old)
    else:
        old = None   # too large for the check to send back
        remote_sha = lines[1].split()[0]
    if remote_sha == _sha(new):
        reasons, commands = attributes(dest, args, (mode, owner, group))
        if not commands:
            return Ok("%s is up to date" % dest)
        return Change("; ".join(reasons), tuple(commands))

    ops = []
    if args["backup"]:
        ops.append(Command('cp -p {d} "{d}.$(date +%Y%m%d%H%M%S)~"'.format(d=quote(dest))))
    ops.append(Upload(new, dest, mode=args["mode"] or mode, owner=args["owner"] or owner,
                      group=args["group"] or group, remote_sha256=remote_sha))
    return Change("%s content differs" % dest, tuple(ops), diff=_diff(dest, old, new))


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _diff(dest, old, new):
    if old is None or len(new) > DIFF_LIMIT:
        return "--- %s\n+++ %s\n(too large to show: sha256 %s)\n" % (dest, dest, _sha(new))
    try:
        before, after = old.decode(), new.decode()
    except UnicodeDecodeError:
        return "--- %s\n+++ %s\n(binary content differs)\n" % (dest, dest)
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                 "%s (before)" % dest, "%s (after)" % dest)
    # A last line without its newline would run into the next one.
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)
