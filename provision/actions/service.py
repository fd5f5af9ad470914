"""service: a systemd unit enabled or not, started, stopped, restarted or reloaded.

    - name: Engine running
      action: service
      args: {name: yard, enabled: true, state: started}

restarted and reloaded always act, which is what handlers want. reloaded starts a unit that
is not running. Give enabled, state, or both.
"""
from provision.actions import ActionError, Arg, Change, Command, Ok, quote

ARGS = {
    "name": Arg("str", required=True),
    "enabled": Arg("bool"),
    "state": Arg("str", choices=("started", "stopped", "restarted", "reloaded")),
}

_ENABLED = {"enabled", "alias", "static", "generated"}   # `systemctl is-enabled` words meaning "starts at boot"
_RUNNING = {"active", "activating", "reloading"}


def check(args, facts):
    name = quote(args["name"])
    return ('echo "enabled=$(systemctl is-enabled {n} 2>/dev/null)";'
            ' echo "active=$(systemctl is-active {n} 2>/dev/null)"').format(n=name)


def plan(args, facts, observed):
    name, enabled, state = args["name"], args["enabled"], args["state"]
    if enabled is None and state is None:
        raise ActionError("service %s: give enabled, state, or both" % name)
    if facts.get("init") != "systemd":
        raise ActionError("service %s: the host's init is %s, not systemd" % (name, facts.get("init")))
    seen = dict(line.split("=", 1) for line in observed.out.splitlines() if "=" in line)
    unit_enabled, active = seen.get("enabled", ""), seen.get("active", "")
    reasons, commands = [], []
    if enabled is True and unit_enabled not in _ENABLED:
        if unit_enabled == "masked":
            raise ActionError("service %s is masked" % name)
        reasons.append("%s is %s" % (name, unit_enabled or "not installed"))
        commands.append(Command("systemctl enable %s" % quote(name)))
    if enabled is False and unit_enabled in _ENABLED - {"static"}:
        reasons.append("%s is %s" % (name, unit_enabled))
        commands.append(Command("systemctl disable %s" % quote(name)))
    if state == "started" and active not in _RUNNING:
        reasons.append("%s is %s" % (name, active or "not running"))
        commands.append(Command("systemctl start %s" % quote(name)))
    if state == "stopped" and active in _RUNNING:
        reasons.append("%s is %s" % (name, active))
        commands.append(Command("systemctl stop %s" % quote(name)))
    if state == "restarted":
        reasons.append("restart %s" % name)
        commands.append(Command("systemctl restart %s" % quote(name)))
    if state == "reloaded":
        verb = "reload" if active in _RUNNING else "start"
        reasons.append("%s %s" % (verb, name))
        commands.append(Command("systemctl %s %s" % (verb, quote(name))))
    if not commands:
        return Ok("%s is %s" % (name, ", ".join(filter(None, [unit_enabled, active]))))
    return Change("; ".join(reasons), tuple(commands))
