"""The image routes as raw Engine API calls: what docker-py and the docker CLI rely on."""


def test_a_missing_image_is_a_404_before_any_progress(image_engine, registry):
    # `docker run` pulls when create answers 404, and shows the pull's own status when it fails.
    status, body = image_engine.api("POST", "/images/create?fromImage=%s/nosuch&tag=1" % registry.host)
    assert status == 404
    assert body == {"message": "manifest for %s/nosuch:1 not found: manifest unknown: manifest unknown"
                               % registry.host}


def test_names_with_a_registry_port_and_slashes_route_to_the_image(image_engine, busybox_archive):
    assert image_engine.yard("load", "-i", busybox_archive).returncode == 0
    name = "127.0.0.1:5000/team/tools/box:v1"
    status, _ = image_engine.api("POST", "/images/busybox/tag?repo=127.0.0.1:5000/team/tools/box&tag=v1")
    assert status == 201
    status, body = image_engine.api("GET", "/images/%s/json" % name)
    assert status == 200
    assert name in body["RepoTags"]
    status, body = image_engine.api("GET", "/images/%s/history" % name)
    assert status == 200 and body[0]["Tags"] == ["127.0.0.1:5000/team/tools/box:v1", "busybox:latest"]
    status, body = image_engine.api("DELETE", "/images/%s" % name)
    assert (status, body) == (200, [{"Untagged": name}])


def test_bad_requests_name_what_is_wrong(image_engine):
    status, body = image_engine.api("POST", "/images/create?fromImage=Busybox")
    assert (status, body) == (400, {"message": "invalid reference format: repository name must be lowercase"})
    status, body = image_engine.api("POST", "/images/create?fromImage=busybox",
                                    headers={"X-Registry-Auth": "not base64 json!"})
    assert (status, body) == (400, {"message": "invalid X-Registry-Auth header: not base64url-encoded JSON"})
    status, body = image_engine.api("POST", "/images/create?fromSrc=-&changes=VOLUME%20/data", body=b"")
    assert (status, body) == (400, {"message": "VOLUME is not a valid change command"})
