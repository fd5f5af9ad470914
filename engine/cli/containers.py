"""`yard` container verbs: docker's flags, output and exit codes, over the Engine API.

Exit codes as docker's: 125 when the engine refuses (bad flag, daemon error), 126 when the
command cannot be run, 127 when it is not found, otherwise the container's own code
(137 after SIGKILL).
"""
import argparse
import json
import os
import re
import socket
import struct
import sys
import time

from engine.cli.client import ClientError

ENGINE_ERROR, CANNOT_RUN, NOT_FOUND = 125, 126, 127


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _formatter(prog):
    """argparse makes a formatter for every argument added, and each asks the terminal for
    its width: `yard run` would ask 40 times before parsing anything. Help is 80 columns."""
    return argparse.HelpFormatter(prog, width=78)


def _parser(verb, usage):
    parser = _Parser(prog="yard " + verb, usage="yard %s %s" % (verb, usage), add_help=False,
                     allow_abbrev=False, formatter_class=_formatter)
    parser.add_argument("--help", action="help", help="Print usage")
    return parser


def verb(function):
    """A bad flag or argument exits 125 with docker's hint, whatever the verb."""
    def wrapped(client, argv):
        try:
            return function(client, argv)
        except UsageError as error:
            name = function.__name__.rstrip("_").replace("_", " ")       # exec_ -> exec, container_prune
            sys.stderr.write("yard %s: %s\nSee 'yard %s --help'.\n" % (name, error, name))
            return ENGINE_ERROR
    wrapped.__name__ = function.__name__
    return wrapped


def _error(message, code=1):
    sys.stderr.write("Error response from daemon: %s\n" % message)
    return code


# --- run and create --------------------------------------------------------------------------

def _container_options(parser):
    add = parser.add_argument
    add("-d", "--detach", action="store_true")
    add("-i", "--interactive", action="store_true")
    add("-t", "--tty", action="store_true")
    add("--rm", action="store_true")
    add("--name")
    add("-e", "--env", action="append", default=[])
    add("--env-file", action="append", default=[])
    add("-w", "--workdir")
    add("-u", "--user")
    add("-v", "--volume", action="append", default=[])
    add("--entrypoint")
    add("-h", "--hostname")
    add("-p", "--publish", action="append", default=[])
    add("-P", "--publish-all", action="store_true")
    add("--expose", action="append", default=[])
    add("--network", "--net", default="default")
    add("--cgroupns", metavar="string", help="Cgroup namespace to use (host|private); default: the daemon's")
    add("-m", "--memory")
    add("--memory-swap")
    add("--cpus")
    add("-c", "--cpu-shares", type=int)
    add("--pids-limit", type=int)
    add("--restart", default="no")
    add("--stop-signal")
    add("--stop-timeout", type=int)
    add("--privileged", action="store_true")
    add("--cap-add", action="append", default=[])
    add("--cap-drop", action="append", default=[])
    add("--security-opt", action="append", default=[])
    add("-l", "--label", action="append", default=[])
    add("--log-opt", action="append", default=[])
    add("--dns", action="append", default=[])
    add("--shm-size")
    add("image")
    add("command", nargs=argparse.REMAINDER)


