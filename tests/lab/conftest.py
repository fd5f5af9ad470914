"""A lab of its own for the lab tests: 3 nspawn hosts, brought up once per session.

It runs beside any lab a developer has up: its own name (hosts labt-1..3, bridge dylabt0),
subnet, state directory and inventory directory (a temporary one). It is brought down at the
end of the session whatever happened, and also at the start, in case a killed run left one.
The `lab` fixture yields a LabUnderTest (tests/lab/lab_under_test.py).
"""
import os

import pytest

from lab_under_test import LabUnderTest, brought_up
from provision.lab.settings import Lab

NAME = "labt"
SUBNET = "10.231.7"


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    yield from brought_up(LabUnderTest(Lab(name=NAME, subnet=SUBNET, out_dir=tmp_path_factory.mktemp("lab"))))


@pytest.fixture
def spare_lab(tmp_path):
    """A second lab of one host (labd-1, bridge dylabd0), not yet up; brought down afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    spare = LabUnderTest(Lab(name="labd", subnet="10.231.8", out_dir=tmp_path / "lab"), count=1)
    spare.run("down")
    yield spare
    spare.run("down")
