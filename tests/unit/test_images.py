"""Image sources: engines of the cluster, and this machine's Docker only when the settings allow it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paasops.errors import PaasopsError
from paasops.service.images import ImageDistributor
from paasops.service.settings import ServiceSettings


class FakeApi:
    def __init__(self, images: set[str], pull_ok: bool = False):
        self.images, self.pull_ok, self.loaded = images, pull_ok, []

    def inspect_image(self, image):
        if image not in self.images:
            raise LookupError(image)

    def pull(self, image):
        if not self.pull_ok:
            raise ConnectionError("no registry")
        self.images.add(image)

    def get_image(self, image):
        return [image.encode()]

    def load_image(self, stream):
        self.loaded.append(b"".join(stream).decode())
        self.images.update(self.loaded)


class FakeHandle:
    def __init__(self, id_: str, images: set[str], placeable: bool = True):
        self.id, self.placeable, self.cached = id_, placeable, set()
        self.client = SimpleNamespace(api=FakeApi(images))

    def has_image(self, image):
        return image in self.cached

    def add_image(self, image):
        self.cached.add(image)


@pytest.mark.parametrize("local_engine, copy_from_local, allowed", [
    (False, False, False),  # the default: the control machine is not a source
    (True, False, True),  # --local-engine: it is an engine of the cluster
    (False, True, True),  # an admin's explicit choice (PAASOPS_IMAGE_COPY_FROM_LOCAL)
])
def test_this_machine_is_an_image_source_only_when_allowed(local_engine, copy_from_local, allowed):
    settings = ServiceSettings(local_engine=local_engine, image_copy_from_local=copy_from_local)
    assert settings.images_from_this_machine is allowed


def test_copies_from_an_engine_of_the_cluster_first():
    target, source = FakeHandle("h1", set()), FakeHandle("h2", {"app:1"})
    local = SimpleNamespace(api=FakeApi({"app:1"}))
    assert ImageDistributor(lambda: local).ensure(target, "app:1", [target, source]) == "copied from h2"
    assert target.client.api.loaded == ["app:1"]


def test_without_a_local_source_an_image_only_this_machine_has_is_refused():
    target = FakeHandle("h1", set())
    with pytest.raises(PaasopsError, match="no engine has it"):
        ImageDistributor(None).ensure(target, "paasops/labhost:bookworm", [target, FakeHandle("h2", set())])
    assert target.client.api.loaded == []


def test_with_a_local_source_it_is_copied_from_this_machine():
    target, local = FakeHandle("h1", set()), SimpleNamespace(api=FakeApi({"app:1"}))
    assert ImageDistributor(lambda: local).ensure(target, "app:1", [target]) == "copied from the local engine"


@pytest.mark.parametrize("local_engine", [False, True])
def test_the_service_wires_the_local_source_from_its_settings(tmp_path, local_engine):
    from paasops.service.service import Service

    service = Service(ServiceSettings(state=f"sqlite:///{tmp_path / 'state.db'}", pki_dir=tmp_path,
                                      local_engine=local_engine))
    try:
        assert (service.images.local_source is not None) is local_engine
    finally:
        service.store.close()


def test_require_finds_an_image_anywhere_or_fails_once_naming_it():
    have, bare = FakeHandle("h1", {"app:1"}), FakeHandle("h2", set())
    ImageDistributor().require("app:1", [bare, have])  # on one engine: enough
    ImageDistributor(lambda: SimpleNamespace(api=FakeApi({"app:1"}))).require("app:1", [bare])  # on this machine
    with pytest.raises(PaasopsError, match=r"image: nowhere:1 is on no engine and cannot be pulled \(on h2: no registry") \
            as caught:
        ImageDistributor().require("nowhere:1", [bare, FakeHandle("h3", set())])
    assert caught.value.exit_code == 2 and caught.value.http_status == 400
    pullable = FakeHandle("h4", set())
    pullable.client.api.pull_ok = True
    ImageDistributor().require("app:2", [pullable])
    assert pullable.has_image("app:2")
