"""The runner: every selected step on every selected host, hosts in parallel.

One host's run, in order (the rules are written down in provision/actions/__init__.py):
connect, facts (one round trip), render and validate every step (nothing has changed yet, so a
bad variable leaves the host untouched), checks (one round trip), then plan and apply step by
step, re-checking the remaining steps after each change; notified handlers last. A host that
fails or cannot be reached never stops the others. Ctrl-C stops every host after the step it
is running (and the handlers those changes notified), then prints the recap.
"""
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from provision import actions, checks, facts as host_facts, inventory, memo, steps as step_file, variables
from provision.actions import ActionError, ArgError, Context, Ok, quote
from provision.cli import EXIT_ERROR, EXIT_FAILED_HOSTS, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE_HOSTS
from provision.hosts import HostVarError
from provision.report import HostResult, Report, StepResult, redact, write_json
from provision.transport import Connection, RemoteError, TransportError


@dataclass(frozen=True)
class Job:
    """What every host's run shares."""
    steps: tuple
    handlers: tuple
    defaults: dict
    extra_vars: dict
    templates: variables.Templates
    check: bool
    known_hosts: Optional[str]
    accept_new: bool
    groups: dict          # group -> its hosts (Ansible's `groups`)
    group_names: dict     # host -> its groups (Ansible's `group_names`)
    stop: threading.Event = field(default_factory=threading.Event)   # set by Ctrl-C
    once: Callable = field(default_factory=memo.per_run)             # work the hosts share


@dataclass
class Prepared:
    """A step rendered for one host: its arguments and check, or the result it already has."""
    step: step_file.Step
    args: Optional[dict] = None
    check: Optional[str] = None            # the check snippet (None: the action needs none)
    result: Optional[StepResult] = None    # skipped by `when`, or failed to render


def apply(args):
    """`provision apply`: returns the exit code."""
    try:
        inv = inventory.load(args.inventory)
        hosts = inventory.hosts_for(inv, args.limit)
        steps_path = Path(args.steps or step_file.DEFAULT_STEPS)
        loaded = step_file.load(steps_path)
        job = Job(
            steps=tuple(step_file.select(loaded.steps, step_file.split_tags(args.tags),
                                         step_file.split_tags(args.skip_tags))),
            handlers=loaded.handlers,
            defaults=variables.load_defaults(loaded.directory),
            extra_vars=variables.parse_extra_vars(args.extra_vars),
            templates=variables.Templates(loaded.directory),
            check=args.check,
            known_hosts=args.known_hosts,
            accept_new=args.accept_new_host_keys,
            groups=groups_of(inv),
            group_names={host.name: inv.groups_of(host.name) for host in hosts},
        )
    except (inventory.InventoryError, step_file.StepFileError, variables.VariableError, HostVarError) as error:
        print("provision: error: %s" % error, file=sys.stderr)
        return EXIT_ERROR
    if not hosts:
        print("provision: error: no hosts matched %s" % (args.limit or args.inventory), file=sys.stderr)
        return EXIT_ERROR
    if args.report and not Path(args.report).resolve().parent.is_dir():
        print("provision: error: --report %s: no such directory" % args.report, file=sys.stderr)
        return EXIT_ERROR

    report = Report(check=args.check, diff=args.diff)
    report.start([host.name for host in hosts])
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.forks)) as pool:
            futures = [pool.submit(run_host, host, job, report) for host in hosts]
            try:
                results = [future.result() for future in futures]
            except KeyboardInterrupt:
                job.stop.set()
                print("provision: interrupted: every host stops after its current step", file=sys.stderr,
                      flush=True)
                results = [future.result() for future in futures]
    finally:
        report.stop()
    report.recap(results)
    if args.report:
        write_json(args.report, results, args.check)
    return EXIT_INTERRUPTED if job.stop.is_set() else exit_code(results)


def groups_of(inv):
    """Every group's hosts, its descendants' included, in inventory order."""
    groups = {}
    for name in inv.groups:
        try:
            groups[name] = inv.select(name)
        except inventory.InventoryError:   # a group without hosts
            groups[name] = []
    return groups


def exit_code(results):
    code = EXIT_OK
    for result in results:
        if result.unreachable:
            code |= EXIT_UNREACHABLE_HOSTS
        elif result.counts()["failed"]:
            code |= EXIT_FAILED_HOSTS
    return code


def run_host(host, job, report):
    """One host's whole run; never raises, the HostResult says how it went."""
    result = HostResult(host.name)
    if job.stop.is_set():   # interrupted before this host's turn came
        return result
    secrets = (host.password, host.become_password)
    conn = Connection(host, known_hosts=job.known_hosts, accept_new=job.accept_new)
    try:
        conn.connect()
        HostRun(host, conn, job, report, result, secrets).run()
    except TransportError as error:
        result.unreachable = redact(str(error), secrets)
    except Exception as error:   # a bug must cost this host, not the whole run and its recap
        result.steps.append(StepResult("internal error", "runner", "failed", redact(describe(error), secrets)))
    finally:
        conn.close()
    report.host_done(result)
    return result


