"""command: run a shell command, unless the host shows it has already run.

    - name: Load the bridge netfilter module
      action: command
      args: {cmd: "modprobe br_netfilter", unless: "test -d /proc/sys/net/bridge"}

creates: a path whose existence means the command has run. unless: a shell command whose
success means there is nothing to do (it must change nothing: it also runs in --check).
With neither, the command runs every time and the step reports changed, as in Ansible.
The command runs under `sh -c` with `set -e`; a non-zero exit fails the step with its stderr.
"""
from provision.actions import Arg, Change, Command, Ok, quote

ARGS = {
    "cmd": Arg("str", required=True),
    "creates": Arg("path"),
    "unless": Arg("str"),
}


def check(args, facts):
    if not args["creates"] and not args["unless"]:
        return None
    lines = []
    if args["creates"]:
        lines.append("if [ -e %s ]; then echo created; fi" % quote(args["creates"]))
    if args["unless"]:
        lines.append("if ( %s ) >/dev/null 2>&1 </dev/null; then echo unless-succeeded; fi" % args["unless"])
    return "\n".join(lines)


def plan(args, facts, observed):
    seen = set(observed.out.split()) if observed else set()
    if "created" in seen:
        return Ok("%s exists" % args["creates"])
    if "unless-succeeded" in seen:
        return Ok("`%s` succeeded" % args["unless"])
    if args["creates"]:
        reason = "%s does not exist" % args["creates"]
    elif args["unless"]:
        reason = "`%s` failed" % args["unless"]
    else:
        reason = "runs every time (no creates/unless)"
    return Change(reason, (Command(args["cmd"]),))
