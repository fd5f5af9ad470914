"""`yardd`: the daemon. dockerd's flags, daemon.json, the API socket, clean shutdown.

    yardd [--config-file F] [--data-root D] [-H unix:///S] [--bip CIDR] [-b BRIDGE]
          [--iptables=BOOL] [--ip-forward=BOOL] [--cgroup-parent P] [--live-restore]
          [--default-cgroupns-mode host|private] [-D|--debug] [-G|--group G] [--validate]

Flags override the file. A bad file or flag stops the daemon before it touches anything,
naming the key, as dockerd does. SIGTERM and SIGINT stop it cleanly: without live-restore
its containers are stopped and its iptables rules removed; with it, they keep running.
"""
import argparse
import os
import signal
import sys
import threading

from engine import __version__
from engine.config import DEFAULT_CONFIG_FILE, ConfigError, load

# flag destination -> daemon.json key
FLAG_KEYS = {"data_root": "data-root", "hosts": "hosts", "bip": "bip", "bridge": "bridge",
             "iptables": "iptables", "ip_forward": "ip-forward", "cgroup_parent": "cgroup-parent",
             "default_cgroupns_mode": "default-cgroupns-mode",
             "live_restore": "live-restore", "debug": "debug", "group": "group"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ConfigError(message)


def _boolean(text):
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("invalid boolean value %r" % text)


def parse_flags(argv):
    """(config file path, whether it was named, {daemon.json key: value} of the flags given, validate?)."""
    parser = _Parser(prog="yardd", description="yard container engine daemon", allow_abbrev=False)
    parser.add_argument("--config-file")
    parser.add_argument("--data-root")
    parser.add_argument("-H", "--host", dest="hosts", action="append")
    parser.add_argument("--bip")
    parser.add_argument("-b", "--bridge")
    parser.add_argument("--iptables", type=_boolean, nargs="?", const=True)
    parser.add_argument("--ip-forward", type=_boolean, nargs="?", const=True)
    parser.add_argument("--cgroup-parent")
    parser.add_argument("--default-cgroupns-mode")
    parser.add_argument("--live-restore", type=_boolean, nargs="?", const=True)
    parser.add_argument("-D", "--debug", type=_boolean, nargs="?", const=True)
    parser.add_argument("-G", "--group")
    parser.add_argument("--validate", action="store_true", help="check the configuration and exit")
    parser.add_argument("-v", "--version", action="version", version="yardd version %s" % __version__)
    args = parser.parse_args(argv)
    flags = {key: getattr(args, dest) for dest, key in FLAG_KEYS.items() if getattr(args, dest) is not None}
    return args.config_file or DEFAULT_CONFIG_FILE, args.config_file is not None, flags, args.validate


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        path, named, flags, validate = parse_flags(argv)
        config = load(path, flags, required=named)
        if len(config["hosts"]) != 1:
            raise ConfigError("yardd serves one socket: give one -H or one entry in \"hosts\"")
    except ConfigError as error:
        sys.stderr.write("yardd: %s\n" % error)
        return 1
    if validate:
        sys.stdout.write("configuration OK\n")
        return 0
    if os.geteuid() != 0:
        sys.stderr.write("yardd: yardd needs to be started with root privileges\n")
        return 1
    return serve(config)


def serve(config):
    # Imported here so that `--validate` and bad flags answer without loading the engine.
    from engine.api import containers as container_routes, images as image_routes, system as system_routes
    from engine.api.server import Router, make_server
    from engine.runtime import reap_shims
    from engine.services import Services

    socket_path = config["hosts"][0][len("unix://"):]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: sys.stderr.write(
        "yardd: configuration reload is not supported: restart yardd to apply daemon.json\n"))
    services = Services(config)
    try:
        services.start()
        router = Router()
        system_routes.register(router, services)
        container_routes.register(router, services)
        image_routes.register(router, services)
        server = make_server(socket_path, router, group=config["group"], debug=config["debug"])
    except (RuntimeError, OSError) as error:
        sys.stderr.write("yardd: cannot start: %s\n" % error)
        services.shutdown()
        return 1
    sys.stderr.write("yardd: API listening on %s (data root %s)\n" % (socket_path, config["data-root"]))
    listener = threading.Thread(target=server.serve_forever, daemon=True)
    listener.start()
    while not stop.wait(1):
        reap_shims()                # the shims are the daemon's children: collect those that ended
    sys.stderr.write("yardd: shutting down\n")
    server.shutdown()
    server.server_close()
    services.shutdown()
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    sys.stderr.write("yardd: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
