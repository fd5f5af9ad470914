"""`yard`: docker's verbs, as a client of the daemon's Engine API.

Global options come before the verb (`yard -H unix:///path ps`). Each verb lives in the
module for its area and is imported only when used, so `yard run` starts lean.
A verb is a function `(client, argv) -> exit code`.
"""
import importlib
import os
import sys

from engine.cli.client import Client, ClientError

# verb -> "module:function" (containers, images, system)
VERBS = {
    # containers (engine/cli/containers.py)
    "run": "containers:run", "create": "containers:create", "start": "containers:start",
    "stop": "containers:stop", "kill": "containers:kill", "restart": "containers:restart",
    "rm": "containers:rm", "ps": "containers:ps", "logs": "containers:logs",
    "exec": "containers:exec_", "inspect": "containers:inspect", "port": "containers:port",
    "top": "containers:top", "stats": "containers:stats", "wait": "containers:wait",
    "rename": "containers:rename", "attach": "containers:attach",
    # images (engine/cli/images.py)
    "pull": "images:pull", "push": "images:push", "images": "images:images",
    "tag": "images:tag", "rmi": "images:rmi", "history": "images:history",
    "save": "images:save", "load": "images:load", "import": "images:import_",
    "login": "images:login", "logout": "images:logout",
    # system (engine/cli/system.py)
    "version": "system:version", "info": "system:info",
}

# docker's management commands: `yard image ls` is `yard images`, and so on.
MANAGEMENT = {
    "container": {"ls": "ps", "list": "ps", "prune": "containers:container_prune", "inspect": "inspect"},
    "image": {"ls": "images", "list": "images", "prune": "images:image_prune", "inspect": "images:image_inspect"},
    "system": {},
}

USAGE = """Usage:  yard [OPTIONS] COMMAND

Options:
  -H, --host string   Daemon socket to connect to (default: $YARD_HOST or unix:///run/yard.sock)
  -D, --debug         Enable debug mode
  -v, --version       Print version information and quit

Commands:
  %s
""" % "\n  ".join(sorted(VERBS))


def _resolve(verb, rest):
    """(target "module:function", remaining argv) for the command line after global options."""
    if verb in MANAGEMENT:
        if not rest:
            return None, rest
        sub, rest = rest[0], rest[1:]
        target = MANAGEMENT[verb].get(sub, sub)
        if ":" not in target:
            target = VERBS.get(target)
        return target, rest
    return VERBS.get(verb), rest


def main(argv=None):
    """Run one command line and exit with its code; never returns.

    It exits without the interpreter's teardown, which frees every module and object one by
    one: a few ms, as long as a short command's own work, and nothing needs it (the CLI keeps
    no file but stdout and stderr, flushed here, and registers nothing at exit)."""
    code = dispatch(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:            # `yard ps | head`: what was not read is lost anyway
            pass
    os._exit(code)


def dispatch(argv=None):
    """Run one command line; -> its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    host = None
    while argv and argv[0].startswith("-"):
        option = argv.pop(0)
        if option in ("-H", "--host") and argv:
            host = argv.pop(0)
        elif option.startswith("--host="):
            host = option.split("=", 1)[1]
        elif option in ("-D", "--debug"):
            pass
        elif option in ("-v", "--version"):
            argv = ["version"]
            break
        elif option in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        else:
            sys.stderr.write("unknown flag: %s\nSee 'yard --help'.\n" % option)
            return 125
    if not argv:
        sys.stdout.write(USAGE)
        return 0
    target, rest = _resolve(argv[0], argv[1:])
    if not target:
        sys.stderr.write("yard: '%s' is not a yard command.\nSee 'yard --help'\n" % " ".join(argv[:2]))
        return 1
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module("engine.cli." + module_name), function_name)
    try:
        return function(Client(host), rest) or 0
    except ClientError as error:
        sys.stderr.write("Error response from daemon: %s\n" % error.message
                         if error.status else "%s\n" % error.message)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    main()
