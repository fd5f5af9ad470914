"""What the acceptance tests need from an engine host, the same for yard and for Docker.

Everything goes through the engine's own CLI on the host (`yard` or `docker`), over
testinfra, and through files the kernel shows (/proc, cgroups, iptables): the suite never
trusts the engine's word where the host can be asked.
"""
import json
import secrets
import shlex

ENGINES = {
    "yard": {"cli": "yard", "service": "yard", "socket": "/run/yard.sock",
             "daemon_json": "/etc/yard/daemon.json"},
    "docker": {"cli": "docker", "service": "docker", "socket": "/run/docker.sock",
               "daemon_json": "/etc/docker/daemon.json"},
}

TEST_IMAGE = "dockyard-test/busybox:1"


class EngineHost:
    """One engine host of the inventory: its name, address, testinfra host and engine."""

    def __init__(self, name, address, testinfra_host, engine, hostvars):
        self.name = name
        self.address = address
        self.host = testinfra_host
        self.engine = engine
        self.spec = ENGINES[engine]
        self.vars = hostvars

    def __repr__(self):
        return self.name

    # --- commands -------------------------------------------------------------------
    def sh(self, command):
        """Run a shell command on the host; returns testinfra's CommandResult."""
        return self.host.run(command)

    def check(self, command):
        result = self.sh(command)
        assert result.rc == 0, "on %s, `%s` exited %d: %s" % (self.name, command, result.rc,
                                                             (result.stderr or result.stdout).strip())
        return result.stdout

    def cli(self, *args):
        """The engine CLI; returns the CommandResult (the test decides what rc it expects)."""
        return self.sh(" ".join([self.spec["cli"]] + [shlex.quote(str(a)) for a in args]))

    def cli_ok(self, *args):
        result = self.cli(*args)
        assert result.rc == 0, "on %s, `%s %s` exited %d: %s" % (
            self.name, self.spec["cli"], " ".join(map(str, args)), result.rc, (result.stderr or result.stdout).strip())
        return result.stdout

    def run(self, *args):
        """`run --rm IMAGE args`: the container's output (stdout) and its exit code."""
        result = self.cli("run", "--rm", *args)
        return result

    # --- containers -------------------------------------------------------------------
    def start(self, *args, image=TEST_IMAGE, command=("sleep", "300")):
        """A detached container with a unique name; returns its name."""
        name = "dyk-" + secrets.token_hex(4)
        self.cli_ok("run", "-d", "--name", name, *args, image, *command)
        return name

    def inspect(self, name):
        return json.loads(self.cli_ok("inspect", name))[0]

    def pid(self, name):
        pid = self.inspect(name)["State"]["Pid"]
        assert pid > 0, "on %s, container %s has no running process" % (self.name, name)
        return pid

    def remove(self, name):
        self.cli("rm", "-f", name)

    def address_of(self, name):
        settings = self.inspect(name)["NetworkSettings"]
        return settings.get("IPAddress") or settings["Networks"]["bridge"]["IPAddress"]

    # --- the kernel's view of a container ------------------------------------------------
    def cgroup_file(self, pid, v1_controller, v1_name, v2_name):
        """Read a cgroup file of a process from the host: v1 (`memory`, `memory.limit_in_bytes`)
        or v2 (`memory.max`), whichever this host's hierarchy for that controller is."""
        lines = self.check("cat /proc/%d/cgroup" % pid).splitlines()
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if v1_controller in controllers.split(","):
                return self.check("cat /sys/fs/cgroup/%s%s/%s" % (v1_controller, path, v1_name)).strip()
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                return self.check("cat /sys/fs/cgroup%s/%s" % (path, v2_name)).strip()
        raise AssertionError("on %s, no cgroup of pid %d holds %s" % (self.name, pid, v1_controller))

    def nat_rules(self):
        return self.check("iptables -t nat -S")
