"""``page.gunzip``: the client's inflation of gzip bodies (one ISA-L call per member, bounded)."""

from __future__ import annotations

import gzip

import pytest

from netskope_provider.api.page import BodyError, gunzip

BODY = b'{"ok":1,"result":[' + b",".join(b'{"_id":"%d","n":%d}' % (i, i) for i in range(2000)) + b"]}"


def test_a_body_comes_back_as_sent() -> None:
    assert gunzip(gzip.compress(BODY), None) == BODY
    assert gunzip(gzip.compress(BODY), len(BODY)) == BODY


def test_members_are_joined_and_trailing_bytes_that_are_no_member_ignored() -> None:
    half = len(BODY) // 2
    assert gunzip(gzip.compress(BODY[:half]) + gzip.compress(BODY[half:]) + b"\0\0junk", None) == BODY


def test_a_body_over_the_limit_stops_one_byte_past_it() -> None:
    assert gunzip(gzip.compress(BODY), 100) == BODY[:101]


@pytest.mark.parametrize("packed", [gzip.compress(BODY)[:-40], b"not gzip at all", b""])
def test_a_truncated_or_corrupt_body_is_worth_another_try(packed: bytes) -> None:
    with pytest.raises(BodyError) as raised:
        gunzip(packed, None)
    assert raised.value.truncated
