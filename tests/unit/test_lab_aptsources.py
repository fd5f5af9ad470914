"""The lab reads this machine's apt sources to know where to build from and what to mirror."""
import pytest

from provision.lab import aptsources
from provision.lab.command import LabError


@pytest.fixture
def apt(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    return tmp_path


def test_deb822_stanzas_with_comments_and_disabled_entries(apt):
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb deb-src\n"
        "# a comment inside the stanza\n"
        "URIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main contrib\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "Enabled: no\n"
        "URIs: http://elsewhere.example/debian\n"
        "Suites: trixie\n"
        "Components: main\n")
    assert aptsources.machine_sources(apt) == [
        aptsources.Source("http://mirror.example/debian", ("bookworm", "bookworm-updates"),
                          ("main", "contrib")),
        aptsources.Source("http://mirror.example/debian-security", ("bookworm-security",), ("main",)),
    ]


def test_one_line_format_with_options_and_only_binary_http_sources(apt):
    (apt / "sources.list").write_text(
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main # note\n"
        "deb-src http://mirror.example/debian bookworm main\n"
        "# deb http://commented.example/debian bookworm main\n"
        "deb file:/srv/local ./\n")
    (apt / "sources.list.d" / "disabled.list.save").write_text(
        "deb http://saved.example/debian bookworm main\n")
    assert aptsources.machine_sources(apt) == [
        aptsources.Source("http://mirror.example/debian", ("bookworm",), ("main",))]


def test_the_archive_for_a_suite_and_its_companions(apt):
    (apt / "sources.list").write_text(
        "deb http://a.example/debian bookworm main\n"
        "deb http://a.example/debian-security bookworm-security main\n"
        "deb http://other.example/repo stable main\n")
    assert aptsources.archive_for("bookworm", apt).uri == "http://a.example/debian"
    assert [s.uri for s in aptsources.debian_archives("bookworm", apt)] == [
        "http://a.example/debian", "http://a.example/debian-security"]


def test_no_source_for_the_suite_names_the_files_read(apt):
    (apt / "sources.list").write_text("deb http://a.example/debian bullseye main\n")
    with pytest.raises(LabError, match="bookworm main.*%s/sources.list" % apt):
        aptsources.archive_for("bookworm", apt)
