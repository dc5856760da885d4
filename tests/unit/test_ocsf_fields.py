"""Each class declares once which record fields it reads, and the declaration is what the builder does.

``MAPPED_FIELDS`` (consumed: the attributes take them, so ``finalize`` leaves them out of
``unmapped``) and ``READ_FIELDS`` (read to decide something; their values stay under ``unmapped``)
are both the docs and the behaviour. A field a builder reads without declaring it would sit both
in the event and under ``unmapped``; a field declared but never read would be dropped from
``unmapped`` without being mapped. So every builder runs here over the golden records (each also
with one field at a time taken away, which walks the fallbacks), the IAM fixtures and a simulator
corpus, with a dict that records the fields it reads, and the reads are compared with the
declaration both ways.

Compiled (mypyc) builders read a dict subclass through the C API, past the recording methods, so
the reads are collected from the Python source in a child process when the compiled mapping runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import orjson

from netskope_provider import ocsf
from netskope_provider.ocsf import common, routing
from netskope_provider.registry import CLASSES, LOG_TYPES
from netskope_provider.simulator.records import generate

DATA = Path(__file__).resolve().parents[1] / "data"


class Recording(dict):  # type: ignore[type-arg]
    """A record that notes every field read by name, until ``finalize`` takes over."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record)
        self.build: set[str] = set()
        self.finish: set[str] = set()
        self.reads = self.build

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.reads.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.reads.add(str(key))
        return super().__contains__(key)


def _finishing(finalize: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def recorded(event: dict[str, Any], record: Recording, *args: Any, **kwargs: Any) -> dict[str, Any]:
        record.reads = record.finish
        return finalize(event, record, *args, **kwargs)

    return recorded


def _records() -> Iterator[tuple[str, dict[str, Any]]]:
    cases = [orjson.loads(path.read_bytes()) for path in sorted((DATA / "golden").glob("*.json"))]
    cases += orjson.loads((DATA / "ocsf_iam_records.json").read_bytes()).values()
    for case in cases:
        record = case["record"]
        yield case["log_type"], record
        for field in record:  # each field absent in turn: the builders fall back to the others
            yield case["log_type"], {key: value for key, value in record.items() if key != field}
    for log_type in LOG_TYPES:
        for record in generate(log_type, 300, 1_719_792_000, 1_719_878_400, 11):
            yield log_type, record


def collect_reads() -> dict[str, dict[str, list[str]]]:
    """``"uid kind"`` → the fields its builder read and the fields ``finalize`` read, over every record."""
    modules = {uid: import_module(cls.module) for uid, cls in CLASSES.items()}
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"build": set(), "finish": set()})
    try:
        for module in modules.values():
            module.finalize = _finishing(common.finalize)  # type: ignore[attr-defined]
        for log_type, record in _records():
            uid = routing.classify(record, log_type)
            if uid is None:
                continue
            recording = Recording(record)
            try:
                modules[uid].build(recording, log_type)
            except common.MappingError:
                pass
            reads = found[f"{uid} {routing.record_kind(record, log_type)}"]
            reads["build"] |= recording.build
            reads["finish"] |= recording.finish
    finally:
        for module in modules.values():
            module.finalize = common.finalize  # type: ignore[attr-defined]
    return {key: {part: sorted(fields) for part, fields in reads.items()} for key, reads in found.items()}


def _reads() -> dict[str, dict[str, list[str]]]:
    if ocsf.IMPLEMENTATION.startswith("python"):
        return collect_reads()
    child = subprocess.run(
        [sys.executable, __file__], env={**os.environ, "NETSKOPE_OCSF_PURE": "1"}, capture_output=True, check=True
    )
    return orjson.loads(child.stdout)


READS = _reads()


def _consumed(uid: int, kind: str) -> frozenset[str]:
    module = import_module(CLASSES[uid].module)
    return getattr(module, "CONSUMED_BY_KIND", {}).get(kind, frozenset(module.MAPPED_FIELDS))


def _declared(uid: int) -> set[str]:
    module = import_module(CLASSES[uid].module)
    return set(module.MAPPED_FIELDS) | set(module.READ_FIELDS)


def undeclared_reads(reads: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """Per ``"uid kind"``: the fields its builder read that the class does not declare for that kind."""
    found = {}
    for key, parts in reads.items():
        uid, kind = int(key.split()[0]), key.split()[1]
        extra = set(parts["build"]) - _consumed(uid, kind) - set(import_module(CLASSES[uid].module).READ_FIELDS)
        if extra:
            found[key] = sorted(extra)
    return found


def unread_declarations(reads: dict[str, dict[str, list[str]]]) -> dict[int, list[str]]:
    """Per class: the fields it declares that none of its builder's runs read."""
    found = {}
    for uid in CLASSES:
        read = set().union(*(parts["build"] for key, parts in reads.items() if int(key.split()[0]) == uid))
        if _declared(uid) - read:
            found[uid] = sorted(_declared(uid) - read)
    return found


def test_every_class_was_exercised() -> None:
    assert {int(key.split()[0]) for key in READS} == set(CLASSES)


def test_builders_read_only_declared_fields() -> None:
    assert undeclared_reads(READS) == {}, "read but in neither MAPPED_FIELDS nor READ_FIELDS"


def test_every_declared_field_is_read() -> None:
    assert unread_declarations(READS) == {}, "declared, but no builder reads them"


def test_the_finishing_pass_reads_only_consumed_and_its_own_fields() -> None:
    for key, parts in READS.items():
        uid, kind = int(key.split()[0]), key.split()[1]
        assert set(parts["finish"]) <= _consumed(uid, kind) | set(common.FINISH_FIELDS), key
    assert set().union(*(parts["finish"] for parts in READS.values())) >= set(common.FINISH_FIELDS)


def test_the_comparison_catches_drift_both_ways() -> None:
    """A builder reading one more field, or no longer reading a declared one, fails the checks above."""
    key = next(key for key in READS if key.startswith("5001 "))
    one_more = {**READS, key: {**READS[key], "build": [*READS[key]["build"], "serial_number_v2"]}}
    assert undeclared_reads(one_more) == {key: ["serial_number_v2"]}
    one_less = {**READS, key: {**READS[key], "build": [f for f in READS[key]["build"] if f != "hostname"]}}
    assert unread_declarations(one_less) == {5001: ["hostname"]}


if __name__ == "__main__":
    sys.stdout.buffer.write(orjson.dumps(collect_reads()))