def add_bool_flag(parser, flag, default, description):
    """A boolean flag spelled as docker's (Go's) are: `--sig-proxy`, `--sig-proxy=true`,
    `--sig-proxy=false`. argparse looks each argument up whole before it splits at "=", so
    each spelling with a value is an option of its own, and the word after the flag is never
    taken for its value (`--sig-proxy busybox` names the image, as with docker)."""
    dest = flag.lstrip("-").replace("-", "_")
    parser.add_argument(flag, dest=dest, action="store_true", default=default,
                        help="%s (default %s)" % (description, str(default).lower()))
    parser.add_argument(*[flag + "=" + word for word in ("true", "1", "t", "True", "TRUE", "T")],
                        dest=dest, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(*[flag + "=" + word for word in ("false", "0", "f", "False", "FALSE", "F")],
                        dest=dest, action="store_false", help=argparse.SUPPRESS)


def parse_size(text, flag):
    """docker's RAMInBytes: 512m, 1g, 100k, 1024 (binary units)."""
    from engine.config import parse_size as size_in_bytes      # only for the flags that need it
    try:
        return size_in_bytes(text)
    except ValueError:
        raise UsageError("invalid argument %r for %s: invalid size" % (text, flag))


def parse_publish(spec):
    """-p [ip:][host_port:]container_port[/proto] -> ("80/tcp", {"HostIp", "HostPort"})."""
    spec, _, proto = spec.partition("/")
    parts = spec.rsplit(":", 2)
    container_port = parts[-1]
    host_port = parts[-2] if len(parts) > 1 else ""
    host_ip = parts[-3] if len(parts) > 2 else ""
    for port in (container_port, host_port):
        if port and (not port.isdigit() or not 0 < int(port) < 65536):
            raise UsageError("invalid argument %r for -p: invalid port (ranges are not supported)" % spec)
    if not container_port:
        raise UsageError("invalid argument %r for -p: no container port" % spec)
    return "%s/%s" % (container_port, proto or "tcp"), {"HostIp": host_ip, "HostPort": host_port}


def parse_restart(text):
    name, _, count = text.partition(":")
    if count and not count.isdigit():
        raise UsageError("invalid restart policy %r: the count must be a number" % text)
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def read_env_file(path):
    try:
        with open(path) as source:
            lines = source.read().splitlines()
    except OSError as error:
        raise UsageError("open %s: %s" % (path, error.strerror))
    return [line for line in (line.strip() for line in lines) if line and not line.startswith("#")]


def _env_entries(entries):
    """KEY=VALUE as given; a bare KEY takes this shell's value, or is left out (docker)."""
    result = []
    for entry in entries:
        if "=" in entry:
            result.append(entry)
        elif entry in os.environ:
            result.append("%s=%s" % (entry, os.environ[entry]))
    return result


def create_body(args):
    if args.cgroupns not in (None, "", "host", "private"):
        raise UsageError("--cgroupns: invalid CGROUP mode")
    env = []
    for path in args.env_file:
        env += read_env_file(path)
    env = _env_entries(env + args.env)
    exposed, bindings = {}, {}
    for spec in args.publish:
        key, binding = parse_publish(spec)
        exposed[key] = {}
        bindings.setdefault(key, []).append(binding)
    for port in args.expose:
        exposed[port if "/" in port else port + "/tcp"] = {}
    host_config = {
        "Binds": args.volume or None, "NetworkMode": args.network, "PortBindings": bindings,
        "PublishAllPorts": args.publish_all, "AutoRemove": args.rm, "RestartPolicy": parse_restart(args.restart),
        "Privileged": args.privileged, "CapAdd": args.cap_add or None, "CapDrop": args.cap_drop or None,
        "SecurityOpt": args.security_opt or None, "Dns": args.dns or None, "CgroupnsMode": args.cgroupns or "",
        "LogConfig": {"Type": "json-file", "Config": dict(opt.split("=", 1) for opt in args.log_opt if "=" in opt)},
    }
    if args.memory:
        host_config["Memory"] = parse_size(args.memory, "--memory")
    if args.memory_swap:
        host_config["MemorySwap"] = -1 if args.memory_swap == "-1" else parse_size(args.memory_swap,
                                                                                    "--memory-swap")
    if args.cpus:
        try:
            host_config["NanoCpus"] = int(round(float(args.cpus) * 10 ** 9))
        except ValueError:
            raise UsageError("invalid argument %r for --cpus" % args.cpus)
    if args.cpu_shares is not None:
        host_config["CpuShares"] = args.cpu_shares
    if args.pids_limit is not None:
        host_config["PidsLimit"] = args.pids_limit
    if args.shm_size:
        host_config["ShmSize"] = parse_size(args.shm_size, "--shm-size")
    attach = not args.detach
    body = {
        "Image": args.image, "Cmd": args.command or None, "Env": env, "Hostname": args.hostname or "",
        "User": args.user or "", "WorkingDir": args.workdir or "", "Tty": args.tty,
        "OpenStdin": args.interactive, "StdinOnce": args.interactive, "AttachStdin": args.interactive and attach,
        "AttachStdout": attach, "AttachStderr": attach, "ExposedPorts": exposed,
        "Labels": dict((label.split("=", 1) + [""])[:2] for label in args.label),
        "HostConfig": host_config,
    }
    if args.entrypoint is not None:
        body["Entrypoint"] = [args.entrypoint] if args.entrypoint else [""]
    if args.stop_signal:
        body["StopSignal"] = args.stop_signal
    if args.stop_timeout is not None:
        body["StopTimeout"] = args.stop_timeout
    return body


def _create(client, body, name):
    """POST /containers/create, pulling the image first when the daemon has none (as docker)."""
    params = {"name": name} if name else None
    try:
        return client.post("/containers/create", params, body)["Id"]
    except ClientError as error:
        if error.status != 404 or "image" not in error.message.lower():
            raise
    sys.stderr.write("Unable to find image '%s' locally\n" % _with_tag(body["Image"]))
    _pull(client, body["Image"])
    return client.post("/containers/create", params, body)["Id"]


def _with_tag(name):
    return name if "@" in name or ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def _pull(client, name):
    from engine.cli.images import ProgressError, _reference, registry_auth_header, show_progress
    reference = _reference(_with_tag(name))
    messages = client.stream_json("POST", "/images/create",
                                  {"fromImage": reference.familiar_name, "tag": reference.tag or reference.digest},
                                  headers=registry_auth_header(reference.domain))
    try:
        show_progress(messages)
    except ProgressError as error:
        raise ClientError(str(error), 500)


def start_exit_code(message):
    """docker run's code when start fails: 127 not found, 126 cannot execute, 125 otherwise."""
    if "executable file not found" in message or "no such file or directory" in message.lower():
        return NOT_FOUND
    if "permission denied" in message.lower():
        return CANNOT_RUN
    return ENGINE_ERROR


@verb
def run(client, argv):
    parser = _parser("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]")
    add_bool_flag(parser, "--sig-proxy", True, "Proxy received signals to the process")
    _container_options(parser)
    args = parser.parse_args(argv)
    if args.rm and args.restart not in ("no", ""):
        raise UsageError("Conflicting options: --restart and --rm")
    try:
        container_id = _create(client, create_body(args), args.name)
    except ClientError as error:
        return _error(error.message, ENGINE_ERROR) if error.status else _fail(error, ENGINE_ERROR)
    if args.detach:
        try:
            client.post("/containers/%s/start" % container_id)
        except ClientError as error:
            return _error(error.message, start_exit_code(error.message))
        sys.stdout.write(container_id + "\n")
        return 0
    from engine.cli.signals import SignalProxy       # here: `run -d` has no use for it
    with SignalProxy(client, container_id, args.sig_proxy and not args.tty):
        return _run_attached(client, container_id, args)


def _run_attached(client, container_id, args):
    try:
        # Both asked before either answer is read: one round trip to the daemon, not two.
        attach = client.send_upgrade("/containers/%s/attach" % container_id,
                                     {"stream": 1, "stdin": int(args.interactive), "stdout": 1, "stderr": 1})
        wait = client.send("POST", "/containers/%s/wait" % container_id,
                           {"condition": "removed" if args.rm else "next-exit"})
        sock = client.upgraded(attach)
        waiter = client.answer(wait, "POST")
        client.post("/containers/%s/start" % container_id)
    except ClientError as error:
        return _error(error.message, start_exit_code(error.message))
    with _Terminal(args.tty and args.interactive) as terminal:
        if args.tty:
            terminal.resize(client, "/containers/%s/resize" % container_id)
        stream(sock, args.tty, args.interactive)
    answer = json.loads(waiter.read().decode("utf-8") or "{}")
    waiter.close()
    if (answer.get("Error") or {}).get("Message"):
        sys.stderr.write("yard: %s\n" % answer["Error"]["Message"])
    return answer.get("StatusCode", ENGINE_ERROR)


@verb
def create(client, argv):
    parser = _parser("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]")
    _container_options(parser)
    args = parser.parse_args(argv)
    try:
        container_id = _create(client, create_body(args), args.name)
    except ClientError as error:
        return _error(error.message, ENGINE_ERROR) if error.status else _fail(error, ENGINE_ERROR)
    sys.stdout.write(container_id + "\n")
    return 0


def _fail(error, code=1):
    sys.stderr.write("%s\n" % error)
    return code


# --- streams ---------------------------------------------------------------------------------

def stream(sock, tty, stdin):
    """Copy the container's output to ours (demultiplexing docker's frames when not a tty) and,
    with `stdin`, our input to it; returns when the output ends."""
    if stdin:
        import threading             # here: `run` without -i has no use for it
        threading.Thread(target=_send_stdin, args=(sock,), daemon=True).start()
    out, err = _binary(sys.stdout), _binary(sys.stderr)
    try:
        if tty:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                out.write(data)
                out.flush()
        else:
            while True:
                header = _read_exactly(sock, 8)
                if len(header) < 8:
                    break
                kind, size = struct.unpack(">BxxxI", header)
                target = err if kind == 2 else out
                target.write(_read_exactly(sock, size))
                target.flush()
    finally:
        sock.close()


def _binary(stream_):
    return getattr(stream_, "buffer", stream_)


def _read_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _send_stdin(sock):
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class _Terminal:
    """Our terminal in raw mode while a -it session runs (restored however it ends)."""

    def __init__(self, wanted):
        self.wanted = wanted and os.isatty(0)
        self.saved = None

    def __enter__(self):
        if self.wanted:
            import termios
            import tty
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)

    def resize(self, client, path):
        try:
            size = os.get_terminal_size(1)
        except OSError:
            return
        try:
            client.post(path, {"h": size.lines, "w": size.columns})
        except ClientError:
            pass                                 # it may have ended already


