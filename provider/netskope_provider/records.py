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
from itertools import compress
from typing import Any, Final

import msgspec

from netskope_provider.exceptions import PoisonRecordError

#: Deepest nesting kept. Published Netskope records nest at most 4 levels; this leaves room for the
#: OCSF envelope and stays far below every parser and serialiser limit on the way (orjson writes 254
#: levels, Python's recursion limit is 1,000, msgspec's depends on the stack it runs on).
MAX_DEPTH: Final = 128
#: A JSON string (escapes included), one structural character, or an unterminated string's quote.
STRUCTURE: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]|"', re.S)
#: In valid JSON a CR or LF can only be whitespace between tokens (inside strings it must be escaped).
_NEWLINES_TO_SPACES: Final = bytes.maketrans(b"\r\n", b"  ")
_WHITESPACE_BEFORE_COLON: Final = tuple((space, space + b":") for space in (b" ", b"\t", b"\n", b"\r"))
_IS_CONTAINER: Final = frozenset((dict, list)).__contains__
#: msgspec keeps integers of any size exact and refuses NaN, 1e400, lone surrogates and bad UTF-8.
_decode: Final = msgspec.json.decode
_MAX_KEY_CHARS: Final = 60


def decode_record(raw: bytes) -> dict[str, Any]:
    """The record's values, exactly as its JSON text states them; else :class:`PoisonRecordError`.

    The common case costs one msgspec parse and a few byte counts; only records the fast parser
    refuses, or whose keys it cannot prove unique, take the slower stdlib path that names the reason.
    """
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
    """True when no object in ``raw`` can hold a key twice, proven by counting; False means "check".

    Each key's closing quote is followed by its colon unless whitespace sits between them, and
    ``":`` occurs inside a string only after an escaped quote. So with no whitespace before any
    colon, ``raw.count(b'":')`` is at least the number of key tokens, which is at least the number
    of keys decoded; when it equals the keys decoded, no key token was merged into another. Byte
    counts run at memory speed; only objects nested in the record are walked in Python.
    """
    quoted_colons = raw.count(b'":')
    if quoted_colons != (len(value) if raw.count(b"{") == 1 else _count_keys(value)):
        return False
    if raw.count(b":") == quoted_colons:  # every colon follows a quote: none follows whitespace
        return True
    return not any(space in raw and pair in raw for space, pair in _WHITESPACE_BEFORE_COLON)


def _count_keys(value: dict[str, Any]) -> int:
    """Keys in ``value`` and every object nested in it (containers picked out at C speed)."""
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            total += len(item)
            item = list(item.values())
        stack.extend(compress(item, map(_IS_CONTAINER, map(type, item))))
    return total


def _strict_loads(raw: bytes) -> Any:
    """The stdlib parser, refusing what cannot be kept exactly and naming why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PoisonRecordError(f"not JSON: invalid UTF-8 at byte {error.start}") from None
    try:
        return json.loads(
            text, object_pairs_hook=_unique_object, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise PoisonRecordError(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise PoisonRecordError(f"not JSON: {error}") from None


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
