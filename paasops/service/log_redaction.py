"""Secret values cut out of a container's output, also when a value is split across chunks (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..vocabulary import REDACTED


class SecretScrubber:
    """Replaces every occurrence of the given secret values in a byte stream with REDACTED.

    Chunks come as the engine sends them, so a value may start in one chunk and end in the next: the
    scrubber holds back only the end of a chunk that could be the start of a value (usually nothing),
    so a follow shows each line as soon as it comes.
    """

    def __init__(self, values: Iterable[str]):
        # longest first: a value that contains another is replaced whole
        self.values = sorted({v.encode() for v in values if v}, key=len, reverse=True)
        self._held = b""

    def __bool__(self) -> bool:
        return bool(self.values)

    def scrub(self, data: bytes) -> bytes:
        """`data` with every whole value replaced (no holding back: for a complete answer)."""
        for value in self.values:
            data = data.replace(value, REDACTED.encode())
        return data

    def feed(self, chunk: bytes) -> bytes:
        """What of `chunk` (after what was held back) may be shown now."""
        text = self.scrub(self._held + chunk)
        keep = self._unfinished(text)
        self._held = text[len(text) - keep:] if keep else b""
        return text[:len(text) - keep] if keep else text

    def flush(self) -> bytes:
        """The end of the stream: whatever was held back (it was no value after all)."""
        held, self._held = self._held, b""
        return held

    def _unfinished(self, text: bytes) -> int:
        """Length of the longest end of `text` that is the start (not the whole) of a value."""
        longest = 0
        for value in self.values:
            for size in range(min(len(value) - 1, len(text)), longest, -1):
                if text.endswith(value[:size]):
                    longest = size
                    break
        return longest

    def stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Every chunk scrubbed, the held-back end given at the end."""
        for chunk in chunks:
            out = self.feed(chunk)
            if out:
                yield out
        tail = self.flush()
        if tail:
            yield tail
