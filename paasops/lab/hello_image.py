"""The demo app image `paasops/hello:latest`: busybox httpd serving a page, imported from busybox-static."""

from __future__ import annotations

import io
import shutil
import tarfile

from ..errors import PaasopsError

HELLO_IMAGE = "paasops/hello:latest"
INDEX = b"<h1>hello from paasops</h1>\n"


def _rootfs_tar() -> bytes:
    busybox = shutil.which("busybox") or "/bin/busybox"
    try:
        data = open(busybox, "rb").read()
    except OSError:
        raise PaasopsError("busybox is not installed (apt-get install busybox-static)", where="hello image") from None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(path: str, payload: bytes = b"", mode: int = 0o644, kind=tarfile.REGTYPE, link: str = ""):
            info = tarfile.TarInfo(path)
            info.type, info.mode, info.linkname = kind, mode, link
            info.size = len(payload) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(payload) if kind == tarfile.REGTYPE else None)
        for d in ("bin", "www", "tmp", "etc"):
            add(d, mode=0o755, kind=tarfile.DIRTYPE)
        add("bin/busybox", data, 0o755)
        for applet in ("sh", "httpd", "sleep", "echo", "cat", "wget", "ls"):
            add(f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox")
        add("www/index.html", INDEX)
    return buf.getvalue()


def ensure_hello_image(client) -> str:
    """Import the image into this engine once; returns its name."""
    try:
        client.images.get(HELLO_IMAGE)
        return HELLO_IMAGE
    except Exception:  # ImageNotFound
        pass
    repo, tag = HELLO_IMAGE.split(":")
    client.api.import_image_from_data(
        _rootfs_tar(), repository=repo, tag=tag,
        changes=['CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]', "EXPOSE 8080", "ENV PATH=/bin"])
    return HELLO_IMAGE
