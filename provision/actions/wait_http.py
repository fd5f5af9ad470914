"""wait_http: wait until an HTTP endpoint on the host answers (the engine's /_ping, a registry's /v2/).

    - name: Engine API answers
      action: wait_http
      args: {url: "unix:///run/yard.sock/_ping", unit: yard, timeout: 60}

url is http://host:port/path or unix://<socket path>/<request path> (the socket path ends at
the first component that is not a directory on the host, e.g. /run/yard.sock). The request
is a GET from the host itself, with its python3. status lists the answers that count (a
registry with auth answers 401). The check asks once and never waits: checks run batched,
before handlers such as a restart have run. An endpoint that does not answer yet (or a unit,
when given, that is not active) is a change, whose apply waits for it and fails after
timeout seconds.
"""
from provision import checks
from provision.actions import ActionError, Arg, Change, Command, Ok, Snippet, quote

ARGS = {
    "url": Arg("str", required=True),
    "unit": Arg("str"),
    "timeout": Arg("int", default=60),
    "status": Arg("list", default=[200]),
}

# Runs on the host (python3 >= 3.6): GET the URL until it answers one of the statuses or the
# deadline passes; prints "answered <status>" or "silent <last error>". Plain _socket, without
# site, http.client or even socket (whose enums double the interpreter's start-up): it runs in
# every check.
PROBE = r"""
import os, sys, time
from _socket import AF_UNIX, SOCK_STREAM, getaddrinfo, socket
url, timeout, wanted = sys.argv[1], float(sys.argv[2]), set(int(s) for s in sys.argv[3].split(","))
def target():
    if url.startswith("unix://"):
        parts = url[len("unix://"):].split("/")
        for i in range(2, len(parts) + 1):
            path = "/".join(parts[:i])
            if not os.path.isdir(path):
                return [(AF_UNIX, path)], "localhost", "/" + "/".join(parts[i:])
    host, _, path = url.split("://", 1)[1].partition("/")
    if host.startswith("["):
        name, _, port = host[1:].partition("]")
        port = port[1:]
    else:
        name, _, port = host.partition(":")
    return [(a[0], a[4]) for a in getaddrinfo(name, int(port or 80), 0, SOCK_STREAM)], host, "/" + path
def connect(addresses):
    failed = OSError("no address for %s" % url)
    for family, address in addresses:
        sock = socket(family, SOCK_STREAM)
        try:
            sock.settimeout(5)
            sock.connect(address)
            return sock
        except OSError as error:
            sock.close()
            failed = error
    raise failed
def status():
    addresses, host, path = target()
    sock = connect(addresses)
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ValueError("connection closed before a status line")
            head += chunk
    finally:
        sock.close()
    return int(head.split(None, 2)[1])
deadline, last = time.time() + timeout, "no attempt"
while True:
    try:
        answer = status()
        if answer in wanted:
            print("answered %d" % answer)
            sys.exit(0)
        last = "status %d" % answer
    except Exception as error:
        last = str(error) or type(error).__name__
    if time.time() >= deadline:
        print("silent %s" % last)
        sys.exit(0)
    time.sleep(1)
"""


def probe(args, facts, timeout):
    python = facts.get("python") or "python3"
    statuses = ",".join(str(int(s)) for s in args["status"])
    return "%s -I -S -c %s %s %d %s" % (quote(python), quote(PROBE), quote(args["url"]), timeout, statuses)


def check(args, facts):
    """The probe's answer, or `inactive <state>` when the unit (from the batch's one systemctl
    for every unit) is not running."""
    if not args["unit"]:
        return probe(args, facts, 0)
    unit = quote(args["unit"])
    return Snippet(
        "if {lookup}; then state=$dy_active; else state=$(systemctl is-active {u} 2>/dev/null); fi;"
        " case $state in active|reloading) {p};; *) echo \"inactive $state\";; esac"
        .format(lookup=checks.unit_lookup(args["unit"]), u=unit, p=probe(args, facts, 0)),
        units=[args["unit"]])


def plan(args, facts, observed):
    word, _, detail = observed.out.strip().partition(" ")
    if word == "answered":
        return Ok("%s answered (%s)" % (args["url"], detail))
    if word == "inactive":
        why = "%s is %s" % (args["unit"], detail or "not running")
    elif word == "silent":
        why = "%s does not answer yet (%s)" % (args["url"], detail)
    else:
        raise ActionError("cannot probe %s: %s" % (args["url"], observed.err.strip() or observed.out.strip()))
    return Change("%s: wait up to %d s for %s" % (why, args["timeout"], args["url"]),
                  (Command(wait_command(args, facts)),))


def wait_command(args, facts):
    """sh that waits for the URL and fails, saying why, when it stays silent."""
    return ('out="$({p})"; case "$out" in answered*) ;; *) echo "{u} did not answer within {t} s: $out" >&2; exit 1;; esac'
            .format(p=probe(args, facts, args["timeout"]), u=args["url"], t=args["timeout"]))
