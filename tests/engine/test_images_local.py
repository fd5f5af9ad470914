"""Images without a registry: load, save, import, tag, rmi, prune, and whiteouts in overlayfs."""
import io
import json
import os
import tarfile


def test_load_lists_and_inspects_the_image(image_engine, busybox_archive):
    loaded = image_engine.yard("load", "-i", busybox_archive)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: busybox:latest\n"

    listing = image_engine.yard("images")
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:2] == ["busybox", "latest"]

    image = image_engine.service.resolve("busybox")
    assert image.config["Cmd"] == ["sh"]
    assert os.path.isfile(os.path.join(image.layer_dirs()[0], "bin/busybox"))
    assert os.readlink(os.path.join(image.layer_dirs()[0], "bin/ls")) == "/bin/busybox"
    inspected = image_engine.yard("image", "inspect", "-f", "{{.Id}} {{json .RepoTags}}", "busybox")
    assert inspected.stdout == '%s ["busybox:latest"]\n' % image.id


def test_upper_layer_whiteouts_hide_lower_files_in_overlayfs(image_engine, layered_archive, overlay_mount):
    assert image_engine.yard("load", "-i", layered_archive).returncode == 0
    image = image_engine.service.resolve("layered:latest")
    assert len(image.layer_dirs()) == 2

    merged = overlay_mount(image.layer_dirs())
    assert (merged / "bin/busybox").is_file()
    assert not (merged / "etc/motd").exists()                 # .wh.motd in the upper layer
    assert sorted(os.listdir(str(merged / "opt/data"))) == ["c"]   # opaque: a and b are gone
    # Each layer alone still holds what it brought: the lower one is untouched.
    assert (image.layer_dirs()[1] + "/etc/motd") and open(image.layer_dirs()[1] + "/etc/motd").read() == "lower motd\n"


def test_save_then_load_into_another_engine_gives_the_same_image(make_image_engine, busybox_archive, tmp_path):
    first, second = make_image_engine(), make_image_engine()
    assert first.yard("load", "-i", busybox_archive).returncode == 0
    saved = first.yard("save", "-o", tmp_path / "saved.tar", "busybox")
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(str(tmp_path / "saved.tar")) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["busybox:latest"]

    assert second.yard("load", "-i", tmp_path / "saved.tar").returncode == 0
    assert second.service.resolve("busybox").id == first.service.resolve("busybox").id


def test_import_makes_an_image_from_a_rootfs_tarball(image_engine, busybox_layer, tmp_path):
    busybox_layer(tmp_path / "rootfs.tar", files={"/hello": b"hi\n"})
    imported = image_engine.yard("import", "-c", "CMD [\"/bin/sh\"]", "-m", "from a test",
                                 tmp_path / "rootfs.tar", "imported:v1")
    assert imported.returncode == 0, imported.stderr
    image = image_engine.service.resolve("imported:v1")
    assert imported.stdout == image.id + "\n"
    assert image.config["Cmd"] == ["/bin/sh"]
    assert open(os.path.join(image.layer_dirs()[0], "hello")).read() == "hi\n"
    history = image_engine.yard("history", "imported:v1")
    assert "from a test" in history.stdout


def test_tag_rmi_and_prune(image_engine, busybox_archive):
    assert image_engine.yard("load", "-i", busybox_archive).returncode == 0
    image = image_engine.service.resolve("busybox")
    assert image_engine.yard("tag", "busybox", "127.0.0.1:5000/team/box:1").returncode == 0
    assert image_engine.service.resolve("127.0.0.1:5000/team/box:1").id == image.id

    by_id = image_engine.yard("rmi", image.id[7:19])
    assert by_id.returncode == 1
    assert "image is referenced in multiple repositories" in by_id.stderr

    untag = image_engine.yard("rmi", "127.0.0.1:5000/team/box:1")
    assert untag.stdout == "Untagged: 127.0.0.1:5000/team/box:1\n"

    image_engine.service.set_in_use(lambda image_id: "web" if image_id == image.id else None)
    refused = image_engine.yard("rmi", "busybox")
    assert refused.returncode == 1
    assert 'unable to remove repository reference "busybox" (must force) - container web' in refused.stderr
    image_engine.service.set_in_use(lambda image_id: None)

    removed = image_engine.yard("rmi", "busybox")
    assert removed.stdout == "Untagged: busybox:latest\nDeleted: %s\n" % image.id
    assert not os.path.exists(image.layer_dirs()[0])
    assert os.listdir(os.path.join(image_engine.root, "blobs/sha256")) == []

    missing = image_engine.yard("rmi", "busybox")
    assert missing.stderr == "Error response from daemon: No such image: busybox:latest\n"


def test_prune_all_removes_unused_images(image_engine, busybox_archive):
    assert image_engine.yard("load", "-i", busybox_archive).returncode == 0
    dangling_only = image_engine.yard("image", "prune", "-f")
    assert dangling_only.stdout == "Total reclaimed space: 0B\n"
    pruned = image_engine.yard("image", "prune", "-a", "-f")
    assert "untagged: busybox:latest" in pruned.stdout
    assert image_engine.yard("images", "-q").stdout == ""


def test_load_refuses_an_archive_whose_layer_does_not_match_its_config(image_engine, busybox_archive, tmp_path):
    broken = tmp_path / "broken.tar"
    with tarfile.open(str(busybox_archive)) as source, tarfile.open(str(broken), "w") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.endswith("layer.tar"):
                data = data.replace(b"root:x:0:0", b"toor:x:0:0")
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    loaded = image_engine.yard("load", "-i", broken)
    assert loaded.returncode == 1
    assert "verification failed" in loaded.stderr
    assert image_engine.yard("images", "-q").stdout == ""
    assert os.listdir(os.path.join(image_engine.root, "layers")) == []
    assert os.listdir(os.path.join(image_engine.root, "tmp")) == []


def test_a_layer_cannot_write_outside_its_directory(image_engine, image_archive, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    with tarfile.open(str(tmp_path / "evil.tar"), "w") as tar:
        link = tarfile.TarInfo("escape")
        link.type = tarfile.SYMTYPE
        link.linkname = str(outside)
        tar.addfile(link)
        planted = tarfile.TarInfo("escape/planted")
        planted.size = 3
        tar.addfile(planted, io.BytesIO(b"bad"))
    image_archive(tmp_path / "evil-image.tar", [tmp_path / "evil.tar"], "evil:latest")

    loaded = image_engine.yard("load", "-i", tmp_path / "evil-image.tar")
    assert loaded.returncode == 1
    assert loaded.stderr == "Error response from daemon: layer entry 'escape' points outside the layer\n"
    assert os.listdir(str(outside)) == []
    assert os.listdir(os.path.join(image_engine.root, "layers")) == []


def test_a_missing_input_file_is_named(image_engine, tmp_path):
    missing = tmp_path / "nosuch.tar"
    for args in (["load", "-i", missing], ["import", missing]):
        result = image_engine.yard(*args)
        assert (result.returncode, result.stderr) == (1, "open %s: no such file or directory\n" % missing)


def test_save_into_a_missing_directory_is_named(image_engine, busybox_archive, tmp_path):
    assert image_engine.yard("load", "-i", busybox_archive).returncode == 0
    target = tmp_path / "nosuch" / "busybox.tar"
    result = image_engine.yard("save", "-o", target, "busybox")
    assert (result.returncode, result.stderr) == (1, "failed to save image: %s: no such file or directory\n" % target)