# --- lifecycle verbs --------------------------------------------------------------------------

def _each(names, action):
    """Run `action(name)` for each name, printing the name on success (docker's bulk verbs)."""
    status = 0
    for name in names:
        try:
            action(name)
            sys.stdout.write(name + "\n")
        except ClientError as error:
            status = _error(error.message) if error.status else _fail(error)
    return status


@verb
def start(client, argv):
    parser = _parser("start", "[OPTIONS] CONTAINER [CONTAINER...]")
    parser.add_argument("-a", "--attach", action="store_true")
    parser.add_argument("-i", "--interactive", action="store_true")
    parser.add_argument("containers", nargs="+")
    args = parser.parse_args(argv)
    if not (args.attach or args.interactive):
        return _each(args.containers, lambda name: client.post("/containers/%s/start" % name))
    if len(args.containers) > 1:
        raise UsageError("you cannot start and attach multiple containers at once")
    try:
        info = client.get("/containers/%s/json" % args.containers[0])
    except ClientError as error:
        return _error(error.message, start_exit_code(error.message)) if error.status else _fail(error)
    from engine.cli.signals import SignalProxy
    with SignalProxy(client, info["Id"], not info["Config"]["Tty"]):       # docker's start: no --sig-proxy
        return _start_attached(client, info["Id"], info["Config"]["Tty"], args.interactive)


