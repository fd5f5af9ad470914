"""Actions: what a step can do to a host, and the step file that lists them.

The step file
=============
What `provision apply` does to a host is one YAML file (default `provision/steps.yml`,
`--steps FILE` to choose another), read top to bottom:

    steps:
      - name: Bridge netfilter and forwarding sysctls   # required; shown in progress and report
        tags: [sysctl]                                  # optional; --tags / --skip-tags select by them
        when: "{{ sysctl_enabled }}"                    # optional; the step is skipped when false
        action: template                                # required; a module of provision/actions/
        args: {src: sysctl.d/99-yard.conf.j2, dest: /etc/sysctl.d/99-yard.conf, mode: "0644"}
        notify: [reload sysctl]                         # optional; handlers to run if this step changed
    handlers:                                           # optional; same fields except notify
      - name: reload sysctl
        action: command
        args: {cmd: "sysctl --system"}

Unknown fields, unknown actions, unknown or missing arguments, wrong literal types and
notify naming no handler are errors naming the file and line, found before any host is
contacted.

Variables and templating
------------------------
Every string in `args` and `when` is a Jinja2 template rendered per host with StrictUndefined
(an undefined variable fails that host's step, naming the step, field and variable). A string
that is exactly one `{{ expression }}` keeps the expression's type (a list stays a list, a
boolean a boolean), as in Ansible; `when` may also be a bare expression (`when: engine == "yard"`).
The names available are, later ones winning:

    defaults.yml beside the step file  <  inventory host variables  <  --extra-vars

plus `inventory_hostname`, `group_names`, `groups` and `facts` (see provision/facts.py).
Variables may refer to each other (`conf: "{{ etc }}/daemon.json"`); they are resolved once per
host, so a variable referring to an undefined one is an error even when no step uses it.
Filters beyond Jinja's own: `bool`, `to_json`, `to_nice_json` (provision/variables.py).

Template files (the `template` action's `src`) are looked up in `templates/` beside the step
file, then in the repository's top-level `templates/`. They are rendered with the same names,
trim_blocks on (as Ansible) and their trailing newline kept.

How a host's run goes (provision/runner.py)
-------------------------------------------
1. connect; gather facts (one round trip);
2. render every selected step's `when` and `args`, validate the arguments, run `prepare`, and
   `check` (which only writes the snippet: it is written once and reused by every re-check).
   If any step fails here, the host fails with those steps and nothing on it is changed;
3. run every step's `check` snippet in ONE round trip (outputs split by markers), after the
   queries the snippets share (provision/checks.py);
4. for each step in order: `plan` from (args, facts, observed state); `Ok` -> ok, `Change` ->
   `apply` it (unless --check) -> changed; an error -> failed, and the host stops there.
   A false `when` -> skipped. Steps left out by --tags/--skip-tags are not reported at all;
5. handlers notified by changed steps run once, in the order the file lists them, even when a
   later step failed (a changed file is never left without its reload). They are rendered,
   checked (one round trip) and planned as steps are; in --check they are only reported.

The re-check rule: a step may depend on what an earlier step changes (a package installed,
a file written). So observations are only trusted while nothing has changed on the host:
after a step applies a change, the checks of all remaining steps are run again, in one round
trip, before the next step is planned. A run that changes nothing costs exactly two round trips
(facts, checks); a run that changes k steps costs at most k more. In --check nothing changes,
so nothing is re-checked: a step that depends on an earlier step's change plans against the
host as it is (as in Ansible's check mode), e.g. "would start yard" for a unit not installed yet.

Writing an action
=================
One module per action in this package, named as the step file names it. It defines:

    ARGS = {"dest": Arg("path", required=True), "mode": Arg("mode"), ...}
        Declared arguments; validated (types coerced, defaults filled, choices enforced)
        before anything changes on a host.
    check(args, facts) -> str | None
        A POSIX sh snippet that prints the current state on stdout. It runs in its own subshell,
        batched with the other steps' checks; it must change nothing. None: no check needed.
        A Snippet (a str) also names the units and files it reads through the queries the
        batch shares (provision/checks.py): one systemctl, one stat, one sha256sum per host
        for every step, instead of a process or two per step.
    plan(args, facts, observed) -> Ok(reason) | Change(reason, ops, diff)
        A pure function of its inputs (observed = Observed(rc, out, err) of the check, or None
        when check returned None), unit-tested without a host. The reason is what the operator
        reads, worded for both modes ("mode is 0600, wanted 0644", "not installed: iptables");
        the report adds "would" in --check. It raises ActionError when the host is in a state
        the step cannot fix (a directory where a file should be).
    prepare(args, ctx) -> args                       (optional)
        Controller-side work before the check, e.g. rendering a template into args["content"];
        ctx is a Context (host name, variables, facts, render_template, once). It runs in the
        host's thread: work shared by every host goes through ctx.once (the engine bundle is
        built once per run, `ctx.once(bundle.bundle_bytes)`).
        An ActionError here fails the step before anything on the host changes.
    apply(conn, change)                              (optional)
        Defaults to run_change: the Change's ops in order, consecutive Commands in one round
        trip with `set -e`; a failure raises ActionError with the host's stderr.

Shell snippets quote every templated value with `quote` (shlex.quote).
"""
import importlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

