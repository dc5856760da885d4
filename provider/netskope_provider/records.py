"""One Netskope record as the API sent it: its exact JSON text in, its exact values out, or a reason.

Records travel from the API to the staged file as their raw JSON text (``NetskopeClient.
iter_window_pages``); the mapping stage turns each into Python values with :func:`decode_record`.
JSON text that Python values cannot hold exactly (``NaN``, a number beyond a double, absurd
nesting, a key given twice in one object) raises :class:`PoisonRecordError` with the reason, and
the stage quarantines the raw bytes: nothing is lost and nothing is rounded. Integers of any size
stay exact (Python ``int``); lone UTF-16 surrogate escapes (``"\\ud800"``) are kept as such.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import msgspec
import orjson

from netskope_provider.exceptions import PoisonRecordError

#: Deepest nesting kept: the deepest orjson writes back (a fixed limit, unlike msgspec's and the stdlib's,
#: which depend on the stack they run on). Published Netskope records nest at most 4 levels.
MAX_DEPTH: Final = 254
#: A JSON string (escapes included), one structural character, or an unterminated string's quote.
STRUCTURE: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]|"', re.S)
#: In valid JSON a CR or LF can only be whitespace between tokens (inside strings it must be escaped).
_NEWLINES_TO_SPACES: Final = bytes.maketrans(b"\r\n", b"  ")
_WHITESPACE_BEFORE_COLON: Final = tuple((space, space + b":") for space in (b" ", b"\t", b"\n", b"\r"))
#: msgspec keeps integers of any size exact and refuses NaN, 1e400, lone surrogates and bad UTF-8.
_decode: Final = msgspec.json.decode
_orjson_loads: Final = orjson.loads
_orjson_dumps: Final = orjson.dumps
_encode: Final = msgspec.json.encode
_MAX_KEY_CHARS: Final = 60


def decode_record(raw: bytes) -> dict[str, Any]:
    """The record's values, exactly as its JSON text states them; else :class:`PoisonRecordError`.

    The common case is one orjson parse and one orjson write-back equal to ``raw``: then ``raw`` is
    the canonical text of the values, so nothing was rounded (orjson turns integers beyond 64 bits
    into floats, whose text differs), no key was repeated (a dict holds each once) and the nesting
    is within ``MAX_DEPTH`` (orjson refuses to write deeper). Other texts (other spacing, escapes,
    number spellings) are decoded by msgspec, which keeps integers of any size, and cleared of
    repeated keys by counting; what neither clears takes the stdlib path, which names the reason.
    """
    try:
        value = _orjson_loads(raw)
        if type(value) is dict and _orjson_dumps(value) == raw:
            return value
    except (orjson.JSONDecodeError, TypeError):  # not JSON orjson takes, or nested past what it writes
        pass
    return _decode_exactly(raw)


def _decode_exactly(raw: bytes) -> dict[str, Any]:
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # cheap bound: fewer brackets cannot nest deeper
        depth = nesting_depth(raw)
        if depth > MAX_DEPTH:
            raise PoisonRecordError(f"nested {depth} levels deep; records nested deeper than {MAX_DEPTH} are not kept")
    try:
        value = _decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        value = _strict_loads(raw)
    else:
        if type(value) is dict and not _keys_certainly_unique(raw, value):
            value = _strict_loads(raw)
    if type(value) is not dict:
        raise PoisonRecordError(f"not a JSON object but {json_type(value)}")
    return value


def single_line(raw: bytes) -> bytes:
    """``raw`` (JSON text a strict parser accepted) on one line: CR/LF between tokens become spaces."""
    return raw.translate(_NEWLINES_TO_SPACES) if b"\n" in raw or b"\r" in raw else raw


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw``, strings skipped; iterative (any depth)."""
    depth = deepest = 0
    for match in STRUCTURE.finditer(raw):
        char = raw[match.start()]
        if char in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in b"]}":
            depth -= 1
    return deepest


def json_type(value: object) -> str:
    """How JSON calls the type of a decoded value, for reasons ("an array", "a string", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _keys_certainly_unique(raw: bytes, value: dict[str, Any]) -> bool:
    """True when no object in ``raw`` holds a key twice, proven by counting; False means "check".

    msgspec writes ``value`` back with one ``":`` per key plus one per ``":`` inside a string (as
    ``\\":``). ``raw`` has one per key token whose colon follows its quote, plus the same in-string
    ones when its strings spell quote and colon as msgspec does (no ``\\u0022``, no ``\\u003a``).
    With no whitespace before any colon every key token is counted, so equal counts leave no room
    for a key token beyond the keys decoded. Byte counts and the C encoder run at memory speed; a
    record they cannot clear takes the stdlib path, which finds the repeat (or clears it).
    """
    quoted_colons = raw.count(b'":')
    if quoted_colons != _encode(value).count(b'":') or b"\\u0022" in raw or b"\\u003" in raw:
        return False
    if raw.count(b":") == quoted_colons:  # every colon follows a quote: none follows whitespace
        return True
    return not any(space in raw and pair in raw for space, pair in _WHITESPACE_BEFORE_COLON)


def _strict_loads(raw: bytes) -> Any:
    """The stdlib parser, refusing what cannot be kept exactly and naming why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PoisonRecordError(f"not valid JSON: invalid UTF-8 at byte {error.start}") from None
    try:
        return json.loads(
            text, object_pairs_hook=_unique_object, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise PoisonRecordError(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise PoisonRecordError(f"not valid JSON: {error}") from None


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = key if len(key) <= _MAX_KEY_CHARS else key[:_MAX_KEY_CHARS] + "..."
                raise PoisonRecordError(
                    f"key {shown!r} appears twice in one object: which value Netskope meant is unknown"
                )
            seen.add(key)
    return value


def _refuse_constant(name: str) -> Any:
    raise PoisonRecordError(f"{name} is not a JSON number and has no exact JSON form")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= _MAX_KEY_CHARS else text[:_MAX_KEY_CHARS] + "..."
        raise PoisonRecordError(f"number {shown} is beyond the range of a double")
    return value
