"""A quarantined record is kept byte for byte, on one line, in every form a hostile record takes."""

from __future__ import annotations

import base64
import json

import pytest

from netskope_provider.staging import quarantine_line

HOSTILE = {
    "json object": b'{"_id":"a","n":18446744073709551615}',
    "integer beyond 64 bits": b'{"_id":"b","n":123456789012345678901234567890}',
    "NaN": b'{"_id":"c","n":NaN}',
    "lone surrogate": b'{"_id":"d","s":"\\ud800"}',
    "broken JSON": b'{"_id":"e",',
    "newline inside": b'{"_id":"f",\n"x":1}',
    "not UTF-8": b'{"_id":"g","s":"caf\xe9"}',
}


def recovered(line: bytes, raw: bytes) -> bytes:
    entry = json.loads(line)  # the stdlib reads every line (NaN aside, which stays text)
    if "record_base64" in entry:
        return base64.b64decode(entry["record_base64"])
    if isinstance(entry["record"], str):
        return entry["record"].encode("utf-8")
    assert raw in line, "a JSON record is embedded as it came"
    return raw


@pytest.mark.parametrize("name", HOSTILE)
def test_the_record_comes_back_exactly_from_its_one_line(name: str) -> None:
    raw = HOSTILE[name]
    line = quarantine_line("why", raw)
    assert b"\n" not in line and b"\r" not in line
    assert json.loads(line)["reason"] == "why"
    assert recovered(line, raw) == raw


def test_bytes_that_are_not_utf8_are_kept_in_base64_not_replaced() -> None:
    line = quarantine_line("why", HOSTILE["not UTF-8"])
    assert b"record_base64" in line and "\ufffd".encode() not in line
