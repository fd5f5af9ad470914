"""This machine's Debian package sources: where the rootfs and the lab mirror fetch from.

Read at run time (no mirror host name is written into the repository), from
/etc/apt/sources.list (one-line format) and /etc/apt/sources.list.d/*.list and *.sources (deb822).
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from provision.lab.command import LabError

APT = Path("/etc/apt")


@dataclass(frozen=True)
class Source:
    uri: str                    # e.g. http://<mirror>/debian, no trailing slash
    suites: Tuple[str, ...]     # bookworm, bookworm-updates ...
    components: Tuple[str, ...]


def one_line_sources(path):
    for line in path.read_text().splitlines():
        # `deb [options] uri suite component...`; options may hold spaces inside the brackets.
        match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)", line.split("#", 1)[0])
        if match:
            yield Source(match.group(1).rstrip("/"), (match.group(2),), tuple(match.group(3).split()))


def deb822_sources(path):
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    for stanza in "\n".join(lines).split("\n\n"):
        fields = {}
        for match in re.finditer(r"^(\S+):[ \t]*(.*(?:\n[ \t]+.*)*)", stanza, re.M):
            fields[match.group(1).lower()] = match.group(2).split()
        if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"]) == ["no"]:
            continue
        for uri in fields.get("uris", []):
            yield Source(uri.rstrip("/"), tuple(fields.get("suites", [])),
                         tuple(fields.get("components", [])))


def machine_sources(apt=APT):
    """Every enabled binary source of this machine, http(s) only (a mirror can forward those)."""
    sources = []
    for path in [apt / "sources.list"] + sorted((apt / "sources.list.d").glob("*.list")):
        if path.is_file():
            sources += one_line_sources(path)
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        sources += deb822_sources(path)
    return [source for source in sources if source.uri.startswith(("http://", "https://"))]


def archive_for(suite, apt=APT):
    """The source that serves Debian `suite` (and `main`): the archive the lab is built from."""
    for source in machine_sources(apt):
        if suite in source.suites and "main" in source.components:
            return source
    raise LabError("no apt source of this machine serves Debian %s main (read %s/sources.list "
                   "and %s/sources.list.d/)" % (suite, apt, apt))


def debian_archives(suite, apt=APT):
    """The sources the lab mirror forwards to: the ones serving `suite` and its -updates/-security."""
    wanted = {suite, suite + "-updates", suite + "-security"}
    archives = [source for source in machine_sources(apt) if wanted & set(source.suites)]
    if not archives:
        archive_for(suite, apt)   # raises, naming the files read
    return archives