def _start_attached(client, name, tty, interactive):
    try:
        sock = client.hijack("/containers/%s/attach" % name,
                             {"stream": 1, "stdin": int(interactive), "stdout": 1, "stderr": 1})
        waiter = client.open("POST", "/containers/%s/wait" % name, {"condition": "next-exit"})
        client.post("/containers/%s/start" % name)
    except ClientError as error:
        return _error(error.message, start_exit_code(error.message)) if error.status else _fail(error)
    with _Terminal(tty and interactive):
        stream(sock, tty, interactive)
    answer = json.loads(waiter.read().decode("utf-8") or "{}")
    return answer.get("StatusCode", 0)


@verb
def attach(client, argv):
    parser = _parser("attach", "[OPTIONS] CONTAINER")
    parser.add_argument("--no-stdin", action="store_true")
    add_bool_flag(parser, "--sig-proxy", True, "Proxy all received signals to the process")
    parser.add_argument("container")
    args = parser.parse_args(argv)
    info = client.get("/containers/%s/json" % args.container)
    tty, stdin = info["Config"]["Tty"], info["Config"]["OpenStdin"] and not args.no_stdin
    from engine.cli.signals import SignalProxy
    with SignalProxy(client, info["Id"], args.sig_proxy and not tty):
        # Asked before the stream ends: the stream may end before the daemon has recorded the exit.
        waiter = client.open("POST", "/containers/%s/wait" % args.container)
        sock = client.hijack("/containers/%s/attach" % args.container,
                             {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1})
        with _Terminal(tty and stdin):
            stream(sock, tty, stdin)
        return json.loads(waiter.read().decode("utf-8") or "{}").get("StatusCode", 0)


