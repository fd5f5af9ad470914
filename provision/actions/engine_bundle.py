"""engine_bundle: the yard engine bundle, built on the controller, uploaded when it changed.

    - name: Engine bundle
      action: engine_bundle
      args: {dest: /usr/local/lib/yard/yard.pyz}

provision/bundle.py builds the same bytes from the same engine/ sources, so the host's copy
is replaced only when its sha256 differs from the bundle's; a step notifying the engine's
restart handler then restarts it only for a new engine.
"""
import hashlib

from provision import bundle
from provision.actions import Arg, Change, Command, Ok, Upload, quote

ARGS = {
    "dest": Arg("path", required=True),
}


def prepare(args, ctx):
    data = ctx.once(bundle.bundle_bytes)
    return {**args, "data": data, "sha256": hashlib.sha256(data).hexdigest()}


def check(args, facts):
    return "if [ -f {d} ]; then sha256sum < {d} | cut -d' ' -f1; else echo absent; fi".format(
        d=quote(args["dest"]))


def plan(args, facts, observed):
    remote = observed.out.strip()
    if remote == args["sha256"]:
        return Ok("%s is the current bundle (sha256 %s)" % (args["dest"], args["sha256"][:12]))
    reason = "%s is absent" % args["dest"] if remote == "absent" else "%s is another build" % args["dest"]
    directory = args["dest"].rsplit("/", 1)[0] or "/"
    return Change("%s; upload sha256 %s" % (reason, args["sha256"][:12]), (
        Command("mkdir -p %s" % quote(directory)),
        Upload(args["data"], args["dest"], mode="0755", owner="root", group="root",
               remote_sha256=None if remote == "absent" else remote),
    ))
