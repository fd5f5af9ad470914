"""The containers service: every container verb, the restart policies, and the state on disk.

Each container has its own lock and condition (record.Container); the service's lock only
guards the table of containers and names. A container's end is noticed by a monitor thread
blocked in the shim's wait(); it releases the network and the runtime's leftovers, records
the exit, and applies the restart policy or --rm. Waiting verbs (stop, wait, attach) sleep
on the container's condition, which every state change notifies.
"""
import os
import shutil
import signal
import sys
import threading
import time

from engine import runtime
from engine.containers import etcfiles, logs, naming, views
from engine.containers.create import bind_mounts, new_record, published_ports
from engine.containers.errors import Conflict, ContainerError, InvalidParameter, NotFound, NotModified, StartError
from engine.containers.record import Container, now
from engine.containers.spec import runtime_spec
from engine.containers.streams import STDOUT, frame, splice
from engine.images.service import ImageNotFound
from engine.network import PortAllocated

DEFAULT_STOP_TIMEOUT = 10
RESTART_DELAY_FIRST, RESTART_DELAY_MAX = 0.1, 60.0
RAN_LONG_ENOUGH = 10           # seconds: a container that ran this long restarts without back-off
CLEANUP_ATTEMPTS = 3           # the runtime waits ~2 s for a killed cgroup to empty; more on a loaded host


def log(message):
    sys.stderr.write("yardd: %s\n" % message)
    sys.stderr.flush()


# moby's SignalMap: the names without SIG, the real-time ones also as RTMIN+n and RTMAX-n.
SIGNALS = dict((name[3:], int(number)) for name, number in signal.Signals.__members__.items())
SIGNALS.update(("RTMIN+%d" % n, signal.SIGRTMIN + n) for n in range(1, 16))
SIGNALS.update(("RTMAX-%d" % n, signal.SIGRTMAX - n) for n in range(1, 15))


def signal_number(name):
    """"SIGTERM", "TERM", "15", "RTMIN+2" -> its number, as moby's ParseSignal; docker's message
    for anything else."""
    text = str(name).upper()
    number = int(text) if text.isdigit() else SIGNALS.get(text[3:] if text.startswith("SIG") else text)
    if number is None or not 0 < number < 65:
        raise InvalidParameter("Invalid signal: %s" % name)
    return number


def start_exit_code(message):
    """docker's exit codes for a command that cannot run: 127 not found, 126 not executable."""
    if "executable file not found" in message or "no such file or directory" in message.lower():
        return 127
    if "permission denied" in message.lower():
        return 126
    return 125


class Exec:
    def __init__(self, exec_id, container, body):
        self.id = exec_id
        self.container = container
        self.body = body
        self.shim = None
        self.running = False
        self.started = False
        self.exit_code = None
        self.pid = 0


