"""kernel_module: kernel modules loaded now; a module built into the kernel counts as loaded.

    - name: Bridge netfilter and overlay in the kernel
      action: kernel_module
      args: {names: [br_netfilter, overlay]}

A module counts as present when /sys/module/<name> exists, when modules.builtin of the running
kernel lists it, or when the kernel shows the feature itself (/proc/sys/net/bridge for
br_netfilter, overlay in /proc/filesystems): a built-in module has no /sys/module entry unless
it takes parameters, and some hosts (containers, minimal kernels) have no /lib/modules at all.
Missing modules are loaded with modprobe. Persisting them for the next boot is the
modules-load.d template's job.
"""
from provision.actions import Arg, Change, Command, Ok, quote

ARGS = {
    "names": Arg("list", required=True),
}

# What the kernel shows once a module's feature is there, built in or loaded.
FEATURE_PROBES = {
    "br_netfilter": "[ -d /proc/sys/net/bridge ]",
    "overlay": "grep -qw overlay /proc/filesystems",
}


def check(args, facts):
    lines = []
    for name in map(str, args["names"]):
        # Cheapest first: the shell's own tests, then the feature, then modules.builtin.
        tests = ["[ -d /sys/module/%s ]" % quote(name.replace("-", "_"))]
        if name in FEATURE_PROBES:
            tests.append(FEATURE_PROBES[name])
        tests.append("grep -qE %s /lib/modules/\"$(uname -r)\"/modules.builtin 2>/dev/null"
                     % quote("/%s\\.ko" % name.replace("_", "[_-]")))
        lines.append("if %s; then echo present %s; else echo missing %s; fi"
                     % (" || ".join(tests), quote(name), quote(name)))
    return "\n".join(lines)


def plan(args, facts, observed):
    missing = [line.split()[1] for line in observed.out.splitlines() if line.startswith("missing ")]
    if not missing:
        return Ok("in the kernel: %s" % ", ".join(map(str, args["names"])))
    return Change("not loaded: %s" % ", ".join(missing),
                  tuple(Command("modprobe %s" % quote(name)) for name in missing))