class HostRun:
    def __init__(self, host, conn, job, report, result, secrets):
        self.host, self.conn, self.job, self.report = host, conn, job, report
        self.result, self.secrets = result, secrets

    def run(self):
        self.report.step_started(self.host.name, "gathering facts")
        try:
            facts = host_facts.gather(self.conn)
            scope = variables.host_variables(self.job.defaults, self._host_vars(), self.job.extra_vars, facts)
        except (host_facts.FactsError, variables.VariableError) as error:
            self._record(StepResult("gathering facts", "facts", "failed", str(error)))
            return
        prepared = [self._prepare(step, scope, facts) for step in self.job.steps]
        if any(p.result and p.result.result == "failed" for p in prepared):
            for p in prepared:   # nothing has been touched: report what is wrong, change nothing
                if p.result and p.result.result == "failed":
                    self._record(p.result)
            return
        notified = self._run_steps(prepared, facts)
        handlers = [h for h in self.job.handlers if h.name in notified]
        if handlers:
            self._run_steps([self._prepare(h, scope, facts) for h in handlers], facts, handler=True)

    def _host_vars(self):
        """The inventory's variables and, as in Ansible, magic ones the inventory cannot override."""
        return {**self.host.vars, "inventory_hostname": self.host.name, "groups": self.job.groups,
                "group_names": self.job.group_names[self.host.name]}

    def _prepare(self, step, scope, facts):
        """Render when and args, validate, prepare, write the check: all on the controller.

        The check snippet depends only on the arguments and facts, which stay the same for the
        whole run, so the re-checks after a change reuse it.
        """
        part = "when"
        try:
            if not variables.evaluate_when(step.when, scope):
                return Prepared(step, result=StepResult(step.name, step.action.name, "skipped",
                                                        "when: %s is false" % step.when))
            part = "args"
            args = actions.validate(step.action.args, variables.render_value(step.args, scope))
            context = Context(self.host.name, scope, facts,
                              lambda src: self.job.templates.render(src, scope), self.job.once)
            args = step.action.prepare(args, context)
            part = "check"
            return Prepared(step, args=args, check=step.action.check(args, facts))
        except ArgError as error:
            message = str(error)
        except Exception as error:   # a variable, a template, or the action's own prepare
            message = "%s: %s" % (part, describe(error))
        return Prepared(step, result=StepResult(step.name, step.action.name, "failed",
                                                "%s: %s" % (step.where, message)))

    def _run_steps(self, prepared, facts, handler=False):
        """Plan and apply in order; returns the handlers that changed steps notified."""
        notified = set()
        observed = None   # checked lazily: first when a step needs it, again after each change
        for index, item in enumerate(prepared):
            step = item.step
            if self.job.stop.is_set() and not handler:
                break
            if item.result:
                self._record(item.result, handler)
                continue
            self.report.step_started(self.host.name, step.name)
            started = time.monotonic()
            try:
                if observed is None:
                    observed = self._check(prepared[index:], first=index)
                outcome = step.action.plan(item.args, facts, observed.get(index))
                if not isinstance(outcome, Ok) and not self.job.check:
                    step.action.apply(self.conn, outcome)
                    observed = None
            except TransportError:
                raise
            except Exception as error:   # an action's error, or its bug: this host fails, others go on
                message = describe(error)
                self._record(StepResult(step.name, step.action.name, "failed", message,
                                        duration=time.monotonic() - started), handler)
                break
            changed = not isinstance(outcome, Ok)
            self._record(StepResult(step.name, step.action.name, "changed" if changed else "ok",
                                    outcome.reason, outcome.diff if changed else "",
                                    time.monotonic() - started), handler)
            if changed:
                notified.update(step.notify)
        return notified

    def _check(self, prepared, first=0):
        """Every check snippet of `prepared` in one round trip: {index: Observed}."""
        snippets = {first + offset: item.check for offset, item in enumerate(prepared)
                    if item.result is None and item.check is not None}
        if not snippets:
            return {}
        marker = "@@dockyard-%s" % secrets.token_hex(16)
        result = self.conn.run("sh -c %s" % quote(checks.batch_script(snippets, marker)))
        return checks.split_checks(result.stdout, result.stderr, marker)

    def _record(self, step_result, handler=False):
        step_result.reason = redact(step_result.reason, self.secrets)
        step_result.diff = redact(step_result.diff, self.secrets)
        step_result.handler = handler
        self.result.steps.append(step_result)
        self.report.step_done(self.host.name, step_result)


def describe(error):
    """An error as the operator reads it: our own errors by their message, others with their type."""
    if isinstance(error, (ActionError, RemoteError, variables.VariableError)):
        return str(error)
    return "%s: %s" % (type(error).__name__, error)
