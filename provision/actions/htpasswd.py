"""htpasswd: a registry's htpasswd file holding exactly the given users, with bcrypt hashes.

    - name: Registry users
      action: htpasswd
      args: {path: /etc/dockyard/registry.htpasswd, users: {alice: secret}, group: docker-registry}

The host's file is read back and each password checked against its hash on the controller
(bcrypt, the only scheme the CNCF registry accepts): a user whose password still matches
keeps their hash, so a second run changes nothing. Passwords never appear in a command line,
a reason or a diff. The file is data made from the users (no template can hash a password).
"""
import base64

import bcrypt

from provision.actions import ActionError, Arg, Change, Command, Ok, Upload, attributes, file_state, quote

ARGS = {
    "path": Arg("path", required=True),
    "users": Arg("dict", required=True),
    "owner": Arg("str", default="root"),
    "group": Arg("str", default="root"),
    "mode": Arg("mode", default="0640"),
}


def prepare(args, ctx):
    for user, password in args["users"].items():
        if not isinstance(user, str) or not user or ":" in user or "\n" in user:
            raise ActionError("variable registry_auth_users: %r is not a user name (no ':' or newline)" % (user,))
        if not isinstance(password, str) or not password:
            raise ActionError("variable registry_auth_users: %s: the password must be a non-empty string" % user)
    return args


def check(args, facts):
    return ("if [ -f {p} ]; then stat -L -c '%a %U %G' {p}; base64 < {p}; else echo absent; fi"
            .format(p=quote(args["path"])))


def plan(args, facts, observed):
    path, users = args["path"], args["users"]
    lines = observed.out.splitlines()
    if not lines or lines[0] == "absent":
        current, state = {}, None
    else:
        state = file_state(lines[0])
        current = parse(base64.b64decode("".join(lines[1:])).decode(errors="replace"))
    kept = {user: current[user] for user in users if user in current and matches(users[user], current[user])}
    if state and set(current) == set(users) and kept.keys() == users.keys():
        reasons, commands = attributes(path, args, state)
        if not commands:
            return Ok("%s holds %s" % (path, ", ".join(sorted(users))))
        return Change("; ".join(reasons), tuple(commands))
    hashes = {user: kept.get(user) or bcrypt.hashpw(users[user].encode(), bcrypt.gensalt()).decode()
              for user in sorted(users)}
    content = "".join("%s:%s\n" % item for item in hashes.items())
    changed = sorted(set(users) - set(kept)) + sorted(set(current) - set(users))
    directory = path.rsplit("/", 1)[0] or "/"
    return Change("%s: users to set or remove: %s" % (path, ", ".join(changed)), (
        Command("mkdir -p %s" % quote(directory)),
        Upload(content.encode(), path, mode=args["mode"], owner=args["owner"], group=args["group"]),
    ))


def parse(text):
    """{user: hash} of an htpasswd file."""
    entries = {}
    for line in text.splitlines():
        user, sep, hashed = line.strip().partition(":")
        if sep:
            entries[user] = hashed
    return entries


def matches(password, hashed):
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:   # not a bcrypt hash: replace it
        return False
