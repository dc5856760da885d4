"""Mapping a record leaves no reference behind: the compiled mapping once leaked every 19-digit id.

mypyc's ``str()`` of an ``int``-typed value above 2**62 kept one reference to the integer per call,
so a fetch task grew ~0.5 MB per 10,000 application records (``ocsf.common._digits``). Each value
of a mapped record must have the same reference count after mapping it again (the first mapping
may fill the bounded memos, so it is not counted).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import pytest

from netskope_provider.log_types import LOG_TYPES
from netskope_provider.ocsf.mapper import map_record
from netskope_provider.simulator.records import generate

START = 1_790_000_000
#: Records shaped as Netskope's published samples, with their log types.
GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.json"))
MAPPINGS = 3
OWN_REFERENCES = 4  # the record, ``held``, the loop variable and getrefcount's argument


def values(document: object, path: str = "") -> Iterator[tuple[str, object]]:
    """Every value of a parsed record, with its path."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from values(value, f"{path}.{key}")
    elif isinstance(document, list):
        for value in document:
            yield from values(value, f"{path}[]")
    yield path, document


def leaked_references(cases: Iterable[tuple[str, object]]) -> dict[str, int]:
    """References each mapped record's values gained over MAPPINGS more mappings, by field path."""
    leaked: dict[str, int] = {}
    for log_type, source in cases:
        record = orjson.loads(orjson.dumps(source))  # as the pipeline has it: parsed from JSON text
        # Only values this record alone holds (see OWN_REFERENCES):
        # a value shared with the interpreter ('' or 0, say) moves with everything else.
        held = [(path, value) for path, value in values(record)]
        held = [(path, value) for path, value in held if sys.getrefcount(value) == OWN_REFERENCES]
        map_record(record, log_type)  # may keep a value in a bounded memo, once
        before = [sys.getrefcount(value) for _, value in held]
        for _ in range(MAPPINGS):
            map_record(record, log_type)
        after = [sys.getrefcount(value) for _, value in held]
        for (path, _), count, now in zip(held, before, after, strict=True):
            if now != count:
                leaked[f"{log_type}{path}"] = now - count
    return leaked


@pytest.mark.parametrize("log_type", LOG_TYPES)
def test_mapping_a_record_again_holds_no_new_reference_to_any_of_its_values(log_type: str) -> None:
    cases = ((log_type, record) for record in generate(log_type, 60, START, START + 3600, seed=11))
    assert leaked_references(cases) == {}, f"references kept per {MAPPINGS} mappings"


def test_records_shaped_as_the_published_samples_leave_no_reference_either() -> None:
    golden = (orjson.loads(path.read_bytes()) for path in GOLDEN)
    cases = ((case["log_type"], case["record"]) for case in golden)
    assert leaked_references(cases) == {}, f"references kept per {MAPPINGS} mappings"
