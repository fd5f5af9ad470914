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
    """sh printing `key=value` for each key (`key` alone when the kernel has no such key)."""
    return "\n".join(
        "if [ -r {f} ]; then echo {k}=\"$({read} {f})\"; else echo {k}; fi"
        .format(k=quote(key), f=proc_path(key), read=READ) for key in values)


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


def live_values(text):
    live = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        live[key] = value.strip() if sep else None
    return live


def plan(args, facts, observed):
    file_part, _, live_part = observed.out.partition("%s\n" % LIVE)
    file_plan = template.plan(args, facts, Observed(observed.rc, file_part))
    live = live_values(live_part)
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

