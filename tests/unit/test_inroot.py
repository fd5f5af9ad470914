"""engine.inroot: every path resolves inside its root, whatever symlinks the root holds.

Each case builds a small tree in a temporary directory, with a "host" directory beside the root
that a hostile entry points at, and checks where the path lands and that the host is untouched.
"""
import errno
import os

import pytest

from engine import inroot


@pytest.fixture
def tree(tmp_path):
    root, host = tmp_path / "root", tmp_path / "host"
    root.mkdir()
    host.mkdir()
    (host / "secret").write_text("host\n")
    (root / "etc").mkdir()
    (root / "etc" / "hosts").write_text("inside\n")
    return root, host


def test_plain_paths_resolve_below_the_root(tree):
    root, _ = tree
    assert inroot.resolve(str(root), "/etc/hosts") == str(root / "etc" / "hosts")
    assert inroot.resolve(str(root), "etc/./hosts") == str(root / "etc" / "hosts")
    assert inroot.resolve(str(root), "/") == str(root)


def test_dot_dot_stops_at_the_root(tree):
    root, _ = tree
    assert inroot.resolve(str(root), "../../../etc/hosts") == str(root / "etc" / "hosts")
    assert inroot.resolve(str(root), "/etc/../../host/secret") == str(root / "host" / "secret")


def test_an_absolute_symlink_starts_again_at_the_root(tree):
    root, host = tree
    (root / "dev").symlink_to(host)                     # /dev -> the host's directory
    assert inroot.resolve(str(root), "/dev/pts") == str(root / host.relative_to("/") / "pts")
    (root / "etc" / "passwd").symlink_to("/etc/hosts")
    assert inroot.resolve(str(root), "/etc/passwd") == str(root / "etc" / "hosts")


def test_a_relative_symlink_climbing_out_stops_at_the_root(tree):
    root, _ = tree
    (root / "up").symlink_to("../../../../host")
    assert inroot.resolve(str(root), "/up/secret") == str(root / "host" / "secret")


def test_missing_names_below_a_missing_entry_are_kept_as_named(tree):
    root, _ = tree
    assert inroot.resolve(str(root), "/new/a/../b") == str(root / "new" / "b")


def test_open_dir_creates_through_a_dangling_symlink_inside_the_root(tree):
    root, host = tree
    (root / "dev").symlink_to(str(host / "made"))       # dangling, and absolute
    fd = inroot.open_dir(str(root), "/dev/shm", create=True)
    try:
        made = inroot.fd_path(fd)
    finally:
        os.close(fd)
    assert made == str(root / host.relative_to("/") / "made" / "shm")
    assert os.listdir(str(host)) == ["secret"]


def test_open_parent_leaves_the_final_name_unfollowed(tree):
    root, host = tree
    (root / "etc" / "shadow").symlink_to(str(host / "secret"))
    fd, name = inroot.open_parent(str(root), "/etc/shadow")
    try:
        assert (inroot.fd_path(fd), name) == (str(root / "etc"), "shadow")
        assert os.readlink(name, dir_fd=fd) == str(host / "secret")
    finally:
        os.close(fd)
    with pytest.raises(ValueError):
        inroot.open_parent(str(root), "/")


def test_symlink_loops_and_files_in_the_middle_are_refused(tree):
    root, _ = tree
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(OSError) as loop:
        inroot.resolve(str(root), "/a/x")
    assert loop.value.errno == errno.ELOOP
    with pytest.raises(NotADirectoryError):
        inroot.resolve(str(root), "/etc/hosts/x")
    with pytest.raises(NotADirectoryError):
        inroot.resolve(str(root), "/etc/hosts/..")
    with pytest.raises(FileNotFoundError):
        inroot.open_dir(str(root), "/nosuch")
    with pytest.raises(NotADirectoryError):
        inroot.open_dir(str(root), "/etc/hosts")
