"""One API response body split into its records' raw JSON text, without a Python object per field.

The fast path is one msgspec parse of the envelope with ``result`` typed as a list of
``msgspec.Raw`` (byte slices of the body): 10,000 application records (~35 MB) cost about the
body twice in memory, not the ~100 MB of objects a full parse builds. A body the fast parser
refuses (``NaN``, a lone surrogate, absurd nesting...) is split record by record with a
structural scanner; each record is then kept if :func:`~netskope_provider.records.decode_record`
can hold it exactly, else quarantined with the reason and its raw bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, cast

import msgspec
from isal import isal_zlib

from netskope_provider.exceptions import PoisonRecordError
from netskope_provider.records import STRUCTURE, decode_record, single_line

_OPEN: Final = b"[{"
_FIRST_TOKEN: Final = re.compile(rb"\S")
_CLOSE: Final = {ord("]"): ord("["), ord("}"): ord("{")}


@dataclass(frozen=True)
class RawPage:
    """One page of a window: each record's exact JSON text (one line, no newline), and the rest.

    ``quarantined`` holds ``(reason, raw bytes)`` for records that cannot be kept exactly or
    cannot be placed in a window; they are not in ``records``.
    """

    records: list[bytes]
    quarantined: list[tuple[str, bytes]] = field(default_factory=list)


class Envelope(msgspec.Struct):
    """The parts of a response the client reads; other keys are skipped without being parsed."""

    ok: Any = 1
    result: list[msgspec.Raw] | None = None
    message: Any = None
    error: Any = None
    errors: Any = None
    wait_time: Any = None
    timestamp_hwm: Any = None
    total: Any = None


@dataclass
class ParsedBody:
    """A response body: its envelope (``result`` emptied), the records kept and those quarantined."""

    envelope: Envelope
    records: list[bytes] | None  # None: the body had no ``result`` list
    quarantined: list[tuple[str, bytes]]
    tolerant: bool = False  # split record by record because the fast parser refused the body
    repaired: int = 0  # records whose bytes were not UTF-8, kept with U+FFFD in their place


class BodyError(Exception):
    """The body is not a usable JSON object; ``truncated`` says whether another try may fix it."""

    def __init__(self, reason: str, *, truncated: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.truncated = truncated


_envelope_decoder: Final = msgspec.json.Decoder(Envelope)
_GZIP_WBITS: Final = 31
#: isal's stub declares ``error`` as an instance; it is the exception class.
_GZIP_ERROR: Final = cast(type[Exception], isal_zlib.error)


def gunzip(packed: bytes | bytearray, limit: int | None) -> bytes:
    """A gzip body (one member or more) inflated in one ISA-L call per member, at most ``limit`` + 1 bytes.

    The call releases the GIL for the whole page (urllib3 inflates chunk by chunk with zlib and
    the chunks are then copied together while holding it) and takes about half zlib's CPU. A body
    longer than ``limit`` comes back ``limit + 1`` bytes long, so the caller sees it is too large
    without inflating the rest. A truncated or corrupt first member raises :class:`BodyError`
    (truncated: another try may fix it); bytes after a whole member that are not a whole member
    themselves are ignored, as urllib3 does.
    """
    body = b""
    while True:
        inflater = isal_zlib.decompressobj(wbits=_GZIP_WBITS)
        try:
            inflated = inflater.decompress(packed, 0 if limit is None else limit + 1 - len(body))
        except _GZIP_ERROR as error:
            if body:
                return body
            raise BodyError(f"not valid gzip ({error})", truncated=True) from None
        if limit is not None and len(body) + len(inflated) > limit:
            return body + inflated
        if not inflater.eof:
            if body:
                return body
            raise BodyError("the gzip stream ends early", truncated=True)
        body = body + inflated if body else inflated
        packed = inflater.unused_data
        if not packed:
            return body


def parse_body(body: bytes | bytearray) -> ParsedBody:
    """Split ``body`` into records; raise :class:`BodyError` when it is not a JSON object at all."""
    first = _FIRST_TOKEN.search(body)  # not body.lstrip(): that would copy a 35 MB page to read one byte
    start = first.group() if first else b""
    if start != b"{":
        if start == b"[":
            raise BodyError("a JSON array, not an object", truncated=False)
        raise BodyError("empty" if not start else "not JSON", truncated=not start)
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.ValidationError as error:  # valid JSON of the wrong shape: "result" is not a list
        raise BodyError(f"no 'result' list ({error})", truncated=False) from None
    except (msgspec.DecodeError, RecursionError):
        return _split_tolerantly(body)
    except UnicodeDecodeError:  # in an envelope string (a message): mark the bad bytes, keep the page
        return parse_body(body.decode("utf-8", "replace").encode("utf-8"))
    raws, envelope.result = envelope.result, None
    if raws is None:
        return ParsedBody(envelope, None, [])
    records = list(map(bytes, raws))
    del raws
    if b"\n" in body or b"\r" in body:  # whitespace between tokens: JSON strings cannot hold a raw newline
        records = list(map(single_line, records))
    return ParsedBody(envelope, records, [], repaired=_repair_utf8(records))


def _repair_utf8(records: list[bytes]) -> int:
    """Replace bytes that are not UTF-8 by U+FFFD, in place; return how many records needed it.

    Retrying cannot fix such a record (the tenant serves the same bytes again) and refusing the page
    would block the window, so the record is kept with its undecodable bytes marked. Only records
    holding a byte above 0x7F are decoded to check: a page costs a fraction of a whole-body decode.
    """
    repaired = 0
    for index, record in enumerate(records):
        if not record.isascii():
            try:
                record.decode("utf-8")
            except UnicodeDecodeError:
                records[index] = record.decode("utf-8", "replace").encode("utf-8")
                repaired += 1
    return repaired


def _split_tolerantly(body: bytes | bytearray) -> ParsedBody:
    """Find each element of the top-level ``result`` array by structure alone, then judge it alone."""
    elements, (result_start, result_end) = _result_elements(body)
    envelope_only = bytes(body[:result_start]) + b"[]" + bytes(body[result_end:])
    try:
        envelope = _envelope_decoder.decode(envelope_only.decode("utf-8", "replace").encode("utf-8"))
    except (msgspec.DecodeError, RecursionError) as error:
        raise BodyError(f"the envelope around 'result' is not valid JSON ({error})", truncated=True) from None
    envelope.result = None
    records: list[bytes] = []
    quarantined: list[tuple[str, bytes]] = []
    repaired = _repair_utf8(elements)
    for element in elements:
        try:
            decode_record(element)
        except PoisonRecordError as poison:
            quarantined.append((poison.reason, element))
        else:
            records.append(single_line(element))
    return ParsedBody(envelope, records, quarantined, tolerant=True, repaired=repaired)


def _result_elements(body: bytes | bytearray) -> tuple[list[bytes], tuple[int, int]]:
    """The raw elements of the top-level ``"result": [...]`` and that array's span in ``body``.

    Strings and brackets are tracked (iteratively, so any nesting depth is fine); scalars are
    not judged here. A body that ends inside a string or a bracket is truncated.
    """
    stack: list[int] = []
    elements: list[bytes] = []
    span: tuple[int, int] | None = None
    previous_string: tuple[int, int] | None = None  # the last string token at depth 1: maybe a key
    key: bytes | None = None
    element_start = -1
    for match in STRUCTURE.finditer(body):
        at = match.start()
        char = body[at]
        depth = len(stack)
        if char == 0x22:  # '"'
            if match.end() - at == 1:
                raise BodyError("it ends inside a string", truncated=True)
            previous_string = (at, match.end()) if depth == 1 else None
        elif char == 0x3A:  # ':'
            if depth == 1 and previous_string is not None:
                key = bytes(body[previous_string[0] : previous_string[1]])
            previous_string = None
        elif char in _OPEN:
            if depth == 1 and key == b'"result"' and char == 0x5B and span is None:
                span = (at, -1)
                element_start = match.end()
            stack.append(char)
            key = previous_string = None
        elif char in _CLOSE:
            if not stack or stack.pop() != _CLOSE[char]:
                raise BodyError(f"a bracket at byte {at} closes nothing it opened", truncated=True)
            if depth == 2 and span is not None and span[1] < 0:  # the result array closes
                _add_element(elements, body, element_start, at)
                span = (span[0], match.end())
        elif char == 0x2C and depth == 2 and span is not None and span[1] < 0:  # ',' between elements
            _add_element(elements, body, element_start, at)
            element_start = match.end()
    if stack:
        raise BodyError("it ends before its brackets close", truncated=True)
    if span is None or span[1] < 0:
        raise BodyError("no 'result' list", truncated=False)
    return elements, span


def _add_element(elements: list[bytes], body: bytes | bytearray, start: int, end: int) -> None:
    element = bytes(body[start:end]).strip()
    if element or elements:  # "[]" has no element; "[1,]" has an empty one (quarantined as not JSON)
        elements.append(element)
