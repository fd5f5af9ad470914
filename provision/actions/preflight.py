"""preflight: the host is one the steps know, and the choices that steer them are valid.

    - name: Supported host and choices
      action: preflight
      args: {release: rocky9, releases: [centos7, rocky9, debian12], engine: yard,
             mirror: aliyun, mirror_sites: [official, aliyun]}

Checked on the controller before any step touches the host, so a typo in `engine` or `mirror`
fails the run instead of silently skipping the steps it steers.
"""
from provision.actions import ActionError, Arg, Ok

ARGS = {
    "release": Arg("str", required=True),       # distribution and major version: rocky9, debian12
    "releases": Arg("list", required=True),     # those the steps and templates know
    "engine": Arg("str", required=True, choices=("yard", "docker")),
    "mirror": Arg("str", required=True),
    "mirror_sites": Arg("list", required=True),
}

URL_SCHEMES = ("http://", "https://", "ftp://", "file://")


def prepare(args, ctx):
    if args["release"] not in args["releases"]:
        raise ActionError("this host runs %s, which the steps do not know (they know: %s)"
                          % (args["release"], ", ".join(args["releases"])))
    if args["mirror"] not in args["mirror_sites"] and not args["mirror"].startswith(URL_SCHEMES):
        raise ActionError("variable mirror: %r is not %s, or a URL" % (args["mirror"], ", ".join(args["mirror_sites"])))
    return args


def plan(args, facts, observed):
    return Ok("%s host, engine %s, mirror %s" % (args["release"], args["engine"], args["mirror"]))