@verb
def stop(client, argv):
    parser = _parser("stop", "[OPTIONS] CONTAINER [CONTAINER...]")
    parser.add_argument("-t", "--time", type=int)
    parser.add_argument("containers", nargs="+")
    args = parser.parse_args(argv)
    return _each(args.containers, lambda name: client.post("/containers/%s/stop" % name, {"t": args.time}))


@verb
def restart(client, argv):
    parser = _parser("restart", "[OPTIONS] CONTAINER [CONTAINER...]")
    parser.add_argument("-t", "--time", type=int)
    parser.add_argument("containers", nargs="+")
    args = parser.parse_args(argv)
    return _each(args.containers, lambda name: client.post("/containers/%s/restart" % name, {"t": args.time}))


@verb
def kill(client, argv):
    parser = _parser("kill", "[OPTIONS] CONTAINER [CONTAINER...]")
    parser.add_argument("-s", "--signal", default="KILL")
    parser.add_argument("containers", nargs="+")
    args = parser.parse_args(argv)
    return _each(args.containers,
                 lambda name: client.post("/containers/%s/kill" % name, {"signal": args.signal}))


@verb
def rm(client, argv):
    parser = _parser("rm", "[OPTIONS] CONTAINER [CONTAINER...]")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("-v", "--volumes", action="store_true")
    parser.add_argument("containers", nargs="+")
    args = parser.parse_args(argv)
    return _each(args.containers,
                 lambda name: client.delete("/containers/%s" % name, {"force": args.force or None}))


@verb
def rename(client, argv):
    parser = _parser("rename", "CONTAINER NEW_NAME")
    parser.add_argument("container")
    parser.add_argument("new_name")
    args = parser.parse_args(argv)
    try:
        client.post("/containers/%s/rename" % args.container, {"name": args.new_name})
    except ClientError as error:
        return _error(error.message) if error.status else _fail(error)
    return 0


@verb
def wait(client, argv):
    parser = _parser("wait", "CONTAINER [CONTAINER...]")
    parser.add_argument("containers", nargs="+")
    args = parser.parse_args(argv)
    status = 0
    for name in args.containers:
        try:
            answer = client.post("/containers/%s/wait" % name)
            sys.stdout.write("%d\n" % answer["StatusCode"])
        except ClientError as error:
            status = _error(error.message) if error.status else _fail(error)
    return status


