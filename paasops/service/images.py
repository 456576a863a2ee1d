"""Make sure an engine has an image: it has it, it pulls it, or it is copied from one that has it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..errors import PaasopsError, UserInputError
from .engine import EngineHandle
from .keyed_lock import KeyedLocks

log = logging.getLogger(__name__)


class ImageDistributor:
    """One copy per (engine, image) at a time; other replicas wait for it."""

    def __init__(self, local_source: Callable[[], Any] | None = None):
        self._locks: KeyedLocks[threading.Lock] = KeyedLocks()
        self.local_source = local_source  # returns a docker client of this machine's engine, or None

    @staticmethod
    def has(handle: EngineHandle, image: str) -> bool:
        if handle.has_image(image):
            return True
        try:
            handle.client.api.inspect_image(image)
        except Exception:  # ImageNotFound or engine trouble: treat as absent
            return False
        handle.add_image(image)
        return True

    def require(self, image: str, engines: list[EngineHandle]) -> None:
        """Before placement: `image` is on an engine that is up, on this machine (when it may be copied
        from), or one engine pulls it; else one UserInputError naming it, before any replica is placed."""
        up = [e for e in engines if e.placeable]
        if any(self.has(e, image) for e in up):
            return
        local = self.local_source() if self.local_source else None
        if local is not None:
            try:
                local.api.inspect_image(image)
                return
            except Exception:  # not on this machine either
                pass
        if not up:
            return  # no engine to ask: placement says so
        target = up[0]
        with self._locks[target.id, image]:
            why = "the engine answered without it"
            try:
                target.client.api.pull(image)
            except Exception as exc:  # one pull, not one per replica and host
                why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            if not self.has(target, image):  # a pull may answer 200 with its error inside the stream
                source = " nor this machine" if self.local_source else ""
                raise UserInputError(f"{image} is on no engine{source} and cannot be pulled "
                                     f"(on {target.id}: {why})", where="image")

    def ensure(self, target: EngineHandle, image: str, sources: list[EngineHandle],
               progress: Callable[[str], None] = lambda _: None) -> str:
        """'present' | 'pulled' | 'copied from X'; raises PaasopsError when nothing works."""
        with self._locks[target.id, image]:
            if self.has(target, image):
                return "present"
            try:
                target.client.api.pull(image)
                target.add_image(image)
                return "pulled"
            except Exception as exc:  # no registry reachable: copy instead
                pull_error = str(exc).splitlines()[0][:160]
            for source in sources:
                if source.id != target.id and source.placeable and self.has(source, image):
                    progress(f"copying {image} from {source.id} to {target.id}")
                    self._copy(source.client, target, image)
                    return f"copied from {source.id}"
            local = self.local_source() if self.local_source else None
            if local is not None:
                try:
                    local.api.inspect_image(image)
                except Exception:  # not on this machine either
                    local = None
            if local is not None:
                progress(f"copying {image} from this machine's engine to {target.id}")
                self._copy(local, target, image)
                return "copied from the local engine"
            raise PaasopsError(f"image {image} is not on engine {target.id}, pulling failed ({pull_error}) "
                               f"and no engine has it to copy from", where=f"engine {target.id}")

    @staticmethod
    def _copy(source_client, target: EngineHandle, image: str) -> None:
        stream = source_client.api.get_image(image)  # docker save, streamed
        target.client.api.load_image(stream)  # docker load, streamed
        target.add_image(image)
