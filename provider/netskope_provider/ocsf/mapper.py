"""Map Netskope records to OCSF: one record (``map_record``) or a stream of NDJSON lines.

Every input ends in exactly one of three outcomes, and every outcome is counted:

* ``ocsf``: routed and built; ``event`` is the OCSF event.
* ``raw``: not routed by the spec, or routed but its class could not be built from it (e.g. no
  usable ``timestamp``, or a builder error on an odd record); ``event`` is the original record
  object unchanged and ``reason`` says why it was not mapped (None when the spec does not route it).
  Delivering such a record raw loses nothing, so a bad record never costs data or breaks a batch.
* ``rejected``: not a Netskope record at all (a JSON value that is not an object, or a line that
  is not JSON or cannot be decoded exactly: see ``netskope_provider.records.decode_record``);
  ``event`` is None and ``reason`` says what to fix. Line-based callers get the offending line
  back in ``MapCounts.rejections`` to dead-letter it.

Raw lines are written back byte for byte as they came in; OCSF events are serialised with orjson
(stdlib json only for what orjson refuses: integers beyond 64 bits, lone surrogates).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Final, Literal, NamedTuple, final

import orjson

from netskope_provider.exceptions import MappingError, PoisonRecordError
from netskope_provider.ocsf.routing import classify
from netskope_provider.records import decode_record, json_type
from netskope_provider.registry import CLASSES

Kind = Literal["ocsf", "raw", "rejected"]

MAX_REJECTED_LINE_BYTES: Final = 4096
MAX_REASONS: Final = 50
_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE  # output lines are serialised with their newline (no copy)
OTHER_REASONS: Final = "(other reasons)"


class Mapped(NamedTuple):
    """The outcome for one record (see the module docstring for the three kinds)."""

    kind: Kind
    class_uid: int | None
    event: Any
    reason: str | None


@dataclass
class Rejection:
    """A rejected input line: where it was, why, and its first bytes (to dead-letter it)."""

    line: int
    reason: str
    original: bytes


@dataclass
class MapCounts:
    """Per-class / raw / rejected tallies of one mapping run (small: fits an XCom manifest)."""

    by_class: Counter[int] = field(default_factory=Counter)
    raw: int = 0
    raw_reasons: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def ocsf(self) -> int:
        return sum(self.by_class.values())

    @property
    def total(self) -> int:
        return self.ocsf + self.raw + self.rejected

    def add(self, mapped: Mapped) -> None:
        self.tally(mapped.kind, mapped.class_uid, mapped.reason)

    def tally(self, kind: str, class_uid: int | None, reason: str | None) -> None:
        """``add`` for an outcome given as its parts (the line mappers never build a ``Mapped``)."""
        if kind == "ocsf":
            self.by_class[class_uid] += 1  # type: ignore[index]
        elif kind == "raw":
            self.raw += 1
            if reason is not None:
                if reason not in self.raw_reasons and len(self.raw_reasons) >= MAX_REASONS:
                    reason = OTHER_REASONS  # keeps the manifest small when error texts vary per record
                self.raw_reasons[reason] += 1
        else:
            self.rejected += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (class uids as strings; the first rejections as line numbers + reasons)."""
        return {
            "total": self.total,
            "ocsf": self.ocsf,
            "by_class": {str(uid): count for uid, count in sorted(self.by_class.items())},
            "raw": self.raw,
            "raw_reasons": dict(self.raw_reasons),
            "rejected": self.rejected,
            "rejections": [{"line": r.line, "reason": r.reason} for r in self.rejections[:MAX_REASONS]],
        }


Builder = Callable[[dict[str, Any], str], dict[str, Any]]
#: Module name → its ``build``, imported on first use.
_builders: dict[str, Builder] = {}


def builder(class_uid: int) -> Builder:
    """The ``build`` function of a registered class's module (``registry.CLASSES``)."""
    module = CLASSES[class_uid].module
    found = _builders.get(module)
    if found is None:
        found = _builders[module] = import_module(module).build
    return found


def map_record(record: object, log_type: str) -> Mapped:
    """Route one parsed record and build its OCSF event; never raises for any JSON value."""
    return Mapped(*_map(record, log_type))


def _map(record: object, log_type: str) -> tuple[Kind, int | None, Any, str | None]:
    """``map_record``'s outcome as a plain tuple (compiled, no object is allocated for it)."""
    if not isinstance(record, dict):
        return "rejected", None, None, f"not a JSON object but {json_type(record)}: a Netskope record is an object"
    class_uid = classify(record, log_type)  # type: ignore[arg-type]
    if class_uid is None:
        return "raw", None, record, None
    build = builder(class_uid)
    try:
        event = build(record, log_type)  # type: ignore[arg-type]
    except MappingError as unmappable:  # (each handler names its own exception: compiled code types them)
        return "raw", None, record, f"{class_uid}: {unmappable}"
    except Exception as error:  # an odd record must not break the batch: deliver it raw, say why
        return "raw", None, record, f"{class_uid}: mapper error {type(error).__name__}: {error}"
    return "ocsf", class_uid, event, None