@verb
def container_prune(client, argv):
    parser = _parser("container prune", "[OPTIONS]")
    parser.add_argument("-f", "--force", action="store_true")
    args = parser.parse_args(argv)
    if not args.force:
        sys.stdout.write("WARNING! This will remove all stopped containers.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    answer = client.post("/containers/prune")
    deleted = answer.get("ContainersDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Containers:\n%s\n\n" % "\n".join(deleted))
    from engine.humanize import human_size
    sys.stdout.write("Total reclaimed space: %s\n" % human_size(answer.get("SpaceReclaimed", 0)))
    return 0


# --- looking at containers ----------------------------------------------------------------------

PS_COLUMNS = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
              ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")]


def ps_fields(summary, truncate=True):
    """The placeholders of `ps --format` ({{.ID}}, {{.Names}}, ...) for one container."""
    command = summary["Command"]
    if truncate and len(command) > 20:
        command = command[:19] + "…"
    return {
        "ID": summary["Id"][:12] if truncate else summary["Id"], "Image": summary["Image"],
        "Command": '"%s"' % command, "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC",
                                                                time.gmtime(summary["Created"])),
        "RunningFor": _ago(summary["Created"]), "Ports": format_ports(summary["Ports"]),
        "State": summary["State"], "Status": summary["Status"], "Names": ",".join(
            name.lstrip("/") for name in summary["Names"]),
        "Labels": ",".join("%s=%s" % item for item in sorted((summary.get("Labels") or {}).items())),
        "Networks": ",".join(sorted(((summary.get("NetworkSettings") or {}).get("Networks") or {}))),
        "Mounts": ",".join(mount.get("Source", "") for mount in summary.get("Mounts") or []),
        "Size": "0B",
    }


def _ago(timestamp):
    from engine.humanize import human_duration
    return human_duration(max(0, int(time.time()) - timestamp)) + " ago"


def format_ports(ports):
    """docker's PORTS column: 0.0.0.0:8080->80/tcp, 80/tcp."""
    shown = []
    for port in sorted(ports, key=lambda p: (p["PrivatePort"], p.get("PublicPort", 0))):
        if port.get("PublicPort"):
            shown.append("%s:%d->%d/%s" % (port.get("IP", "0.0.0.0"), port["PublicPort"], port["PrivatePort"],
                                           port["Type"]))
        else:
            shown.append("%d/%s" % (port["PrivatePort"], port["Type"]))
    return ", ".join(shown)


