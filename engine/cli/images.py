"""`yard` image verbs: docker's flags and output, over the Engine API.

Credentials of `yard login` live in $YARD_CONFIG/config.json (default ~/.yard/config.json) in
docker's config.json format: {"auths": {"127.0.0.1:5000": {"auth": base64("user:pass")}}};
pull and push send them as X-Registry-Auth.
"""
import argparse
import base64
import http.client
import json
import os
import re
import sys
import time

from engine.cli.client import ClientError, quote_name
from engine.humanize import human_duration, human_size
from engine.images.reference import DEFAULT_DOMAIN, InvalidReference, parse

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
# A file body without a length goes chunked (http.client does that), so pipes work too.
_TAR_BODY = {"Content-Type": "application/x-tar"}


class ProgressError(Exception):
    """An `error` message in a progress stream."""


# --- credentials ----------------------------------------------------------------------------

def config_path():
    directory = os.environ.get("YARD_CONFIG") or os.path.join(os.path.expanduser("~"), ".yard")
    return os.path.join(directory, "config.json")


def _read_config():
    path = config_path()
    if not os.path.exists(path):
        return {}
    with open(path) as source:
        try:
            return json.load(source)
        except ValueError as error:
            raise ClientError("%s is not valid JSON: %s" % (path, error))


def _write_config(config):
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temp = path + ".tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent="\t")
    os.rename(temp, path)


