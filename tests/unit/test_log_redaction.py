"""SecretScrubber: secret values cut out of container output, whole or split across chunks."""

from __future__ import annotations

import pytest

from paasops.service.log_redaction import SecretScrubber
from paasops.vocabulary import REDACTED

STAR = REDACTED.encode()


def test_whole_values_are_replaced_longest_first():
    scrubber = SecretScrubber(["hunter2", "hunter2-extra", ""])
    assert scrubber.scrub(b"a hunter2-extra b hunter2 c") == b"a " + STAR + b" b " + STAR + b" c"


def test_no_values_means_nothing_to_do():
    assert not SecretScrubber([]) and not SecretScrubber([""])


@pytest.mark.parametrize("cut", range(1, 18))
def test_a_value_split_across_two_chunks_is_replaced(cut):
    data = b"token=s3cr3t-value\n"
    scrubber = SecretScrubber(["s3cr3t-value"])
    shown = b"".join(scrubber.stream([data[:cut], data[cut:]]))
    assert shown == b"token=" + STAR + b"\n"


def test_a_value_split_over_many_one_byte_chunks_is_replaced():
    data = b"x s3cr3t y s3cr3t"
    shown = b"".join(SecretScrubber(["s3cr3t"]).stream(data[i:i + 1] for i in range(len(data))))
    assert shown == b"x " + STAR + b" y " + STAR


def test_only_a_possible_start_of_a_value_is_held_back():
    scrubber = SecretScrubber(["s3cr3t"])
    assert scrubber.feed(b"line one\n") == b"line one\n"  # nothing held: a follow shows it at once
    assert scrubber.feed(b"ends with s3c") == b"ends with "
    assert scrubber.feed(b"ret?") == b"s3cret?"  # it was no value after all
    assert scrubber.flush() == b""


def test_the_held_back_end_comes_at_the_end_of_the_stream():
    assert b"".join(SecretScrubber(["s3cr3t"]).stream([b"last s3c"])) == b"last s3c"