def render_format(template, fields):
    """docker's --format: a Go template of {{.Field}}; `table` adds a header; \\t is a tab."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def field(match):
        return str(fields.get(match.group(1), "<no value>"))
    return re.sub(r"{{\s*\.(\w+)\s*}}", field, template)


@verb
def ps(client, argv):
    parser = _parser("ps", "[OPTIONS]")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-n", "--last", type=int, default=-1)
    parser.add_argument("-l", "--latest", action="store_true")
    parser.add_argument("--no-trunc", action="store_true")
    parser.add_argument("-f", "--filter", action="append", default=[])
    parser.add_argument("--format")
    args = parser.parse_args(argv)
    filters = {}
    for entry in args.filter:
        key, _, value = entry.partition("=")
        filters.setdefault(key, {})[value] = True
    limit = 1 if args.latest else args.last
    summaries = client.get("/containers/json", {"all": args.all or None, "limit": limit if limit > 0 else None,
                                                "filters": json.dumps(filters) if filters else None})
    rows = [ps_fields(summary, not args.no_trunc) for summary in summaries]
    if args.quiet:
        sys.stdout.write("".join(row["ID"] + "\n" for row in rows))
        return 0
    if args.format and not args.format.startswith("table"):
        sys.stdout.write("".join(render_format(args.format, row) + "\n" for row in rows))
        return 0
    from engine.cli.images import table
    if args.format:
        columns = [(name.upper(), name) for name in _template_fields(args.format[len("table"):])]
        columns = [(dict((key, title) for title, key in PS_COLUMNS).get(key, title), key) for title, key in columns]
    else:
        columns = PS_COLUMNS
    sys.stdout.write(table([[title for title, _ in columns]] + [[row[key] for _, key in columns] for row in rows]))
    return 0


def _template_fields(template):
    return re.findall(r"{{\s*\.(\w+)\s*}}", template)


@verb
def inspect(client, argv):
    parser = _parser("inspect", "[OPTIONS] NAME|ID [NAME|ID...]")
    parser.add_argument("-f", "--format")
    parser.add_argument("--type", choices=("container", "image"))
    parser.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    found, status = [], 0
    for name in args.names:
        value = _inspect_one(client, name, args.type)
        if value is None:
            sys.stderr.write("Error: No such object: %s\n" % name)
            status = 1
        else:
            found.append(value)
    if args.format:
        from engine.cli.images import render_template
        for value in found:
            sys.stdout.write(render_template(args.format, value) + "\n")
    else:
        sys.stdout.write(json.dumps(found, indent=4) + "\n")
    return status


def _inspect_one(client, name, kind):
    from engine.cli.client import quote_name
    paths = {"container": "/containers/%s/json", "image": "/images/%s/json"}
    for each in ([kind] if kind else ["container", "image"]):
        try:
            return client.get(paths[each] % quote_name(name))
        except ClientError as error:
            if error.status != 404:
                raise
    return None


@verb
def logs(client, argv):
    parser = _parser("logs", "[OPTIONS] CONTAINER")
    parser.add_argument("-f", "--follow", action="store_true")
    parser.add_argument("-n", "--tail", default="all")
    parser.add_argument("-t", "--timestamps", action="store_true")
    parser.add_argument("--since")
    parser.add_argument("--until")
    parser.add_argument("container")
    args = parser.parse_args(argv)
    from engine.cli import timestamps          # here: it brings datetime, which run has no use for
    times = {}
    for name in ("since", "until"):
        try:
            times[name] = timestamps.api_timestamp(getattr(args, name)) if getattr(args, name) else None
        except ValueError as error:
            return _fail('invalid value for "%s": %s' % (name, error))
    try:
        tty = client.get("/containers/%s/json" % args.container)["Config"]["Tty"]
        response = client.open("GET", "/containers/%s/logs" % args.container,
                               {"stdout": 1, "stderr": 1, "follow": args.follow or None, "tail": args.tail,
                                "timestamps": args.timestamps or None, **times})
    except ClientError as error:
        return _error(error.message) if error.status else _fail(error)
    out, err = _binary(sys.stdout), _binary(sys.stderr)
    try:
        if tty:
            for chunk in iter(response.read1, b""):
                out.write(chunk)
                out.flush()
        else:
            while True:
                header = response.read(8)
                if len(header) < 8:
                    break
                kind, size = struct.unpack(">BxxxI", header)
                target = err if kind == 2 else out
                target.write(response.read(size))
                target.flush()
    finally:
        response.close()
    return 0


@verb
def exec_(client, argv):
    parser = _parser("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]")
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("-i", "--interactive", action="store_true")
    parser.add_argument("-t", "--tty", action="store_true")
    parser.add_argument("-e", "--env", action="append", default=[])
    parser.add_argument("-u", "--user")
    parser.add_argument("-w", "--workdir")
    parser.add_argument("--privileged", action="store_true")
    parser.add_argument("container")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.command:
        raise UsageError("\"exec\" requires at least 2 arguments.")
    body = {"Cmd": args.command, "Env": _env_entries(args.env) or None, "User": args.user or "",
            "WorkingDir": args.workdir or "", "Tty": args.tty, "Privileged": args.privileged,
            "AttachStdin": args.interactive and not args.detach, "AttachStdout": not args.detach,
            "AttachStderr": not args.detach}
    try:
        exec_id = client.post("/containers/%s/exec" % args.container, body=body)["Id"]
        if args.detach:
            client.post("/exec/%s/start" % exec_id, body={"Detach": True, "Tty": args.tty})
            return 0
        sock = client.hijack("/exec/%s/start" % exec_id, body={"Detach": False, "Tty": args.tty})
    except ClientError as error:
        return _error(error.message, ENGINE_ERROR if error.status != 409 else 1) if error.status else _fail(error)
    with _Terminal(args.tty and args.interactive) as terminal:
        if args.tty:
            terminal.resize(client, "/exec/%s/resize" % exec_id)
        stream(sock, args.tty, args.interactive)
    code = client.get("/exec/%s/json" % exec_id)["ExitCode"]
    return code if code is not None else ENGINE_ERROR


@verb
def port(client, argv):
    parser = _parser("port", "CONTAINER [PRIVATE_PORT[/PROTO]]")
    parser.add_argument("container")
    parser.add_argument("private", nargs="?")
    args = parser.parse_args(argv)
    try:
        ports = client.get("/containers/%s/json" % args.container)["NetworkSettings"]["Ports"] or {}
    except ClientError as error:
        return _error(error.message) if error.status else _fail(error)
    wanted = None
    if args.private:
        wanted = args.private if "/" in args.private else args.private + "/tcp"
        if not ports.get(wanted):
            sys.stderr.write("Error: No public port '%s' published for %s\n" % (wanted, args.container))
            return 1
    for key in sorted(ports, key=lambda k: int(k.split("/")[0])):
        if wanted and key != wanted:
            continue
        for binding in ports[key] or []:
            address = "%s:%s" % (binding["HostIp"] or "0.0.0.0", binding["HostPort"])
            sys.stdout.write(address + "\n" if wanted else "%s -> %s\n" % (key, address))
    return 0


@verb
def top(client, argv):
    parser = _parser("top", "CONTAINER [ps OPTIONS]")
    parser.add_argument("container")
    parser.add_argument("ps_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        answer = client.get("/containers/%s/top" % args.container)
    except ClientError as error:
        return _error(error.message) if error.status else _fail(error)
    from engine.cli.images import table
    sys.stdout.write(table([answer["Titles"]] + answer["Processes"]))
    return 0


@verb
def stats(client, argv):
    parser = _parser("stats", "[OPTIONS] [CONTAINER...]")
    parser.add_argument("--no-stream", action="store_true")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("containers", nargs="*")
    args = parser.parse_args(argv)
    names = args.containers or [s["Id"] for s in client.get("/containers/json", {"all": args.all or None})]
    from engine.cli.images import table
    while True:
        rows = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS"]]
        for name in names:
            try:
                sample = client.get("/containers/%s/stats" % name, {"stream": 0})
            except ClientError as error:
                return _error(error.message) if error.status else _fail(error)
            rows.append(stats_row(sample))
        sys.stdout.write(table(rows))
        sys.stdout.flush()
        if args.no_stream:
            return 0


def stats_row(sample):
    from engine.humanize import human_size
    cpu, pre = sample["cpu_stats"], sample.get("precpu_stats") or {}
    cpu_delta = cpu["cpu_usage"]["total_usage"] - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpu_percent = cpu_delta * 100.0 * cpu.get("online_cpus", 1) / system_delta if system_delta > 0 and pre else 0
    memory = sample.get("memory_stats") or {}
    usage, limit = memory.get("usage", 0), memory.get("limit", 0)
    networks = (sample.get("networks") or {}).values()
    received = sum(n["rx_bytes"] for n in networks)
    sent = sum(n["tx_bytes"] for n in networks)
    return [sample["id"][:12], sample["name"].lstrip("/"), "%.2f%%" % cpu_percent,
            "%s / %s" % (_binary_size(usage), _binary_size(limit)),
            "%.2f%%" % (usage * 100.0 / limit if limit else 0), "%s / %s" % (human_size(received), human_size(sent)),
            str((sample.get("pids_stats") or {}).get("current", 0))]


def _binary_size(size):
    """docker's units.BytesSize: 1.891MiB."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    size, index = float(size), 0
    while size >= 1024 and index < len(units) - 1:
        size /= 1024.0
        index += 1
    return "%.4g%s" % (size, units[index])
