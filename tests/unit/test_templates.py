"""Every template in templates/, rendered for EL7, EL8, EL9, Debian 12 and Ubuntu 22.04 hosts with
the default variables and with custom ones, compared with the files under golden/templates/.

After an intended change to a template or a default, regenerate and review the diff:

    DOCKYARD_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/test_templates.py
"""
import json
import os
from pathlib import Path

import jinja2
import pytest

from provision import variables

PROVISION_DIR = Path(variables.__file__).resolve().parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "templates"
REGENERATE = os.environ.get("DOCKYARD_REGEN_GOLDEN") == "1"

# Facts as provision/facts.py reports them for each kind of host.
HOSTS = {
    "centos7": {"os_family": "el", "os_version": 7, "distribution": "centos",
                "distribution_version": "7", "distribution_codename": "", "pkg_mgr": "yum"},
    "centos8": {"os_family": "el", "os_version": 8, "distribution": "centos",
                "distribution_version": "8", "distribution_codename": "", "pkg_mgr": "dnf"},
    "rocky8": {"os_family": "el", "os_version": 8, "distribution": "rocky",
               "distribution_version": "8.9", "distribution_codename": "", "pkg_mgr": "dnf"},
    "rocky9": {"os_family": "el", "os_version": 9, "distribution": "rocky",
               "distribution_version": "9.3", "distribution_codename": "", "pkg_mgr": "dnf"},
    "almalinux9": {"os_family": "el", "os_version": 9, "distribution": "almalinux",
                   "distribution_version": "9.3", "distribution_codename": "", "pkg_mgr": "dnf"},
    "centos9": {"os_family": "el", "os_version": 9, "distribution": "centos",
                "distribution_version": "9", "distribution_codename": "", "pkg_mgr": "dnf"},
    "debian12": {"os_family": "debian", "os_version": 12, "distribution": "debian",
                 "distribution_version": "12", "distribution_codename": "bookworm", "pkg_mgr": "apt"},
    "ubuntu22": {"os_family": "debian", "os_version": 22, "distribution": "ubuntu",
                 "distribution_version": "22.04", "distribution_codename": "jammy", "pkg_mgr": "apt"},
}

# Inventory variables as an INI inventory gives them (strings where Ansible's INI gives strings).
VARIABLES = {
    "default": {},
    "custom": {
        "mirror": "aliyun",
        "debian_components": "main contrib",
        "kernel_modules": ["br_netfilter", "overlay", "ip_vs"],
        "sysctl_rp_filter_all": 2,
        "sysctl_extra": {"net.ipv4.ip_local_port_range": "32768 60999"},
        "registry_mirrors": ["https://mirror.example.com"],
        "insecure_registries": ["10.0.0.5:5000", "10.0.0.0/24"],
        "bip": "172.18.0.1/16",
        "data_root": "/srv/yard",
        "cgroup_parent": "lab-1",
        "log_driver": "json-file",
        "log_opts": {"max-size": "10m", "max-file": "3"},
        "live_restore": "true",
        "registry_port": 5001,
        "registry_storage": "/srv/registry",
        "registry_auth_users": {"alice": "secret"},
    },
    "url-mirror": {"mirror": "http://10.0.0.1:8080/mirror/", "centos8_vault_release": "8-stream"},
    "debian-mirror": {"debian_mirror": "http://10.23.0.1:3142/debian",
                      "debian_security_mirror": "http://10.23.0.1:3142/debian-security"},
}

EL_ONLY = ("yum/os.repo.j2", "yum/epel.repo.j2", "yum/docker-ce.repo.j2")
DEBIAN_ONLY = ("apt/sources.list.j2",)


def templates_for(facts):
    skip = DEBIAN_ONLY if facts["os_family"] == "el" else EL_ONLY
    return sorted(str(path.relative_to(variables.REPOSITORY_TEMPLATES))
                  for path in variables.REPOSITORY_TEMPLATES.rglob("*.j2")
                  if not path.name.startswith("_")
                  and str(path.relative_to(variables.REPOSITORY_TEMPLATES)) not in skip)


def render(src, host, variant):
    defaults = variables.load_defaults(PROVISION_DIR)
    scope = variables.host_variables(defaults, VARIABLES[variant], {}, HOSTS[host])
    return variables.Templates(PROVISION_DIR).render(src, scope)


CASES = [(host, variant, src)
         for host in HOSTS for variant in VARIABLES for src in templates_for(HOSTS[host])]


@pytest.mark.parametrize("host,variant,src", CASES, ids=["%s-%s-%s" % case for case in CASES])
def test_template_renders_as_its_golden_file(host, variant, src):
    rendered = render(src, host, variant)
    golden = GOLDEN / host / variant / src[:-len(".j2")]
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), "no golden file %s: regenerate with DOCKYARD_REGEN_GOLDEN=1" % golden
    assert rendered == golden.read_text()


def test_no_golden_file_is_left_without_its_case():
    expected = {GOLDEN / host / variant / src[:-len(".j2")] for host, variant, src in CASES}
    assert set(p for p in GOLDEN.rglob("*") if p.is_file()) == expected


@pytest.mark.parametrize("host", sorted(HOSTS))
@pytest.mark.parametrize("variant", sorted(VARIABLES))
def test_daemon_json_is_json(host, variant):
    json.loads(render("daemon.json.j2", host, variant))



def test_compiled_templates_are_kept_between_runs_and_a_changed_one_is_compiled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    steps = tmp_path / "steps"
    (steps / "templates").mkdir(parents=True)
    (steps / "templates" / "a.j2").write_text("one {{ x }}\n")
    compiled = []
    real_compile = jinja2.Environment.compile

    def compile_and_count(self, source, *args, **kwargs):
        compiled.append(source)
        return real_compile(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile_and_count)
    assert variables.Templates(steps).render("a.j2", {"x": 1}) == "one 1\n"
    assert compiled == ["one {{ x }}\n"]
    assert len(list((tmp_path / "cache" / "dockyard").glob("jinja-*/*"))) == 1
    # A later run (a new environment) reads the compiled template instead of compiling it...
    assert variables.Templates(steps).render("a.j2", {"x": 2}) == "one 2\n"
    assert compiled == ["one {{ x }}\n"]
    # ...and a template whose source changed is compiled again.
    (steps / "templates" / "a.j2").write_text("two {{ x }}\n")
    assert variables.Templates(steps).render("a.j2", {"x": 3}) == "two 3\n"
    assert compiled == ["one {{ x }}\n", "two {{ x }}\n"]


def test_a_cache_that_cannot_be_made_never_fails_a_render(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    steps = tmp_path / "steps"
    (steps / "templates").mkdir(parents=True)
    (steps / "templates" / "a.j2").write_text("one {{ x }}\n")
    assert variables.Templates(steps).render("a.j2", {"x": 1}) == "one 1\n"
