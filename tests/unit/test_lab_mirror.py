"""The lab mirror's cache across mirror starts (provision/lab/mirror.py)."""
from provision.lab import mirror


def test_a_starting_mirror_forgets_release_indexes_and_keeps_packages(tmp_path):
    dists = tmp_path / "debian" / "dists"
    kept = [dists / "bookworm/main/binary-amd64/by-hash/SHA256/0a1b",
            dists / "bookworm/main/binary-amd64/Packages.xz",
            tmp_path / "debian/pool/main/h/hello/hello_2.10-3_amd64.deb"]
    forgotten = [dists / "bookworm/InRelease", dists / "bookworm/InRelease.head",
                 dists / "bookworm/InRelease.1796193985", dists / "bookworm-updates/Release.gpg",
                 tmp_path / "debian-security/dists/bookworm-security/InRelease"]
    for path in kept + forgotten:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    mirror.forget_release_indexes(tmp_path)
    assert [path for path in kept + forgotten if path.exists()] == kept
