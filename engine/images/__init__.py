"""Images: references, the content store, registries, archives.

    reference.py   docker's reference grammar and normalisation (busybox -> docker.io/library/busybox:latest)
    store.py       content-addressed blobs, unpacked layers, image markers, tags (repositories.json)
    layers.py      layer tarballs: decompression, unpacking with OCI whiteouts -> overlayfs
    registry.py    one registry endpoint: auth challenges, redirects, mirrors, insecure-registries
    pull.py        manifest (list) -> config -> layers in parallel
    push.py        HEAD / mount / upload blobs, PUT the manifest
    archive.py     docker save / load (legacy and OCI layouts), import of a rootfs tarball
    mediatypes.py  docker schema2 and OCI media types
    service.py     ImageService: what the API routes and the containers service call
"""
