"""firewalld: stopped and disabled, or kept running with the given ports open.

    - name: Firewall
      action: firewalld
      args: {state: keep, ports: ["5000/tcp"]}

disabled stops and disables firewalld (the engine programs iptables itself). keep leaves it
as it is and, while it runs, opens each port both now and permanently. Hosts without
firewalld are left alone.
"""
from provision.actions import Arg, Change, Command, Ok, quote

ARGS = {
    "state": Arg("str", required=True, choices=("disabled", "keep")),
    "ports": Arg("list", default=[]),
}


def check(args, facts):
    # Without firewall-cmd there is no firewalld: no systemctl call on such hosts.
    return ("if command -v firewall-cmd >/dev/null 2>&1 && systemctl cat firewalld.service >/dev/null 2>&1; then"
            " echo \"enabled=$(systemctl is-enabled firewalld 2>/dev/null)\";"
            " echo \"active=$(systemctl is-active firewalld 2>/dev/null)\";"
            " if systemctl is-active -q firewalld; then"
            " echo \"runtime=$(firewall-cmd --list-ports)\";"
            " echo \"permanent=$(firewall-cmd --permanent --list-ports)\"; fi;"
            " else echo absent; fi")


def plan(args, facts, observed):
    if observed.out.strip() == "absent":
        return Ok("firewalld is not installed")
    seen = dict(line.split("=", 1) for line in observed.out.splitlines() if "=" in line)
    running = seen.get("active") == "active"
    if args["state"] == "disabled":
        reasons, commands = [], []
        if running:
            reasons.append("firewalld is running")
            commands.append(Command("systemctl stop firewalld"))
        if seen.get("enabled") == "enabled":
            reasons.append("firewalld is enabled")
            commands.append(Command("systemctl disable firewalld"))
        if not commands:
            return Ok("firewalld is stopped and disabled")
        return Change("; ".join(reasons), tuple(commands))
    if not running:
        return Ok("firewalld is kept as it is: not running")
    ports = [str(port) for port in args["ports"]]
    runtime, permanent = seen.get("runtime", "").split(), seen.get("permanent", "").split()
    commands = ["firewall-cmd --add-port=%s" % quote(p) for p in ports if p not in runtime]
    commands += ["firewall-cmd --permanent --add-port=%s" % quote(p) for p in ports if p not in permanent]
    if not commands:
        return Ok("firewalld runs%s" % (" with %s open" % ", ".join(ports) if ports else ""))
    missing = sorted(set(p for p in ports if p not in runtime or p not in permanent))
    return Change("firewalld runs without %s open" % ", ".join(missing), tuple(map(Command, commands)))
