"""Resolve a docker `--user` value against the container's own /etc/passwd and /etc/group.

Call it after pivot_root, so the files read are the image's and never the host's.
"""
import collections

User = collections.namedtuple("User", "uid gid groups home")


def _entries(path):
    """The colon-separated fields of each line of a passwd/group style file ([] if absent)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n").split(":") for line in handle
                    if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        return []


def _find(entries, wanted, kind, filename):
    """The entry whose name (or numeric id) is `wanted`, None for an unknown number."""
    for entry in entries:
        if len(entry) >= 3 and (entry[0] == wanted or (wanted.isdigit() and entry[2] == wanted)):
            return entry
    if wanted.isdigit():
        return None
    raise LookupError("unable to find %s %s: no matching entries in %s file" % (kind, wanted, filename))


def resolve(spec_user, passwd="/etc/passwd", group="/etc/group"):
    """"" | "uid" | "uid:gid" | "name" | "name:group" -> User(uid, gid, groups, home).

    Like docker: a numeric user need not exist (gid 0, home /); a name must; a user found in
    passwd also gets the supplementary groups that list it.
    """
    name, _, group_name = (spec_user or "0").partition(":")
    entry = _find(_entries(passwd), name, "user", "passwd")
    uid = int(entry[2]) if entry else int(name)
    gid = int(entry[3]) if entry and len(entry) > 3 and entry[3].isdigit() else 0
    home = entry[5] if entry and len(entry) > 5 and entry[5] else "/"
    groups = _entries(group)
    if group_name:
        found = _find(groups, group_name, "group", "group")
        gid = int(found[2]) if found else int(group_name)
    supplementary = []
    if entry:
        supplementary = [int(g[2]) for g in groups
                         if len(g) > 3 and entry[0] in g[3].split(",") and g[2].isdigit()]
    return User(uid, gid, sorted(set([gid] + supplementary)), home)
