"""vagrant/Vagrantfile, read by a real Ruby: the box it picks and the vagrant/hosts.ini it writes,
which provision's own inventory reader then reads. Vagrant itself is not needed: a stand-in
`Vagrant.configure` records what the file sets (the VMs are not what is under test here)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from provision.inventory import hosts_for, load

VAGRANTFILE = Path(__file__).resolve().parents[2] / "vagrant" / "Vagrantfile"

# Records every setting the Vagrantfile makes as "a.b.c= value" lines on stdout.
STAND_IN = """
class Recorder
  def initialize(path) ; @path = path ; end
  def method_missing(name, *args, &block)
    path = @path + [name.to_s]
    puts "#{path.join('.')} #{args.inspect}" if name.to_s.end_with?("=") || !args.empty?
    block.call(Recorder.new(path), Recorder.new(path)) if block
    Recorder.new(path)
  end
  def respond_to_missing?(*) ; true ; end
end
module Vagrant
  def self.configure(version) ; yield Recorder.new(["config"]) ; end
end
load ARGV[0]
"""

pytestmark = pytest.mark.skipif(shutil.which("ruby") is None, reason="needs ruby")


def read_vagrantfile(tmp_path, **env):
    shutil.copy(VAGRANTFILE, tmp_path / "Vagrantfile")
    (tmp_path / "stand_in.rb").write_text(STAND_IN)
    done = subprocess.run(["ruby", "stand_in.rb", "Vagrantfile"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_three_rocky_vms_by_default_and_an_inventory_that_provision_reads(tmp_path):
    settings = read_vagrantfile(tmp_path)
    assert 'config.vm.box= ["rockylinux/9"]' in settings
    assert 'config.vm.define ["engine-1"]' in settings and 'config.vm.define ["registry-1"]' in settings
    inventory = load(tmp_path / "hosts.ini")
    hosts = {host.name: host for host in hosts_for(inventory)}
    assert sorted(hosts) == ["engine-1", "engine-2", "registry-1"]
    assert [host.name for host in hosts_for(inventory, "registry")] == ["registry-1"]
    engine = hosts["engine-1"]
    assert (engine.address, engine.user, engine.become) == ("192.168.56.11", "vagrant", True)
    assert engine.key_file == str(tmp_path / ".vagrant/machines/engine-1/virtualbox/private_key")
    assert engine.vars["insecure_registries"] == ["192.168.56.13:5000"]
    assert (engine.vars["engine"], engine.vars["mirror"]) == ("yard", "official")


def test_the_box_subnet_and_choices_come_from_the_environment(tmp_path):
    settings = read_vagrantfile(tmp_path, DOCKYARD_BOX="centos/7", DOCKYARD_SUBNET="10.9.8",
                                DOCKYARD_MIRROR="aliyun", DOCKYARD_ENGINE="docker")
    assert 'config.vm.box= ["centos/7"]' in settings
    hosts = {host.name: host for host in hosts_for(load(tmp_path / "hosts.ini"))}
    assert hosts["registry-1"].address == "10.9.8.13"
    assert (hosts["engine-2"].vars["engine"], hosts["engine-2"].vars["mirror"]) == ("docker", "aliyun")
