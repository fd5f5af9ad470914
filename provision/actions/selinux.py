"""selinux: the SELinux mode, applied now where the kernel allows it and in /etc/selinux/config.

    - name: SELinux mode
      action: selinux
      args: {state: permissive}

Between enforcing and permissive the mode changes now (setenforce) and in the config. Turning
SELinux on from disabled, or off entirely, only takes effect at the next boot: the config is
written and the reason says a reboot is needed; the host is never rebooted. Hosts without
SELinux (no getenforce, no /etc/selinux/config, as on Debian) are left alone.
"""
from provision.actions import Arg, Change, Command, Ok, quote

ARGS = {
    "state": Arg("str", required=True, choices=("enforcing", "permissive", "disabled")),
    "config": Arg("path", default="/etc/selinux/config"),
}


def check(args, facts):
    config = quote(args["config"])
    return ("if command -v getenforce >/dev/null 2>&1 && [ -f {c} ]; then"
            " echo \"live=$(getenforce | tr A-Z a-z)\";"
            " echo \"config=$(sed -n 's/^SELINUX=[[:space:]]*//p' {c} | tail -n 1 | tr A-Z a-z)\";"
            " else echo absent; fi").format(c=config)


def plan(args, facts, observed):
    if observed.out.strip() == "absent":
        return Ok("SELinux is not on this host")
    seen = dict(line.split("=", 1) for line in observed.out.splitlines() if "=" in line)
    wanted, live, config = args["state"], seen.get("live", ""), seen.get("config", "")
    reasons, commands = [], []
    if config != wanted:
        reasons.append("%s says %s" % (args["config"], config or "nothing"))
        commands.append(Command(set_config(args["config"], wanted, bool(config))))
    now = live
    if live in ("enforcing", "permissive") and wanted != live:
        # Disabling needs a reboot; until then permissive is the nearest mode.
        now = "enforcing" if wanted == "enforcing" else "permissive"
        if now != live:
            reasons.append("running %s" % live)
            commands.append(Command("setenforce %d" % (now == "enforcing")))
    pending = "" if now == wanted else "; %s after a reboot (running %s until then)" % (wanted, now)
    if not commands:
        return Ok("SELinux is %s%s" % (now, pending))
    return Change("; ".join(reasons) + ", wanted %s%s" % (wanted, pending), tuple(commands))


def set_config(path, mode, has_line):
    if has_line:
        return "sed -i 's/^SELINUX=.*/SELINUX=%s/' %s" % (mode, quote(path))
    return "echo SELINUX=%s >> %s" % (mode, quote(path))
