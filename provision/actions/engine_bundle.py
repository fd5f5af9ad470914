"""engine_bundle: the yard engine bundle, built on the controller, uploaded when it changed,
and installed beside it compiled, which is the copy the launchers run.

    - name: Engine bundle
      action: engine_bundle
      args: {dest: /usr/local/lib/yard/yard.pyz, link: /usr/local/lib/yard/engine,
             python: /usr/bin/python3}

provision/bundle.py builds the same bytes from the same engine/ sources, so the host's copy
is replaced only when its sha256 differs from the bundle's. `link` points at the installed
copy of exactly that bundle (link-<digest>/, compiled by the host's `python`); a step
notifying the engine's restart handler then restarts it only for a new engine.
"""
import hashlib

from provision import bundle, checks
from provision.actions import Arg, Change, Command, Ok, Snippet, Upload, quote

ARGS = {
    "dest": Arg("path", required=True),
    "link": Arg("path", required=True),
    "python": Arg("path", required=True),
}


def prepare(args, ctx):
    data = ctx.once(bundle.bundle_bytes)
    return {**args, "data": data, "sha256": hashlib.sha256(data).hexdigest()}


def check(args, facts):
    """Two lines: the bundle's sha256 (or absent), the installed copy the link names (or absent).
    The current bundle's digest comes from the batch's one sha256sum for every file."""
    return Snippet(
        ("if [ -f {d} ]; then if {same}; then echo {sha}; else sha256sum < {d} | cut -d' ' -f1; fi;"
         " else echo absent; fi; if [ -d {l} ]; then readlink {l}; else echo absent; fi").format(
            d=quote(args["dest"]), l=quote(args["link"]), sha=args["sha256"],
            same=checks.sum_is(args["dest"], args["sha256"])),
        sums=[args["dest"]])


def plan(args, facts, observed):
    remote, installed = (observed.out.split() + ["absent", "absent"])[:2]
    wanted = bundle.installed_name(args["link"], args["sha256"])
    if remote == args["sha256"] and installed == wanted:
        return Ok("%s is the current bundle (sha256 %s), installed" % (args["dest"], args["sha256"][:12]))
    install = Command(bundle.install_script(args["dest"], args["link"], args["python"], args["sha256"]))
    if remote == args["sha256"]:
        return Change("%s is the current bundle, but %s is %s; install it" % (
            args["dest"], args["link"], "absent" if installed == "absent" else "another build"), (install,))
    reason = "%s is absent" % args["dest"] if remote == "absent" else "%s is another build" % args["dest"]
    directory = args["dest"].rsplit("/", 1)[0] or "/"
    return Change("%s; upload sha256 %s and install it" % (reason, args["sha256"][:12]), (
        Command("mkdir -p %s" % quote(directory)),
        Upload(args["data"], args["dest"], mode="0755", owner="root", group="root",
               remote_sha256=None if remote == "absent" else remote),
        install,
    ))
