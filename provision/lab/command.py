"""Running the machine's tools for the lab, and the one error type every lab failure raises."""
import subprocess
from pathlib import Path


class LabError(RuntimeError):
    """A lab step that failed; the message says what and, where it applies, on which host."""


def run(argv, what, **kwargs):
    """Run argv; on failure raise LabError naming `what` and the tool's own words."""
    try:
        result = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, **kwargs)
    except FileNotFoundError:
        raise LabError("%s: %s is not installed" % (what, argv[0]))
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise LabError("%s: `%s` exited %d: %s" % (what, " ".join(str(a) for a in argv),
                                                   result.returncode, " / ".join(detail)))
    return result.stdout


def mounts_under(path):
    """Mount points at or below path, deepest first (the order to unmount them in)."""
    root = str(Path(path).resolve())
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            # Field 5 is the mount point, with spaces and the like octal-escaped.
            point = line.split()[4].encode().decode("unicode_escape")
            if point == root or point.startswith(root + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_under(path, what):
    for point in mounts_under(path):
        run(["umount", point], "%s: unmounting %s" % (what, point))


def remove_tree(path, what):
    """Delete a directory the lab made, never crossing into a mount left inside it."""
    unmount_under(path, what)
    run(["rm", "-rf", "--one-file-system", path], "%s: removing %s" % (what, path))