# Bound once: compiled code would look it up on the module per record.
_orjson_dumps: Final = orjson.dumps


def dumps(value: Any, option: int = 0) -> bytes:
    """Serialise one event: orjson, or stdlib json for ints beyond 64 bits and lone surrogates."""
    try:
        return _orjson_dumps(value, None, option)  # positional: a keyword costs a names tuple per call
    except TypeError:
        text = json.dumps(value, separators=(",", ":")).encode("ascii")
        return text + b"\n" if option & orjson.OPT_APPEND_NEWLINE else text


@final
class LineOutcome:
    """What became of one input line (``map_outcomes``), with what delivery needs to place it.

    A plain class, not a NamedTuple: compiled, it is built with one C call per record (a NamedTuple
    goes through ``tuple.__new__``: 1.4 % of the mapping's instructions, callgrind).
    """

    def __init__(
        self, number: int, kind: Kind, line: bytes, record: Any, time_ms: int | None, reason: str | None
    ) -> None:
        #: 1-based position of the line in the input (blank lines count).
        self.number = number
        self.kind = kind
        #: The output line, newline-terminated (raw: the input line byte for byte); the input line when rejected.
        self.line = line
        #: The parsed record (None when the line is not JSON).
        self.record = record
        #: The OCSF event's ``time`` (epoch ms) when ``kind == "ocsf"``, else None.
        self.time_ms = time_ms
        self.reason = reason


def map_outcomes(lines: Iterable[bytes | str], log_type: str, counts: MapCounts) -> Iterator[LineOutcome]:
    """Map NDJSON lines; yield every non-blank line's outcome; tally into ``counts``.

    Raw records are yielded byte for byte as read. Rejected lines are yielded too (their input
    line and reason), so a caller can keep them whole; ``map_lines`` drops them into ``counts``.
    """
    for number, line in enumerate(lines, 1):
        data = (line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line).strip()
        if not data:
            continue
        try:
            record = decode_record(data)  # exact values, or the reason they cannot be kept exactly
        except PoisonRecordError as poison:
            counts.tally("rejected", None, poison.reason)
            yield LineOutcome(number, "rejected", data, None, None, poison.reason)
            continue
        kind, class_uid, event, reason = _map(record, log_type)
        counts.tally(kind, class_uid, reason)
        if kind == "ocsf":
            yield LineOutcome(number, "ocsf", dumps(event, _NEWLINE), record, event["time"], None)
        elif kind == "raw":
            raw = (
                line if isinstance(line, bytes) and line[-1:] == b"\n" and len(line) == len(data) + 1 else data + b"\n"
            )
            yield LineOutcome(number, "raw", raw, record, None, reason)
        else:
            yield LineOutcome(number, "rejected", data, record, None, reason)


def map_lines(lines: Iterable[bytes | str], log_type: str, counts: MapCounts) -> Iterator[bytes]:
    """Map NDJSON lines; yield one output line (newline-terminated) per record; tally into ``counts``.

    Blank lines are skipped. Raw records are yielded byte for byte as read; rejected lines are not
    yielded but recorded (line number, reason, first bytes) in ``counts.rejections``.
    """
    for outcome in map_outcomes(lines, log_type, counts):
        if outcome.kind == "rejected":
            counts.rejections.append(
                Rejection(outcome.number, outcome.reason or "", outcome.line[:MAX_REJECTED_LINE_BYTES])
            )
        else:
            yield outcome.line


def map_records(records: Iterable[object], log_type: str, counts: MapCounts) -> Iterator[bytes]:
    """Map already-parsed records (e.g. an API page's ``result``); yield one output line per record.

    Raw records are re-serialised (their values unchanged); rejected ones are recorded with their
    position (1-based) in ``counts.rejections``.
    """
    for number, record in enumerate(records, 1):
        kind, class_uid, event, reason = _map(record, log_type)
        counts.tally(kind, class_uid, reason)
        if kind == "rejected":
            counts.rejections.append(Rejection(number, reason or "", _preview(record)))
        else:
            yield dumps(event, _NEWLINE)


def _preview(value: object) -> bytes:
    try:
        return dumps(value)[:MAX_REJECTED_LINE_BYTES]
    except (TypeError, ValueError):
        return repr(value).encode("utf-8", "backslashreplace")[:MAX_REJECTED_LINE_BYTES]