quote = shlex.quote


class ActionError(Exception):
    """A step could not be carried out on the host; the message says why (the host's stderr)."""


class ArgError(ValueError):
    """An argument that does not fit the action's ARGS; `field` names it."""

    def __init__(self, field_name, message):
        super().__init__("args.%s: %s" % (field_name, message))
        self.field = field_name


# Argument types: each takes the value as written (or rendered) and returns it coerced.
TYPES = ("str", "int", "bool", "list", "dict", "mode", "path")


@dataclass(frozen=True)
class Arg:
    type: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple = ()


@dataclass(frozen=True)
class Observed:
    """What a step's check printed on the host."""
    rc: int
    out: str
    err: str = ""


class Snippet(str):
    """A check snippet that reads the batch's shared queries (provision/checks.py).

    units: systemd units it looks up with checks.unit_lookup; stats: paths it looks up with
    checks.stat_lookup; sums: files it compares with checks.sum_is. Run alone, its lookups
    find nothing and it asks the host itself.
    """

    def __new__(cls, text, units=(), stats=(), sums=()):
        snippet = super().__new__(cls, text)
        snippet.units, snippet.stats, snippet.sums = tuple(units), tuple(stats), tuple(sums)
        return snippet


@dataclass(frozen=True)
class Ok:
    reason: str


@dataclass(frozen=True)
class Command:
    """A shell command run on the host (with become when the host uses it)."""
    cmd: str


@dataclass(frozen=True)
class Upload:
    """File content sent over SFTP and renamed into place.

    remote_sha256 is the checksum the check saw (None: there is no file), so the upload needs
    no round trip of its own to decide whether to send.
    """
    data: bytes
    dest: str
    mode: Optional[str] = None
    owner: Optional[str] = None
    group: Optional[str] = None
    remote_sha256: Optional[str] = None


@dataclass(frozen=True)
class Change:
    reason: str
    ops: tuple = ()          # Command and Upload, in the order they run
    diff: str = ""           # unified diff for files, shown with --diff


@dataclass
class Context:
    """What `prepare` may use on the controller for one host."""
    host: str
    variables: dict
    facts: dict
    render_template: Callable[[str], str] = field(repr=False)
    # once(function, *args): function(*args) computed once per run, whichever host asks first.
    once: Callable = field(default=lambda function, *args: function(*args), repr=False)


@dataclass(frozen=True)
class Action:
    """A loaded action module, with the framework's defaults filled in."""
    name: str
    args: dict
    check: Callable
    plan: Callable
    prepare: Callable
    apply: Callable


