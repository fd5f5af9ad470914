"""provision/steps.yml with provision/defaults.yml: every step renders, validates and prepares
for EL7, EL8, EL9 and Debian 12 hosts, and `when` picks the steps each kind of host needs."""
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provision import actions, memo, steps as step_file, variables
from provision.actions import Context

PROVISION_DIR = Path(variables.__file__).resolve().parent

FACTS = {
    "centos7": {"os_family": "el", "os_version": 7, "distribution": "centos", "distribution_version": "7",
                "distribution_codename": "", "pkg_mgr": "yum", "init": "systemd", "python": "/usr/bin/python3"},
    "centos8": {"os_family": "el", "os_version": 8, "distribution": "centos", "distribution_version": "8",
                "distribution_codename": "", "pkg_mgr": "dnf", "init": "systemd", "python": "/usr/libexec/platform-python"},
    "rocky9": {"os_family": "el", "os_version": 9, "distribution": "rocky", "distribution_version": "9.3",
               "distribution_codename": "", "pkg_mgr": "dnf", "init": "systemd", "python": "/usr/bin/python3"},
    "debian12": {"os_family": "debian", "os_version": 12, "distribution": "debian", "distribution_version": "12",
                 "distribution_codename": "bookworm", "pkg_mgr": "apt", "init": "systemd", "python": "/usr/bin/python3"},
}


def prepared_steps(facts, hostvars=None, groups=("engines",), once=None):
    """(step name -> prepared args) for the steps whose `when` holds, as the runner prepares them;
    hosts of one run share `once` (memo.per_run())."""
    loaded = step_file.load(step_file.DEFAULT_STEPS)
    defaults = variables.load_defaults(PROVISION_DIR)
    scope = variables.host_variables(defaults, {"inventory_hostname": "h1", "group_names": list(groups),
                                                **(hostvars or {})}, {}, facts)
    templates = variables.Templates(PROVISION_DIR)
    context = Context("h1", scope, facts, lambda src: templates.render(src, scope), once or memo.per_run())
    result = {}
    for step in loaded.steps + loaded.handlers:
        if variables.evaluate_when(step.when, scope):
            args = actions.validate(step.action.args, variables.render_value(step.args, scope))
            result[step.name] = step.action.prepare(args, context)
    return result


@pytest.mark.parametrize("host", sorted(FACTS))
@pytest.mark.parametrize("hostvars,groups", [
    ({}, ("engines",)),
    ({"engine": "docker", "epel": "true", "mirror": "tuna", "firewall": "keep",
      "registry_auth_users": {"alice": "secret"}}, ("engines", "registry")),
])
def test_every_step_prepares_with_the_defaults(host, hostvars, groups):
    prepared = prepared_steps(FACTS[host], hostvars, groups)
    assert prepared["Supported host and choices"]["release"] == host
    engine = hostvars.get("engine", "yard")
    assert ("yard daemon.json" in prepared) == (engine == "yard")
    assert ("Docker daemon.json" in prepared) == (engine == "docker")
    assert ("Registry configuration" in prepared) == ("registry" in groups)
    assert ("Registry users" in prepared) == bool(hostvars.get("registry_auth_users"))


def test_el_hosts_get_repo_files_and_debian_hosts_sources():
    el = prepared_steps(FACTS["rocky9"], {"engine": "docker"})
    assert el["Distribution repository files kept aside"]["names"] == ["rocky.repo", "rocky-extras.repo"]
    assert "Docker CE repository" in el and "Debian sources from the mirror" not in el
    assert "EPEL repository" not in el
    assert el["Packages that conflict with Docker CE removed"]["state"] == "absent"
    assert "Packages that conflict with Docker CE removed" not in prepared_steps(FACTS["centos7"], {"engine": "docker"})
    debian = prepared_steps(FACTS["debian12"])
    assert debian["Debian sources from the mirror"]["dest"] == "/etc/apt/sources.list"
    assert not any(name.endswith("repository") for name in debian)


def test_registry_hosts_on_el8_and_later_get_epel_and_the_port_opened():
    prepared = prepared_steps(FACTS["rocky9"], {"firewall": "keep", "registry_port": 5001}, ("registry",))
    assert "EPEL repository" in prepared
    assert prepared["Firewall"] == {"state": "keep", "ports": ["5001/tcp"]}
    assert prepared["Registry configuration"]["dest"] == "/etc/docker-distribution/registry/config.yml"


def test_daemon_json_holds_the_hosts_settings():
    prepared = prepared_steps(FACTS["debian12"], {"cgroup_parent": "lab-2", "insecure_registries": ["10.0.0.5:5000"]})
    content = prepared["yard daemon.json"]["content"]
    assert '"cgroup-parent": "lab-2"' in content and '"10.0.0.5:5000"' in content


def test_every_host_of_a_run_gets_the_one_engine_bundle():
    once = memo.per_run()
    first, second = (prepared_steps(FACTS["debian12"], {"cgroup_parent": name}, once=once)["yard bundle"]
                     for name in ("lab-1", "lab-2"))
    assert first["data"] is second["data"]
    assert first["sha256"] == hashlib.sha256(first["data"]).hexdigest()
    assert prepared_steps(FACTS["debian12"])["yard bundle"]["data"] is not first["data"]   # another run


def test_hosts_prepared_at_once_each_get_their_own_daemon_json_or_their_own_error():
    """yardd checks each distinct file once for the run: sharing must not mix up hosts."""
    once = memo.per_run()
    hostvars = [{"cgroup_parent": "lab-1"}, {"cgroup_parent": "lab-2"}, {"cgroup_parent": "lab-1"},
                {"bip": "172.18.0.0/16"}, {"daemon_extra": {"no-such-option": 1}},
                {"daemon_extra": {"no-such-option": 1}}]

    def prepare(variables):
        try:
            return prepared_steps(FACTS["debian12"], variables, once=once)["yard daemon.json"]["content"]
        except actions.ActionError as error:
            return str(error)

    with ThreadPoolExecutor(len(hostvars)) as pool:
        lab1, lab2, lab1_again, bad_bip, unknown, unknown_again = pool.map(prepare, hostvars)
    assert '"cgroup-parent": "lab-1"' in lab1 and lab1 == lab1_again
    assert '"cgroup-parent": "lab-2"' in lab2
    assert bad_bip.startswith("variable bip: ")
    assert unknown.startswith("yardd refuses the rendered daemon.json: ") and "no-such-option" in unknown
    assert unknown_again == unknown


@pytest.mark.parametrize("hostvars,message", [
    ({"engine": "podman"}, "args.engine: 'podman' is not one of yard, docker"),
    ({"mirror": "aliyn"}, "variable mirror: 'aliyn' is not official, aliyun, tuna, ustc, or a URL"),
    ({"selinux": "off"}, "args.state: 'off' is not one of enforcing, permissive, disabled"),
    ({"firewall": "on"}, "args.state: 'on' is not one of disabled, keep"),
])
def test_a_bad_choice_fails_before_any_host_is_touched(hostvars, message):
    with pytest.raises((actions.ArgError, actions.ActionError), match=message.replace("(", r"\(")):
        prepared_steps(FACTS["rocky9"], hostvars)


def test_an_unknown_release_is_refused():
    facts = dict(FACTS["rocky9"], distribution="fedora", os_version=39)
    with pytest.raises(actions.ActionError, match="this host runs fedora39, which the steps do not know"):
        prepared_steps(facts)
