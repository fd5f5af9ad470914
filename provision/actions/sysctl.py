"""sysctl: a sysctl.d file from a template, its values applied live and read back.

    - name: Bridge netfilter and forwarding
      action: sysctl
      args: {src: sysctl.d/99-yard.conf.j2, dest: /etc/sysctl.d/99-yard.conf}

The file is written as the template action writes files. Every `key = value` line of the
rendered file is then compared with the running kernel (/proc/sys); when the file changed or a
live value differs, the file is applied with `sysctl -p` and every value read back: a value the
kernel does not take (a key it lacks, a read-only /proc/sys) fails the step, naming the key.
"""
from provision.actions import ActionError, Arg, Change, Command, Observed, Ok, Snippet, quote
from provision.actions import template

ARGS = {
    "src": Arg("str", required=True),
    "dest": Arg("path", required=True),
}

LIVE = "@@live"
READ = "tr -s '[:blank:]' ' ' <"   # a value as sysctl.d writes it: "32768 60999", not tab-separated


def prepare(args, ctx):
    args = template.prepare({**args, "mode": "0644", "owner": None, "group": None, "backup": False}, ctx)
    return {**args, "values": parse(args["content"], args["src"])}


def parse(content, src):
    """{key: value} of a sysctl.d file's `key = value` lines; values with whitespace normalised."""
    values = {}
    for number, line in enumerate(content.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ActionError("%s line %d: not `key = value`: %r" % (src, number, line))
        values[key.strip()] = " ".join(value.split())
    return values


def check(args, facts):
    file_check = template.check(args, facts)
    return Snippet(file_check + "\necho %s\n%s" % (LIVE, read_live(args["values"])),
                   stats=file_check.stats, sums=file_check.sums)


def read_live(values):
    """sh printing the kernel's value of each key: `<key>` alone for a key the kernel lacks, and
    one grep over the others' /proc/sys files (`<file>:<value>` lines), not a process per key."""
    lines = ["set --"]
    for key in values:
        lines.append("if [ -r {f} ]; then set -- \"$@\" {f}; else echo {k}; fi".format(k=quote(key), f=proc_path(key)))
    lines.append("if [ $# -gt 0 ]; then grep -H '' \"$@\"; fi")
    return "\n".join(lines)


def proc_path(key):
    return quote("/proc/sys/" + key.replace(".", "/"))


def verify(values):
    """sh that fails, naming every key whose live value is not the wanted one."""
    lines = ["wrong="]
    for key, value in values.items():
        lines.append('v="$({read} {f} 2>/dev/null)"; [ "$v" = {want} ] || wrong="$wrong {k} is ${{v:-absent}}, wanted {want};"'
                     .format(read=READ, f=proc_path(key), want=quote(value), k=quote(key)))
    lines.append('if [ -n "$wrong" ]; then echo "after sysctl -p:$wrong" >&2; exit 1; fi')
    return "\n".join(lines)


def live_values(text, keys):
    """{key: value with its words joined by single spaces, or None when the kernel lacks it}."""
    lines = text.splitlines()
    live = {}
    for key in keys:
        prefix = "/proc/sys/%s:" % key.replace(".", "/")
        found = [line[len(prefix):] for line in lines if line.startswith(prefix)]
        if found:
            live[key] = " ".join(found[0].split())
        else:   # an empty file prints no line
            live[key] = None if key in lines else ""
    return live


def plan(args, facts, observed):
    file_part, _, live_part = observed.out.partition("%s\n" % LIVE)
    file_plan = template.plan(args, facts, Observed(observed.rc, file_part))
    live = live_values(live_part, args["values"])
    differing = ["%s is %s" % (key, "absent" if live.get(key) is None else live[key])
                 for key, value in args["values"].items() if live.get(key) != value]
    if isinstance(file_plan, Ok) and not differing:
        return Ok("%s is up to date and applied" % args["dest"])
    reasons = [] if isinstance(file_plan, Ok) else [file_plan.reason]
    if differing:
        reasons.append("live: " + ", ".join(differing))
    ops = () if isinstance(file_plan, Ok) else file_plan.ops
    # sysctl -p applies what it can; the read-back then names every key that did not take.
    ops += (Command("sysctl -q -p %s || true" % quote(args["dest"])), Command(verify(args["values"])))
    return Change("; ".join(reasons), ops, diff=getattr(file_plan, "diff", ""))