def load(name):
    """The action called `name`; LookupError when there is none."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
        raise LookupError("no action %r" % (name,))
    try:
        module = importlib.import_module("%s.%s" % (__name__, name))
    except ModuleNotFoundError as error:
        if error.name == "%s.%s" % (__name__, name):
            raise LookupError("no action %r" % (name,)) from None
        raise
    return Action(
        name=name,
        args=module.ARGS,
        check=getattr(module, "check", lambda args, facts: None),
        plan=module.plan,
        prepare=getattr(module, "prepare", lambda args, ctx: args),
        apply=getattr(module, "apply", run_change),
    )


def is_template(value):
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def validate(spec, args, partial=False):
    """Check `args` against an ARGS spec; return them coerced, with defaults filled.

    partial=True is the load-time pass: values still holding a template are left for the
    per-host pass, and missing required arguments are still errors.
    """
    if not isinstance(args, dict):
        raise ArgError("", "must be a mapping, not %s" % type(args).__name__)
    unknown = sorted(set(args) - set(spec))
    if unknown:
        raise ArgError(unknown[0], "unknown argument (this action takes: %s)" % ", ".join(sorted(spec)))
    result = {}
    for name, arg in spec.items():
        if name not in args or args[name] is None:
            if arg.required:
                raise ArgError(name, "required")
            result[name] = arg.default
            continue
        value = args[name]
        if partial and (is_template(value) or _holds_template(value)):
            result[name] = value
            continue
        value = _coerce(name, arg.type, value)
        if arg.choices and value not in arg.choices:
            raise ArgError(name, "%r is not one of %s" % (value, ", ".join(map(str, arg.choices))))
        result[name] = value
    return result


def _holds_template(value):
    if isinstance(value, list):
        return any(is_template(v) or _holds_template(v) for v in value)
    if isinstance(value, dict):
        return any(is_template(v) or _holds_template(v) for v in value.values())
    return False


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def as_bool(value):
    """Ansible's reading of a boolean; ValueError for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("%r is not a boolean" % (value,))


def _coerce(name, kind, value):
    if kind == "str":
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
    elif kind == "bool":
        try:
            return as_bool(value)
        except ValueError:
            pass
    elif kind == "list":
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, str):
            return [value]
    elif kind == "dict":
        if isinstance(value, dict):
            return value
    elif kind == "mode":
        # YAML reads an unquoted 0644 as the number 420: take a number as the mode's bits.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
            return "%04o" % value
        if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value.strip()):
            return "%04o" % int(value.strip(), 8)
        raise ArgError(name, "%r is not an octal mode such as \"0644\"" % (value,))
    elif kind == "path":
        if isinstance(value, str) and value.startswith("/"):
            return value
        raise ArgError(name, "%r is not an absolute path" % (value,))
    else:
        raise ArgError(name, "declared with unknown type %r" % (kind,))
    raise ArgError(name, "%r is not a %s" % (value, kind))


def file_state(line):
    """(mode, owner, group) from `stat -c '%a %U %G'` output; mode as 4 octal digits."""
    mode, owner, group = line.split()
    return "%04o" % int(mode, 8), owner, group


def stat_snippet(path):
    """The check half of attributes(): prints `mode owner group` of an existing path."""
    return "stat -L -c '%%a %%U %%G' %s" % quote(path)


def attributes(path, args, current):
    """Reasons and commands that bring path's mode/owner/group (those asked in args) to args."""
    mode, owner, group = current
    reasons, commands = [], []
    if args.get("mode") and args["mode"] != mode:
        reasons.append("mode is %s, wanted %s" % (mode, args["mode"]))
        commands.append(Command("chmod %s %s" % (args["mode"], quote(path))))
    if args.get("owner") and args["owner"] != owner:
        reasons.append("owner is %s, wanted %s" % (owner, args["owner"]))
        commands.append(Command("chown %s %s" % (quote(args["owner"]), quote(path))))
    if args.get("group") and args["group"] != group:
        reasons.append("group is %s, wanted %s" % (group, args["group"]))
        commands.append(Command("chgrp %s %s" % (quote(args["group"]), quote(path))))
    return reasons, commands


def run_change(conn, change):
    """Carry out a Change: its ops in order, consecutive commands in one round trip."""
    pending = []
    for op in change.ops + (None,):
        if isinstance(op, Command):
            pending.append(op.cmd)
            continue
        if pending:
            run_script(conn, pending)
            pending = []
        if isinstance(op, Upload):
            conn.put(op.data, op.dest, mode=int(op.mode or "0644", 8), owner=op.owner,
                     group=op.group, remote_sha256=op.remote_sha256)


def run_script(conn, commands):
    """Run shell commands in one round trip, stopping at the first that fails."""
    script = "set -e\n" + "\n".join(commands)
    result = conn.run("sh -c %s" % quote(script))
    if result.rc != 0:
        message = (result.stderr or result.stdout).strip() or "exit status %d" % result.rc
        raise ActionError(message)
    return result
