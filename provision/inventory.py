"""Ansible INI inventories, read exactly as ansible-core's `ini` inventory plugin reads them.

    load(path) -> Inventory        every error is InventoryError("FILE:LINE: message")
    hosts_for(inventory, limit)    the selected hosts as provision.hosts.Host
    main_inventory(args)           `provision inventory FILE [--list | --host H]`

ansible-core is only a test dependency: this is our own reader, matched against
ansible-core 2.19 on purpose (tests/unit/test_inventory_parity.py). The quirks kept:

- Lines are stripped; a line starting with `#` or `;` is a comment. Host lines are split
  like a shell (shlex, `#` starts a comment anywhere); `[g:vars]` lines are `key = rest`.
- Every value, inline or in `[g:vars]`, goes through ast.literal_eval; what it cannot read
  stays a string. Tuples and sets become lists, complex numbers and `...` strings.
- `[g]` and `[g:children]` declare a group; `[g:vars]` and a `[p:children]` entry may name
  a group declared further down, but one declared nowhere is an error. Group names are
  kept as written, `-` and all (ansible's TRANSFORM_INVALID_GROUP_CHARS defaults to `never`).
- Every group without a parent is a child of `all`; a host in no group but `all` is in
  `ungrouped`, and leaves `ungrouped` when it is also in another group.
- A host's variables: `all`, then its groups by (depth, ansible_group_priority, name),
  then the host's own. Depth is the longest path from `all`. Values replace, never merge.
- `host:port` sets ansible_port only where the host is first defined.
- Host order is ansible's: the hosts of `all`'s children, then of their children, level by
  level. (Ansible walks levels below the first in set order; we walk them in file order.)
- --limit: `,` separates patterns; without a comma, `:` does, unless the whole limit is one
  address (so `fe80::1` stays whole and `fe80::*` does not). Matching is on groups first,
  then on host names for globs, regexes and names that match no group.

Where we differ on purpose: a limit naming no host is an error (ansible warns and goes on,
and makes up an implicit `localhost`); host_vars/ and group_vars/ directories are not read;
a bytes literal (b'x') is the string 'x' (ansible marks it untrusted, and --list shows
{"__ansible_unsafe": "x"}).
"""
import ast
import copy
import fnmatch
import functools
import json
import re
import shlex
import string
import sys
import warnings

from provision.hosts import HostVarError, host_from_vars


class InventoryError(ValueError):
    """An inventory that cannot be read or used; the message names file and line."""


# ---------------------------------------------------------------------------------------------
# Host patterns: `name[01:20:5].lab:2222`, `[2001:db8::1]:2200` (ansible/parsing/utils/addresses.py)

_NUMERIC_RANGE = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_HEX_RANGE = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_IPV4_PART = r"(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|%s)" % _NUMERIC_RANGE
_IPV6_PART = r"(?:[0-9a-f]{1,4}|%s)" % _HEX_RANGE
_LABEL = r"(?:\w|{r})(?:[\w_-]|{r})*(?<![_-])".format(r=_ALNUM_RANGE)

_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4 = re.compile(r"^(?:{0}\.){{3}}{0}$".format(_IPV4_PART), re.I)
# Compiled when first needed (an IPv6 address, or a name that is nothing else): compiling it
# costs every run ~6 ms, and most inventories name hosts or give IPv4 addresses.
_IPV6 = r"""^(
    (?:{0}:){{7}}{0}|
    (?:{0}:){{1,6}}:|
    (?:{0}:)(?::{0}){{1,6}}|
    (?:{0}:){{2}}(?::{0}){{1,5}}|
    (?:{0}:){{3}}(?::{0}){{1,4}}|
    (?:{0}:){{4}}(?::{0}){{1,3}}|
    (?:{0}:){{5}}(?::{0}){{1,2}}|
    (?:{0}:){{6}}(?::{0})|
    :(?::{0}){{1,6}}|
    {0}?::|
    (?:0:){{6}}(?:{0}\.){{3}}{0}|
    ::(?:ffff:)?(?:{0}\.){{3}}{0}|
    (?:0:){{5}}ffff:(?:{0}\.){{3}}{0}
    )$""".format(_IPV6_PART)
