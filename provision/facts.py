"""Facts: what a host is, gathered in one round trip.

A POSIX sh script prints raw observations (os-release, uname, PID 1, cgroup mounts, which tools
exist); `parse` turns them into the facts steps see as `facts.<name>`:

    os_family            "el" (RHEL, CentOS, Rocky, Alma, Oracle...), "debian" (Debian, Ubuntu...), "unknown"
    os_version           major version as a number: 7, 8, 9 for EL; 12 for Debian 12; 22 for Ubuntu 22.04
    distribution         os-release ID: centos, rocky, almalinux, rhel, debian, ubuntu...
    distribution_version os-release VERSION_ID ("9.3", "12", "22.04"), "" when absent
    distribution_codename os-release VERSION_CODENAME ("bookworm", "jammy"), "" when absent
    kernel, arch, hostname   uname -r, uname -m, uname -n
    init                 "systemd" when systemd runs the host, else PID 1's name
    cgroup               "v2", "v1", "hybrid" (v1 controllers plus a v2 tree) or "none"
    python, python_version   python3 (or EL8's platform-python) path and version; "" when none
    pkg_mgr              "apt", "dnf", "yum" or None
"""
import re
import shlex

from provision.actions import quote

FACTS_SCRIPT = r"""
# One uname for three facts (it prints nodename, release, machine in that order whatever the
# flags' order) and the shell's own read for PID 1's name: every process costs a small host
# a millisecond or more, in every run.
set -- $(uname -n -r -m)
echo "hostname=$1"
echo "kernel=$2"
echo "arch=$3"
pid1=
read -r pid1 2>/dev/null </proc/1/comm
echo "pid1=$pid1"
if [ -d /run/systemd/system ]; then echo "systemd_booted=yes"; fi
for tool in apt-get dnf yum; do
    if command -v "$tool" >/dev/null 2>&1; then echo "tool=$tool"; fi
done
for py in python3 /usr/libexec/platform-python; do
    if command -v "$py" >/dev/null 2>&1; then
        echo "python=$(command -v "$py")"
        # --version answers without starting the interpreter (-c costs ~20 ms on a small host);
        # the version ends at its digits ("3.6.8+" on some builds).
        version=$("$py" --version 2>&1)
        version=${version#Python }
        echo "python_version=${version%%[!0-9.]*}"
        break
    fi
done
echo "@@os-release"
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo "@@mounts"
grep cgroup /proc/mounts 2>/dev/null
exit 0
"""

EL_IDS = {"rhel", "centos", "rocky", "almalinux", "ol", "scientific", "cloudlinux", "eurolinux"}


class FactsError(Exception):
    """Facts could not be gathered from a reachable host."""


def gather(conn):
    """The host's facts, in one round trip."""
    result = conn.run("sh -c %s" % quote(FACTS_SCRIPT), become=False)
    if result.rc != 0:
        raise FactsError("gathering facts failed: %s" % (result.stderr.strip() or "exit status %d" % result.rc))
    return parse(result.stdout)


def parse(output):
    """Facts from the script's output (a pure function: unit-tested with recorded outputs)."""
    raw, sections = _split(output)
    release = _os_release(sections.get("os-release", []))
    family = _family(release)
    tools = raw.get("tool", [])
    return {
        "os_family": family,
        "os_version": _major(release.get("VERSION_ID", "")),
        "distribution": release.get("ID", "unknown"),
        "distribution_version": release.get("VERSION_ID", ""),
        "distribution_codename": release.get("VERSION_CODENAME", ""),
        "kernel": _one(raw, "kernel"),
        "arch": _one(raw, "arch"),
        "hostname": _one(raw, "hostname"),
        "init": "systemd" if _one(raw, "systemd_booted") else (_one(raw, "pid1") or "unknown"),
        "cgroup": _cgroup(sections.get("mounts", [])),
        "python": _one(raw, "python"),
        "python_version": _one(raw, "python_version"),
        "pkg_mgr": _pkg_mgr(family, tools),
    }


def _split(output):
    """key=value lines before the first @@section, and the lines of each section."""
    raw, sections, current = {}, {}, None
    for line in output.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None:
            current.append(line)
        elif "=" in line:
            key, _, value = line.partition("=")
            raw.setdefault(key, []).append(value)
    return raw, sections


def _one(raw, key):
    return raw.get(key, [""])[0]


def _os_release(lines):
    release = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            try:
                words = shlex.split(value)
            except ValueError:   # an unbalanced quote: take the value as written
                words = [value.strip("\"'")]
            release[key] = words[0] if words else ""
    return release


def _family(release):
    names = {release.get("ID", "")} | set(release.get("ID_LIKE", "").split())
    if names & EL_IDS:
        return "el"
    if names & {"debian", "ubuntu"}:
        return "debian"
    return "unknown"


def _major(version_id):
    match = re.match(r"(\d+)", version_id)
    return int(match.group(1)) if match else None


def _cgroup(mount_lines):
    v1, v2_at_root, v2_elsewhere = False, False, False
    for line in mount_lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mountpoint, fstype = fields[1], fields[2]
        if fstype == "cgroup2":
            if mountpoint == "/sys/fs/cgroup":
                v2_at_root = True
            else:
                v2_elsewhere = True
        elif fstype == "cgroup":
            v1 = True
    if v2_at_root:
        return "v2"
    if v1:
        return "hybrid" if v2_elsewhere else "v1"
    return "none"


def _pkg_mgr(family, tools):
    """The family's own manager first: Debian may carry dnf and EL may carry apt-get."""
    preferred = {"el": ["dnf", "yum"], "debian": ["apt-get"]}.get(family, [])
    for tool in preferred + ["dnf", "yum", "apt-get"]:
        if tool in tools:
            return "apt" if tool == "apt-get" else tool
    return None