class ContainerService:
    def __init__(self, root, config, images, network):
        self.root = root
        self.config = config
        self.images = images
        self.network = network
        self._lock = threading.RLock()
        self._containers = {}             # id -> Container
        self._execs = {}                  # exec id -> Exec
        self._shutting_down = False
        os.makedirs(root, exist_ok=True)

    # --- lookups -------------------------------------------------------------------------
    def get(self, reference):
        """By full id, name (with or without "/"), or a unique id prefix, as docker resolves."""
        with self._lock:
            if reference in self._containers:
                return self._containers[reference]
            name = reference.lstrip("/")
            for container in self._containers.values():
                if container.name == name:
                    return container
            found = [c for key, c in self._containers.items() if reference and key.startswith(reference)]
        if len(found) > 1:
            raise InvalidParameter("multiple IDs found with provided prefix: %s" % reference)
        if not found:
            raise NotFound("No such container: %s" % reference)
        return found[0]

    def all(self):
        with self._lock:
            return list(self._containers.values())

    def image_in_use(self, image_id):
        """The name of a container made from this image, or None (the images service asks)."""
        for container in self.all():
            if container.data["Image"] == image_id:
                return container.name
        return None

    def counts(self):
        states = [container.state["Status"] for container in self.all()]
        return {"total": len(states), "running": states.count("running") + states.count("restarting"),
                "paused": 0, "stopped": len(states) - states.count("running") - states.count("restarting")}

    # --- create, list, inspect, rename ------------------------------------------------------
    def create(self, body, name=None):
        image = self.images.resolve(body.get("Image") or "")
        with self._lock:
            taken = {container.name for container in self._containers.values()}
            if name:
                try:
                    name = naming.check_name(name)
                except ValueError as error:
                    raise InvalidParameter(str(error))
                if name in taken:
                    owner = self.get(name).id
                    raise Conflict('Conflict. The container name "/%s" is already in use by container "%s". '
                                   'You have to remove (or rename) that container to be able to reuse that name.'
                                   % (name, owner))
            else:
                name = naming.generate_name(taken)
            container_id = naming.new_id()
            container = Container(os.path.join(self.root, container_id),
                                  new_record(container_id, name, body, image, self.config))
            try:
                for part in ("upper", "work", "merged"):
                    os.makedirs(container.path("rootfs/" + part))
                etcfiles.write_all(container, self.config)
                container.save()
            except BaseException:
                shutil.rmtree(container.directory, ignore_errors=True)
                raise
            self._containers[container_id] = container
        return container_id

    def list(self, all_containers=False, filters=None):
        filters = filters or {}
        summaries = []
        for container in self.all():
            with container.lock:
                summary = views.summary(container)
            # As docker: stopped containers are listed with -a, or when a filter asks for a state.
            shown = all_containers or "status" in filters or "exited" in filters
            if not shown and summary["State"] not in ("running", "restarting"):
                continue
            if _matches(summary, filters):
                summaries.append(summary)
        return sorted(summaries, key=lambda s: s["Created"], reverse=True)

    def inspect(self, reference):
        container = self.get(reference)
        with container.lock:
            return views.inspect(container)

    def rename(self, reference, new_name):
        container = self.get(reference)
        try:
            new_name = naming.check_name(new_name or "")
        except ValueError as error:
            raise InvalidParameter(str(error))
        with container.lock, self._lock:     # always a container's lock before the table's
            if any(other.name == new_name for other in self._containers.values()):
                raise Conflict('Conflict. The container name "/%s" is already in use by container "%s". '
                               'You have to remove (or rename) that container to be able to reuse that name.'
                               % (new_name, self.get(new_name).id))
            container.data["Name"] = "/" + new_name
            container.save()

    # --- start -------------------------------------------------------------------------------
    def start(self, reference):
        container = self.get(reference)
        with container.lock:
            if container.running:
                raise NotModified("container already started")
            container.cancel_restart = False
            container.data["HasBeenManuallyStopped"] = False
            self._start(container)

    def _start(self, container):
        """Launch, wire the network, let the command run. The caller holds the container's lock."""
        mode = container.host_config["NetworkMode"]
        try:
            image = self.images.resolve(container.data["Image"])
            namespace = {"host": "host"}.get(mode) or self._joined_namespace(mode)
            for mount in bind_mounts(container.host_config.get("Binds")):
                if not os.path.exists(mount["source"]):
                    os.makedirs(mount["source"])       # as docker does for -v host:ctr
            spec = runtime_spec(container, image, self.config, namespace)
        except (ContainerError, ImageNotFound, OSError) as error:
            self._start_failed(container, 125, str(error))
        shutil.rmtree(container.bundle, ignore_errors=True)
        try:
            shim = runtime.launch(container.bundle, spec)
        except runtime.CreateError as error:
            shutil.rmtree(container.bundle, ignore_errors=True)
            self._start_failed(container, error.exit_code, str(error))
        try:
            endpoint = {}
            if self._bridged(container):
                endpoint = self.network.connect(container.id, "/proc/%d/ns/net" % shim.pid,
                                                published_ports(container.config, container.host_config))
            container.data["NetworkSettings"] = endpoint
            etcfiles.write_all(container, self.config, endpoint.get("IPAddress"))
            for attacher in container.attachers:
                attacher["sock"] = shim.attach(attacher["stdin"], attacher["stdout"], attacher["stderr"])
            container.attachers = []
            shim.start()
        except (RuntimeError, OSError, PortAllocated) as error:
            self._release(container, shim)
            message = str(error)
            if isinstance(error, PortAllocated):
                message = "driver failed programming external connectivity on endpoint %s (%s): %s" % (
                    container.name, container.id, error)
            self._start_failed(container, start_exit_code(message), message)
        container.shim = shim
        container.started_at = time.time()
        container.set_running(shim.pid)
        container.save()
        threading.Thread(target=self._monitor, args=(container, shim), daemon=True).start()

    @staticmethod
    def _bridged(container):
        """Is the container on the bridge, with a veth and an address of its own?"""
        return container.host_config["NetworkMode"] in ("default", "bridge")

    def _joined_namespace(self, mode):
        """The network namespace to join for `container:<name>`; None (a new one) otherwise."""
        if not mode.startswith("container:"):
            return None
        other = self.get(mode.split(":", 1)[1])
        if not other.running:
            raise Conflict("cannot join network of a non running container: %s" % other.id)
        return "/proc/%d/ns/net" % other.state["Pid"]

    def _start_failed(self, container, code, message):
        for attacher in container.attachers:
            attacher["failed"] = True
        container.attachers = []
        container.set_start_failed(code, message)
        container.save()
        if container.host_config["AutoRemove"]:
            self._delete(container)               # --rm: docker removes what could not start, too
        raise StartError(message, code)

    def _release(self, container, shim):
        """Give back what a run held: its network endpoint, the runtime's cgroup and files
        (the caller holds the lock). Used after an exit and after a start that failed."""
        self._disconnect(container)
        self._clean_runtime(container, shim)

    def _disconnect(self, container, unlink=True):
        """Its address and published ports back to the bridge and, with `unlink`, its veth
        deleted (otherwise the caller calls network.unlink later)."""
        if self._bridged(container):
            self.network.disconnect(container.id, unlink)
        container.data["NetworkSettings"] = {}

    def _clean_runtime(self, container, shim):
        """Remove the runtime's cgroup and files of a run (shim None: none was created)."""
        for attempt in range(CLEANUP_ATTEMPTS if shim is not None else 0):
            try:
                shim.cleanup()                  # idempotent: a retry finishes what a busy host delayed
                break
            except (RuntimeError, OSError) as error:
                if attempt == CLEANUP_ATTEMPTS - 1:
                    log("cleaning up container %s: %s" % (container.id[:12], error))
        shutil.rmtree(container.bundle, ignore_errors=True)

    # --- the end of a container, restart policies ------------------------------------------
    def _monitor(self, container, shim):
        status = None
        while status is None:
            try:
                status = shim.wait()
            except OSError:                    # the shim went away as we asked: it has written how
                status = shim.exit_status()
            if status is None:                 # alive but not answering yet
                time.sleep(0.1)
        self._exited(container, shim, status)

    def _exited(self, container, shim, status):
        auto_remove = container.host_config["AutoRemove"]     # never with a restart policy
        restart = False
        with container.lock:
            if container.shim is not shim:
                return
            container.shim = None
            if auto_remove:
                self._disconnect(container, unlink=False)      # the rest: _remove_after_exit
            else:
                self._release(container, shim)
            self._forget_execs(container)
            container.set_exited(status.code, status.oom_killed, status.finished_at)
            if auto_remove:
                # Its end is not saved: nobody reads it. Should the daemon stop before the
                # files are gone, restore() finds it not running and removes it.
                self._forget(container)
            else:
                restart = self._should_restart(container)
                if restart:
                    container.data["RestartCount"] += 1
                    container.set_restarting()
                container.save()
        if auto_remove:
            self._remove_after_exit(container, shim)
        elif restart:
            self._restart_later(container)

    def _remove_after_exit(self, container, shim):
        """--rm, once the container is forgotten (which answers who waits for its removal):
        clean up after its run, delete its files and its veth. `run --rm` waits for that
        answer and need not wait for the rest: deleting a link waits for RCU grace periods
        (12 to 30 ms here), the cgroups and files take a few ms more. Its address and ports
        were given back before the answer (_exited)."""
        self._clean_runtime(container, shim)
        shutil.rmtree(container.directory, ignore_errors=True)
        if self._bridged(container):
            self.network.unlink(container.id)

    def _should_restart(self, container):
        if self._shutting_down or container.cancel_restart:
            return False
        policy = container.host_config["RestartPolicy"]
        if policy["Name"] == "always":
            return True
        if policy["Name"] == "unless-stopped":
            return not container.data["HasBeenManuallyStopped"]
        if policy["Name"] == "on-failure":
            retries = policy["MaximumRetryCount"]
            return container.state["ExitCode"] != 0 and (not retries or container.data["RestartCount"] < retries)
        return False

    def _restart_later(self, container):
        """Start it again after docker's back-off: 100 ms, doubling, reset after a long run."""
        ran = time.time() - container.started_at
        previous = container.restart_delay
        delay = (RESTART_DELAY_FIRST if ran >= RAN_LONG_ENOUGH or not previous
                 else min(previous * 2, RESTART_DELAY_MAX))
        container.restart_delay = delay

        def restart():
            time.sleep(delay)
            with container.lock:
                if container.removed or container.state["Status"] != "restarting" or self._shutting_down:
                    return
                try:
                    self._start(container)
                except ContainerError as error:
                    log("restarting container %s: %s" % (container.id[:12], error))
                except Exception as error:      # the image went away, the disk is full...
                    container.set_start_failed(125, str(error))
                    container.save()
                    log("restarting container %s: %s" % (container.id[:12], error))
        threading.Thread(target=restart, daemon=True).start()

    # --- stop, kill, restart, remove ------------------------------------------------------
    def stop(self, reference, timeout=None):
        container = self.get(reference)
        with container.lock:
            container.cancel_restart = True
            container.data["HasBeenManuallyStopped"] = True
            if container.state["Status"] == "restarting":
                container.set_start_failed(container.state["ExitCode"], "")
                container.save()
                return
            if not container.running:
                raise NotModified("container already stopped")
            container.save()
            self._stop(container, timeout)

    def _stop(self, container, timeout=None):
        """The stop signal, then SIGKILL after `timeout` seconds; returns once it has ended."""
        shim = container.shim
        if timeout is None or timeout < 0:
            timeout = container.config.get("StopTimeout", DEFAULT_STOP_TIMEOUT)
        self._signal(shim, signal_number(container.config.get("StopSignal") or "SIGTERM"))
        if not container.changed.wait_for(lambda: container.shim is not shim, timeout):
            self._signal(shim, signal.SIGKILL)
            if not container.changed.wait_for(lambda: container.shim is not shim, DEFAULT_STOP_TIMEOUT):
                log("container %s did not end after SIGKILL" % container.id[:12])

    @staticmethod
    def _signal(shim, number):
        try:
            shim.signal(number)
        except (RuntimeError, OSError):
            pass                                 # it has just ended: the monitor records it

    def kill(self, reference, signal_name=None):
        container = self.get(reference)
        number = signal_number(signal_name or "SIGKILL")
        with container.lock:
            if not container.running:
                raise Conflict("Container %s is not running" % container.id)
            container.data["HasBeenManuallyStopped"] = True
            stop_signal = signal_number(container.config.get("StopSignal") or "SIGTERM")
            if number in (signal.SIGKILL, stop_signal):
                container.cancel_restart = True
            container.save()
            shim = container.shim
            self._signal(shim, number)
            if number == signal.SIGKILL:
                container.changed.wait_for(lambda: container.shim is not shim, DEFAULT_STOP_TIMEOUT)

    def restart(self, reference, timeout=None):
        container = self.get(reference)
        with container.lock:
            container.cancel_restart = True
            if container.running:
                self._stop(container, timeout)
            container.cancel_restart = False
            container.data["HasBeenManuallyStopped"] = False
            self._start(container)

    def remove(self, reference, force=False):
        container = self.get(reference)
        with container.lock:
            if container.running or container.state["Status"] == "restarting":
                if not force:
                    raise Conflict("You cannot remove a running container %s. Stop the container before "
                                   "attempting removal or force remove" % container.id)
                container.cancel_restart = True
                if container.running:
                    shim = container.shim
                    self._signal(shim, signal.SIGKILL)
                    if not container.changed.wait_for(lambda: container.shim is not shim, DEFAULT_STOP_TIMEOUT):
                        raise Conflict("Could not kill running container %s, cannot remove" % container.id)
            if not container.removed:
                self._delete(container)

    def _delete(self, container):
        """Forget the container and remove its directory (the caller holds its lock)."""
        self._forget(container)
        shutil.rmtree(container.directory, ignore_errors=True)

    def _forget(self, container):
        """Out of the table, its name free, and removed for whoever waits (the caller holds
        its lock)."""
        with self._lock:
            self._containers.pop(container.id, None)
        container.removed = True
        container.changed.notify_all()

    def prune(self):
        deleted, reclaimed = [], 0
        for container in self.all():
            with container.lock:
                if container.running or container.state["Status"] == "restarting" or container.removed:
                    continue
                reclaimed += _disk_usage(container.path("rootfs/upper"))
                self._delete(container)
                deleted.append(container.id)
        return deleted, reclaimed

    # --- wait, attach, logs ----------------------------------------------------------------
    def wait(self, container, condition="not-running"):
        """Block until the condition holds; -> (exit code, error message or None)."""
        with container.lock:
            if condition == "next-exit":
                seen = container.exits
                container.changed.wait_for(lambda: container.exits > seen or container.removed)
            elif condition == "removed":
                container.changed.wait_for(lambda: container.removed)
            else:
                container.changed.wait_for(lambda: not container.running or container.removed)
            return container.state["ExitCode"], container.state["Error"] or None

    def attach(self, container, hijack, stdin=False, stdout=True, stderr=True):
        """Join a client to the container's streams, now or at its next start. `hijack()` takes
        over the client's connection; it is called once the attachment is registered, so a
        client that starts the container as soon as it is answered misses no output."""
        with container.lock:
            if container.running:
                inner = container.shim.attach(stdin, stdout, stderr)
                client = hijack()
            else:
                pending = {"stdin": stdin, "stdout": stdout, "stderr": stderr, "sock": None, "failed": False}
                container.attachers.append(pending)
                client = hijack()
                container.changed.wait_for(lambda: pending["sock"] or pending["failed"] or container.removed)
                inner = pending["sock"]
                if inner is None:
                    return
        splice(client, inner, stdin)

    def resize(self, reference, height, width):
        container = self.get(reference)
        with container.lock:
            if not container.running:
                raise Conflict("Container %s is not running" % container.id)
            container.shim.resize(height, width)

    def logs(self, reference, follow=False, tail=None, since=0.0, until=0.0):
        """(container, generator of (stream, text, time)) for the log entries."""
        container = self.get(reference)
        is_running = lambda: container.running or container.state["Status"] == "restarting"  # noqa: E731
        return container, logs.entries(container.log_path, tail, follow, is_running, since, until)

    # --- exec ---------------------------------------------------------------------------------
    def exec_create(self, reference, body):
        container = self.get(reference)
        if not body.get("Cmd"):
            raise InvalidParameter("No exec command specified")
        with container.lock:
            if not container.running:
                raise Conflict("Container %s is not running" % container.id)
            instance = Exec(naming.new_id(), container, body)
            with self._lock:
                self._execs[instance.id] = instance
        return instance.id

    def exec_get(self, exec_id):
        with self._lock:
            instance = self._execs.get(exec_id)
        if instance is None:
            raise NotFound("No such exec instance: %s" % exec_id)
        return instance

    def exec_start(self, instance, hijack=None, tty=None):
        """Run the exec. With `hijack` (a callable that takes over the client's connection once
        the checks have passed) stream it and return when it has ended; else run it detached."""
        body, container = instance.body, instance.container
        with container.lock:
            if instance.started:
                raise Conflict("Exec %s has already been started" % instance.id)
            if not container.running:
                raise Conflict("Container %s is not running" % container.id)
            instance.started = True
            spec = {"args": body["Cmd"], "env": body.get("Env") or [], "cwd": body.get("WorkingDir") or "",
                    "user": body.get("User") or "", "tty": bool(body.get("Tty") if tty is None else tty),
                    "stdin": bool(body.get("AttachStdin")) and hijack is not None}
            client = hijack() if hijack else None
            try:
                shim = runtime.exec_process(container.bundle, spec, start=False)
            except runtime.CreateError as error:
                instance.exit_code = 126          # docker's code for an exec that cannot start
                if client is None:
                    raise StartError(str(error), 126)
                message = (str(error) + "\r\n").encode()
                client.sendall(message if spec["tty"] else frame(STDOUT, message))
                return
            instance.shim, instance.pid, instance.running = shim, shim.pid, True
            inner = None
            if client is not None:
                inner = shim.attach(spec["stdin"], bool(body.get("AttachStdout", True)),
                                    bool(body.get("AttachStderr", True)))
            shim.start()
        if client is None:
            threading.Thread(target=self._exec_finished, args=(instance,), daemon=True).start()
            return
        splice(client, inner, spec["stdin"], lambda: self._exec_finished(instance))

    def _exec_finished(self, instance):
        status = instance.shim.wait()
        instance.exit_code = status.code if status else 137
        instance.running = False
        try:
            instance.shim.cleanup()
        except (RuntimeError, OSError):
            pass

    def exec_resize(self, instance, height, width):
        if not instance.running:
            raise Conflict("Exec %s is not running" % instance.id)
        instance.shim.resize(height, width)

    def exec_inspect(self, instance):
        body = instance.body
        return {"ID": instance.id, "Running": instance.running, "ExitCode": instance.exit_code,
                "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": body["Cmd"][0],
                                  "arguments": body["Cmd"][1:], "privileged": bool(body.get("Privileged")),
                                  "user": body.get("User") or ""},
                "OpenStdin": bool(body.get("AttachStdin")), "OpenStderr": bool(body.get("AttachStderr")),
                "OpenStdout": bool(body.get("AttachStdout")), "CanRemove": False,
                "ContainerID": instance.container.id, "DetachKeys": "", "Pid": instance.pid}

    def _forget_execs(self, container):
        with self._lock:
            for exec_id in [key for key, value in self._execs.items()
                            if value.container is container and not value.running]:
                del self._execs[exec_id]

    # --- top, stats ----------------------------------------------------------------------
    def top(self, reference):
        container = self.get(reference)
        with container.lock:
            if not container.running:
                raise Conflict("Container %s is not running" % container.id)
            found = runtime.processes(container.bundle)
        return {"Titles": ["UID", "PID", "PPID", "CMD"],
                "Processes": [[user, str(pid), str(ppid), command] for pid, ppid, user, command in found]}

    def stats_sample(self, container):
        """One sample of docker's stats JSON (cpu_stats, memory_stats, pids_stats, networks)."""
        with container.lock:
            running = container.running
            pid = container.state["Pid"]
        sample = {"read": now(), "id": container.id, "name": "/" + container.name, "num_procs": 0,
                  "pids_stats": {}, "memory_stats": {}, "blkio_stats": {}, "storage_stats": {},
                  "cpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": _system_cpu_ns(),
                                "online_cpus": os.cpu_count() or 1, "throttling_data": {}}}
        if not running:
            return sample
        try:
            usage = runtime.cgroup_stats({"id": container.id, "cgroup": {"parent": self.config["cgroup-parent"]}})
        except OSError:
            return sample
        sample["pids_stats"] = {"current": usage["pids"]}
        sample["memory_stats"] = {"usage": usage["memory_usage"], "limit": usage["memory_limit"], "stats": {}}
        sample["cpu_stats"]["cpu_usage"]["total_usage"] = usage["cpu_usage_ns"]
        sample["networks"] = _network_counters(pid)
        return sample

    # --- daemon start and stop ------------------------------------------------------------
    def restore(self):
        """Load every container; reconnect to live shims (live-restore) or record their end;
        start what the restart policies say; drop network endpoints nobody holds."""
        for entry in sorted(os.listdir(self.root)):
            directory = os.path.join(self.root, entry)
            try:
                container = Container.load(directory)
            except (OSError, ValueError):
                log("removing %s: not a whole container (interrupted create)" % directory)
                shutil.rmtree(directory, ignore_errors=True)
                continue
            self._containers[container.id] = container
        for container in self.all():
            with container.lock:
                self._recover(container)
        live = {container.id for container in self.all() if container.running}
        for endpoint_owner in self.network.endpoints():
            if endpoint_owner not in live:
                self.network.disconnect(endpoint_owner)

    def _recover(self, container):
        shim = _shim_of(container.bundle)
        if container.running or container.state["Status"] == "restarting":
            if shim is not None and shim.status() == "running":
                if self.config["live-restore"]:
                    container.shim = shim
                    threading.Thread(target=self._monitor, args=(container, shim), daemon=True).start()
                    return
                self._signal(shim, signal.SIGKILL)     # docker without live-restore: it must not outlive us
            status = shim.wait(DEFAULT_STOP_TIMEOUT) if shim is not None else None
            self._release(container, shim)
            container.shim = None
            status = status or runtime.ExitStatus(255, False, now())     # gone with a host reboot
            container.set_exited(status.code, status.oom_killed, status.finished_at)
            container.save()
            if container.host_config["AutoRemove"]:
                self._delete(container)
                return
        elif shim is not None:
            self._release(container, shim)          # leftovers of a release cut short
        if container.host_config["AutoRemove"]:
            self._delete(container)                 # as dockerd: --rm and not running is removed
            return
        if container.state["Status"] == "exited" and self._should_restart(container):
            try:
                self._start(container)
            except Exception as error:              # one container must not keep the daemon down
                log("restarting container %s: %s" % (container.id[:12], error))

    def shutdown(self):
        """Without live-restore, stop every running container (in parallel) and wait for them."""
        self._shutting_down = True
        if self.config["live-restore"]:
            return
        timeout = self.config["shutdown-timeout"]
        stoppers = []
        for container in self.all():
            if container.running:
                def stop(container=container):
                    with container.lock:
                        if container.running:
                            limit = container.config.get("StopTimeout", DEFAULT_STOP_TIMEOUT)
                            self._stop(container, min(limit, timeout))
                stoppers.append(threading.Thread(target=stop))
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()