def _auth_key(server):
    """The config.json key for a registry: its host, or docker hub's legacy URL."""
    server = re.sub(r"^[a-z]+://", "", server or "").split("/")[0]
    if server in ("", DEFAULT_DOMAIN, "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_AUTH_KEY
    return server


def registry_auth_header(domain):
    """{"X-Registry-Auth": ...} for a registry we have credentials for, else {}."""
    entry = _read_config().get("auths", {}).get(_auth_key(domain))
    if not entry or not entry.get("auth"):
        return {}
    username, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
    credentials = {"username": username, "password": password, "serveraddress": _auth_key(domain)}
    encoded = base64.urlsafe_b64encode(json.dumps(credentials).encode("utf-8")).decode("ascii")
    return {"X-Registry-Auth": encoded}


# --- output helpers -----------------------------------------------------------------------

def show_progress(messages, quiet=False):
    """Print a JSON progress stream as docker does without a terminal; raise on an error message."""
    for message in messages:
        if message.get("error"):
            raise ProgressError(message["error"])
        if quiet:
            continue
        if message.get("stream"):
            sys.stdout.write(message["stream"])
            continue
        if (message.get("progressDetail") or {}).get("current") is not None:
            continue                # progress bars are for terminals
        if "status" not in message:
            continue
        prefix = "%s: " % message["id"] if message.get("id") else ""
        sys.stdout.write("%s%s\n" % (prefix, message["status"]))
        sys.stdout.flush()


def table(rows):
    """Columns as docker's tabwriter lays them out (min width 10, padding 3)."""
    widths = [max(10, max(len(row[column]) for row in rows) + 3) for column in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _ago(timestamp):
    return human_duration(int(time.time()) - timestamp) + " ago"


def _short_id(image_id):
    return image_id.split(":")[-1][:12]


def _parser(prog, description):
    return argparse.ArgumentParser(prog="yard " + prog, description=description)


def _reference(text):
    try:
        return parse(text, default_tag=False)
    except InvalidReference as error:
        raise ClientError(str(error))


def _fail(error):
    sys.stderr.write("%s\n" % error)
    return 1


# --- verbs ----------------------------------------------------------------------------------

def pull(client, argv):
    parser = _parser("pull", "Download an image from a registry")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    parser.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    args = parser.parse_args(argv)
    reference = _reference(args.name)
    if not reference.tag and not reference.digest:
        sys.stdout.write("Using default tag: latest\n")
        reference = reference.with_tag("latest")
    messages = client.stream_json("POST", "/images/create",
                                  {"fromImage": reference.familiar_name, "tag": reference.tag or reference.digest},
                                  headers=registry_auth_header(reference.domain))
    try:
        show_progress(messages, args.quiet)
    except ProgressError as error:
        return _fail(error)
    sys.stdout.write("%s\n" % reference)
    return 0


def push(client, argv):
    parser = _parser("push", "Push an image or a repository to a registry")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    parser.add_argument("name", metavar="NAME[:TAG]")
    args = parser.parse_args(argv)
    reference = _reference(args.name)
    if not reference.tag:
        sys.stdout.write("Using default tag: latest\n")
        reference = reference.with_tag("latest")
    messages = client.stream_json("POST", "/images/%s/push" % quote_name(reference.familiar_name),
                                  {"tag": reference.tag}, headers=registry_auth_header(reference.domain))
    try:
        show_progress(messages, args.quiet)
    except ProgressError as error:
        return _fail(error)
    if args.quiet:
        sys.stdout.write("%s\n" % reference.familiar)
    return 0


def images(client, argv):
    parser = _parser("images", "List images")
    parser.add_argument("-a", "--all", action="store_true", help="Show all images")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    parser.add_argument("--digests", action="store_true", help="Show digests")
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("-f", "--filter", action="append", default=[], help="Filter output (key=value)")
    parser.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    args = parser.parse_args(argv)
    filters = {}
    for item in args.filter:
        key, _, value = item.partition("=")
        filters.setdefault(key, []).append(value)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    found = client.get("/images/json", {"all": args.all, "filters": json.dumps(filters) if filters else None})
    show_id = (lambda image_id: image_id) if args.no_trunc else _short_id
    if args.quiet:
        seen = []
        for image in found:
            if show_id(image["Id"]) not in seen:
                seen.append(show_id(image["Id"]))
        sys.stdout.write("".join(line + "\n" for line in seen))
        return 0
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    rows = [header]
    for image in found:
        digests = {ref.split("@")[0]: ref.split("@")[1] for ref in image.get("RepoDigests") or []}
        tags = [tag.rsplit(":", 1) for tag in image.get("RepoTags") or []] or [["<none>", "<none>"]]
        for repository, tag in tags:
            row = [repository, tag]
            if args.digests:
                row.append(digests.get(repository, "<none>"))
            rows.append(row + [show_id(image["Id"]), _ago(image["Created"]), human_size(image["Size"])])
    sys.stdout.write(table(rows))
    return 0


def tag(client, argv):
    parser = _parser("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    parser.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    parser.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    args = parser.parse_args(argv)
    target = _reference(args.target)
    if target.digest:
        return _fail("refusing to create a tag with a digest reference")
    client.post("/images/%s/tag" % quote_name(args.source),
                {"repo": target.familiar_name, "tag": target.tag or "latest"})
    return 0


def rmi(client, argv):
    parser = _parser("rmi", "Remove one or more images")
    parser.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    parser.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    args = parser.parse_args(argv)
    status = 0
    for name in args.images:
        try:
            removed = client.delete("/images/%s" % quote_name(name),
                                    {"force": args.force, "noprune": args.no_prune})
        except ClientError as error:
            sys.stderr.write("Error response from daemon: %s\n" % error.message)
            status = 1
            continue
        for item in removed or []:
            for kind, value in item.items():
                sys.stdout.write("%s: %s\n" % (kind, value))
    return status


def history(client, argv):
    parser = _parser("history", "Show the history of an image")
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    parser.add_argument("image", metavar="IMAGE")
    args = parser.parse_args(argv)
    entries = client.get("/images/%s/history" % quote_name(args.image))
    show_id = (lambda image_id: image_id) if args.no_trunc else \
        (lambda image_id: image_id if image_id == "<missing>" else _short_id(image_id))
    if args.quiet:
        sys.stdout.write("".join(show_id(entry["Id"]) + "\n" for entry in entries))
        return 0
    rows = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    for entry in entries:
        created_by = entry["CreatedBy"].replace("\t", " ")
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "\u2026"
        rows.append([show_id(entry["Id"]), _ago(entry["Created"]), created_by, human_size(entry["Size"]),
                     entry["Comment"]])
    sys.stdout.write(table(rows))
    return 0


def save(client, argv):
    parser = _parser("save", "Save one or more images to a tar archive (streamed to STDOUT by default)")
    parser.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    args = parser.parse_args(argv)
    if not args.output and sys.stdout.isatty():
        return _fail("Cowardly refusing to save to a terminal. Use the -o flag or redirect")
    response = client.open("GET", "/images/get", {"names": args.images})
    if not args.output:
        _copy_archive(response, sys.stdout.buffer)
        return 0
    temp = args.output + ".tmp"          # the archive appears whole, or not at all
    try:
        with open(temp, "wb") as out:
            _copy_archive(response, out)
        os.rename(temp, args.output)
    except OSError as error:
        raise ClientError("failed to save image: %s: %s" % (args.output, error.strerror.lower()))
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return 0


def _copy_archive(response, out):
    try:
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                return
            out.write(chunk)
    except http.client.IncompleteRead:
        raise ClientError("the daemon stopped before the end of the archive")
    finally:
        response.close()


def load(client, argv):
    parser = _parser("load", "Load an image from a tar archive or STDIN")
    parser.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    args = parser.parse_args(argv)
    source = _open_input(args.input) if args.input else sys.stdin.buffer
    try:
        messages = client.stream_json("POST", "/images/load", {"quiet": args.quiet}, body=source,
                                      headers=_TAR_BODY)
        show_progress(messages)         # -q hides progress only; "Loaded image" still shows
    except ProgressError as error:
        return _fail(error)
    finally:
        if args.input:
            source.close()
    return 0


def import_(client, argv):
    parser = _parser("import", "Import the contents from a tarball to create a filesystem image")
    parser.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction")
    parser.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    parser.add_argument("file", metavar="file|-")
    parser.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    args = parser.parse_args(argv)
    params = {"fromSrc": "-", "message": args.message, "changes": args.change}
    if args.repository:
        reference = _reference(args.repository)
        params.update(repo=reference.familiar_name, tag=reference.tag or "latest")
    source = sys.stdin.buffer if args.file == "-" else _open_input(args.file)
    try:
        for message in client.stream_json("POST", "/images/create", params, body=source,
                                          headers=_TAR_BODY):
            if message.get("error"):
                return _fail(message["error"])
            sys.stdout.write("%s\n" % message.get("status", ""))
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return 0


def _open_input(path):
    try:
        return open(path, "rb")
    except OSError as error:
        raise ClientError("open %s: %s" % (path, error.strerror.lower()))


def login(client, argv):
    parser = _parser("login", "Log in to a registry")
    parser.add_argument("-u", "--username")
    parser.add_argument("-p", "--password")
    parser.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    parser.add_argument("server", nargs="?", default="")
    args = parser.parse_args(argv)
    password = args.password
    if args.password_stdin:
        if args.password:
            return _fail("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    if not args.username or password is None:
        return _fail("Error: Cannot perform an interactive login from a non TTY device")
    if args.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    key = _auth_key(args.server)
    answer = client.post("/auth", body={"username": args.username, "password": password, "serveraddress": key})
    config = _read_config()
    auth = base64.b64encode(("%s:%s" % (args.username, password)).encode("utf-8")).decode("ascii")
    config.setdefault("auths", {})[key] = {"auth": auth}
    _write_config(config)
    sys.stderr.write("WARNING! Your password will be stored unencrypted in %s.\n\n" % config_path())
    sys.stdout.write("%s\n" % (answer or {}).get("Status", "Login Succeeded"))
    return 0


def logout(client, argv):
    parser = _parser("logout", "Log out from a registry")
    parser.add_argument("server", nargs="?", default="")
    args = parser.parse_args(argv)
    key = _auth_key(args.server)
    config = _read_config()
    if key not in config.get("auths", {}):
        sys.stdout.write("Not logged in to %s\n" % key)
        return 0
    sys.stdout.write("Removing login credentials for %s\n" % key)
    del config["auths"][key]
    _write_config(config)
    return 0


def image_prune(client, argv):
    parser = _parser("image prune", "Remove unused images")
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    parser.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    args = parser.parse_args(argv)
    if not args.force:
        warning = ("WARNING! This will remove all images without at least one container associated to them."
                   if args.all else "WARNING! This will remove all dangling images.")
        sys.stdout.write("%s\nAre you sure you want to continue? [y/N] " % warning)
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    filters = {"dangling": ["false"]} if args.all else {}
    answer = client.post("/images/prune", {"filters": json.dumps(filters)})
    deleted = answer.get("ImagesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Images:\n")
        for item in deleted:
            for kind, value in item.items():
                sys.stdout.write("%s: %s\n" % (kind.lower(), value))
        sys.stdout.write("\n")
    sys.stdout.write("Total reclaimed space: %s\n" % human_size(answer.get("SpaceReclaimed", 0)))
    return 0


def image_inspect(client, argv):
    parser = _parser("image inspect", "Display detailed information on one or more images")
    parser.add_argument("-f", "--format", help="Format the output using a Go template ({{.Id}}, {{json .Config}})")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    args = parser.parse_args(argv)
    found, status = [], 0
    for name in args.images:
        try:
            found.append(client.get("/images/%s/json" % quote_name(name)))
        except ClientError as error:
            if error.status != 404:
                raise
            sys.stderr.write("Error: No such image: %s\n" % name)
            status = 1
    if args.format:
        for value in found:
            sys.stdout.write(render_template(args.format, value) + "\n")
    else:
        sys.stdout.write(json.dumps(found, indent=4) + "\n")
    return status


def render_template(template, value):
    """The subset of Go templates `inspect -f` is used with: {{.A.B}} and {{json .A.B}}."""
    def field(match):
        current = value
        for key in match.group(2).split(".")[1:]:
            current = current.get(key) if isinstance(current, dict) else None
        if match.group(1) or isinstance(current, (dict, list)):
            return json.dumps(current)
        return "<no value>" if current is None else str(current)
    return re.sub(r"{{\s*(json\s+)?(\.[\w.]*)\s*}}", field, template)
