"""``hashing.held_digest``: fed in GIL-held pieces, the digest is the one-shot digest, byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from netskope_provider.delivery import message_digest
from netskope_provider.hashing import GIL_HELD_BYTES, held_digest


@pytest.mark.parametrize("size", [0, 1, GIL_HELD_BYTES, GIL_HELD_BYTES + 1, 2 * GIL_HELD_BYTES, 100_003])
def test_the_digest_is_the_one_shot_digest_whatever_the_size(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert held_digest(hashlib.sha256(), data) == hashlib.sha256(data).digest()
    assert held_digest(hashlib.blake2b(digest_size=8), data) == hashlib.blake2b(data, digest_size=8).digest()


def test_message_digests_are_unchanged_so_streams_written_before_are_recognised() -> None:
    message = b'{"class_uid":6006,"pad":"' + b"x" * 5000 + b'"}'
    one_shot = int.from_bytes(hashlib.blake2b(message, digest_size=8).digest(), "little", signed=True)
    assert message_digest(message) == one_shot