def _shim_of(bundle):
    try:
        return runtime.Shim(bundle)
    except (OSError, ValueError):
        shutil.rmtree(bundle, ignore_errors=True)
        return None


def _matches(summary, filters):
    """docker ps --filter: status, name, id, label, exited (each a list of wanted values)."""
    for key, wanted in filters.items():
        if key == "status" and summary["State"] not in wanted:
            return False
        if key == "name" and not any(w.lstrip("/") in summary["Names"][0] for w in wanted):
            return False
        if key == "id" and not any(summary["Id"].startswith(w) for w in wanted):
            return False
        if key == "exited" and not (summary["State"] == "exited"
                                    and any(summary["Status"].startswith("Exited (%s)" % w) for w in wanted)):
            return False
        if key == "label":
            labels = summary["Labels"]
            for label in wanted:
                name, _, value = label.partition("=")
                if name not in labels or (value and labels[name] != value):
                    return False
    return True


def _disk_usage(directory):
    total = 0
    for parent, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                pass
    return total


def _system_cpu_ns():
    with open("/proc/stat") as source:
        jiffies = sum(int(value) for value in source.readline().split()[1:8])
    return jiffies * (10 ** 9 // os.sysconf("SC_CLK_TCK"))


def _network_counters(pid):
    """{"eth0": {"rx_bytes", "rx_packets", ..., "tx_bytes", ...}} from the container's /proc/<pid>/net/dev."""
    names = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors",
             "tx_dropped")
    counters = {}
    try:
        with open("/proc/%d/net/dev" % pid) as source:
            lines = source.readlines()[2:]
    except OSError:
        return counters
    for line in lines:
        interface, _, values = line.partition(":")
        interface, fields = interface.strip(), values.split()
        if interface == "lo" or len(fields) < 16:
            continue
        numbers = [int(value) for value in fields[0:4] + fields[8:12]]
        counters[interface] = dict(zip(names, numbers))
    return counters
