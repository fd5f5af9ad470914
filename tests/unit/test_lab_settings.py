"""A lab is chosen by environment variables; bad ones are refused naming the variable."""
import pytest

from provision.lab.command import LabError
from provision.lab.settings import Lab


def test_defaults_are_the_readme_lab(monkeypatch):
    for variable in ["DOCKYARD_LAB_NAME", "DOCKYARD_LAB_SUBNET", "DOCKYARD_LAB_DIR"]:
        monkeypatch.delenv(variable, raising=False)
    lab = Lab.from_environment()
    assert (lab.bridge, lab.gateway, lab.host_name(1), lab.host_address(3)) == (
        "dylab0", "10.88.0.1", "lab-1", "10.88.0.13")
    assert lab.mirror_url == "http://10.88.0.1:3142"
    assert lab.hosts_file.parent.name == "lab"


def test_another_lab_beside_it(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKYARD_LAB_NAME", "labt")
    monkeypatch.setenv("DOCKYARD_LAB_SUBNET", "10.231.7")
    monkeypatch.setenv("DOCKYARD_LAB_DIR", str(tmp_path))
    lab = Lab.from_environment()
    assert (lab.bridge, lab.host_name(2), lab.host_address(2)) == ("dylabt0", "labt-2", "10.231.7.12")
    assert lab.known_hosts_file == tmp_path / "known_hosts"


@pytest.mark.parametrize("variable, value", [
    ("DOCKYARD_LAB_NAME", "Lab"), ("DOCKYARD_LAB_NAME", "toolongname"), ("DOCKYARD_LAB_NAME", "a-b"),
    ("DOCKYARD_LAB_SUBNET", "10.88.0.0"), ("DOCKYARD_LAB_SUBNET", "10.256.0"),
    ("DOCKYARD_LAB_SUBNET", "10.88"),
])
def test_bad_values_name_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(LabError, match="^%s=" % variable):
        Lab.from_environment()
