"""service: a systemd unit enabled or not, started, stopped, restarted or reloaded.

    - name: Engine running
      action: service
      args: {name: yard, enabled: true, state: started}

restarted and reloaded always act, which is what handlers want. reloaded starts a unit that
is not running. daemon_reload: true runs `systemctl daemon-reload` first when systemd says
the unit's files changed since it loaded them (NeedDaemonReload), as after a new unit file.
Give enabled, state, daemon_reload, or any of them together.
"""
from provision import checks
from provision.actions import ActionError, Arg, Change, Command, Ok, Snippet, quote

ARGS = {
    "name": Arg("str", required=True),
    "enabled": Arg("bool"),
    "state": Arg("str", choices=("started", "stopped", "restarted", "reloaded")),
    "daemon_reload": Arg("bool", default=False),
}

_ENABLED = {"enabled", "alias", "static", "generated"}   # `systemctl is-enabled` words meaning "starts at boot"
_RUNNING = {"active", "activating", "reloading"}


def check(args, facts):
    """`enabled=` (what `systemctl is-enabled` says), `active=` and NeedDaemonReload=, from the
    batch's one systemctl for every unit. systemctl show's UnitFileState is is-enabled's word
    for a loaded unit, except a generated one (a SysV script, which is-enabled asks about)."""
    name = quote(args["name"])
    shared = 'echo "enabled=$dy_unit_file"; echo "active=$dy_active"; echo "NeedDaemonReload=$dy_reload"'
    asked = ('echo "enabled=$(systemctl is-enabled {n} 2>/dev/null)";'
             ' echo "active=$(systemctl is-active {n} 2>/dev/null)"').format(n=name)
    if args["daemon_reload"]:
        asked += "; systemctl show -p NeedDaemonReload %s 2>/dev/null" % name
    usable = '[ "$dy_load" = loaded ] && [ -n "$dy_unit_file" ] && [ "$dy_unit_file" != generated ]'
    return Snippet("if %s && %s; then %s; else %s; fi" % (checks.unit_lookup(args["name"]), usable, shared, asked),
                   units=[args["name"]])


def plan(args, facts, observed):
    name, enabled, state = args["name"], args["enabled"], args["state"]
    if enabled is None and state is None and not args["daemon_reload"]:
        raise ActionError("service %s: give enabled, state, daemon_reload, or any of them together" % name)
    if facts.get("init") != "systemd":
        raise ActionError("service %s: the host's init is %s, not systemd" % (name, facts.get("init")))
    seen = dict(line.split("=", 1) for line in observed.out.splitlines() if "=" in line)
    unit_enabled, active = seen.get("enabled", ""), seen.get("active", "")
    reasons, commands = [], []
    if args["daemon_reload"] and seen.get("NeedDaemonReload") == "yes":
        reasons.append("%s changed on disk since systemd loaded it" % checks.unit_id(name))
        commands.append(Command("systemctl daemon-reload"))
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
        if enabled is None and state is None:
            return Ok("systemd needs no daemon-reload for %s" % checks.unit_id(name))
        return Ok("%s is %s" % (name, ", ".join(filter(None, [unit_enabled, active]))))
    return Change("; ".join(reasons), tuple(commands))
