"""The EL repository files that the templates render, read by a real dnf.

Each case renders os.repo, epel.repo and docker-ce.repo for one EL release with `mirror` set to a
file:// URL, builds that mirror with createrepo_c (one small package per repository, named after
it, at the path the template points to), and asks Debian's dnf, confined to a temporary
installroot and reposdir, which packages it can see. Every repository must be found and read.
"""
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from provision import variables

PROVISION_DIR = Path(variables.__file__).resolve().parent
ARCH = platform.machine()

# release facts -> {repo id: directory under the mirror root, as the mirror layout has it}
RELEASES = {
    "centos7": ({"os_family": "el", "os_version": 7, "distribution": "centos"}, {
        "base": "centos-vault/7.9.2009/os/%s" % ARCH,
        "updates": "centos-vault/7.9.2009/updates/%s" % ARCH,
        "extras": "centos-vault/7.9.2009/extras/%s" % ARCH,
        "epel": "epel-archive/7/%s" % ARCH,
        "docker-ce-stable": "docker-ce/linux/centos/7/%s/stable" % ARCH,
    }),
    "centos8": ({"os_family": "el", "os_version": 8, "distribution": "centos"}, {
        "baseos": "centos-vault/8.5.2111/BaseOS/%s/os" % ARCH,
        "appstream": "centos-vault/8.5.2111/AppStream/%s/os" % ARCH,
        "extras": "centos-vault/8.5.2111/extras/%s/os" % ARCH,
        "epel": "epel/8/Everything/%s" % ARCH,
        "docker-ce-stable": "docker-ce/linux/centos/8/%s/stable" % ARCH,
    }),
    "rocky9": ({"os_family": "el", "os_version": 9, "distribution": "rocky"}, {
        "baseos": "rockylinux/9/BaseOS/%s/os" % ARCH,
        "appstream": "rockylinux/9/AppStream/%s/os" % ARCH,
        "extras": "rockylinux/9/extras/%s/os" % ARCH,
        "epel": "epel/9/Everything/%s" % ARCH,
        "docker-ce-stable": "docker-ce/linux/centos/9/%s/stable" % ARCH,
    }),
    "almalinux9": ({"os_family": "el", "os_version": 9, "distribution": "almalinux"}, {
        "baseos": "almalinux/9/BaseOS/%s/os" % ARCH,
        "appstream": "almalinux/9/AppStream/%s/os" % ARCH,
        "extras": "almalinux/9/extras/%s/os" % ARCH,
        "epel": "epel/9/Everything/%s" % ARCH,
        "docker-ce-stable": "docker-ce/linux/centos/9/%s/stable" % ARCH,
    }),
    "centos9": ({"os_family": "el", "os_version": 9, "distribution": "centos"}, {
        "baseos": "centos-stream/9-stream/BaseOS/%s/os" % ARCH,
        "appstream": "centos-stream/9-stream/AppStream/%s/os" % ARCH,
        "epel": "epel/9/Everything/%s" % ARCH,
        "docker-ce-stable": "docker-ce/linux/centos/9/%s/stable" % ARCH,
    }),
}

SPEC = """Name: probe-%(repo)s
Version: 1.0
Release: 1
Summary: marks the %(repo)s repository
License: MIT
BuildArch: noarch
%%description
Found only in the %(repo)s repository.
%%files
"""

pytestmark = pytest.mark.skipif(not all(map(shutil.which, ("dnf", "createrepo_c", "rpmbuild"))),
                                reason="needs dnf, createrepo-c and rpm (rpmbuild)")


def build_probe(workdir, repo):
    """A tiny noarch package named probe-<repo>; returns its path."""
    spec = workdir / ("probe-%s.spec" % repo)
    spec.write_text(SPEC % {"repo": repo})
    subprocess.run(["rpmbuild", "--define", "_topdir %s" % (workdir / "rpmbuild"), "-bb", str(spec)],
                   check=True, capture_output=True, timeout=120)
    return next((workdir / "rpmbuild" / "RPMS" / "noarch").glob("probe-%s-*.rpm" % repo))


def render_repo_files(release, mirror_url, reposdir):
    facts, _ = RELEASES[release]
    defaults = variables.load_defaults(PROVISION_DIR)
    scope = variables.host_variables(defaults, {"mirror": mirror_url, "engine": "docker", "epel": True},
                                     {}, facts)
    templates = variables.Templates(PROVISION_DIR)
    for name in ("os", "epel", "docker-ce"):
        (reposdir / ("%s.repo" % name)).write_text(templates.render("yum/%s.repo.j2" % name, scope))


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_dnf_reads_every_rendered_repository(tmp_path, release):
    _, layout = RELEASES[release]
    mirror = tmp_path / "mirror"
    for repo, directory in layout.items():
        path = mirror / directory
        path.mkdir(parents=True)
        shutil.copy(build_probe(tmp_path, repo), path)
        subprocess.run(["createrepo_c", "-q", str(path)], check=True, timeout=120)
    reposdir = tmp_path / "yum.repos.d"
    reposdir.mkdir()
    render_repo_files(release, mirror.as_uri() + "/", reposdir)

    result = subprocess.run(
        ["dnf", "-q", "-y", "--installroot", str(tmp_path / "root"),
         "--releasever", str(RELEASES[release][0]["os_version"]),
         "--setopt=reposdir=%s" % reposdir, "--setopt=cachedir=%s" % (tmp_path / "cache"),
         "--setopt=skip_if_unavailable=False", "--disableplugin=*",
         "repoquery", "--queryformat", "%{repoid} %{name}\n"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    seen = set(line.strip() for line in result.stdout.splitlines() if line.strip())
    assert seen == {"%s probe-%s" % (repo, repo) for repo in layout}
