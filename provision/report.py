"""What a run tells its operator: progress while it runs, Ansible's recap, a JSON report.

On a terminal a live table shows each host's current step while results scroll above it;
otherwise every result is one plain line, as soon as it is known:

    changed: [web1] Bridge sysctls: /etc/sysctl.d/99-yard.conf is absent
    skipping: [web1] Docker packages: when: engine == "docker" is false
    fatal: [web2]: UNREACHABLE! => connection refused

The recap is Ansible's, which operators grep in CI (`ok` counts changed steps too, as there):

    PLAY RECAP *********************************************************************
    web1                       : ok=5    changed=1    unreachable=0    failed=0    skipped=0

--report FILE writes, atomically:
    {"check": bool,
     "summary": {host: {"ok", "changed", "failed", "unreachable", "skipped"}},
     "hosts": {host: [{"name", "action", "result", "reason", "diff", "duration", "handler"}]},
     "unreachable": {host: message}}
with result one of ok, changed, failed, skipped and duration in seconds.
"""
import json
import os
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field

RESULTS = ("ok", "changed", "failed", "skipped")
_STYLE = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "cyan"}
_WORD = {"ok": "ok", "changed": "changed", "skipped": "skipping"}   # as ansible-playbook prints them


@dataclass
class StepResult:
    name: str
    action: str
    result: str          # one of RESULTS
    reason: str
    diff: str = ""
    duration: float = 0.0
    handler: bool = False


@dataclass
class HostResult:
    name: str
    steps: list = field(default_factory=list)
    unreachable: str = ""     # why, when the host could not be reached

    def counts(self):
        counts = {result: sum(step.result == result for step in self.steps) for result in RESULTS}
        counts["ok"] += counts["changed"]   # Ansible counts a changed step as ok too
        counts["unreachable"] = int(bool(self.unreachable))
        return counts


def redact(text, secrets):
    """text with every secret (passwords) replaced by ********."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


class Report:
    """Progress and recap on `stream`; thread-safe, hosts report from their own threads."""

    def __init__(self, stream=None, check=False, diff=False):
        self.stream = stream or sys.stdout
        self.check, self.diff = check, diff
        self.tty = self.stream.isatty()
        self.terminal = None
        if self.tty:
            from provision.terminal import Terminal   # only here: rich is slow to import
            self.terminal = Terminal(self.stream)
        self.lock = threading.Lock()
        self.current = {}         # host -> what it is doing now, for the live table
        self.done = {}            # host -> how many steps it has finished

    def start(self, hosts):
        self.current = {host: "waiting" for host in hosts}
        self.done = {host: 0 for host in hosts}
        if self.terminal:
            self.terminal.start(self._rows())

    def step_started(self, host, name):
        with self.lock:
            self.current[host] = name
            self._refresh()

    def step_done(self, host, step):
        reason = ("would: " + step.reason) if self.check and step.result == "changed" else step.reason
        label = "handler " + step.name if step.handler else step.name
        with self.lock:
            if step.result == "failed":
                self._print("fatal: [%s]: FAILED! %s: %s" % (host, label, reason), "red")
            else:
                self._print("%s: [%s] %s: %s" % (_WORD[step.result], host, label, reason), _STYLE[step.result])
            if self.diff and step.diff:
                self._print(step.diff.rstrip("\n"), None)
            self.done[host] += 1
            self._refresh()

    def host_done(self, result):
        with self.lock:
            if result.unreachable:
                self._print("fatal: [%s]: UNREACHABLE! => %s" % (result.name, result.unreachable), "red")
            counts = result.counts()
            self.current[result.name] = "done: failed" if counts["failed"] or result.unreachable else "done"
            self._refresh()

    def stop(self):
        """End the live table (the results printed above it stay)."""
        if self.terminal:
            self.terminal.stop()

    def recap(self, results):
        self._print("", None)
        self._print("PLAY RECAP " + "*" * 69, None)
        for result in results:
            counts = result.counts()
            line = "%-26s : " % result.name + " ".join(
                "%s=%-4s" % (key, counts[key]) for key in ("ok", "changed", "unreachable", "failed", "skipped"))
            self._print(line.rstrip(), _recap_style(counts))

    def _print(self, text, style):
        if self.terminal:
            self.terminal.print(text, style)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()   # a line as soon as it is known, also into a pipe

    def _refresh(self):
        if self.terminal:
            self.terminal.update(self._rows())

    def _rows(self):
        return [(host, self.done[host], doing) for host, doing in self.current.items()]


def _recap_style(counts):
    if counts["failed"] or counts["unreachable"]:
        return "red"
    return "yellow" if counts["changed"] else "green"


def write_json(path, results, check):
    """The JSON report, written to a temporary file beside `path` then renamed over it."""
    document = {
        "check": check,
        "summary": {result.name: result.counts() for result in results},
        "hosts": {result.name: [asdict(step) for step in result.steps] for result in results},
        "unreachable": {result.name: result.unreachable for result in results if result.unreachable},
    }
    directory = os.path.dirname(os.path.abspath(path))
    fd, staged = tempfile.mkstemp(prefix=".report-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
        os.replace(staged, path)
    except BaseException:
        os.unlink(staged)
        raise
