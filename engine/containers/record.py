"""One container as the daemon knows it: its record on disk and the live handles beside it.

    <data-root>/containers/<id>/
        container.json     the record: docker's inspect fields (Config, HostConfig, State, ...)
        hostname, hosts, resolv.conf      bind-mounted into the container
        <id>-json.log[.N]  its output (written by the runtime's shim)
        rootfs/{upper,work,merged}        the writable layer, kept across restarts
        runtime/           the runtime's bundle (spec, shim socket, exit.json) while it runs

The record is rewritten whole through a temporary file and a rename, so a crash leaves the
old or the new one, never half of either (and, fsync'd, a power cut too: see save()).
"""
import datetime
import json
import os
import threading

ZERO_TIME = "0001-01-01T00:00:00Z"


def now():
    """Docker's timestamps: RFC 3339 in UTC with sub-second digits."""
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    """Seconds since the epoch for one of our (or the shim's) timestamps; 0 for docker's zero time."""
    if not text or text.startswith("0001-"):
        return 0.0
    text = text.rstrip("Z")
    whole, _, fraction = text.partition(".")
    moment = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    seconds = (moment - datetime.datetime(1970, 1, 1)).total_seconds()
    return seconds + (float("0." + fraction[:6]) if fraction else 0.0)


def write_json_atomic(path, value, durable=True):
    """Through a temporary file and a rename; `durable`: on the disk before the rename, so
    that even a power cut leaves the old record or the new one."""
    temporary = "%s.tmp-%d-%d" % (path, os.getpid(), threading.get_ident())
    with open(temporary, "w") as target:
        json.dump(value, target, indent=1, sort_keys=True)
        if durable:
            target.flush()
            os.fsync(target.fileno())
    os.replace(temporary, path)


class Container:
    def __init__(self, directory, data):
        self.directory = directory
        self.data = data                         # what container.json holds
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)   # notified on every state change
        self.shim = None                         # the runtime's handle while it runs
        self.exits = 0                           # how many times it ended (for wait next-exit)
        self.removed = False
        self.attachers = []                      # attach requests waiting for the next start
        self.cancel_restart = False              # stopped or killed by hand: no restart this time
        self.started_at = 0.0                    # time.time() of the last start (restart back-off)
        self.restart_delay = 0.0

    @classmethod
    def load(cls, directory):
        with open(os.path.join(directory, "container.json")) as source:
            return cls(directory, json.load(source))

    def save(self):
        # No fsync for a --rm container: the daemon removes it at start whenever it is found
        # not running (as dockerd does), and after a power cut none is, whatever the record says.
        write_json_atomic(os.path.join(self.directory, "container.json"), self.data,
                          durable=not self.host_config["AutoRemove"])

    # --- names for the parts ---------------------------------------------------------
    @property
    def id(self):
        return self.data["Id"]

    @property
    def name(self):
        return self.data["Name"].lstrip("/")

    @property
    def state(self):
        return self.data["State"]

    @property
    def config(self):
        return self.data["Config"]

    @property
    def host_config(self):
        return self.data["HostConfig"]

    @property
    def running(self):
        return self.state["Running"]

    @property
    def bundle(self):
        return os.path.join(self.directory, "runtime")

    def path(self, name):
        return os.path.join(self.directory, name)

    @property
    def log_path(self):
        return self.path("%s-json.log" % self.id)

    # --- state transitions (the caller holds the lock and saves) ------------------------
    def set_running(self, pid):
        self.state.update({"Status": "running", "Running": True, "Restarting": False, "Paused": False,
                           "OOMKilled": False, "Dead": False, "Pid": pid, "ExitCode": 0, "Error": "",
                           "StartedAt": now()})
        self.changed.notify_all()

    def set_exited(self, code, oom_killed=False, finished_at=None, error=""):
        self.state.update({"Status": "exited", "Running": False, "Restarting": False, "Pid": 0,
                           "ExitCode": code, "OOMKilled": oom_killed, "Error": error,
                           "FinishedAt": finished_at or now()})
        self.exits += 1
        self.changed.notify_all()

    def set_restarting(self):
        self.state.update({"Status": "restarting", "Restarting": True})
        self.changed.notify_all()

    def set_start_failed(self, code, message):
        """A start that failed leaves the container as it was (created or exited), with the error."""
        self.state.update({"ExitCode": code, "Error": message, "Running": False, "Pid": 0,
                           "Restarting": False})
        if self.state["Status"] == "restarting":
            self.state["Status"] = "exited"
        self.changed.notify_all()