_HOSTNAME = re.compile(r"^{0}(?:\.{0})*$".format(_LABEL), re.I)


@functools.cache
def _ipv6():
    return re.compile(_IPV6, re.X | re.I)


def parse_address(text):
    """(host, port or None) of a host, IPv4 or IPv6 address with optional ranges and port.

    Raises ValueError for anything else. Like ansible, a bracketed address has its port
    taken off first and is then tried once more as `host:port`.
    """
    port = None
    for pattern in (_BRACKETED_HOSTPORT, _HOSTPORT):
        match = pattern.match(text)
        if match:
            text, port = match.group(1), int(match.group(2))
    if not (_HOSTNAME.match(text) or _IPV4.match(text) or _ipv6().match(text)):
        raise ValueError("not a valid network hostname: %s" % text)
    return text, port


def expand_ranges(pattern):
    """Every name of `web[01:03]-[a:c]`: ranges left to right, `[begin:end:step]`.

    Zero-padded begins pad every number; letters run through a-z then A-Z. Raises ValueError.
    """
    if "[" not in pattern:
        return [pattern]
    if "]" not in pattern.split("[", 1)[1]:
        raise ValueError("'[' without a closing ']'")
    head, bounds, tail = pattern.replace("[", "|", 1).replace("]", "|", 1).split("|")
    bounds = bounds.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError("host range must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    step = int(bounds[2]) if len(bounds) == 3 else 1
    if not end:
        raise ValueError("host range must specify end value")
    width = 0
    if begin[0] == "0" and len(begin) > 1:
        if len(begin) != len(end):
            raise ValueError("host range must specify equal-length begin and end formats")
        width = len(begin)
    if begin in string.ascii_letters and end in string.ascii_letters:
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if first > last:
            raise ValueError("host range must have begin <= end")
        sequence = list(string.ascii_letters[first:last + 1:step])
    else:
        sequence = range(int(begin), int(end) + 1, step)
    names = []
    for item in sequence:
        names.extend(expand_ranges(head + str(item).zfill(width) + tail))
    return names


# ---------------------------------------------------------------------------------------------
# Values

def parse_value(text):
    """A value as ansible types it: a Python literal if ast.literal_eval reads one, else the text.

    Raises TypeError or RecursionError, as ansible fails, for literals it cannot build
    (`{[1]: 2}`, very deep nesting).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return _plain(value)


def _plain(value):
    """Only what JSON and YAML hold: tuples and sets become lists, bytes text, and
    complex numbers and Ellipsis their source text."""
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


# ---------------------------------------------------------------------------------------------
# The inventory

class Group:
    def __init__(self, name):
        self.name = name
        self.hosts = []        # names of the hosts declared in it, first declaration order
        self.children = []     # names of child groups, in the order they were added
        self.parents = []
        self.vars = {}
        self.priority = 1      # ansible_group_priority


class Inventory:
    def __init__(self, path):
        self.path = path
        self.groups = {}       # name -> Group, in declaration order
        self.own_vars = {}     # host name -> its own variables, in first-definition order
        self.member_of = {}    # host name -> names of the groups that list it
        self.hosts = []        # host names in ansible's inventory order (set by _reconcile)
        self._depth = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    def add_group(self, name):
        self.groups.setdefault(name, Group(name))

    def add_host(self, name, group, port):
        if name not in self.own_vars:
            self.own_vars[name] = {"ansible_port": port} if port else {}
            self.member_of[name] = []
        if name not in self.groups[group].hosts:
            self.groups[group].hosts.append(name)
            self.member_of[name].append(group)

    def add_child(self, parent, child):
        """Raises ValueError for an edge that would make a loop."""
        if parent == child:
            raise ValueError("group %r cannot be a child of itself" % child)
        if child in self.ancestors(parent):
            raise ValueError("group %r as a child of %r makes a loop" % (child, parent))
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            self.groups[child].parents.append(parent)

    def ancestors(self, group):
        found, todo = set(), list(self.groups[group].parents)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].parents)
        return found

    def _reconcile(self):
        """What ansible does once every source is read: orphan groups go under `all`, hosts
        with no group of their own into `ungrouped`, and out of it when they have one."""
        for name in list(self.groups):
            if name != "all" and not self.groups[name].parents:
                self.add_child("all", name)
        ungrouped = self.groups["ungrouped"].hosts
        for host in self.own_vars:
            groups = self._groups_with_ancestors(host)
            if "ungrouped" in groups:
                if groups - {"all", "ungrouped"} and host in ungrouped:
                    ungrouped.remove(host)
                    self.member_of[host].remove("ungrouped")
            elif groups <= {"all"}:
                ungrouped.append(host)
                self.member_of[host].append("ungrouped")
        self.hosts = self.group_hosts("all")

    def _groups_with_ancestors(self, host):
        groups = set()
        for group in self.member_of[host]:
            groups |= {group} | self.ancestors(group)
        return groups

    def depth(self, group):
        """The longest path from `all`: what ansible's incremental Group.depth settles on."""
        if group not in self._depth:
            parents = self.groups[group].parents
            self._depth[group] = 1 + max(self.depth(p) for p in parents) if parents else 0
        return self._depth[group]

    def group_hosts(self, group):
        """The hosts of a group and its descendants: its own, then its children's, then
        their children's, each host once (ansible's Group.get_hosts, and `groups[name]`)."""
        order = [group] + self.groups[group].children
        level, seen = list(order), set()
        while level:
            seen.update(level)
            below = []
            for name in level:
                below += [c for c in self.groups[name].children if c not in seen and c not in below]
            order += below
            level = below
        return list(dict.fromkeys(h for name in order for h in self.groups[name].hosts))

    def _check_host(self, name):
        if name not in self.own_vars:
            raise InventoryError("%s: no host named %r" % (self.path, name))

    def groups_of(self, name):
        """The host's groups and their ancestors, sorted, without `all` (ansible's group_names)."""
        self._check_host(name)
        return sorted(self._groups_with_ancestors(name) - {"all"})

    def hostvars(self, name):
        """The host's variables as ansible-inventory --host prints them."""
        self._check_host(name)
        groups = [self.groups[g] for g in self._groups_with_ancestors(name) - {"all"}]
        groups.sort(key=lambda g: (self.depth(g.name), g.priority, g.name))
        merged = dict(self.groups["all"].vars)
        for group in groups:
            merged.update(group.vars)
        merged.update(self.own_vars[name])
        return copy.deepcopy(merged)

    def select(self, limit=None):
        """Host names matched by an ansible --limit, in inventory order (all of them for None)."""
        patterns = split_host_pattern(limit or "")
        if not patterns:
            return list(self.hosts)
        regular = [p for p in patterns if p[0] not in "&!"] or ["all"]
        chosen = set()
        for pattern in regular:
            chosen |= {pattern} if pattern in self.own_vars else set(self._match(limit, pattern))
        for pattern in patterns:
            if pattern[0] == "&":
                chosen &= set(self._match(limit, pattern[1:]))
        for pattern in patterns:
            if pattern[0] == "!":
                chosen -= set(self._match(limit, pattern[1:]))
        selected = [h for h in self.hosts if h in chosen]
        if not selected:
            raise InventoryError("%s: --limit %r selects no host" % (self.path, limit))
        return selected

    def _match(self, limit, pattern):
        """Hosts of one pattern: groups it names (with their descendants' hosts), or hosts it
        names; a `[i]` or `[i:j]` subscript then picks some of them."""
        if not pattern:
            raise InventoryError("%s: --limit %r: empty pattern" % (self.path, limit))
        expression, subscript = _split_subscript(pattern)
        try:
            regex = re.compile(expression[1:] if expression[0] == "~" else fnmatch.translate(expression))
        except re.error as e:
            raise InventoryError("%s: --limit %r: invalid pattern %r: %s" % (self.path, limit, pattern, e))
        groups = [g for g in self.groups if regex.match(g)]
        hosts = [h for g in groups for h in self.group_hosts(g)]
        if not groups or expression[0] == "~" or any(c in expression for c in ".?*["):
            hosts += [h for h in self.own_vars if regex.match(h)]
        if not hosts and not groups and expression != "all":
            raise InventoryError("%s: --limit %r: pattern %r matches no host or group"
                                 % (self.path, limit, expression))
        if not hosts or not subscript:
            return hosts
        start, end = subscript
        if end:     # ansible's quirk: an end of 0 ([2:0]) picks the start host alone
            return hosts[start:(len(hosts) - 1 if end == -1 else end) + 1]
        if not -len(hosts) <= start < len(hosts):
            raise InventoryError("%s: --limit %r: no host at %r" % (self.path, limit, pattern))
        return [hosts[start]]

    def to_list_json(self, limit=None):
        """The inventory in the shape of `ansible-inventory --list [--limit LIMIT]`."""
        available = set(self.select(limit))
        listed = {}

        def add(group):
            entry = {}
            if group.name != "all":
                entry["hosts"] = [h for h in group.hosts if h in available]
            entry["children"] = list(group.children)
            listed[group.name] = {key: value for key, value in entry.items() if value}
            for child in group.children:
                if child not in listed:
                    add(self.groups[child])
            if not listed[group.name]:
                del listed[group.name]

        add(self.groups["all"])
        hostvars = {h: self.hostvars(h) for h in self.hosts if h in available}
        listed["_meta"] = {
            "hostvars": {host: values for host, values in hostvars.items() if values},
            "profile": "inventory_legacy",   # ansible-core 2.19's name for plain JSON values
        }
        return listed


# A limit pattern ending in a subscript: `web[0]`, `web[-1]`, `web[1:3]`, `web[2:]`.
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")


def _split_subscript(pattern):
    """(pattern, (start, end)) for `web[1:3]`, (pattern, (i, None)) for `web[i]`; an open
    end is -1. A regex (`~...`) never has one."""
    match = _SUBSCRIPT.match(pattern) if pattern[0] != "~" else None
    if not match:
        return pattern, None
    expression, index, start, _, end = match.groups()
    return expression, (int(index), None) if index else (int(start), int(end or -1))


def split_host_pattern(text):
    """`a,b` or `a:b:&c:!d` into single patterns; a lone IPv6 address or range stays whole."""
    if "," in text:
        patterns = text.split(",")
    else:
        try:
            parse_address(text)
            patterns = [text]
        except ValueError:
            patterns = re.findall(r"(?:[^\s:\[\]]|\[[^\]]*\])+", text)
    return [p.strip() for p in patterns if p.strip()]


# ---------------------------------------------------------------------------------------------
# The reader

# `[name]`, `[name:vars]`, `[name:children]`, with an optional trailing `# comment`.
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


class _Reader:
    def __init__(self, path):
        self.path = path
        self.line = 0
        self.inventory = Inventory(path)
        # Groups named before they are declared: name -> line, state, parents.
        self.pending = {}

    def error(self, message, line=None):
        return InventoryError("%s:%d: %s" % (self.path, line or self.line, message))

    def read(self, lines):
        group, state = "ungrouped", "hosts"
        for self.line, text in enumerate(lines, 1):
            text = text.strip()
            if not text or text[0] in "#;":
                continue
            section = _SECTION.match(text)
            if section:
                group, state = self.section(section)
            elif text.startswith("[") and text.endswith("]"):
                raise self.error("invalid section %s: a section is [group], [group:vars] or "
                                 "[group:children], with no spaces" % text)
            elif state == "hosts":
                self.host_line(group, text)
            elif state == "vars":
                self.vars_line(group, text)
            else:
                self.child_line(group, text)
        self.check_pending()
        self.inventory._reconcile()
        return self.inventory

    def section(self, match):
        name, state = match.group(1), match.group(2) or "hosts"
        if state not in ("hosts", "vars", "children"):
            raise self.error("section [%s:%s] has unknown type %r (vars or children)"
                             % (name, state, state))
        if name not in self.inventory.groups:
            if state == "vars" and name not in self.pending:
                self.pending[name] = {"line": self.line, "state": "vars"}
            self.inventory.add_group(name)
        if name in self.pending and state != "vars":
            declaration = self.pending.pop(name)
            for parent in declaration.get("parents", []):
                self.add_child(parent, name)
        return name, state

    def host_line(self, group, text):
        try:
            words = shlex.split(text, comments=True)
        except ValueError as e:
            raise self.error("cannot split host line %r: %s" % (text, e))
        names, port = self.expand(words[0])
        variables = {}
        for word in words[1:]:
            if "=" not in word:
                raise self.error("expected key=value after the host, got %r" % word)
            key, value = word.split("=", 1)
            variables[key] = self.value(value)
        for name in names:
            if not name:
                raise self.error("empty host name")
            self.inventory.add_host(name, group, port)
            self.inventory.own_vars[name].update(variables)

    def expand(self, word):
        try:
            pattern, port = parse_address(word)
        except ValueError:
            pattern, port = word, None
        if word.strip().endswith(":") and port is None:
            raise self.error("host %r ends in ':', which is kept for a port number" % word)
        try:
            names = expand_ranges(pattern)
        except ValueError as e:
            raise self.error("bad host range in %r: %s" % (word, e))
        if any(name.strip() == "---" for name in names):
            raise self.error("host '---' is a sign this is a YAML file, not INI")
        return names, port

    def vars_line(self, group, text):
        if "=" not in text:
            raise self.error("expected key=value in [%s:vars], got %r" % (group, text))
        key, value = (part.strip() for part in text.split("=", 1))
        value = self.value(value)
        if key != "ansible_group_priority":
            self.inventory.groups[group].vars[key] = value
            return
        try:
            self.inventory.groups[group].priority = int(value)
        except (TypeError, ValueError):
            raise self.error("ansible_group_priority must be a number, not %r" % (value,))

    def value(self, text):
        try:
            return parse_value(text)
        except (TypeError, RecursionError) as e:
            raise self.error("cannot read value %r: %s" % (text, e))

    def child_line(self, group, text):
        match = _GROUP_NAME.match(text)
        if not match:
            raise self.error("expected a group name in [%s:children], got %r" % (group, text))
        child = match.group(1)
        if child == "all":
            # Ansible fails later, when it puts the parent under `all`: the same loop.
            raise self.error("group 'all' cannot be a child of %r" % group)
        if child in self.inventory.groups:
            self.add_child(group, child)
        else:
            declaration = self.pending.setdefault(child, {"line": self.line, "state": "children",
                                                          "parents": []})
            declaration["parents"].append(group)

    def add_child(self, parent, child):
        try:
            self.inventory.add_child(parent, child)
        except ValueError as e:
            raise self.error(str(e))

    def check_pending(self):
        for name, declaration in self.pending.items():
            if declaration["state"] == "vars":
                raise self.error("[%s:vars] is for a group declared nowhere: add a [%s] section"
                                 % (name, name), declaration["line"])
            raise self.error("[%s:children] names group %r, which is declared nowhere"
                             % (declaration["parents"][0], name), declaration["line"])


def _lines(path, data):
    """The file's lines. Like ansible, bytes that are not UTF-8 are only allowed in comments."""
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        pass
    lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        if raw[:1] in (b"#", b";"):
            lines.append("")
            continue
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise InventoryError("%s:%d: not UTF-8: %s" % (path, number, e))
    return lines


def load(path):
    """Read an INI inventory. Raises InventoryError("FILE:LINE: message")."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InventoryError("%s: cannot read the inventory: %s" % (path, e.strerror))
    return _Reader(path).read(_lines(path, data))


def hosts_for(inventory, limit=None):
    """The hosts selected by `limit`, as provision.hosts.Host, in inventory order."""
    try:
        return [host_from_vars(name, inventory.hostvars(name)) for name in inventory.select(limit)]
    except HostVarError as e:
        raise InventoryError("%s: %s" % (inventory.path, e))


def main_inventory(args):
    """`provision inventory FILE [--list | --host HOST]`: JSON as ansible-inventory prints it."""
    try:
        if args.list and args.host:
            raise InventoryError("use --list or --host HOST, not both")
        inventory = load(args.inventory)
        shown = inventory.hostvars(args.host) if args.host else inventory.to_list_json()
    except InventoryError as e:
        print("provision inventory: error: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(shown, sort_keys=True, indent=4))
    return 0
